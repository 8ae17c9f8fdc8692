//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package privtmp

import "os"

// lockDir holds no lock where flock(2) is missing: sweep then goes by pid and age.
func lockDir(string) (*os.File, error) { return nil, nil }

func lockFree(string) (free, known bool) { return false, false }
