package render

import (
	"testing"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/types"
)

// TestDropResources: a partial render's kustomization loses the resources: entries, replicas:
// entries (by name) and patches (by path) it is told to drop, and keeps everything else.
func TestDropResources(t *testing.T) {
	src := []byte(`resources:
  - ../../base
  - extra.yaml
replicas:
  - name: a-web
    count: 2
  - name: b-web
    count: 3
patches:
  - path: a-patch.yaml
  - path: b-patch.yaml
  - patch: |-
      - op: replace
        path: /spec/replicas
        value: 1
    target:
      kind: Deployment
`)
	out, err := DropResources(src, []string{"extra.yaml", DropReplicas("a-web"), DropPatch("b-patch.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(out, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Resources) != 1 || k.Resources[0] != "../../base" {
		t.Errorf("resources: %v", k.Resources)
	}
	if len(k.Replicas) != 1 || k.Replicas[0].Name != "b-web" || k.Replicas[0].Count != 3 {
		t.Errorf("replicas: %+v", k.Replicas)
	}
	if len(k.Patches) != 2 || k.Patches[0].Path != "a-patch.yaml" || k.Patches[1].Target == nil {
		t.Errorf("patches: %+v", k.Patches)
	}
}
