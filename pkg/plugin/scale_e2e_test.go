package plugin

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		u := o.Obj.DeepCopy()
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

// From a directory outside any repository, `kubectl gitops scale` follows the live object's Flux
// labels to the Kustomization and GitRepository, commits in the tool's own clone and pushes;
// rendering the pushed commit and applying it as Flux would gives the live object the replicas.
func TestE2EScaleFollowsFluxLabelsCommitsAndPushes(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	crds, _ := filepath.Glob(filepath.Join(testrepo.Root(), "testdata", "crds", "*.yaml"))
	if err := c.InstallCRDs(ctx, crds...); err != nil {
		t.Fatal(err)
	}
	bare, _ := testrepo.NewWithRemote(t, "flux")
	if err := c.CreateNamespace(ctx, "flux-system"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	// Each test gets its own Kustomization name so tests sharing the cluster stay apart.
	ks := "apps-scale-e2e"
	sync := `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet-scale-e2e, namespace: flux-system}
spec: {url: "file://` + bare + `", ref: {branch: main}, interval: 1m}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: ` + ks + `, namespace: flux-system}
spec:
  path: ./apps/staging
  interval: 10m
  prune: true
  sourceRef: {kind: GitRepository, name: fleet-scale-e2e}
`
	if _, err := c.ApplyYAML(ctx, "flux", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	seed, err := render.Render(testrepo.Sample("flux"), "apps/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fluxApply(t, ctx, c, seed, ks)

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
	for _, want := range []string{"scale deployment shop/web to 4 replicas", "Gitops-Object: apps/v1 Deployment shop/web", "Gitops-Target: " + ks} {
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
