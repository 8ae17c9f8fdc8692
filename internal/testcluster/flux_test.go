package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

var kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}

// fluxApp is a small kustomization written the way people write manifests, not the way the API
// server stores them: quantities in other units, ports without protocol, a named target port,
// no replicas, no strategy, no imagePullPolicy. Every one of those the API server defaults or
// normalises, and none of it may show as drift.
func fluxApp(ns string) map[string]string {
	return map[string]string{
		"app/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ` + ns + `
resources: [namespace.yaml, web.yaml]
configMapGenerator:
  - name: web-config
    literals: [GREETING=hello]
`,
		"app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n",
		"app/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          ports:
            - {name: http, containerPort: 8080}
          envFrom:
            - configMapRef: {name: web-config}
          resources:
            requests: {cpu: "0.5", memory: 0.125Gi}
            limits: {memory: 268435456}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
`,
	}
}

// newServedRepo commits files into a new bare repository and returns it with its worktree.
func newServedRepo(t *testing.T, files map[string]string) (bare, work string) {
	t.Helper()
	work = filepath.Join(t.TempDir(), "work")
	for name, text := range files {
		path := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.Git(t, work, "init", "-q", "-b", "main")
	testrepo.Git(t, work, "add", "-A")
	testrepo.Git(t, work, "commit", "-q", "-m", "app")
	bare = filepath.Join(t.TempDir(), "app.git")
	testrepo.Git(t, work, "init", "-q", "--bare", "-b", "main", bare)
	testrepo.Git(t, work, "push", "-q", bare, "main")
	return bare, work
}

// fluxSync is a GitRepository and a Kustomization on path of it, both called name.
func fluxSync(name, url, path string) string {
	return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %[1]s, namespace: flux-system}
spec: {url: %[2]q, ref: {branch: main}, interval: 1h}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %[1]s, namespace: flux-system}
spec:
  path: ./%[3]s
  interval: 1h
  prune: true
  sourceRef: {kind: GitRepository, name: %[1]s}
`, name, url, path)
}

// waitApplied waits until the Kustomization reports the revision applied and Ready.
func waitApplied(t *testing.T, ctx context.Context, dyn dynamic.Interface, name, revision string) {
	t.Helper()
	err := poll(ctx, 2*time.Minute, func(ctx context.Context) error {
		ks, err := dyn.Resource(kustomizationGVR).Namespace(testcluster.FluxNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		applied, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision")
		conds, _, _ := unstructured.NestedSlice(ks.Object, "status", "conditions")
		if applied != revision {
			return fmt.Errorf("lastAppliedRevision %q, conditions %v", applied, conds)
		}
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %v", conds)
	})
	if err != nil {
		t.Fatalf("Kustomization %s never applied %s: %v", name, revision, err)
	}
}

// Real source-controller fetches the bare repository over the harness's Git server, real
// kustomize-controller applies it with its field manager and labels; and pkg/diff finds no drift
// between the render and what Flux applied: server defaults, normalised quantities, Flux's
// labels and field manager are not differences.
func TestE2EFluxAppliesServedRepoWithoutFalseDrift(t *testing.T) {
	c := testcluster.Shared(t)
	flux := testcluster.WithFlux(t, c)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	name := "flux-" + utilrand.String(6)
	bare, work := newServedRepo(t, fluxApp(name))
	url := flux.ServeRepo(bare)
	if _, err := c.ApplyYAML(ctx, "", []byte(fluxSync(name, url, "app"))); err != nil {
		t.Fatal(err)
	}
	head := testrepo.Git(t, bare, "rev-parse", "main")
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	waitApplied(t, ctx, dyn, name, "main@sha1:"+head)

	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	web, err := kube.AppsV1().Deployments(name).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := web.Labels["kustomize.toolkit.fluxcd.io/name"]; got != name {
		t.Errorf("Deployment web has kustomize.toolkit.fluxcd.io/name %q, want %q", got, name)
	}
	var managers []string
	for _, mf := range web.ManagedFields {
		managers = append(managers, mf.Manager)
	}
	if !slices.Contains(managers, "kustomize-controller") {
		t.Errorf("Deployment web's field managers are %v, want kustomize-controller among them", managers)
	}

	res, err := render.Render(work, "app", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, o := range res.Objects {
		objs = append(objs, o.Obj())
	}
	report, err := diff.Compare(ctx, diff.Options{
		Config:      c.RESTConfig(),
		Objects:     objs,
		Prune:       true,
		PruneLabels: diff.FluxLabels(testcluster.FluxNamespace, name),
	})
	if err != nil {
		t.Fatal(err)
	}
	if report.Compared != len(objs) || len(report.Objects) != 0 {
		var lines []string
		for _, o := range report.Objects {
			lines = append(lines, fmt.Sprintf("%s %s %v %s", o.ObjectID, o.Status, o.Fields, o.Message))
		}
		t.Errorf("compared %d of %d objects; differences on what Flux applied:\n%s", report.Compared, len(objs), strings.Join(lines, "\n"))
	}
}

// The Git server takes pushes too (the plugin pushes to the URL the GitRepository names), and
// StopControllers leaves it serving.
func TestE2EFluxGitServerTakesPushesAfterControllersStop(t *testing.T) {
	c := testcluster.Shared(t)
	flux := testcluster.WithFlux(t, c)
	testrepo.Env(t)
	bare, _ := newServedRepo(t, map[string]string{"README": "hello\n"})
	url := flux.ServeRepo(bare)
	if err := flux.StopControllers(); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	testrepo.Git(t, filepath.Dir(clone), "clone", "-q", url, clone)
	if err := os.WriteFile(filepath.Join(clone, "README"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, clone, "commit", "-q", "-am", "change")
	testrepo.Git(t, clone, "push", "-q", "origin", "main")
	if got, want := testrepo.Git(t, bare, "rev-parse", "main"), testrepo.Git(t, clone, "rev-parse", "HEAD"); got != want {
		t.Errorf("bare main is %s after the push over HTTP, want %s", got, want)
	}
}
