package render

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// copyTree copies the sample repository src into a fresh directory the test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCacheRoundTripAndInvalidation(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	c := Cache{Dir: t.TempDir()}
	const target = "overlays/staging"
	if _, _, ok := c.Load(root, target, target); ok {
		t.Fatal("an empty cache answered")
	}
	r, err := Render(root, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Cacheable {
		t.Fatal("a render of the sample reads outside the repository")
	}
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	got, changed, ok := c.Load(root, target, target)
	if !ok || len(changed) > 0 {
		t.Fatalf("the stored render was not loaded as current (changed: %v)", changed)
	}
	if len(got.Objects) != len(r.Objects) {
		t.Fatalf("loaded %d objects, stored %d", len(got.Objects), len(r.Objects))
	}
	for i, o := range r.Objects {
		g := got.Objects[i]
		if g.ID != o.ID || g.Origin != o.Origin || !reflect.DeepEqual(g.Obj().Object, o.Obj().Object) {
			t.Errorf("object %d: loaded %+v %+v, stored %+v %+v", i, g.ID, g.Origin, o.ID, o.Origin)
		}
	}
	if !reflect.DeepEqual(got.Inputs, r.Inputs) {
		t.Errorf("inputs: loaded %v, stored %v", got.Inputs, r.Inputs)
	}

	// An input changed on disk, even with its size and time kept, is a miss.
	in := filepath.Join(root, filepath.FromSlash(r.Inputs[0]))
	fi, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(in)
	b[len(b)-1] = '#'
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(in, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, changed, ok := c.Load(root, target, target); !ok || len(changed) != 1 || string(changed[r.Inputs[0]]) == string(b) {
		t.Errorf("after %s changed, the cache answered ok=%v with changed inputs %v", r.Inputs[0], ok, changed)
	}
}

// TestCacheEditedContent: a render stored for content a commit wrote elsewhere (another branch)
// is not the render of the working tree.
func TestCacheEditedContent(t *testing.T) {
	root, c, r := stagingWithCache(t)
	const target = stagingTarget
	kust := "overlays/staging/kustomization.yaml"
	onDisk, err := os.ReadFile(filepath.Join(root, kust))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(root, r, map[string][]byte{kust: append(onDisk, "# elsewhere\n"...)}); err != nil {
		t.Fatal(err)
	}
	if _, changed, _ := c.Load(root, target, target); len(changed) != 1 || string(changed[kust]) != string(onDisk)+"# elsewhere\n" {
		t.Fatalf("a render of content the working tree does not have: changed inputs %q", changed)
	}
	if err := c.Store(root, r, map[string][]byte{kust: onDisk}); err != nil {
		t.Fatal(err)
	}
	if _, changed, ok := c.Load(root, target, target); !ok || len(changed) > 0 {
		t.Fatal("a render of the working tree's content was not loaded as current")
	}
}

// TestCachePlainDirectory: a plain directory renders every manifest in it, so a manifest added
// there (or one a commit wrote to another branch) makes the cached render stale.
func TestCachePlainDirectory(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "plain"))
	c := Cache{Dir: t.TempDir()}
	r, err := Render(root, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dirs) == 0 {
		t.Fatal("a plain render records no directories")
	}
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, changed, ok := c.Load(root, ".", "."); !ok || len(changed) > 0 {
		t.Fatal("the stored plain render was not loaded as current")
	}
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\n"
	if err := c.Store(root, r, map[string][]byte{"extra.yaml": []byte(extra)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Load(root, ".", "."); ok {
		t.Error("a render stored with a file the working tree lacks was loaded")
	}
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "extra.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Load(root, ".", "."); ok {
		t.Error("a cached plain render was loaded after a manifest was added")
	}
}

