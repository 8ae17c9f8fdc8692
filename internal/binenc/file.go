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
