package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// commandGolden runs one change command in-process on the repository at dir and checks it made
// exactly one commit, changing files, with a clean worktree; it returns the golden text: the
// command, what it printed, the commit's message and diff (the repository's path and the
// commits' ids masked).
func commandGolden(t *testing.T, dir string, files []string, args ...string) string {
	t.Helper()
	before := revParse(t, dir, "HEAD")
	stdout, stderr, code := gitops(t, args...)
	if code != 0 {
		t.Fatalf("kubectl gitops %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	if parent := revParse(t, dir, "HEAD~1"); parent != before {
		t.Fatalf("HEAD~1 is %s, want the previous HEAD %s: one command, one commit", parent, before)
	}
	if got := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); !reflect.DeepEqual(got, files) {
		t.Errorf("the commit changes %q, want %q", got, files)
	}
	if st := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("the worktree is not clean after the commit:\n%s", st)
	}
	mask := maskCommits(t, dir)
	var g strings.Builder
	fmt.Fprintf(&g, "$ kubectl gitops %s\n", mask.Replace(strings.Join(args, " ")))
	fmt.Fprintf(&g, "==== stdout\n%s==== stderr\n%s", mask.Replace(stdout), mask.Replace(stderr))
	fmt.Fprintf(&g, "==== commit message\n%s", mask.Replace(gitRun(t, dir, "log", "-1", "--format=%B")))
	fmt.Fprintf(&g, "==== commit diff\n%s", gitRun(t, dir, "show", "--format=", "HEAD"))
	return g.String()
}

// maskCommits replaces the repository's path with <repo> and each commit id with <commit-N>
// (full) or <sha-N> (short, as wide as the id it masks), N counting from the first commit.
func maskCommits(t *testing.T, dir string) *strings.Replacer {
	t.Helper()
	hashes := strings.Fields(gitRun(t, dir, "rev-list", "--reverse", "HEAD"))
	pairs := []string{dir, "<repo>"}
	for i, h := range hashes {
		pairs = append(pairs, h, fmt.Sprintf("<commit-%d>", i+1))
	}
	for i, h := range hashes {
		pairs = append(pairs, h[:7], fmt.Sprintf("<sha-%d>", i+1))
	}
	return strings.NewReplacer(pairs...)
}

// renderedObject is one object as a target renders it now.
func renderedObject(t *testing.T, dir, path, id string) *unstructured.Unstructured {
	t.Helper()
	r := renderTargets(t, dir)[path]
	if r == nil {
		t.Fatalf("%s is not a target", path)
	}
	for _, o := range r.Objects {
		if o.ID.String() == id {
			return o.Obj()
		}
	}
	return nil
}

