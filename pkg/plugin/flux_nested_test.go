package plugin

import (
	"strings"
	"testing"
)

// A home-lab layout: one Flux Kustomization applies ./apps, whose kustomizations list only the
// apps' own Kustomizations, each applying its app/ directory; the GitRepository that syncs the
// repository is made in the cluster (flux bootstrap), not in the files. Each app is a target of
// its own, and a change to an app is written in that app's directory: the cluster-wide
// Kustomization does not read it.
func TestFluxNestedAppsAreTheirOwnTargets(t *testing.T) {
	gitEnv(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	commitFiles(t, dir, "home lab", map[string]string{
		"cluster/apps.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cluster-apps
  namespace: flux-system
spec:
  interval: 1h
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`,
		"apps/default/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: default\nresources:\n  - ./web/ks.yaml\n",
		"apps/default/web/ks.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: web
spec:
  interval: 1h
  path: ./apps/default/web/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
  targetNamespace: default
`,
		"apps/default/web/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./deploy.yaml\n",
		"apps/default/web/app/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/example/web:1.0.0\n",
	})

	stdout, stderr, code := gitops(t, "label", "deploy/web", "-n", "default", "team=web", "--repo", dir, "--target", "web")
	if code != 0 {
		t.Fatalf("label: exit %d\n%s%s", code, stdout, stderr)
	}
	files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD"))
	for _, f := range files {
		if !strings.HasPrefix(f, "apps/default/web/app/") {
			t.Errorf("the commit changes %s, outside the app's directory (all: %v)", f, files)
		}
	}
	if msg := gitRun(t, dir, "log", "-1", "--format=%B"); !strings.Contains(msg, "Gitops-Target: kustomization/web\n") {
		t.Errorf("commit message names another target:\n%s", msg)
	}
}

// A kustomization kustomize cannot read (an example, a plugin's input) that no target reads
// blocks nothing: a change to another directory is written.
func TestBrokenKustomizationElsewhereBlocksNothing(t *testing.T) {
	gitEnv(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	commitFiles(t, dir, "apps", map[string]string{
		"guestbook/kustomization.yaml": "resources:\n  - deploy.yaml\n",
		"guestbook/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: guestbook}\n  template:\n    metadata:\n      labels: {app: guestbook}\n    spec:\n      containers:\n        - name: guestbook\n          image: guestbook:1\n",
		// patches as a list of strings: not a kustomization kustomize reads.
		"plugins/example/kustomization.yaml": "resources:\n  - all.yaml\npatches:\n  - patch.yaml\n",
	})
	for _, args := range [][]string{
		{"scale", "deploy/guestbook", "--replicas=3", "--repo", dir, "--path", "guestbook"},
		{"scale", "deploy/guestbook", "--replicas=4", "--repo", dir, "--target", "guestbook"},
	} {
		stdout, stderr, code := gitops(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	if got := gitRun(t, dir, "show", "HEAD:guestbook/deploy.yaml"); !strings.Contains(got, "replicas: 4") {
		t.Errorf("guestbook/deploy.yaml:\n%s", got)
	}
}

// A ConfigMap a generator makes in a kustomization of its own, below a Flux path that has no
// kustomization.yaml: a label for it is a patch in the generator's kustomization, which only
// this target reads.
func TestGeneratedObjectPatchedWhereGenerated(t *testing.T) {
	gitEnv(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	const stack = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: monitoring\nconfigMapGenerator:\n  - name: metrics-config\n    files:\n      - config.yaml\n"
	commitFiles(t, dir, "monitoring", map[string]string{
		"clusters/test/monitoring.yaml":       "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: monitoring\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./monitoring\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
		"monitoring/stack/kustomization.yaml": stack,
		"monitoring/stack/config.yaml":        "scrape: 30s\n",
	})
	out, _, code := gitops(t, "render", "--repo", dir, "monitoring", "-o", "json")
	var name string
	if i := strings.Index(out, `"name": "metrics-config-`); code == 0 && i >= 0 {
		name = strings.Trim(strings.Fields(out[i+len(`"name": `):])[0], `",`)
	} else {
		t.Fatalf("render: exit %d\n%s", code, out)
	}
	stdout, stderr, code := gitops(t, "label", "configmap/"+name, "-n", "monitoring", "team=obs", "--repo", dir, "--target", "monitoring")
	if code != 0 {
		t.Fatalf("label: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := gitRun(t, dir, "show", "HEAD:monitoring/stack/kustomization.yaml"); got != stack+"patches:\n  - path: metrics-config-patch.yaml\n" {
		t.Errorf("monitoring/stack/kustomization.yaml:\n%s", got)
	}
	if got := gitRun(t, dir, "show", "HEAD:monitoring/stack/metrics-config-patch.yaml"); got != "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metrics-config\n  labels:\n    team: obs\n" {
		t.Errorf("monitoring/stack/metrics-config-patch.yaml:\n%s", got)
	}
}
