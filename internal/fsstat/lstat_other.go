//go:build !linux

package fsstat

import "os"

func lstat(path string) (Stat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Stat{}, err
	}
	return StatOf(fi), nil
}

// Dir is an open directory whose entries are stat'ed by name.
type Dir struct{ path string }

// OpenDir opens the directory at path for Lstat.
func OpenDir(path string) (*Dir, error) {
	st, err := lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Type.IsDir() {
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrInvalid}
	}
	return &Dir{path: path}, nil
}

// Lstat is Lstat of the entry name of the directory.
func (d *Dir) Lstat(name string) (Stat, error) {
	return lstat(d.path + string(os.PathSeparator) + name)
}

// Close closes the directory.
func (d *Dir) Close() error { return nil }
