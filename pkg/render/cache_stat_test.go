package render

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// agedStaging is stagingWithCache with every input an hour old, the render stored once the file
// system's clock has moved past the inputs' writes (so every stat vouches, as in a later
// command), and the path of the staging patch, an input.
func agedStaging(t *testing.T) (root string, c Cache, r *Result, patch string) {
	t.Helper()
	root, c, r = stagingWithCache(t)
	old := time.Now().Add(-time.Hour)
	for _, p := range r.Inputs {
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(p)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.NextTick(t)
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	patch = "overlays/staging/web-patch.yaml"
	if e := storedEntry(t, c, root, stagingTarget); !stamp(t, e, patch).Vouched {
		t.Fatalf("%s is an hour old and its stamp does not vouch", patch)
	}
	return root, c, r, patch
}

func storedEntry(t *testing.T, c Cache, root, target string) *cacheEntry {
	t.Helper()
	abs, _ := filepath.Abs(root)
	b, err := os.ReadFile(c.file(abs, target))
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func stamp(t *testing.T, e *cacheEntry, p string) inputStamp {
	t.Helper()
	for _, in := range e.Inputs {
		if in.Path == p {
			return in
		}
	}
	t.Fatalf("%s is not an input of the cached render", p)
	return inputStamp{}
}

// sameSizeEdit rewrites file with content of the same size and restores its times; it returns
// the content before.
func sameSizeEdit(t *testing.T, file string, edit func([]byte) []byte) []byte {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	after := edit(bytes.Clone(before))
	if len(after) != len(before) || bytes.Equal(after, before) {
		t.Fatalf("the test's edit of %s changes its size or nothing", file)
	}
	if err := os.WriteFile(file, after, fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(file); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size or mtime not kept")
	}
	return before
}

// TestCacheSameSizeSameMtime: an input rewritten with the same size and its modification time
// restored (the stat's size and mtime as before, files old enough for the 2-second window not to
// matter) is a changed input, whose old content the Load gives back.
func TestCacheSameSizeSameMtime(t *testing.T) {
	root, c, _, patch := agedStaging(t)
	before := sameSizeEdit(t, filepath.Join(root, patch), func(b []byte) []byte {
		return bytes.Replace(b, []byte("value: debug"), []byte("value: trace"), 1)
	})
	_, changed, ok := c.Load(root, stagingTarget, stagingTarget)
	if !ok || len(changed) != 1 || !bytes.Equal(changed[patch], before) {
		t.Fatalf("after %s was rewritten with its size and mtime: ok=%v, changed %q", patch, ok, changed)
	}
}

// TestCacheRenamedOver: an input replaced by a file renamed over it, with the same size and
// mtime, is a changed input.
func TestCacheRenamedOver(t *testing.T) {
	root, c, _, patch := agedStaging(t)
	file := filepath.Join(root, patch)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "overlays", "staging", ".web-patch.tmp")
	if err := os.WriteFile(tmp, bytes.Replace(b, []byte(`value: "30"`), []byte(`value: "60"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if _, changed, ok := c.Load(root, stagingTarget, stagingTarget); !ok || len(changed) != 1 || !bytes.Equal(changed[patch], b) {
		t.Fatalf("after %s was replaced by a rename with its size and mtime: ok=%v, changed %q", patch, ok, changed)
	}
}

// TestCacheRacyInput: a stat whose times are not older than the cache's clock (here a
// modification time in the future) does not vouch: the entry says so, and every Load hashes the
// file, so a change that keeps the whole stat is still seen.
func TestCacheRacyInput(t *testing.T) {
	root, c, r := stagingWithCache(t)
	patch := "overlays/staging/web-patch.yaml"
	file := filepath.Join(root, patch)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	testrepo.NextTick(t)
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	e := storedEntry(t, c, root, stagingTarget)
	if stamp(t, e, patch).Vouched {
		t.Errorf("%s, modified in the future, vouches", patch)
	}
	if !stamp(t, e, "base/web.yaml").Vouched {
		t.Error("base/web.yaml, written before the clock moved, does not vouch")
	}
	if _, changed, ok := c.Load(root, stagingTarget, stagingTarget); !ok || len(changed) > 0 {
		t.Fatalf("an unchanged racy input made a miss: ok=%v, changed %v", ok, changed)
	}
	sameSizeEdit(t, file, func(b []byte) []byte { return bytes.Replace(b, []byte("value: debug"), []byte("value: trace"), 1) })
	if _, changed, _ := c.Load(root, stagingTarget, stagingTarget); changed[patch] == nil {
		t.Errorf("a racy input changed and the cache did not see it: %v", changed)
	}
}

// TestCacheStoreChecksRenderedContent: an input that changed between the render and the store
// is not stored as the render's.
func TestCacheStoreChecksRenderedContent(t *testing.T) {
	root, c, r := stagingWithCache(t)
	file := filepath.Join(root, "overlays", "staging", "web-patch.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, "# later\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(root, r, nil); err == nil {
		t.Fatal("a render was stored with an input that changed after it")
	}
	if _, _, ok := c.Load(root, stagingTarget, stagingTarget); ok {
		t.Error("the cache holds a render of content the working tree no longer has")
	}
}
