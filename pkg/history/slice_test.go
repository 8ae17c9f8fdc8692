package history

import (
	"context"
	"maps"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
)

// A commit that changes only replicas: and images: entries swaps them into the layout instead of
// working it out again: at every commit of a history whose kustomizations change in every way
// (entries, comments, a field added or removed, another field, a resource removed, the base
// moved, a kustomization that only gathered files given images:), the layout must be the one worked out from the state.
func TestLayoutSwapsEntries(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	const kust = "overlays/staging/kustomization.yaml"
	commitAll(t, dir, "staging: web to 3", replace(t, dir, kust, "count: 1", "count: 3"))
	commitAll(t, dir, "staging: web tag", replace(t, dir, kust, "newTag: 1.5.0-rc.1", "newTag: 1.5.0-rc.2"))
	commitAll(t, dir, "staging: comment", replace(t, dir, kust, "# Staging:", "# Staging (edited):"))
	commitAll(t, dir, "staging: no replicas", replace(t, dir, kust, "replicas:\n  - name: web\n    count: 3\n", ""))
	commitAll(t, dir, "staging: replicas again", replace(t, dir, kust, "images:\n", "replicas:\n  - name: web\n    count: 2\nimages:\n"))
	commitAll(t, dir, "staging: prefix", replace(t, dir, kust, "namespace: shop\n", "namespace: shop\nnamePrefix: s-\n"))
	commitAll(t, dir, "staging: worker tag", replace(t, dir, kust, `newTag: "2.1.0"`, `newTag: "2.2.0"`))
	base := map[string]string{}
	for _, f := range []string{"config.yaml", "cronjob.yaml", "kustomization.yaml", "namespace.yaml", "service.yaml", "web.yaml", "worker.yaml"} {
		base["base-v2/"+f] = read(t, dir, "base/"+f)
	}
	// Without labels: it only gathers files, a simple layout of its own.
	base["base-v2/kustomization.yaml"] = strings.Split(base["base-v2/kustomization.yaml"], "labels:")[0]
	maps.Copy(base, replace(t, dir, kust, "../../base", "../../base-v2"))
	commitAll(t, dir, "staging: base v2", base)
	commitAll(t, dir, "base-v2: no cronjob", replace(t, dir, "base-v2/kustomization.yaml", "  - cronjob.yaml\n", ""))
	commitAll(t, dir, "base-v2: images", map[string]string{"base-v2/kustomization.yaml": read(t, dir, "base-v2/kustomization.yaml") +
		"images:\n  - name: registry.example.com/shop/web\n    newTag: 1.4.2\n"})
	commitAll(t, dir, "base-v2: web tag", replace(t, dir, "base-v2/kustomization.yaml", "newTag: 1.4.2", "newTag: 1.4.3"))

	for root, want := range map[string][]string{
		"overlays/staging": {"base-v2: web tag", "staging: worker tag", "staging: comment", "staging: web tag", "staging: web to 3"},
		"base-v2":          {"base-v2: web tag"},
	} {
		if got := swapsInHistory(t, dir, root); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the entries were swapped in before %q, want %q", root, got, want)
		}
	}
}

// swapsInHistory walks the history of root as Object does, compares the layout at each commit
// with the one worked out again, and returns the commits before which entries were swapped in.
func swapsInHistory(t *testing.T, dir, root string) []string {
	t.Helper()
	ctx := context.Background()
	w, err := newWalker(ctx, dir, root, t.TempDir(), loadMemo(""))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.at = strings.TrimSpace(testrepo.Git(t, dir, "rev-parse", "HEAD"))
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	log, err := startLog(ctx, dir, w.at, w.followed)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { log.close() }()
	var swapped []string
	for {
		e, err := log.next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return swapped
		}
		w.revert(e)
		for _, c := range e.changes {
			if reach.IsFileName(path.Base(c.path)) && w.covered(c.path) && !w.stale {
				swapped = append(swapped, e.info.Subject)
			}
		}
		if w.stale {
			w.layout, w.stale = w.layoutOf(root), false
		}
		if want := w.layoutOf(root); !reflect.DeepEqual(w.layout, want) {
			t.Errorf("%s before %q: the layout is\n%+v\nworked out again:\n%+v", root, e.info.Subject, w.layout, want)
		}
		if w.grew {
			w.grew = false
			log.close()
			if log, err = startLog(ctx, dir, e.parent, w.followed); err != nil {
				t.Fatal(err)
			}
		}
	}
}
