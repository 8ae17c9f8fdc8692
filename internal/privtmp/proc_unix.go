//go:build unix

package privtmp

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// alive says whether a process of that pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// reraise sends sig to the process again, now that nothing catches it: it ends the process as
// it would have without the handler.
func reraise(sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
	}
}

// checkOwner refuses a directory that another user owns: they could read what is written in it.
func checkOwner(dir string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Getuid() {
		return nil
	}
	return &os.PathError{Op: "use", Path: filepath.Clean(dir), Err: errors.New("owned by another user (uid " + strconv.Itoa(int(st.Uid)) + "), who could read what is written in it: remove it, or set TMPDIR")}
}
