//go:build unix

package gitrepo

import (
	"errors"
	"syscall"
)

// pidAlive reports whether a process with this id runs on this host.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
