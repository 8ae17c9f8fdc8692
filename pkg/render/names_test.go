package render

import (
	"os"
	"path/filepath"
	"testing"
)

// Objects rendered through namespace:, namePrefix:/nameSuffix: and generators' hashes keep, in
// their origin, the name and namespace their document (or generator) gives them, and the
// document's index: what a patch of the overlay names and where an edit of their own file goes.
func TestOriginNamesBeforeTransformers(t *testing.T) {
	root := filepath.Join(repoRoot(t), "testdata", "repos", "prefixed")
	type want struct {
		file, generated, name, namespace string
		doc                              int
	}
	cases := map[string]map[string]want{
		"overlays/dev": {
			"Deployment.apps catalog-dev/dev-catalog":     {file: "base/deployment.yaml", name: "catalog", doc: 0},
			"Service catalog-dev/dev-catalog":             {file: "base/service.yaml", name: "catalog", doc: 0},
			"Deployment.apps catalog-dev/dev-mailcatcher": {file: "overlays/dev/mailcatcher.yaml", name: "mailcatcher", doc: 0},
		},
		"overlays/prod": {
			"Deployment.apps catalog-prod/catalog-prod": {file: "base/deployment.yaml", name: "catalog", doc: 0},
		},
	}
	generated := map[string]want{
		"overlays/dev":  {generated: "base/kustomization.yaml", name: "catalog-config", doc: -1},
		"overlays/prod": {generated: "base/kustomization.yaml", name: "catalog-config", doc: -1},
	}
	for dir, objs := range cases {
		res, err := Render(root, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, o := range res.Objects {
			w, ok := objs[o.ID.String()]
			if !ok && o.ID.Kind == "ConfigMap" && o.Origin.Generated == "base/kustomization.yaml" {
				w, ok = generated[dir], true
			}
			if !ok {
				continue
			}
			seen++
			got := want{o.Origin.File, o.Origin.Generated, o.Origin.Name, o.Origin.Namespace, o.Origin.Doc}
			if got != w {
				t.Errorf("%s: %s: origin %+v, want %+v", dir, o.ID, got, w)
			}
		}
		if seen != len(objs)+1 {
			t.Errorf("%s: checked %d objects, want %d", dir, seen, len(objs)+1)
		}
	}
}

// Two documents of one kind in one file, through a suffix: each object finds its own document.
func TestOriginNamesOfOneFileThroughASuffix(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))); err != nil {
		t.Fatal(err)
	}
	canary := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../staging\nnameSuffix: -canary\n"
	if err := os.MkdirAll(filepath.Join(root, "overlays", "staging-canary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "overlays", "staging-canary", "kustomization.yaml"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Render(root, "overlays/staging-canary", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]any{
		"ConfigMap shop/web-config-canary":    {"web-config", 0},
		"ConfigMap shop/worker-config-canary": {"worker-config", 1},
	}
	for _, o := range res.Objects {
		if w, ok := want[o.ID.String()]; ok {
			if o.Origin.File != "base/config.yaml" || o.Origin.Name != w[0] || o.Origin.Doc != w[1] || o.Origin.Namespace != "shop" {
				t.Errorf("%s: origin %+v, want base/config.yaml document %d named %s in shop", o.ID, o.Origin, w[1], w[0])
			}
			delete(want, o.ID.String())
		}
	}
	if len(want) > 0 {
		t.Errorf("not rendered: %v", want)
	}
}
