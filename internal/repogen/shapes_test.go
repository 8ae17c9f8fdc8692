package repogen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// The monitoring shape has the sizes the benchmarks claim: about 100 files and 6 MB, CRDs of
// 200–500 KB, and it renders with its Deployment.
func TestMonitoringShape(t *testing.T) {
	testrepo.Env(t)
	dir := filepath.Join(t.TempDir(), "monitoring")
	shape, err := Monitoring(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(testrepo.Git(t, dir, "log", "--oneline"), "\n")); n != 50 {
		t.Errorf("git log --oneline has %d lines, want 50 commits", n)
	}
	files, size, crds := 0, int64(0), 0
	err = filepath.WalkDir(filepath.Join(dir, "manifests"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		if strings.HasSuffix(p, "CustomResourceDefinition.yaml") {
			crds++
			if info.Size() < 190_000 || info.Size() > 510_000 {
				t.Errorf("%s: %d bytes, want 200–500 KB", p, info.Size())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 90 || files > 110 || size < 5_500_000 || size > 6_500_000 || crds < 10 {
		t.Errorf("manifests/ has %d files, %d bytes, %d CRDs; want about 100 files, 6 MB, at least 10 CRDs", files, size, crds)
	}
	res, err := render.Render(dir, shape.Path, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, shape.Namespace, shape.Deployment)) != 1 {
		t.Errorf("%s does not render %s", shape.Path, shape.Object())
	}
	t.Logf("%d files, %d bytes, %d objects", files, size, len(res.Objects))
}

// The platform shape renders about 500 objects through components, generators and
// replacements: the webhooks name their prefixed Service, and generated ConfigMaps carry their
// hash and the overlay's merged values.
func TestPlatformShape(t *testing.T) {
	testrepo.Env(t)
	dir := filepath.Join(t.TempDir(), "platform")
	shape, err := Platform(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(testrepo.Git(t, dir, "log", "--oneline"), "\n")); n != 50 {
		t.Errorf("git log --oneline has %d lines, want 50 commits", n)
	}
	res, err := render.Render(dir, shape.Path, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Objects); n < 480 || n > 530 {
		t.Errorf("%s renders %d objects, want about 500", shape.Path, n)
	}
	if len(res.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, shape.Namespace, shape.Deployment)) != 1 {
		t.Errorf("%s does not render %s", shape.Path, shape.Object())
	}
	app := platformApps[0]
	hook := res.Find(schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, "", app+"-validating-webhook-configuration")
	if len(hook) != 1 {
		t.Fatalf("%d validating webhooks of %s", len(hook), app)
	}
	svc, _, _ := unstructured.NestedSlice(hook[0].Obj().Object, "webhooks")
	if got, _, _ := unstructured.NestedString(svc[0].(map[string]any), "clientConfig", "service", "name"); got != app+"-webhook-service" {
		t.Errorf("the webhook's service is %q, want the replacement's %s-webhook-service", got, app)
	}
	if ca := hook[0].Obj().GetAnnotations()["cert-manager.io/inject-ca-from"]; ca != platformNamespace+"/"+app+"-serving-cert" {
		t.Errorf("inject-ca-from is %q", ca)
	}
	var config *unstructured.Unstructured
	for _, o := range res.Objects {
		if u := o.Obj(); u.GetKind() == "ConfigMap" && strings.HasPrefix(u.GetName(), app+"-config-") {
			config = u
		}
	}
	if config == nil {
		t.Fatalf("no generated ConfigMap %s-config-HASH", app)
	}
	if data, _, _ := unstructured.NestedStringMap(config.Object, "data"); data["USE_MESH"] != "true" || data["LOG_LEVEL"] == "" {
		t.Errorf("%s: data %v lacks the base's or the overlay's values", config.GetName(), data)
	}
}
