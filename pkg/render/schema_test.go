package render

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMayPatch(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"resources:\n  - a.yaml\npatches:\n  - path: p.yaml\n", true},
		{"patchesStrategicMerge:\n- p.yaml\n", true},
		{"patches: [{path: p.yaml}]\n", true},
		{"resources:\n  - a.yaml\npatches: []\n", false},
		{"resources:\n  - a.yaml\n# patches:\n#  - path: p.yaml\n", false},
		{"replicas:\n  - name: web\n    count: 2\n", false},
		{"openapi:\n  path: schema.json\npatches:\n  - path: p.yaml\n", false},
	} {
		if got := mayPatch([]byte(c.src)); got != c.want {
			t.Errorf("mayPatch(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}

func TestPatchesNeedSchema(t *testing.T) {
	patched := []byte("resources:\n  - ../base\npatches:\n  - path: replicas.yaml\n")
	plain := []byte("resources:\n  - deployment.yaml\n")
	own := []byte("openapi:\n  path: schema.json\nresources:\n  - crd.yaml\n")
	for _, c := range []struct {
		name    string
		inputs  []inputStamp
		changed map[string][]byte
		want    bool
	}{
		{"patches in an overlay", []inputStamp{{Path: "base/kustomization.yaml", Content: plain},
			{Path: "overlays/prod/kustomization.yaml", Content: patched}, {Path: "overlays/prod/replicas.yaml", Content: patched}}, nil, true},
		{"no patches", []inputStamp{{Path: "base/kustomization.yaml", Content: plain}}, nil, false},
		{"patches only in a file that is not a kustomization", []inputStamp{{Path: "base/kustomization.yaml", Content: plain},
			{Path: "base/patches.yaml", Content: patched}}, nil, false},
		{"a kustomization with its own schema", []inputStamp{{Path: "a/kustomization.yaml", Content: patched},
			{Path: "b/Kustomization", Content: own}}, nil, false},
		{"a kustomization with its own schema in JSON", []inputStamp{{Path: "a/kustomization.yaml", Content: patched},
			{Path: "b/kustomization.yaml", Content: []byte(`{"resources": ["crd.yaml"], "openapi": {"path": "schema.json"}}`)}}, nil, false},
		{"a kustomization changed since", []inputStamp{{Path: "a/kustomization.yml", Content: patched},
			{Path: "b/kustomization.yaml", Content: plain}}, map[string][]byte{"b/kustomization.yaml": plain}, false},
		{"another file changed since", []inputStamp{{Path: "a/kustomization.yml", Content: patched},
			{Path: "a/deployment.yaml", Content: plain}}, map[string][]byte{"a/deployment.yaml": plain}, true},
	} {
		if got := patchesNeedSchema(c.inputs, c.changed); got != c.want {
			t.Errorf("%s: patchesNeedSchema = %v, want %v", c.name, got, c.want)
		}
	}
}

// The cache marks that its last render merged patches by the built-in schema, for the next
// command to start parsing it at once, and unmarks it after a render that did not.
func TestCacheMarksSchemaUse(t *testing.T) {
	root := copyTree(t, filepath.Join(repoRoot(t), "testdata", "repos", "kustomize"))
	c := Cache{Dir: t.TempDir()}
	marked := func() bool {
		_, err := os.Lstat(filepath.Join(c.Dir, schemaMarker))
		return err == nil
	}
	for _, step := range []struct {
		path string
		want bool
	}{{"overlays/staging", true}, {"base", false}, {"overlays/production", true}} {
		r, err := Render(root, step.path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Store(root, r, nil); err != nil {
			t.Fatal(err)
		}
		if marked() != step.want {
			t.Errorf("after storing the render of %s: marked %v, want %v", step.path, marked(), step.want)
		}
	}
}
