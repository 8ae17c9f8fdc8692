package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// fluxApply applies a render to the cluster as Flux's kustomize-controller does: server-side,
// with its field manager and the labels that name the Kustomization.
func fluxApply(t *testing.T, ctx context.Context, c *testcluster.Cluster, res *render.Result, ks string) {
	t.Helper()
	var docs [][]byte
	for _, o := range res.Objects {
		u := o.Obj().DeepCopy()
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l["kustomize.toolkit.fluxcd.io/name"] = ks
		l["kustomize.toolkit.fluxcd.io/namespace"] = "flux-system"
		u.SetLabels(l)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	if _, err := c.ApplyYAML(ctx, "kustomize-controller", bytes.Join(docs, []byte("---\n"))); err != nil {
		t.Fatal(err)
	}
}

// fluxFixture sets the cluster up as Flux would have it for the flux sample's staging apps: the
// CRDs, a GitRepository pointing at a new bare repository holding the sample, a Kustomization
// for apps/staging, and its render applied with Flux's labels. It returns the bare repository
// and the Kustomization's name (unique per test, as tests share the cluster).
func fluxFixture(t *testing.T, ctx context.Context, c *testcluster.Cluster, name string) (bare, ks string) {
	t.Helper()
	crds, _ := filepath.Glob(filepath.Join(testrepo.Root(), "testdata", "crds", "*.yaml"))
	if err := c.InstallCRDs(ctx, crds...); err != nil {
		t.Fatal(err)
	}
	bare, _ = testrepo.NewWithRemote(t, "flux")
	if err := c.CreateNamespace(ctx, "flux-system"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	ks = "apps-" + name
	sync := `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet-` + name + `, namespace: flux-system}
spec: {url: "file://` + bare + `", ref: {branch: main}, interval: 1m}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: ` + ks + `, namespace: flux-system}
spec:
  path: ./apps/staging
  interval: 10m
  prune: true
  sourceRef: {kind: GitRepository, name: fleet-` + name + `}
`
	if _, err := c.ApplyYAML(ctx, "flux", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	seed, err := render.Render(testrepo.Sample("flux"), "apps/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fluxApply(t, ctx, c, seed, ks)
	return bare, ks
}

// From a directory outside any repository, `kubectl gitops scale` follows the live object's Flux
// labels to the Kustomization and GitRepository, commits in the tool's own clone and pushes;
// rendering the pushed commit and applying it as Flux would gives the live object the replicas.
func TestE2EScaleFollowsFluxLabelsCommitsAndPushes(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bare, ks := fluxFixture(t, ctx, c, "scale-e2e")
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	elsewhere := t.TempDir()
	cmd := osexec.Command(pluginBin, "--kubeconfig", c.KubeconfigPath, "-n", "shop", "scale", "deploy/web", "--replicas=4")
	cmd.Dir, cmd.Env = elsewhere, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl gitops scale: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "deployment.apps/web scaled") {
		t.Errorf("output: %s", out)
	}
	live, err := kube.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *live.Spec.Replicas != 1 {
		t.Errorf("the plugin changed the cluster: replicas %d", *live.Spec.Replicas)
	}

	// The bare remote has the commit, with the object's trailers.
	msg := testrepo.Git(t, bare, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"scale deployment shop/web to 4 replicas", "Gitops-Object: apps/v1 Deployment shop/web", "Gitops-Target: kustomization/flux-system/" + ks} {
		if !strings.Contains(msg, want) {
			t.Errorf("pushed commit message lacks %q:\n%s", want, msg)
		}
	}
	files := testrepo.Git(t, bare, "show", "--name-only", "--format=", "main")
	if files != "apps/staging/kustomization.yaml" {
		t.Errorf("pushed commit changes %q, want only apps/staging/kustomization.yaml", files)
	}

	// What Flux would do with the pushed commit.
	check := filepath.Join(t.TempDir(), "check")
	testrepo.Git(t, filepath.Dir(check), "clone", "-q", "file://"+bare, check)
	pushed, err := render.Render(check, "apps/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fluxApply(t, ctx, c, pushed, ks)
	live, err = kube.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *live.Spec.Replicas != 4 {
		t.Errorf("after applying the pushed commit, replicas = %d, want 4", *live.Spec.Replicas)
	}
}

// An object that a Flux HelmRelease makes is changed through that release: the commit adds a
// post-renderer patch for it to the HelmRelease in the target's own layer, never the shared base.
func TestE2EScaleHelmReleaseObjectWritesPostRendererPatch(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bare, _ := fluxFixture(t, ctx, c, "helm-e2e")
	// What helm-controller would have installed from the release.
	made := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: podinfo
  labels: {helm.toolkit.fluxcd.io/name: podinfo, helm.toolkit.fluxcd.io/namespace: podinfo, app.kubernetes.io/name: podinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: podinfo}}
  template:
    metadata: {labels: {app.kubernetes.io/name: podinfo}}
    spec:
      containers: [{name: podinfo, image: "ghcr.io/stefanprodan/podinfo:6.5.0"}]
`
	if _, err := c.ApplyYAML(ctx, "helm-controller", []byte(made)); err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(pluginBin, "--kubeconfig", c.KubeconfigPath, "-n", "podinfo", "scale", "deploy/podinfo", "--replicas=3")
	cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl gitops scale: %v\n%s", err, out)
	}
	files := testrepo.Git(t, bare, "show", "--name-only", "--format=", "main")
	if files != "apps/staging/podinfo-values.yaml" {
		t.Fatalf("commit changes %q, want the staging release patch apps/staging/podinfo-values.yaml", files)
	}
	check := filepath.Join(t.TempDir(), "check")
	testrepo.Git(t, filepath.Dir(check), "clone", "-q", "file://"+bare, check)
	res, err := render.Render(check, "apps/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hr := res.Find(schema.GroupKind{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}, "podinfo", "podinfo")
	if len(hr) != 1 {
		t.Fatalf("HelmRelease podinfo/podinfo rendered %d times", len(hr))
	}
	patches, _, _ := unstructured.NestedSlice(hr[0].Obj().Object, "spec", "postRenderers")
	text := fmt.Sprint(patches)
	if !strings.Contains(text, "replicas: 3") || !strings.Contains(text, "kind:Deployment name:podinfo") {
		t.Errorf("postRenderers = %s", text)
	}
	prod, err := render.Render(check, "apps/production", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(prod.YAML()), "postRenderers") {
		t.Error("the production release changed too")
	}
}