// A damaged entry (a flipped bit, a cut-off write) is a miss, never a panic or a wrong render.
func TestCacheCorruptEntryIsAMiss(t *testing.T) {
	root, c, r := stagingWithCache(t)
	const target = stagingTarget
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(root)
	file := c.file(abs, target)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, damaged := range [][]byte{
		append(append([]byte{}, good[:len(good)/2]...), good[len(good)/2]^0x10),
		good[:len(good)/2],
		{},
	} {
		bad := append([]byte{}, damaged...)
		if len(damaged) > len(good)/2 {
			bad = append(bad, good[len(good)/2+1:]...)
		}
		if err := os.WriteFile(file, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := c.Load(root, target, target); ok {
			t.Errorf("a damaged entry of %d bytes (of %d) was loaded", len(bad), len(good))
		}
	}
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Load(root, target, target); !ok {
		t.Error("the intact entry was not loaded")
	}
}

// A partial render stands for another only with the same entries left out and the same content
// in every file it read; it is kept with the render Merge makes, through the cache.
func TestPartialStands(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	const target = "overlays/staging"
	full, err := Render(root, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	drop := map[string][]string{"base": {"service.yaml", "cronjob.yaml"}}
	p, err := Render(root, target, Options{Drop: drop, NoOrigins: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Stands(root, drop, nil, full) {
		t.Error("a partial render does not stand for itself")
	}
	if p.Stands(root, map[string][]string{"base": {"service.yaml"}}, nil, full) {
		t.Error("a partial render stands for one leaving out other entries")
	}
	kept := "base/web.yaml"
	if p.Stands(root, drop, map[string][]byte{kept: []byte("# edited\n")}, full) {
		t.Error("a partial render stands for one over other content of a file it read")
	}
	edited := map[string][]byte{"overlays/staging/kustomization.yaml": []byte("resources: [../../base]\n")}
	if !p.Stands(root, drop, map[string][]byte{"base/unread.yaml": []byte("x")}, full) {
		t.Error("content of a file the partial render did not read made it not stand")
	}
	after, err := Render(root, target, Options{Drop: drop, NoOrigins: true, Overlay: edited})
	if err != nil {
		t.Fatal(err)
	}
	merged := Merge(full, p, after, edited)
	c := Cache{Dir: t.TempDir()}
	if err := c.Store(root, merged, edited); err != nil {
		t.Fatal(err)
	}
	got, _, ok := c.Load(root, target, target)
	if !ok || got.Partial() == nil {
		t.Fatal("the partial render was not kept with the cached render")
	}
	if !got.Partial().Stands(root, drop, edited, got) || got.Partial().Stands(root, drop, nil, got) {
		t.Error("the cached partial render does not stand for exactly the content it read")
	}
	if g, w := len(got.Partial().Objects), len(after.Objects); g != w {
		t.Errorf("the cached partial render holds %d objects, want %d", g, w)
	}
}

// TestCacheLoadTakesStatsSeen: Load checks an input with the stat the command took already
// (Cache.Seen) instead of stat'ing it again; an input without one is stat'ed.
func TestCacheLoadTakesStatsSeen(t *testing.T) {
	root, c, r := stagingWithCache(t)
	const target = stagingTarget
	// Stamps taken outside the racy window, as a later command's would be.
	old := time.Now().Add(-time.Hour)
	for _, p := range r.Inputs {
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(p)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(root, filepath.FromSlash(r.Inputs[0]))
	before, err := fsstat.Lstat(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, append(b, "\n# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, changed, ok := c.Load(root, target, target); !ok || changed[r.Inputs[0]] == nil {
		t.Fatalf("Load without stats seen missed the edit of %s (changed: %v)", r.Inputs[0], changed)
	}
	// The stat seen before the edit stands for the file: Load takes it and does not stat.
	c.Seen = map[string]fsstat.Stat{r.Inputs[0]: before}
	if _, changed, ok := c.Load(root, target, target); !ok || len(changed) != 0 {
		t.Fatalf("Load stat'ed %s again instead of taking the stat seen (changed: %v)", r.Inputs[0], changed)
	}
}

const stagingTarget = "overlays/staging"

// stagingWithCache is a copy of the kustomize test repository, an empty render cache, and the
// render of the repository's staging overlay, not yet stored.
func stagingWithCache(t *testing.T) (root string, c Cache, r *Result) {
	t.Helper()
	root = copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	r, err := Render(root, stagingTarget, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return root, Cache{Dir: t.TempDir()}, r
}
