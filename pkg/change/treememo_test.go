package change

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// TestTreeMemo: a command whose render comes from the cache takes the target's kustomizations
// from the tree memo instead of reading and parsing them, except those whose files changed;
// the tree is the one parsing every file gives. A damaged memo is ignored.
func TestTreeMemo(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	if err := repogen.Generate(fleet, repogen.Options{Apps: 12, ManifestsPerApp: 3, Overlays: []string{"dev"}, Commits: 1}); err != nil {
		t.Fatal(err)
	}
	cache := render.Cache{Dir: t.TempDir()}
	const tgt = "overlays/dev"
	tree := func() *kustTree {
		t.Helper()
		eng := NewEngine(fleet, Paths(tgt), Options{Cache: cache})
		if _, err := eng.Rendered(tgt); err != nil {
			t.Fatal(err)
		}
		tr, err := eng.parseTree(tgt, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseTree(fleet, tgt, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, tr, want)
		return tr
	}

	all := len(tree().nodes) // an empty cache: every node parsed, the memo written
	memos, _ := filepath.Glob(filepath.Join(cache.Dir, "tree-*.bin"))
	if len(memos) != 1 {
		t.Fatalf("tree memos after the first command: %v", memos)
	}
	if got := tree().parsed; got != 0 {
		t.Errorf("a command with the render cached parsed %d of %d kustomizations, want none", got, all)
	}

	app := filepath.Join(fleet, "base", "apps", repogen.AppName(4), "kustomization.yaml")
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, app, strings.Replace(string(b), "resources:\n", "commonAnnotations:\n  owner: me\nresources:\n", 1))
	if got := tree().parsed; got != 1 {
		t.Errorf("after one kustomization changed: %d parsed, want 1", got)
	}

	writeFile(t, memos[0], "not a memo")
	if got := tree().parsed; got != all {
		t.Errorf("with a damaged memo: %d parsed, want all %d", got, all)
	}
}

func sameTree(t *testing.T, got, want *kustTree) {
	t.Helper()
	if len(got.nodes) != len(want.nodes) {
		t.Fatalf("%d nodes, want %d", len(got.nodes), len(want.nodes))
	}
	for i, n := range got.nodes {
		w := want.nodes[i]
		if n.dir != w.dir || n.file != w.file || n.sum != w.sum || !reflect.DeepEqual(n.kust(), w.kust()) ||
			!reflect.DeepEqual(n.keys, w.keys) || !reflect.DeepEqual(n.patchFiles, w.patchFiles) ||
			!reflect.DeepEqual(n.direct, w.direct) || !reflect.DeepEqual(n.specs, w.specs) {
			t.Errorf("node %s differs from a parse of its file", n.file)
		}
		if len(n.entries) != len(w.entries) {
			t.Fatalf("node %s: %d entries, want %d", n.file, len(n.entries), len(w.entries))
		}
		for j, en := range n.entries {
			if we := w.entries[j]; en.raw != we.raw || en.path != we.path || !reflect.DeepEqual(en.reads, we.reads) {
				t.Errorf("node %s: entry %s differs", n.file, en.raw)
			}
		}
	}
	if len(got.reading) != len(want.reading) {
		t.Errorf("the index holds %d paths, want %d", len(got.reading), len(want.reading))
	}
}

// TestTreeMemoSameSizeSameMtime: a kustomization rewritten with the same size and its
// modification time restored is parsed again, and the next command renders its new content;
// every stat vouched for its file before (the files are older than the cache's clock).
func TestTreeMemoSameSizeSameMtime(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	if err := repogen.Generate(fleet, repogen.Options{Apps: 12, ManifestsPerApp: 3, Overlays: []string{"dev"}, Commits: 1}); err != nil {
		t.Fatal(err)
	}
	testrepo.NextTick(t)
	cache := render.Cache{Dir: t.TempDir()}
	const tgt = "overlays/dev"
	command := func() (*kustTree, *render.Result) {
		t.Helper()
		eng := NewEngine(fleet, Paths(tgt), Options{Cache: cache})
		r, err := eng.Rendered(tgt)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := eng.parseTree(tgt, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseTree(fleet, tgt, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, tr, want)
		return tr, r
	}
	command()
	if tr, _ := command(); tr.parsed != 0 {
		t.Fatalf("a command with everything cached parsed %d kustomizations", tr.parsed)
	}

	app := repogen.AppName(4)
	file := filepath.Join(fleet, "base", "apps", app, "kustomization.yaml")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, strings.Replace(string(b), "app.kubernetes.io/part-of:", "app.kubernetes.io/part-oz:", 1))
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	tr, r := command()
	if tr.parsed != 1 {
		t.Errorf("after a kustomization changed with its size and mtime: %d parsed, want 1", tr.parsed)
	}
	relabeled := 0
	for _, o := range r.Objects {
		if strings.HasPrefix(o.Origin.File, "base/apps/"+app+"/") {
			if o.Obj().GetLabels()["app.kubernetes.io/part-oz"] != app {
				t.Errorf("%s renders without the new label: %v", o.ID, o.Obj().GetLabels())
			}
			relabeled++
		}
	}
	if relabeled == 0 {
		t.Errorf("no object of %s rendered", app)
	}
}
