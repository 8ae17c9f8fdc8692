package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gitopssync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

var (
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	gitRepositoryGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	applicationGVR   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
)

// gitopsSync runs the command tree in-process, with sync in it, from the current directory.
func gitopsSync(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root, f := newRoot(streams)
	if c, _, err := root.Find([]string{"sync"}); err != nil || c == root {
		root.AddCommand(NewCmdSync(f, streams))
	}
	root.SetArgs(args)
	if err := root.ExecuteContext(t.Context()); err != nil {
		code = ReportError(errOut, root, err)
	}
	return out.String(), errOut.String(), code
}

// commitAndPush rewrites a file of a worktree, commits and pushes it.
func commitAndPush(t *testing.T, work, file, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(file)), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, work, "commit", "-q", "-am", "test variant of "+file)
	testrepo.Git(t, work, "push", "-q", "origin", "main")
}

func replicas(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name string) int32 {
	t.Helper()
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// fluxStaging serves the staging apps of the flux sample (without the HelmRelease:
// helm-controller does not run here), in a namespace of the test's own, to Flux's controllers
// through a GitRepository and a Kustomization named as the namespace, and waits for their first
// apply through the Kustomization by name. It returns the name and the bare repository.
func fluxStaging(t *testing.T, ctx context.Context, c *testcluster.Cluster, flux *testcluster.Flux) (name, bare string) {
	t.Helper()
	name = "sync-" + utilrand.String(6)
	bare, work := testrepo.NewWithRemote(t, "flux")
	commitAndPush(t, work, "apps/staging/kustomization.yaml", `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: `+name+`
resources:
  - ../base/shop
replicas:
  - name: web
    count: 1
`)
	url := flux.ServeRepo(bare)
	sync := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %[1]s, namespace: flux-system}
spec: {url: %[2]q, ref: {branch: main}, interval: 1h}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %[1]s, namespace: flux-system}
spec: {path: ./apps/staging, interval: 1h, prune: true, sourceRef: {kind: GitRepository, name: %[1]s}}
`, name, url)
	if _, err := c.ApplyYAML(ctx, "", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := gitopsSync(t, "--kubeconfig="+c.KubeconfigPath, "sync", "ks/"+name, "--wait", "--timeout=2m")
	if code != 0 {
		t.Fatalf("sync ks/%s --wait: exit %d\n%s", name, code, stderr)
	}
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if got := replicas(t, ctx, kube, name, "web"); got != 1 {
		t.Fatalf("after the first sync, replicas = %d, want 1", got)
	}
	return name, bare
}

// The whole loop with Flux's own controllers: `scale --push` commits in the tool's clone of the
// GitRepository's URL and pushes over HTTP; `sync --wait` asks Flux to reconcile and returns once
// the live Deployment has the new replicas. With the controllers stopped, the same wait times out
// with exit status 1 and names what still differs.
func TestE2ESyncWaitWithRealFlux(t *testing.T) {
	c := testcluster.Shared(t)
	flux := testcluster.WithFlux(t, c)
	env := testrepo.Env(t)
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())

	name, bare := fluxStaging(t, ctx, c, flux)
	kc := "--kubeconfig=" + c.KubeconfigPath

	scale := func(n int) {
		t.Helper()
		_, stderr, code := runPlugin(t, env, pluginBin, kc, "-n", name, "scale", "deploy/web", fmt.Sprintf("--replicas=%d", n), "--push")
		if code != 0 || !strings.Contains(stderr, "pushed") {
			t.Fatalf("scale --replicas=%d --push: exit %d\n%s", n, code, stderr)
		}
	}
	scale(3)
	if got := replicas(t, ctx, kube, name, "web"); got != 1 {
		t.Fatalf("scale --push changed the cluster itself: replicas = %d", got)
	}
	head := testrepo.Git(t, bare, "rev-parse", "main")
	_, stderr, code := gitopsSync(t, kc, "-n", name, "sync", "deploy/web", "--wait", "--timeout=2m")
	if code != 0 {
		t.Fatalf("sync deploy/web --wait: exit %d\n%s", code, stderr)
	}
	if got := replicas(t, ctx, kube, name, "web"); got != 3 {
		t.Errorf("sync --wait returned with replicas = %d, want 3", got)
	}
	for _, want := range []string{
		"reconcile requested: GitRepository flux-system/" + name + ", Kustomization flux-system/" + name,
		"synced " + head[:12],
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("sync's messages lack %q:\n%s", want, stderr)
		}
	}
	for _, gvr := range []schema.GroupVersionResource{kustomizationGVR, gitRepositoryGVR} {
		obj, err := dyn.Resource(gvr).Namespace("flux-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, obj.GetAnnotations()[gitopssync.FluxRequestedAtAnnotation]); err != nil {
			t.Errorf("%s %s: %s annotation: %v", obj.GetKind(), name, gitopssync.FluxRequestedAtAnnotation, err)
		}
	}

	// Nobody reconciles any more: the wait names what differs, and fails. The live Deployment
	// can show the new replicas before kustomize-controller writes its status: stopped before
	// that, it would stay Progressing.
	waitFluxReady(t, ctx, dyn, name, head)
	if err := flux.StopControllers(); err != nil {
		t.Fatal(err)
	}
	scale(5)
	_, stderr, code = gitopsSync(t, kc, "-n", name, "sync", "deploy/web", "--wait", "--timeout=10s")
	if code != 1 {
		t.Fatalf("sync --wait without controllers: exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{
		"timed out after 10s",
		"1 of 3 objects still differ",
		"Deployment.apps " + name + "/web: .spec.replicas: 3 -> 5",
		"Kustomization flux-system/" + name + ": Ready; has not applied " + testrepo.Git(t, bare, "rev-parse", "main")[:12],
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the timeout does not say %q:\n%s", want, stderr)
		}
	}
}

// `scale --push --wait` is the whole loop in one command: it commits in the tool's clone of the
// GitRepository's URL, pushes, asks Flux to reconcile and returns once the live Deployment has
// the new replicas. With the controllers stopped, it fails after --timeout with exit status 1,
// naming what still differs, and the commit stays pushed; the tool's clone always pushes, so
// --wait needs no --push there.
func TestE2EScalePushWaitWithRealFlux(t *testing.T) {
	c := testcluster.Shared(t)
	flux := testcluster.WithFlux(t, c)
	env := testrepo.Env(t)
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	name, bare := fluxStaging(t, ctx, c, flux)
	kc := "--kubeconfig=" + c.KubeconfigPath

	_, stderr, code := runPlugin(t, env, pluginBin, kc, "-n", name, "scale", "deploy/web", "--replicas=3", "--push", "--wait", "--timeout=2m")
	if code != 0 {
		t.Fatalf("scale --replicas=3 --push --wait: exit %d\n%s", code, stderr)
	}
	if got := replicas(t, ctx, kube, name, "web"); got != 3 {
		t.Errorf("scale --push --wait returned with replicas = %d, want 3", got)
	}
	head := testrepo.Git(t, bare, "rev-parse", "main")
	for _, want := range []string{
		", pushed",
		"reconcile requested: GitRepository flux-system/" + name + ", Kustomization flux-system/" + name,
		"synced " + head[:12],
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("scale --push --wait's messages lack %q:\n%s", want, stderr)
		}
	}

	waitFluxReady(t, ctx, dynamic.NewForConfigOrDie(c.RESTConfig()), name, head)
	if err := flux.StopControllers(); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runPlugin(t, env, pluginBin, kc, "-n", name, "scale", "deploy/web", "--replicas=5", "--wait", "--timeout=10s")
	if code != 1 {
		t.Fatalf("scale --wait without controllers: exit %d, want 1\n%s", code, stderr)
	}
	pushed := testrepo.Git(t, bare, "rev-parse", "main")
	if pushed == head {
		t.Errorf("scale --wait without --push, in the tool's clone, pushed nothing:\n%s", stderr)
	}
	for _, want := range []string{
		"timed out after 10s",
		"1 of 3 objects still differ",
		"Deployment.apps " + name + "/web: .spec.replicas: 3 -> 5",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the timeout does not say %q:\n%s", want, stderr)
		}
	}
	// The Kustomization's line: its Ready condition is as the controller left it when it was
	// stopped (Ready, or Progressing when it had begun another reconciliation), then the commit
	// it has not applied.
	reconciler := regexp.MustCompile(`(?m)^\s*Kustomization flux-system/` + regexp.QuoteMeta(name) + `: Ready[^\n]*; has not applied ` + pushed[:12])
	if !reconciler.MatchString(stderr) {
		t.Errorf("the timeout does not say that Kustomization flux-system/%s has not applied %s:\n%s", name, pushed[:12], stderr)
	}
	if got := replicas(t, ctx, kube, name, "web"); got != 3 {
		t.Errorf("without controllers, replicas = %d, want 3 still", got)
	}
}

// waitFluxReady waits until Flux's Kustomization name reports commit applied and Ready.
func waitFluxReady(t *testing.T, ctx context.Context, dyn dynamic.Interface, name, commit string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		ks, err := dyn.Resource(kustomizationGVR).Namespace("flux-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		applied, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision")
		conds, _, _ := unstructured.NestedSlice(ks.Object, "status", "conditions")
		last = fmt.Sprintf("lastAppliedRevision %q, conditions %v", applied, conds)
		if !strings.HasSuffix(applied, commit) {
			return false, nil
		}
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Kustomization flux-system/%s never reported %s applied and Ready: %s", name, commit[:12], last)
	}
}

// playArgoCD stands in for Argo CD's application controller: when the refresh annotation appears
// on Application argocd/app, it renders the Application's path at its revision from its
// repository and applies it server-side with Argo CD's tracking label, then clears the
// annotation. It stops when the test ends.
func playArgoCD(t *testing.T, c *testcluster.Cluster, app string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var failure error
	t.Cleanup(func() {
		cancel()
		<-done
		if failure != nil {
			t.Errorf("the test's Argo CD: %v", failure)
		}
	})
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	apps := dyn.Resource(applicationGVR).Namespace("argocd")
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			a, err := apps.Get(ctx, app, metav1.GetOptions{})
			if err != nil || a.GetAnnotations()[gitopssync.ArgoCDRefreshAnnotation] == "" {
				continue
			}
			if err := argoSync(ctx, c, a); err != nil {
				failure = err
				return
			}
			clear := []byte(`{"metadata":{"annotations":{"` + gitopssync.ArgoCDRefreshAnnotation + `":null}}}`)
			if _, err := apps.Patch(ctx, app, types.MergePatchType, clear, metav1.PatchOptions{}); err != nil && ctx.Err() == nil {
				failure = err
				return
			}
		}
	}()
}

func argoSync(ctx context.Context, c *testcluster.Cluster, app *unstructured.Unstructured) error {
	url, _, _ := unstructured.NestedString(app.Object, "spec", "source", "repoURL")
	rev, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
	path, _, _ := unstructured.NestedString(app.Object, "spec", "source", "path")
	dir, err := os.MkdirTemp("", "argocd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := (target.ExecGit{}).Run(ctx, dir, "clone", "-q", "--depth=1", "-b", rev, url, "repo"); err != nil {
		return err
	}
	res, err := render.Render(filepath.Join(dir, "repo"), path, render.Options{})
	if err != nil {
		return err
	}
	var docs [][]byte
	for _, o := range res.Objects {
		u := o.Obj().DeepCopy()
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[target.ArgoCDInstanceLabel] = app.GetName()
		u.SetLabels(l)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		docs = append(docs, b)
	}
	_, err = c.ApplyYAML(ctx, "argocd-controller", bytes.Join(docs, []byte("---\n")))
	return err
}

// Argo CD, played by the test: `sync application/NAME --wait` refreshes the Application and
// waits until what it applies matches the branch head, before and after a pushed change.
func TestE2ESyncWaitWithArgoCD(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if err := c.InstallCRDs(ctx, filepath.Join(testrepo.Root(), "testdata", "crds", "argoproj.io_applications.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, "argocd"); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	name := "sync-" + utilrand.String(6)
	bare, work := testrepo.NewWithRemote(t, "argocd")
	staging, err := os.ReadFile(filepath.Join(work, "envs", "staging", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	commitAndPush(t, work, "envs/staging/kustomization.yaml", strings.Replace(string(staging), "namespace: shop", "namespace: "+name, 1))
	app := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: %[1]s, namespace: argocd}
spec:
  project: default
  source: {repoURL: "file://%[2]s", targetRevision: main, path: envs/staging}
  destination: {server: "https://kubernetes.default.svc", namespace: %[1]s}
`, name, bare)
	if _, err := c.ApplyYAML(ctx, "", []byte(app)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyYAML(ctx, "", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+name+"}\n")); err != nil {
		t.Fatal(err)
	}
	playArgoCD(t, c, name)
	kc := "--kubeconfig=" + c.KubeconfigPath

	_, stderr, code := gitopsSync(t, kc, "sync", "app/"+name, "--wait", "--timeout=1m")
	if code != 0 {
		t.Fatalf("sync app/%s --wait: exit %d\n%s", name, code, stderr)
	}
	if !strings.Contains(stderr, "reconcile requested: Application argocd/"+name) {
		t.Errorf("sync's messages:\n%s", stderr)
	}
	if got := replicas(t, ctx, kube, name, "web"); got != 1 {
		t.Fatalf("after the first sync, replicas = %d, want 1", got)
	}

	_, stderr, code = runPlugin(t, env, pluginBin, kc, "scale", "deploy/web", "--replicas=4", "--push", "--repo", work, "--path", "envs/staging")
	if code != 0 {
		t.Fatalf("scale --push: exit %d\n%s", code, stderr)
	}
	_, stderr, code = gitopsSync(t, kc, "sync", "application/"+name, "--wait", "--timeout=1m")
	if code != 0 {
		t.Fatalf("sync application/%s --wait: exit %d\n%s", name, code, stderr)
	}
	if got := replicas(t, ctx, kube, name, "web"); got != 4 {
		t.Errorf("sync --wait returned with replicas = %d, want 4", got)
	}
}
