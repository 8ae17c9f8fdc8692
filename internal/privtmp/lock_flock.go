//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package privtmp

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir makes the lock file of dir and holds it for the life of the process: the kernel
// lets it go when the process ends, however it ends.
func lockDir(dir string) (*os.File, error) {
	// The lock file is locked before it has its name: another run's sweep never finds it
	// free (a free lock file is a run that is over), and until it has its name the directory
	// counts as its live process's.
	tmp := filepath.Join(dir, lockName+".new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, lockName)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// lockFree says whether nobody holds the lock file; known is false when there is no lock file
// (a directory made by a run killed before it locked it).
func lockFree(name string) (free, known bool) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return false, false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, true
	}
	return err == nil, err == nil
}
