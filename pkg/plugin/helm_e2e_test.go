package plugin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// With Flux's real source-, kustomize- and helm-controller: `scale deploy/web --push --wait` on a
// Deployment a HelmRelease's chart makes follows the live object's labels to the HelmRelease and
// its Kustomization, commits the values key in the environment's HelmRelease patch, pushes, and
// returns once helm-controller's release has the new replicas.
func TestE2EHelmReleaseScalePushWait(t *testing.T) {
	c := testcluster.Shared(t)
	// After the fixtures' CRDs: starting helm-controller installs its own HelmRelease CRD.
	flux := testcluster.WithHelmController(t, c)
	env := testrepo.Env(t)
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	name := "helm-" + utilrand.String(6)

	bare, work := testrepo.NewWithRemote(t, "flux-helm")
	commitAndPush(t, work, "apps/staging/kustomization.yaml", `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base/web
patches:
  - path: web-values.yaml
    target:
      kind: HelmRelease
      name: web
`)
	commitAndPush(t, work, "apps/base/web/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n")
	// No kubelet runs pods here: helm-controller must not wait for them to be ready.
	commitAndPush(t, work, "apps/base/web/release.yaml", fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: %[1]s
spec:
  interval: 1h
  chart:
    spec:
      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: %[1]s
        namespace: flux-system
  install:
    disableWait: true
  upgrade:
    disableWait: true
  values:
    image:
      tag: "1.4.0"
`, name))
	commitAndPush(t, work, "apps/staging/web-values.yaml", fmt.Sprintf(`# staging values for web.
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: %s
spec:
  values:
    replicaCount: 2
`, name))
	// The repository defines the Kustomization the cluster runs.
	commitAndPush(t, work, "clusters/staging/apps.yaml", fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: %[1]s
  path: ./apps/staging
  prune: true
`, name))
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
	waitReplicas(t, ctx, kube, name, "web", 2)

	kc := "--kubeconfig=" + c.KubeconfigPath
	_, stderr, code := runPlugin(t, env, pluginBin, kc, "-n", name, "scale", "deploy/web", "--replicas=4", "--push", "--wait", "--timeout=2m")
	if code != 0 {
		t.Fatalf("scale --replicas=4 --push --wait: exit %d\n%s", code, stderr)
	}
	t.Log(stderr)
	if got := replicas(t, ctx, kube, name, "web"); got != 4 {
		t.Errorf("scale --push --wait returned with replicas = %d, want 4\n%s", got, stderr)
	}
	files := testrepo.Git(t, bare, "diff", "--name-only", "main~1", "main")
	if files != "apps/staging/web-values.yaml" {
		t.Errorf("the pushed commit changes %q, want apps/staging/web-values.yaml", files)
	}
	d := testrepo.Git(t, bare, "diff", "-U0", "main~1", "main")
	if !strings.Contains(d, "-    replicaCount: 2\n+    replicaCount: 4") {
		t.Errorf("the pushed commit:\n%s", d)
	}
	subject := testrepo.Git(t, bare, "log", "-1", "--format=%s", "main")
	if want := "via HelmRelease " + name + "/web values"; !strings.Contains(subject, want) {
		t.Errorf("commit subject %q lacks %q", subject, want)
	}
	live, err := kube.AppsV1().Deployments(name).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasManager(live.ManagedFields, "helm-controller") {
		t.Errorf("the Deployment's field managers lack helm-controller: the release did not make it")
	}
	// The release's render is what helm-controller applied: diff, through the Deployment's
	// labels, finds no drift in the chart's objects.
	stdout, stderr, code := runPlugin(t, env, pluginBin, kc, "-n", name, "diff", "deploy/web", "svc/web")
	if code != 0 {
		t.Errorf("diff of helm-controller's release: exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
}

// waitReplicas waits until Deployment ns/name exists with n replicas.
func waitReplicas(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	for {
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Deployment %s/%s never had %d replicas (last error: %v)", ns, name, n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hasManager(fields []metav1.ManagedFieldsEntry, manager string) bool {
	for _, f := range fields {
		if f.Manager == manager {
			return true
		}
	}
	return false
}
