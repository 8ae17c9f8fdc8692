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
	exe := filepath.Join(dir, "x")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, file, exe, link} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := StatOf(fi)
		if got, err := Lstat(p); err != nil || got != want {
			t.Errorf("Lstat(%s) = %+v, %v; want %+v", p, got, err, want)
		}
	}
	if _, err := Lstat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("Lstat of a missing file: %v", err)
	}
}

// TestDirLstat: a Dir's Lstat of an entry reports what Lstat of its path does.
func TestDirLstat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"f", "l", "d"} {
		want, err := Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := d.Lstat(name); err != nil || got != want {
			t.Errorf("Lstat(%s) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	if _, err := d.Lstat("missing"); !os.IsNotExist(err) {
		t.Errorf("Lstat of a missing entry: %v", err)
	}
	if _, err := OpenDir(filepath.Join(dir, "f")); err == nil {
		t.Error("OpenDir of a file: no error")
	}
}
