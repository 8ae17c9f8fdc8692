package fsstat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLstat: Lstat reports what os.Lstat does.
func TestLstat(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, file, link} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := Stat{Type: fi.Mode().Type(), Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Ctime: Ctime(fi), Ino: Inode(fi)}
		if got, err := Lstat(p); err != nil || got != want {
			t.Errorf("Lstat(%s) = %+v, %v; want %+v", p, got, err, want)
		}
	}
	if _, err := Lstat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("Lstat of a missing file: %v", err)
	}
}
