package change

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// TestSlicedRenderEqualsWhole: a target whose base lists many applications renders in slices of
// that list, and the joined render is kustomize's render of the whole target: the same objects,
// with the same content and origins, in the same order, from the same inputs. Where the tree
// renames objects above the list, or the slices would hide kustomize's refusal, it renders whole.
func TestSlicedRenderEqualsWhole(t *testing.T) {
	opts := repogen.Options{Apps: 12, ManifestsPerApp: 10, Overlays: []string{"dev", "staging"}, Commits: 1}
	fleet := filepath.Join(t.TempDir(), "fleet")
	if err := repogen.Generate(fleet, opts); err != nil {
		t.Fatal(err)
	}
	targets := []string{"overlays/dev", "overlays/staging"}
	// staging also lists a file of its own beside the base: its object is in every slice.
	putFile(t, fleet, "overlays/staging/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n")
	editFile(t, fleet, "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - extra.yaml\n")

	for _, tgt := range targets {
		t.Run(tgt, func(t *testing.T) {
			sliced, n := renderWith(t, fleet, targets, tgt, false)
			if n != 1 {
				t.Fatalf("%s rendered whole; its base lists %d applications", tgt, opts.Apps)
			}
			whole, _ := renderWith(t, fleet, targets, tgt, true)
			sameRender(t, sliced, whole)
		})
	}

	t.Run("namePrefix above the list renders whole", func(t *testing.T) {
		dir := copyTree(t, fleet)
		editFile(t, dir, "overlays/dev/kustomization.yaml", "resources:\n", "namePrefix: dev-\nresources:\n")
		sliced, n := renderWith(t, dir, targets, "overlays/dev", false)
		if n != 0 {
			t.Fatal("rendered in slices below a namePrefix: references between slices would not follow it")
		}
		whole, _ := renderWith(t, dir, targets, "overlays/dev", true)
		sameRender(t, sliced, whole)
	})

	consumer := func(cm string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: uses-" + cm + "\nspec:\n  containers:\n    - name: c\n      image: busybox\n" +
			"      envFrom:\n        - configMapRef:\n            name: " + cm + "\n"
	}
	generate := func(t *testing.T, dir, app, cm string) {
		editFile(t, dir, filepath.Join("base", "apps", app, "kustomization.yaml"), "resources:\n",
			"configMapGenerator:\n  - name: "+cm+"\n    literals: [a=b]\nresources:\n")
	}
	uses := func(t *testing.T, dir, app, cm string) {
		putFile(t, dir, filepath.Join("base", "apps", app, "uses-"+cm+".yaml"), consumer(cm))
		editFile(t, dir, filepath.Join("base", "apps", app, "kustomization.yaml"), "resources:\n", "resources:\n  - uses-"+cm+".yaml\n")
	}
	t.Run("a generated name used in its own application", func(t *testing.T) {
		dir := copyTree(t, fleet)
		generate(t, dir, repogen.AppName(4), "own-settings")
		uses(t, dir, repogen.AppName(4), "own-settings")
		sliced, n := renderWith(t, dir, targets, "overlays/dev", false)
		if n != 1 {
			t.Fatal("rendered whole: the generated name is used only beside its generator")
		}
		whole, _ := renderWith(t, dir, targets, "overlays/dev", true)
		sameRender(t, sliced, whole)
		if objs := sliced.Find(schema.GroupKind{Kind: "Pod"}, "", "uses-own-settings"); len(objs) != 1 ||
			!strings.Contains(string(mustJSON(t, objs[0])), `"own-settings-`) {
			t.Fatal("the Pod does not refer to the generated ConfigMap by its hashed name")
		}
	})

	t.Run("a generated name used by another application renders whole", func(t *testing.T) {
		dir := copyTree(t, fleet)
		// Applications 2 and 10 are in different slices (0, 1, 3, 6 and 9 are in every
		// slice: overlays/dev sizes and patches them).
		generate(t, dir, repogen.AppName(2), "shared-settings")
		uses(t, dir, repogen.AppName(10), "shared-settings")
		sliced, n := renderWith(t, dir, targets, "overlays/dev", false)
		if n != 0 {
			t.Fatal("rendered in slices: the reference from another slice would keep the unhashed name")
		}
		whole, _ := renderWith(t, dir, targets, "overlays/dev", true)
		sameRender(t, sliced, whole)
	})

	t.Run("one object in two slices is kustomize's refusal", func(t *testing.T) {
		dir := copyTree(t, fleet)
		first, last := repogen.AppName(0), repogen.AppName(opts.Apps-1)
		b, err := os.ReadFile(filepath.Join(dir, "base", "apps", first, "web-config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		putFile(t, dir, filepath.Join("base", "apps", last, "dup.yaml"), string(b))
		editFile(t, dir, filepath.Join("base", "apps", last, "kustomization.yaml"), "resources:\n", "resources:\n  - dup.yaml\n")
		eng := NewEngine(dir, Paths(targets...), Options{SliceFiles: testSliceFiles})
		_, err = eng.Rendered("overlays/dev")
		if err == nil || !strings.Contains(err.Error(), "already registered id") {
			t.Fatalf("got %v, want kustomize's error for the object defined twice", err)
		}
		if eng.Stats().Sliced != 0 {
			t.Fatal("a render with one object twice was joined from slices")
		}
	})
}

// testSliceFiles makes slices of three applications of the test's fleet (12 files each).
const testSliceFiles = 36

func mustJSON(t *testing.T, o *render.Object) []byte {
	t.Helper()
	b, err := o.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func renderWith(t *testing.T, root string, targets []string, tgt string, whole bool) (*render.Result, int) {
	t.Helper()
	eng := NewEngine(root, Paths(targets...), Options{Whole: whole, SliceFiles: testSliceFiles})
	r, err := eng.Rendered(tgt)
	if err != nil {
		t.Fatal(err)
	}
	return r, eng.Stats().Sliced
}

func sameRender(t *testing.T, got, want *render.Result) {
	t.Helper()
	if len(got.Objects) != len(want.Objects) {
		t.Fatalf("%d objects, the whole render has %d", len(got.Objects), len(want.Objects))
	}
	for i, o := range got.Objects {
		w := want.Objects[i]
		if o.ID != w.ID {
			t.Fatalf("object %d is %s, the whole render has %s there", i, o.ID, w.ID)
		}
		if !o.SameAs(w) {
			t.Errorf("%s renders differently in slices", o.ID)
		}
		if o.Origin != w.Origin {
			t.Errorf("%s: origin %+v, the whole render says %+v", o.ID, o.Origin, w.Origin)
		}
	}
	if !slices.Equal(got.Inputs, want.Inputs) {
		t.Errorf("inputs differ: %d in slices, %d whole", len(got.Inputs), len(want.Inputs))
	}
	if got.Cacheable != want.Cacheable {
		t.Errorf("cacheable %v, whole %v", got.Cacheable, want.Cacheable)
	}
}

func putFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func editFile(t *testing.T, root, rel, old, new string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s holds no %q", rel, old)
	}
	putFile(t, root, rel, strings.Replace(string(b), old, new, 1))
}

// copyTree copies a repository's working tree (not .git) to a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
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
