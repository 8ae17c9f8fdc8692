package fsstat

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// nextTick waits until the file system's clock in dir moves past what it reads now.
func nextTick(t *testing.T, dir string) int64 {
	t.Helper()
	start, err := Clock(dir)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		now, err := Clock(dir)
		if err != nil {
			t.Fatal(err)
		}
		if now > start {
			return now
		}
		runtime.Gosched()
	}
	t.Fatal("the file system's clock did not move in 10 s")
	return 0
}

func keyOf(t *testing.T, p string) Key {
	t.Helper()
	st, err := Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Key()
}

// TestKeyNotices: the key changes with each change of a file that keeps its size and
// modification time: a rewrite with the time restored, a replacement by rename, a chmod.
func TestKeyNotices(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(p, []byte("replicas: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	before := keyOf(t, p)
	restore := func() {
		t.Helper()
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name   string
		change func()
	}{
		{"rewritten, same size and mtime", func() {
			if err := os.WriteFile(p, []byte("replicas: 2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			restore()
		}},
		{"replaced by rename, same size and mtime", func() {
			tmp := filepath.Join(dir, "tmp")
			if err := os.WriteFile(tmp, []byte("replicas: 3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, old, old); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"made executable", func() {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
			restore()
		}},
	}
	for _, s := range steps {
		nextTick(t, dir) // a change in the tick of the last stat is Vouches's to catch
		s.change()
		after := keyOf(t, p)
		if after == before {
			t.Errorf("%s: the key did not change (%+v)", s.name, after)
		}
		if after.Size != before.Size || after.Mtime != before.Mtime {
			t.Fatalf("%s: the test did not keep size and mtime", s.name)
		}
		before = after
	}
}

// TestVouches: a stat vouches for a file only when its times are older than the file system's
// clock read before the file's content; a file written after the clock, or with a modification
// time in the future, does not vouch.
func TestVouches(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.yaml")
	clock := nextTick(t, dir)
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k := keyOf(t, p); k.Vouches(clock) {
		t.Errorf("a file written after the clock was read vouches: %+v, clock %d", k, clock)
	}
	later := nextTick(t, dir)
	if k := keyOf(t, p); !k.Vouches(later) {
		t.Errorf("a file older than the clock does not vouch: %+v, clock %d", k, later)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	if k := keyOf(t, p); k.Vouches(nextTick(t, dir)) {
		t.Errorf("a file with a future mtime vouches: %+v", k)
	}
	if (Key{Mtime: 1, Ctime: 1}).Vouches(0) {
		t.Error("no clock vouches")
	}
}

// TestClock: the clock is the time a file written now gets: not before a file written before it,
// not after one written after it.
func TestClock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache") // made by Clock
	write := func(name string) int64 {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mtime
	}
	c0, err := Clock(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := write("a")
	c1, err := Clock(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := write("b")
	if !(c0 <= a && a <= c1 && c1 <= b) {
		t.Errorf("clock %d, file %d, clock %d, file %d: not in order", c0, a, c1, b)
	}
}
