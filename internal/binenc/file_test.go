package binenc

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile: the file holds what encode wrote; a failing encode leaves the file as it was
// and no temporary file behind.
func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	path := filepath.Join(dir, "memo.bin")
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "first"); return err }); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("encode failed")
	if err := WriteFile(path, func(w io.Writer) error { io.WriteString(w, "half"); return failed }); !errors.Is(err, failed) {
		t.Fatalf("err = %v, want the encoder's", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "first" {
		t.Fatalf("file holds %q (%v), want the first write's", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the memo", len(entries))
	}
}

// TestReadFile: ReadFile gives the file's bytes and its modification time.
func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memo.bin")
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "memo"); return err }); err != nil {
		t.Fatal(err)
	}
	b, mtime, err := ReadFile(path)
	fi, serr := os.Stat(path)
	if err != nil || serr != nil || string(b) != "memo" || mtime != fi.ModTime().UnixNano() {
		t.Errorf("ReadFile = %q, %d, %v; want %q, %d (%v)", b, mtime, err, "memo", fi.ModTime().UnixNano(), serr)
	}
	if _, _, err := ReadFile(path + ".missing"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}
