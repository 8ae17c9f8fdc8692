package render

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// kubectlForTest is the kubectl built from the same k8s.io release as our kustomize pins
// (make testbin), so its `kubectl kustomize` is the reference our render must equal.
func kubectlForTest(t *testing.T) string {
	p := filepath.Join(repoRoot(t), "bin", "testbin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("KUBECTL_GITOPS_E2E") != "" {
			t.Fatalf("%s missing: run `make testbin`", p)
		}
		t.Skipf("%s missing: run `make testbin`", p)
	}
	return p
}

func TestRenderEqualsKubectlKustomize(t *testing.T) {
	kubectl := kubectlForTest(t)
	for _, dir := range []string{"kustomize/base", "kustomize/overlays/staging", "kustomize/overlays/production", "prefixed/overlays/dev", "prefixed/overlays/prod"} {
		sample, dir, _ := strings.Cut(dir, "/")
		root := filepath.Join(repoRoot(t), "testdata", "repos", sample)
		t.Run(sample+"/"+dir, func(t *testing.T) {
			want, err := exec.Command(kubectl, "kustomize", filepath.Join(root, dir)).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize: %v", err)
			}
			res, err := Render(root, dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.YAML(), want) {
				t.Errorf("render differs from kubectl kustomize\n--- ours\n%s\n--- kubectl\n%s", res.YAML(), want)
			}
		})
	}
}

func TestRenderOrigins(t *testing.T) {
	root := filepath.Join(repoRoot(t), "testdata", "repos", "kustomize")
	res, err := Render(root, "overlays/staging", Options{})
	if err != nil {
		t.Fatal(err)
	}
	web := res.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "shop", "web")
	if len(web) != 1 {
		t.Fatalf("want one Deployment shop/web, got %d", len(web))
	}
	if got := web[0].Origin.File; got != "base/web.yaml" {
		t.Errorf("origin file = %q, want base/web.yaml", got)
	}
	if web[0].Origin.Doc < 0 {
		t.Errorf("origin document not found")
	}
	if _, ok := web[0].Obj().GetAnnotations()["config.kubernetes.io/origin"]; ok {
		t.Errorf("origin annotation leaked into the rendered object")
	}
	for _, in := range []string{"overlays/staging/kustomization.yaml", "overlays/staging/web-patch.yaml", "base/web.yaml", "base/kustomization.yaml"} {
		if !contains(res.Inputs, in) {
			t.Errorf("inputs %v lack %s", res.Inputs, in)
		}
	}
	for _, in := range res.Inputs {
		if strings.HasPrefix(in, "overlays/production") {
			t.Errorf("staging render read %s", in)
		}
	}
}

func TestRenderOverlayDoesNotTouchDisk(t *testing.T) {
	root := filepath.Join(repoRoot(t), "testdata", "repos", "kustomize")
	kust := "overlays/staging/kustomization.yaml"
	before, err := os.ReadFile(filepath.Join(root, kust))
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(before, []byte("count: 1"), []byte("count: 4"), 1)
	res, err := Render(root, "overlays/staging", Options{Overlay: map[string][]byte{kust: edited}})
	if err != nil {
		t.Fatal(err)
	}
	web := res.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "shop", "web")[0]
	if r, _, _ := unstructuredInt(web.Obj().Object, "spec", "replicas"); r != 4 {
		t.Errorf("replicas = %d, want 4 from the overlaid kustomization", r)
	}
	after, _ := os.ReadFile(filepath.Join(root, kust))
	if !bytes.Equal(before, after) {
		t.Fatal("render wrote to the working tree")
	}
}

func TestRenderPlainDirectory(t *testing.T) {
	root := filepath.Join(repoRoot(t), "testdata", "repos", "plain")
	res, err := Render(root, "apps", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) == 0 {
		t.Fatal("plain directory rendered no objects")
	}
	for _, o := range res.Objects {
		if o.Origin.File == "" || o.Origin.Doc < 0 {
			t.Errorf("%s: origin %+v not located", o.ID, o.Origin)
		}
	}
	for _, in := range res.Inputs {
		if strings.HasSuffix(in, "kustomization.yaml") {
			t.Errorf("generated kustomization reported as an input: %s", in)
		}
	}
}

// A chart directory that no reconciler installs is refused with what the user can do, not
// with kustomize's error about its first template.
func TestRenderChartDirectoryWithoutReconciler(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"charts/web/Chart.yaml":                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"charts/web/values.yaml":               "replicaCount: 1\n",
		"charts/web/templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n",
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Render(root, "charts/web", Options{})
	if err == nil || !strings.Contains(err.Error(), "it is a Helm chart (it has Chart.yaml)") || !strings.Contains(err.Error(), "--target") {
		t.Errorf("render of a chart directory: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Documents are YAML's documents, one per object in order: joined as kustomize joins them they
// are YAML, and each is the object of its index.
func TestDocuments(t *testing.T) {
	root := filepath.Join(repoRoot(t), "testdata", "repos", "kustomize")
	res, err := Render(root, "overlays/production", Options{})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := res.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(res.Objects) || len(docs) < 2 {
		t.Fatalf("%d documents for %d objects", len(docs), len(res.Objects))
	}
	if joined := bytes.Join(docs, []byte("---\n")); !bytes.Equal(joined, res.YAML()) {
		t.Errorf("the documents joined are not YAML():\n%s", joined)
	}
	for i, o := range res.Objects {
		if !strings.Contains(string(docs[i]), "\n  name: "+o.ID.Name+"\n") {
			t.Errorf("document %d is not %s:\n%s", i, o.ID, docs[i])
		}
	}
}
