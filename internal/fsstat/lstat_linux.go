//go:build linux

package fsstat

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

func lstat(path string) (Stat, error) {
	var st unix.Stat_t
	for {
		err := unix.Lstat(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Stat{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
		}
		return fromUnix(&st), nil
	}
}

// Dir is an open directory whose entries are stat'ed by name (fstatat), without the kernel
// walking the directory's path again for each.
type Dir struct {
	fd   int
	path string
}

// OpenDir opens the directory at path for Lstat.
func OpenDir(path string) (*Dir, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &Dir{fd: fd, path: path}, nil
	}
}

// Lstat is Lstat of the entry name of the directory.
func (d *Dir) Lstat(name string) (Stat, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Stat{}, &fs.PathError{Op: "lstat", Path: d.path + "/" + name, Err: err}
		}
		return fromUnix(&st), nil
	}
}

// Close closes the directory.
func (d *Dir) Close() error { return unix.Close(d.fd) }

func fromUnix(st *unix.Stat_t) Stat {
	var mode fs.FileMode
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode = fs.ModeDir
	case unix.S_IFLNK:
		mode = fs.ModeSymlink
	case unix.S_IFIFO:
		mode = fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode = fs.ModeSocket
	case unix.S_IFCHR:
		mode = fs.ModeDevice | fs.ModeCharDevice
	default:
		mode = fs.ModeDevice
	}
	return Stat{Type: mode, Perm: fs.FileMode(st.Mode & 0o777), Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: uint64(st.Ino)}
}
