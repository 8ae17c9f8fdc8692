package history

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

const fluxApps = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps
  prune: true
  targetNamespace: shop
`

const fluxSource = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: https://git.example.com/shop/fleet.git
  ref:
    branch: main
`

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
`

// The history of an object a Flux Kustomization applies is read from the states as the
// reconciler renders them: in its targetNamespace, and with the commits that change only the
// Kustomization's own options (spec.images) among its revisions.
func TestHistoryRendersAsTheReconciler(t *testing.T) {
	testrepo.Env(t)
	dir := t.TempDir()
	testrepo.Git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "add web", map[string]string{
		"clusters/dev/apps.yaml": fluxApps, "clusters/dev/source.yaml": fluxSource,
		"apps/kustomization.yaml": "resources:\n  - web.yaml\n", "apps/web.yaml": webDeployment,
	})
	commitAll(t, dir, "web to 2", replace(t, dir, "apps/web.yaml", "replicas: 1", "replicas: 2"))
	commitAll(t, dir, "web image 2.0.0 through Flux", replace(t, dir, "clusters/dev/apps.yaml", "  targetNamespace: shop\n",
		"  targetNamespace: shop\n  images:\n    - name: registry.example.com/web\n      newTag: 2.0.0\n"))
	commitAll(t, dir, "a note", map[string]string{"apps/README.md": "notes\n"})
	commitAll(t, dir, "dev interval", replace(t, dir, "clusters/dev/apps.yaml", "interval: 10m", "interval: 5m"))

	var objs []reconciler.Object
	for _, f := range []string{"clusters/dev/apps.yaml", "clusters/dev/source.yaml"} {
		o, err := reconciler.DecodeObjects(f, []byte(read(t, dir, f)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	applied, errs := reconciler.FluxApplied(os.DirFS(dir), objs)
	if len(errs) > 0 || len(applied) != 1 {
		t.Fatalf("applied %v, errors %v", applied, errs)
	}
	res, err := Object(context.Background(), Request{RepoDir: dir, Path: "apps", Applied: &applied[0], Name: "web",
		Select: selectByName("Deployment", "web"), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID.Namespace != "shop" {
		t.Errorf("object %s, want it in the Kustomization's targetNamespace shop", res.ID)
	}
	var got []string
	for _, r := range res.Revisions {
		got = append(got, r.Commit.Subject)
	}
	if want := "add web; web to 2; web image 2.0.0 through Flux"; strings.Join(got, "; ") != want {
		t.Errorf("revisions %q, want %q", strings.Join(got, "; "), want)
	}
	last := res.Revisions[len(res.Revisions)-1].Object
	c, _ := last.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	if img := c[0].(map[string]any)["image"]; img != "registry.example.com/web:2.0.0" {
		t.Errorf("last revision's image %v, want the Kustomization's 2.0.0", img)
	}
}
