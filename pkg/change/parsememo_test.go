package change

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
)

// TestYAMLJSONMemo: a tree parsed through the memo kept between commands is the tree parsed
// without it, and a command that changed nothing converts no file again.
func TestYAMLJSONMemo(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	if err := repogen.Generate(fleet, repogen.Options{Apps: 12, ManifestsPerApp: 3, Overlays: []string{"dev"}, Commits: 1}); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	want, err := parseTree(fleet, "overlays/dev", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() (*kustTree, int) {
		m := openYAMLJSONMemo(cache)
		tree, err := parseTree(fleet, "overlays/dev", nil, &parseMemo{nodes: map[string]*kustNode{}, json: m})
		if err != nil {
			t.Fatal(err)
		}
		misses := m.misses
		m.save()
		return tree, misses
	}
	for i, wantMisses := range []int{len(want.nodes), 0} {
		got, misses := parse()
		if misses != wantMisses {
			t.Errorf("parse %d: %d files converted, want %d", i, misses, wantMisses)
		}
		if len(got.nodes) != len(want.nodes) {
			t.Fatalf("parse %d: %d nodes, want %d", i, len(got.nodes), len(want.nodes))
		}
		for j, n := range got.nodes {
			w := want.nodes[j]
			if n.file != w.file || !reflect.DeepEqual(n.k, w.k) || !reflect.DeepEqual(n.keys, w.keys) ||
				!reflect.DeepEqual(n.patchFiles, w.patchFiles) || !reflect.DeepEqual(n.direct, w.direct) || len(n.entries) != len(w.entries) {
				t.Errorf("parse %d: %s differs through the memo", i, n.file)
			}
		}
	}
	// A corrupt memo is ignored.
	writeFile(t, filepath.Join(cache, "kustomization-json.gob"), "not a memo")
	if _, misses := parse(); misses != len(want.nodes) {
		t.Errorf("after a corrupt memo: %d files converted, want %d", misses, len(want.nodes))
	}
	if _, err := os.Stat(filepath.Join(cache, "kustomization-json.gob")); err != nil {
		t.Error(err)
	}
}
