package placement

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateEachIsCreateCandidatesInTurn places new objects with CreateEach and with
// CreateCandidates one at a time, each seeing the files of those before it (as the change
// engine places them), and compares the files byte for byte: kustomizations of several shapes
// and indentations, file names with directories, given contents, no kustomization.
func TestCreateEachIsCreateCandidatesInTurn(t *testing.T) {
	kusts := map[string]string{
		"empty flow list": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
		"block list":      "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml # the app\n# - old.yaml\nnamespace: shop\n",
		"indented list":   "kind: Kustomization\nresources:\n    - a.yaml\nlabels:\n    - pairs:\n          app: shop\n",
		"flow list":       "kind: Kustomization\nresources: [a.yaml, b.yaml]\n",
		"no resources":    "kind: Kustomization\n\nnamespace: shop\n\ncommonLabels:\n  app: shop\n",
		"null resources":  "kind: Kustomization\nresources:\nnamespace: shop\n",
		"crlf":            "kind: Kustomization\r\nresources:\r\n  - a.yaml\r\n",
		"none":            "",
	}
	var objs []CreateInput
	for i := range 12 {
		kind := []string{"ConfigMap", "Service", "Deployment", "Secret"}[i%4]
		in := CreateInput{Object: map[string]any{
			"apiVersion": "v1", "kind": kind,
			"metadata": map[string]any{"name": fmt.Sprintf("obj-%02d", i), "namespace": "shop", "labels": map[string]any{"app": "shop"}},
			"data":     map[string]any{"key": fmt.Sprint(i), "nested": map[string]any{"a": []any{"x", map[string]any{"b": "c"}}}},
		}}
		switch i % 3 {
		case 1:
			in.FileName = fmt.Sprintf("shop/%s-obj-%02d.yaml", strings.ToLower(kind), i)
		case 2:
			in.Content = []byte(fmt.Sprintf("kind: %s\nmetadata: {name: obj-%02d}\n", kind, i))
		}
		objs = append(objs, in)
	}
	for name, kust := range kusts {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "apps", "shop")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if kust != "" {
				if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ins := make([]CreateInput, len(objs))
			for i, in := range objs {
				in.Root, in.Target = root, "apps/shop"
				ins[i] = in
			}

			inTurn := map[string][]byte{}
			var layers []string
			for _, in := range ins {
				in.Files = maps.Clone(inTurn)
				cands, err := CreateCandidates(in)
				if err != nil {
					t.Fatal(err)
				}
				layers = append(layers, cands[0].Layer)
				maps.Copy(inTurn, cands[0].Files)
			}

			each, err := CreateEach(ins)
			if err != nil {
				t.Fatal(err)
			}
			atOnce := map[string][]byte{}
			for i, cands := range each {
				if len(cands) != 1 || cands[0].Layer != layers[i] {
					t.Fatalf("object %d: candidates %v, want one in %s", i, cands, layers[i])
				}
				maps.Copy(atOnce, cands[0].Files)
			}
			if len(atOnce) != len(inTurn) {
				t.Errorf("CreateEach wrote %d files, one at a time %d", len(atOnce), len(inTurn))
			}
			for f, want := range inTurn {
				if got := atOnce[f]; !bytes.Equal(got, want) {
					t.Errorf("%s at once:\n%s\none at a time:\n%s", f, got, want)
				}
			}
			if kust != "" && !bytes.Contains(atOnce["apps/shop/kustomization.yaml"], []byte("shop/service-obj-01.yaml")) {
				t.Errorf("the kustomization lists no new file:\n%s", atOnce["apps/shop/kustomization.yaml"])
			}
		})
	}
}

// TestCreateEachRefuses: what one at a time would refuse, or would do differently, fails
// CreateEach (the engine then places the objects one at a time).
func TestCreateEachRefuses(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configmap-old.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := func(name, file string) CreateInput {
		return CreateInput{Root: root, Target: "app", FileName: file,
			Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}}}
	}
	for _, tc := range []struct {
		name string
		ins  []CreateInput
		want string
	}{
		{"a file on disk", []CreateInput{obj("a", ""), obj("old", "")}, "app/configmap-old.yaml already exists"},
		{"two objects, one file", []CreateInput{obj("a", "x.yaml"), obj("b", "x.yaml")}, "app/x.yaml already exists"},
		{"a new kustomization", []CreateInput{obj("a", ""), obj("b", "kustomization.yaml")}, "new kustomization"},
		{"no name", []CreateInput{obj("", "")}, "needs kind and metadata.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CreateEach(tc.ins)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