func writeManifest(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// apply of an object the target renders: the file's fields win, the fields it does not mention
// stay, each written where it belongs (staging's own patch for the env var, the overlay for a
// label of an object from the shared base).
func TestIssue5GoldenApplyExisting(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	rendersBefore := renderTargets(t, dir)
	manifest := writeManifest(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          env:
            - name: LOG_LEVEL
              value: info
`)
	g := commandGolden(t, dir, []string{"overlays/staging/web-patch.yaml"},
		"apply", "-f", manifest, "--repo", dir, "--path", "overlays/staging")
	assertGolden(t, "issue5-apply-existing", strings.ReplaceAll(g, manifest, "web.yaml"))

	got := assertRendersUnchanged(t, rendersBefore, renderTargets(t, dir), "overlays/staging", "Deployment.apps shop/web")
	web := got["Deployment.apps shop/web"]
	wantEnv("web", "LOG_LEVEL", "info")(t, web)
	wantEnv("web", "CACHE_TTL_SECONDS", "30")(t, web)
	wantReplicas(1)(t, web)
}

// apply of a new object: a file of its own in the target's directory, named <kind>-<name>.yaml,
// and a resources: entry in its kustomization.
func TestIssue5GoldenApplyNew(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	rendersBefore := renderTargets(t, dir)
	manifest := writeManifest(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: banner
  namespace: shop
data:
  TEXT: "Spring sale: 20% off"
`)
	g := commandGolden(t, dir, []string{"overlays/staging/configmap-banner.yaml", "overlays/staging/kustomization.yaml"},
		"apply", "-f", manifest, "--repo", dir, "--path", "overlays/staging")
	assertGolden(t, "issue5-apply-new", strings.ReplaceAll(g, manifest, "banner.yaml"))

	after := renderTargets(t, dir)
	cm := renderedObject(t, dir, "overlays/staging", "ConfigMap shop/banner")
	if cm == nil {
		t.Fatal("ConfigMap shop/banner does not render in staging")
	}
	wantField("Spring sale: 20% off", "data", "TEXT")(t, cm)
	if n, m := len(after["overlays/staging"].Objects), len(rendersBefore["overlays/staging"].Objects); n != m+1 {
		t.Errorf("staging renders %d objects, want %d + the new one", n, m)
	}
	if !reflect.DeepEqual(after["overlays/production"].YAML(), rendersBefore["overlays/production"].YAML()) {
		t.Error("production renders differently")
	}
}

// apply of a new object with --filename-template: the file and its resources: entry take the
// template's name.
func TestIssue5GoldenApplyNewFilenameTemplate(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	manifest := writeManifest(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: banner
  namespace: shop
data:
  TEXT: "Spring sale: 20% off"
`)
	g := commandGolden(t, dir, []string{"overlays/staging/kustomization.yaml", "overlays/staging/shop-banner.configmap.yaml"},
		"apply", "-f", manifest, "--repo", dir, "--path", "overlays/staging", "--filename-template", "{{.Namespace}}-{{.Name}}.{{.Kind}}.yaml")
	assertGolden(t, "issue5-apply-new-filename-template", strings.ReplaceAll(g, manifest, "banner.yaml"))
	if cm := renderedObject(t, dir, "overlays/staging", "ConfigMap shop/banner"); cm == nil {
		t.Fatal("ConfigMap shop/banner does not render in staging")
	}
}

// apply of several objects says of each what kubectl apply says: created for the one the target
// did not render, configured for the one whose fields changed, unchanged for the one already as
// the file says; one commit holds the changes.
func TestIssue5GoldenApplyMixed(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	manifest := writeManifest(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: banner
  namespace: shop
data:
  TEXT: "Spring sale: 20% off"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          env:
            - name: LOG_LEVEL
              value: info
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: ClusterIP
`)
	g := commandGolden(t, dir, []string{"overlays/staging/configmap-banner.yaml", "overlays/staging/kustomization.yaml", "overlays/staging/web-patch.yaml"},
		"apply", "-f", manifest, "--repo", dir, "--path", "overlays/staging")
	assertGolden(t, "issue5-apply-mixed", strings.ReplaceAll(g, manifest, "shop.yaml"))
}

// apply of objects already as the file says writes nothing and, as kubectl apply, says
// "unchanged" for each, with exit status 0.
func TestIssue5ApplyUnchanged(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	before := snapshot(t, dir)
	manifest := writeManifest(t, `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: ClusterIP
`)
	for _, tc := range []struct{ output, want string }{
		{"", "service/web unchanged\n"},
		{"name", "service/web\n"},
	} {
		args := []string{"apply", "-f", manifest, "--repo", dir, "--path", "overlays/staging"}
		if tc.output != "" {
			args = append(args, "-o", tc.output)
		}
		stdout, stderr, code := gitops(t, args...)
		if code != 0 || stdout != tc.want || stderr != "" {
			t.Errorf("apply -o %q: exit %d, stdout %q, stderr %q; want 0 and %q", tc.output, code, stdout, stderr, tc.want)
		}
	}
	assertUnchanged(t, dir, before, "an apply that changes nothing")
}

// delete of the only object of a file: the file goes (a plain directory has no resources: list).
func TestIssue5GoldenDeletePlainFile(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "plain")
	g := commandGolden(t, dir, []string{"apps/shop/service.yaml"},
		"delete", "service/web", "--repo", dir, "--path", ".")
	assertGolden(t, "issue5-delete-plain-file", g)
	if renderedObject(t, dir, ".", "Service shop/web") != nil {
		t.Error("Service shop/web still renders")
	}
}

// delete of one document of a multi-document file: that document goes, the others and the
// comments between them stay byte for byte.
func TestIssue5GoldenDeleteMultiDocument(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "plain")
	rendersBefore := renderTargets(t, dir)
	g := commandGolden(t, dir, []string{"apps/shop/config.yaml"},
		"delete", "serviceaccount/web", "--repo", dir, "--path", ".")
	assertGolden(t, "issue5-delete-multi-document", g)
	before, after := objectYAML(t, rendersBefore["."]), objectYAML(t, renderTargets(t, dir)["."])
	for id, y := range before {
		switch {
		case id == "ServiceAccount shop/web":
			if _, ok := after[id]; ok {
				t.Error("ServiceAccount shop/web still renders")
			}
		case after[id] != y:
			t.Errorf("%s changed:\n%s", id, lineDiff(y, after[id]))
		}
	}
}

// delete of an object of the base production shares: a $patch: delete in staging's overlay,
// the base untouched, production's render unchanged.
func TestIssue5GoldenDeleteSharedBase(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	rendersBefore := renderTargets(t, dir)
	g := commandGolden(t, dir, []string{"overlays/staging/kustomization.yaml", "overlays/staging/worker-deployment-delete.yaml"},
		"delete", "deployment/worker", "--repo", dir, "--path", "overlays/staging")
	assertGolden(t, "issue5-delete-shared-base", g)
	after := renderTargets(t, dir)
	if renderedObject(t, dir, "overlays/staging", "Deployment.apps shop/worker") != nil {
		t.Error("worker still renders in staging")
	}
	if !reflect.DeepEqual(after["overlays/production"].YAML(), rendersBefore["overlays/production"].YAML()) {
		t.Errorf("production renders differently:\n%s", lineDiff(string(rendersBefore["overlays/production"].YAML()), string(after["overlays/production"].YAML())))
	}
	if d := gitRun(t, dir, "diff", "HEAD~1", "HEAD", "--", "base"); d != "" {
		t.Errorf("the shared base changed:\n%s", d)
	}
}
