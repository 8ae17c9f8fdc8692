package history

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// resourceJSON must give the bytes kustomize's MarshalJSON gives, and fail where it fails, on
// values that YAML's text round trip could change (numbers, quoted numbers, booleans, null,
// timestamps, merge keys, the nodes transformers write) and on the objects it cannot encode.
func TestResourceJSONAsKustomize(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	for name, data := range map[string]string{
		"kustomization.yaml": `resources: [values.yaml, keys.yaml, duplicate.yaml, infinite.yaml]
namespace: shop
namePrefix: p-
labels:
  - pairs: {tier: "1.10", enabled: "true"}
    includeSelectors: true
commonAnnotations: {note: "0123"}
images:
  - name: web
    newTag: "1.10"
replicas:
  - name: web
    count: 3
configMapGenerator:
  - name: settings
    literals: [A=1, B=true, C=1.10, D=~, E=2001-12-14]
`,
		"values.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {a: "1", b: 'yes', c: "null"}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - &c
          name: web
          image: web:1
          args: [1, 1.10, 0x1F, 0o17, .5, -0, 1e3, true, yes, null, ~, 2001-12-14, "2001-12-14", !!str 12, "multi
            line"]
          env:
            - name: X
              value: |
                block
                text
        - <<: *c
          name: sidecar
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
data:
  big: "12345678901234567890"
  float: "3.0"
  empty: ""
`,
		"keys.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\nspec:\n  8080: web\n",
		"duplicate.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: duplicate\ndata:\n  k: v\n  k: w\n",
		"infinite.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: infinite\nspec:\n  x: .inf\n",
	} {
		if err := fsys.WriteFile("/t/"+name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/t")
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, res := range m.Resources() {
		want, wantErr := res.MarshalJSON()
		got, err := resourceJSON(res)
		switch {
		case (err != nil) != (wantErr != nil):
			t.Errorf("%s: error %v, kustomize's %v", res.CurId(), err, wantErr)
		case err != nil:
			failed++
		case !bytes.Equal(got, want):
			t.Errorf("%s:\n%s\nkustomize's:\n%s", res.CurId(), got, want)
		}
	}
	if n := len(m.Resources()); n != 6 || failed != 3 {
		t.Errorf("%d objects, %d not encoded: want 6 and 3", n, failed)
	}
}
