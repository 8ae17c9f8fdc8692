package render

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// move moves the file from to to (both repository-relative) and links from to it by the
// relative path target.
func move(t *testing.T, root, from, to, target string) {
	t.Helper()
	src, dst := filepath.Join(root, from), filepath.Join(root, to)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, src); err != nil {
		t.Fatal(err)
	}
}

func webOf(t *testing.T, r *Result) *unstructured.Unstructured {
	t.Helper()
	objs := r.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "shop", "web")
	if len(objs) != 1 {
		t.Fatalf("%d web Deployments rendered", len(objs))
	}
	return objs[0].Obj()
}

// TestRenderLinksInside: a kustomization file, a patch file and a directory of resources that
// are links within the repository render as what they lead to; both the links and the files
// read through them are inputs, and an overlay of a file is seen through the link to it.
// (kustomize's load restrictor, as `kubectl kustomize` runs it, keeps a kustomization's files
// in or below its directory, links resolved: the links here respect it.)
func TestRenderLinksInside(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	want, err := Render(root, stagingTarget, Options{})
	if err != nil {
		t.Fatal(err)
	}
	move(t, root, "overlays/staging/kustomization.yaml", "overlays/staging/staging.yaml", "staging.yaml")
	move(t, root, "overlays/staging/web-patch.yaml", "overlays/staging/patches/web.yaml", "patches/web.yaml")
	kustFile := filepath.Join(root, "overlays", "staging", "staging.yaml")
	kust, err := os.ReadFile(kustFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kustFile, []byte(strings.Replace(string(kust), "  - ../../base\n", "  - base\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../base", filepath.Join(root, "overlays", "staging", "base")); err != nil {
		t.Fatal(err)
	}
	got, err := Render(root, stagingTarget, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Objects) != len(want.Objects) {
		t.Fatalf("%d objects through the links, %d without", len(got.Objects), len(want.Objects))
	}
	for i, o := range want.Objects {
		if g := got.Objects[i]; g.ID != o.ID || !reflect.DeepEqual(g.Obj().Object, o.Obj().Object) {
			t.Errorf("object %d: %s through the links, %s without, or another content", i, g.ID, o.ID)
		}
	}
	for _, in := range []string{"overlays/staging/kustomization.yaml", "overlays/staging/staging.yaml",
		"overlays/staging/web-patch.yaml", "overlays/staging/patches/web.yaml", "overlays/staging/base", "base/web.yaml"} {
		if !slices.Contains(got.Inputs, in) {
			t.Errorf("%s is not an input: %v", in, got.Inputs)
		}
	}

	if kust, err = os.ReadFile(kustFile); err != nil {
		t.Fatal(err)
	}
	patch, err := os.ReadFile(filepath.Join(root, "overlays", "staging", "patches", "web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited, err := Render(root, stagingTarget, Options{Overlay: map[string][]byte{
		"overlays/staging/staging.yaml":     []byte(strings.Replace(string(kust), "count: 1", "count: 3", 1)),
		"overlays/staging/patches/web.yaml": []byte(strings.Replace(string(patch), "value: debug", "value: trace", 1)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	web := webOf(t, edited)
	if n, _, _ := unstructured.NestedInt64(web.Object, "spec", "replicas"); n != 3 {
		t.Errorf("the kustomization's edit is not seen through its link: replicas %d", n)
	}
	if js, err := web.MarshalJSON(); err != nil || !strings.Contains(string(js), `"value":"trace"`) {
		t.Error("the patch's edit is not seen through its link")
	}
}

// TestRenderLinksOutside: a link that leads out of the repository (a patch, a resource, a
// kustomization file, a directory of resources, the target directory itself, a plain
// directory's manifest) is refused, naming the link, whatever the file outside holds.
func TestRenderLinksOutside(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "patch.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "kustomization.yaml"), []byte("resources:\n- cm.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sample, target, link, to string
		prepare                        func(t *testing.T, root string)
	}{
		{name: "a patch file, absolute", sample: "kustomize", target: stagingTarget, link: "overlays/staging/web-patch.yaml", to: filepath.Join(outside, "patch.yaml")},
		{name: "a resource, relative", sample: "kustomize", target: stagingTarget, link: "base/web.yaml", to: "../../" + filepath.Base(outside) + "/patch.yaml"},
		{name: "a kustomization file", sample: "kustomize", target: stagingTarget, link: "overlays/staging/kustomization.yaml", to: filepath.Join(outside, "kustomization.yaml")},
		{name: "a directory of resources", sample: "kustomize", target: stagingTarget, link: "overlays/staging/extra", to: outside,
			prepare: func(t *testing.T, root string) {
				k := filepath.Join(root, "overlays", "staging", "kustomization.yaml")
				b, err := os.ReadFile(k)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(k, []byte(strings.Replace(string(b), "  - ../../base\n", "  - ../../base\n  - extra\n", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "the target directory", sample: "kustomize", target: "overlays/linked", link: "overlays/linked", to: outside},
		{name: "a plain directory's manifest", sample: "plain", target: "apps/shop", link: "apps/shop/deployment.yaml", to: filepath.Join(outside, "cm.yaml")},
		{name: "a plain target directory", sample: "plain", target: "apps/linked", link: "apps/linked", to: outside},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The sample is copied next to outside, so relative links can reach it.
			root := filepath.Join(filepath.Dir(outside), strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot(t), "testdata", "repos", tc.sample))); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			if tc.prepare != nil {
				tc.prepare(t, root)
			}
			link := filepath.Join(root, filepath.FromSlash(tc.link))
			if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.to, link); err != nil {
				t.Fatal(err)
			}
			r, err := Render(root, tc.target, Options{})
			if err == nil {
				t.Fatalf("rendered %d objects through %s", len(r.Objects), tc.link)
			}
			var le *OutsideLinkError
			if !errors.As(err, &le) && !strings.Contains(err.Error(), "is a symbolic link to") {
				t.Errorf("not a link error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.link+" is a symbolic link to "+tc.to+", outside the repository") {
				t.Errorf("the error does not name the link %s: %v", tc.link, err)
			}
		})
	}
}

// TestCacheLinkRetargeted: a link is an input of its own: pointed at another file, the cached
// render is of other content.
func TestCacheLinkRetargeted(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	move(t, root, "overlays/staging/web-patch.yaml", "overlays/staging/patches/web.yaml", "patches/web.yaml")
	b, err := os.ReadFile(filepath.Join(root, "overlays", "staging", "patches", "web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "overlays", "staging", "patches", "trace.yaml"),
		[]byte(strings.Replace(string(b), "value: debug", "value: trace", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Cache{Dir: t.TempDir()}
	r, err := Render(root, stagingTarget, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(root, r, nil); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "overlays", "staging", "web-patch.yaml")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("patches/trace.yaml", link); err != nil {
		t.Fatal(err)
	}
	_, changed, ok := c.Load(root, stagingTarget, stagingTarget)
	if !ok || string(changed["overlays/staging/web-patch.yaml"]) != "patches/web.yaml" {
		t.Errorf("after the link was pointed elsewhere: ok=%v, changed %q", ok, changed)
	}
}
