package binenc

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes a memo file whole or not at all: encode writes into a temporary file beside
// path, which then replaces path. A reader sees the old file or the new one, never a part.
func WriteFile(path string, encode func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	werr := encode(tmp)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}

// ReadFile reads a memo file with its modification time in nanoseconds: the file system's
// clock when the file was written, which every stat the memo's reader takes is not older than.
func ReadFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, 0, err
	}
	return b, fi.ModTime().UnixNano(), nil
}
