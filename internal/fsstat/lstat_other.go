//go:build !linux

package fsstat

import "os"

func lstat(path string) (Stat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Stat{}, err
	}
	return Stat{Type: fi.Mode().Type(), Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Ctime: Ctime(fi), Ino: Inode(fi)}, nil
}
