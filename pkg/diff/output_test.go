package diff

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func goldenReport(t *testing.T) *Report {
	dep := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: %s
  template:
    spec:
      containers:
      - {name: web, image: "registry.example.com/shop/web:%s"}
`
	live := obj(t, sprintf(dep, "5", "1.4.1"))
	git := obj(t, sprintf(dep, "2", "1.4.0"))
	cm := obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: flags, namespace: shop}, data: {beta: 'true'}}")
	old := obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: old, namespace: shop}, data: {a: '1'}}")
	return &Report{Compared: 2, Objects: []Object{
		{ObjectID: idOf(git), Status: StatusDrift, Live: live, Git: git, Fields: []Field{
			{Path: ".spec.replicas", Want: int64(2), Live: int64(5)},
			{Path: `.spec.template.spec.containers[name="web"].image`, Want: "registry.example.com/shop/web:1.4.0", Live: "registry.example.com/shop/web:1.4.1"},
		}},
		{ObjectID: idOf(cm), Status: StatusMissing, Git: cm},
		{ObjectID: idOf(old), Status: StatusExtra, Live: old},
		{ObjectID: ObjectID{Version: "v1", Kind: "Service", Namespace: "shop", Name: "web"}, Status: StatusError, Message: "refused"},
	}}
}

func sprintf(format string, args ...any) string {
	return fmt.Sprintf(format, args...)
}

func TestWriteGolden(t *testing.T) {
	r := goldenReport(t)
	for _, c := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"unified.golden", func(b *bytes.Buffer) error { return WriteUnified(b, r, false) }},
		{"unified-color.golden", func(b *bytes.Buffer) error { return WriteUnified(b, r, true) }},
		{"report.json.golden", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", c.file)
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs (run with -update to accept):\n%s", golden, b.String())
		}
	}
}
