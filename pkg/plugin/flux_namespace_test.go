package plugin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// fluxNamespacedRepo is a Flux repository whose two clusters apply overlays of one base, each
// with the Kustomization's own targetNamespace (web-dev, web-prod); the base names namespace web.
func fluxNamespacedRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	sync := func(cluster string) string {
		return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  url: https://git.example.com/platform/fleet.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./apps/` + cluster + `
  prune: true
  targetNamespace: web-` + cluster + `
  sourceRef:
    kind: GitRepository
    name: flux-system
`
	}
	files := map[string]string{
		"clusters/dev/sync.yaml":       sync("dev"),
		"clusters/prod/sync.yaml":      sync("prod"),
		"apps/base/kustomization.yaml": "resources:\n  - web.yaml\n",
		"apps/base/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          env:
            - name: LOG_LEVEL
              value: info
            - name: PORT
              value: "8080"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: web
spec:
  selector: {app: web}
  ports:
    - port: 80
`,
		"apps/dev/kustomization.yaml":  "resources:\n  - ../base\n",
		"apps/prod/kustomization.yaml": "resources:\n  - ../base\n",
	}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.Git(t, dir, "init", "-q", "-b", "main")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-q", "-m", "fleet")
	return dir
}

// Under a Flux Kustomization's targetNamespace, the overlay's patch names the object as
// kustomize sees it before Flux sets the namespace (web, the base's): a second change extends
// that patch, and delete writes a `$patch: delete` that matches. The other cluster renders as
// before throughout. (rollout undo is not here: pkg/history renders the path without the
// reconciler's options, so it does not find deploy/web in web-dev.)
func TestFluxTargetNamespacePatches(t *testing.T) {
	gitEnv(t)
	dir := fluxNamespacedRepo(t)
	dev := []string{"-n", "web-dev", "--target", "kustomization/flux-system/apps@clusters/dev"}
	prodName := "kustomization/flux-system/apps@clusters/prod"
	prod := renderTarget(t, dir, prodName).YAML()

	files := mustGitops(t, dir, append([]string{"set", "env", "deploy/web", "-c", "web", "LOG_LEVEL=debug"}, dev...)...)
	if want := []string{"apps/dev/kustomization.yaml", "apps/dev/web-patch.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("first change: the commit changes %q, want %q", files, want)
	}
	files = mustGitops(t, dir, append([]string{"set", "env", "deploy/web", "-c", "web", "PORT=9090"}, dev...)...)
	if want := []string{"apps/dev/web-patch.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("second change: the commit changes %q, want only the first change's patch %q", files, want)
	}
	patch := gitRun(t, dir, "show", "HEAD:apps/dev/web-patch.yaml")
	if !strings.Contains(patch, "  name: web\n  namespace: web\n") && !(strings.Contains(patch, "  name: web\n") && !strings.Contains(patch, "namespace:")) {
		t.Errorf("the patch does not name the Deployment as the base does (web in web):\n%s", patch)
	}
	web := objectNamed(renderTarget(t, dir, "kustomization/flux-system/apps@clusters/dev"), "Deployment", "web")
	wantEnvOrder("web", "LOG_LEVEL=debug", "PORT=9090")(t, web.Obj())

	files = mustGitops(t, dir, append([]string{"delete", "service/web"}, dev...)...)
	if len(files) == 0 || files[0] != "apps/dev/kustomization.yaml" {
		t.Fatalf("delete: the commit changes %q, want the dev overlay", files)
	}
	if objectNamed(renderTarget(t, dir, "kustomization/flux-system/apps@clusters/dev"), "Service", "web") != nil {
		t.Errorf("Service web-dev/web still renders after delete")
	}

	if got := renderTarget(t, dir, prodName).YAML(); string(got) != string(prod) {
		t.Errorf("prod renders differently:\n%s", lineDiff(string(prod), string(got)))
	}
}
