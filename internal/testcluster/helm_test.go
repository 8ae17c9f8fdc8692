package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

var (
	helmReleaseGVR   = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	helmChartGVR     = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "helmcharts"}
	gitRepositoryGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
)

// helmApp is a chart in charts/web and, in deploy/, the namespace ns and a HelmRelease of the
// chart from the GitRepository called ns with replicaCount replicas. Nothing it makes becomes
// ready without a kubelet, hence disableWait.
func helmApp(ns string, replicas int) map[string]string {
	return map[string]string{
		"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0.0\"\n",
		"charts/web/values.yaml": `replicaCount: 1
image:
  repository: registry.example.com/web
  tag: 1.0.0
`,
		"charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
		"charts/web/templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - port: 80
`,
		"deploy/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [namespace.yaml, release.yaml]\n",
		"deploy/namespace.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n",
		"deploy/release.yaml": fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
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
    replicaCount: %[2]d
`, ns, replicas),
	}
}

// The whole Flux chain for a chart in Git: source-controller fetches the repository from the
// harness's Git server and builds the HelmChart artifact, kustomize-controller applies the
// HelmRelease, helm-controller installs the release (objects and Helm's storage Secret); a
// pushed change of the HelmRelease's values is upgraded to, as a new release revision.
func TestE2EHelmControllerInstallsAndUpgradesChartFromGit(t *testing.T) {
	c := testcluster.Shared(t)
	started := time.Now()
	flux := testcluster.WithHelmController(t, c)
	t.Logf("Flux with helm-controller started in %v", time.Since(started).Round(time.Millisecond))
	if !flux.HelmControllerRunning() {
		t.Fatal("HelmControllerRunning is false after WithHelmController")
	}
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())

	ns := "helm-" + utilrand.String(6)
	bare, work := newServedRepo(t, helmApp(ns, 2))
	url := flux.ServeRepo(bare)
	if _, err := c.ApplyYAML(ctx, "", []byte(fluxSync(ns, url, "deploy"))); err != nil {
		t.Fatal(err)
	}

	// Installed: the Deployment with the values' replicas, and release revision 1 in Helm's storage.
	waitDeploymentReplicas(t, ctx, kube, ns, "web", 2)
	waitHelmRelease(t, ctx, kube, dyn, ns, "web", 1)
	chart, err := dyn.Resource(helmChartGVR).Namespace(testcluster.FluxNamespace).Get(ctx, ns+"-web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the HelmChart source-controller builds for the release: %v", err)
	}
	if rev, _, _ := unstructured.NestedString(chart.Object, "status", "artifact", "revision"); rev != "0.1.0" {
		t.Errorf("HelmChart %s-web has artifact revision %q, want the chart's version 0.1.0", ns, rev)
	}

	web, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("labels on the release's Deployment: %v; annotations: %v", web.Labels, web.Annotations)
	for key, want := range map[string]string{
		"helm.toolkit.fluxcd.io/name":      "web",
		"helm.toolkit.fluxcd.io/namespace": ns,
		"app.kubernetes.io/managed-by":     "Helm",
	} {
		if got := web.Labels[key]; got != want {
			t.Errorf("Deployment web has label %s=%q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"meta.helm.sh/release-name":      "web",
		"meta.helm.sh/release-namespace": ns,
	} {
		if got := web.Annotations[key]; got != want {
			t.Errorf("Deployment web has annotation %s=%q, want %q", key, got, want)
		}
	}
	var managers []string
	for _, mf := range web.ManagedFields {
		managers = append(managers, mf.Manager)
	}
	if !slices.Contains(managers, "helm-controller") {
		t.Errorf("Deployment web's field managers are %v, want helm-controller among them", managers)
	}

	// The pushed change: replicaCount 3 in the HelmRelease, applied by kustomize-controller and
	// upgraded to by helm-controller as release revision 2.
	release := filepath.Join(work, "deploy", "release.yaml")
	if err := os.WriteFile(release, []byte(helmApp(ns, 3)["deploy/release.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, work, "commit", "-q", "-am", "web: 3 replicas")
	pushed := time.Now()
	testrepo.Git(t, work, "push", "-q", url, "main")
	requestReconcile(t, ctx, dyn, ns)
	waitDeploymentReplicas(t, ctx, kube, ns, "web", 3)
	t.Logf("from push to the Deployment with 3 replicas: %v", time.Since(pushed).Round(time.Millisecond))
	waitHelmRelease(t, ctx, kube, dyn, ns, "web", 2)
}

// waitDeploymentReplicas waits until the Deployment exists with spec.replicas want.
func waitDeploymentReplicas(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name string, want int32) {
	t.Helper()
	err := poll(ctx, 2*time.Minute, func(ctx context.Context) error {
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
			return fmt.Errorf("spec.replicas is %v", d.Spec.Replicas)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s never had %d replicas: %v", ns, name, want, err)
	}
}

// waitHelmRelease waits until the HelmRelease is Ready at its generation, the newest entry of
// its status.history is release revision version, deployed, of the chart's version, and Helm's
// storage Secret of that revision exists.
func waitHelmRelease(t *testing.T, ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns, name string, version int64) {
	t.Helper()
	secret := fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, version)
	err := poll(ctx, 2*time.Minute, func(ctx context.Context) error {
		hr, err := dyn.Resource(helmReleaseGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(hr.Object, "status", "conditions")
		attempted, _, _ := unstructured.NestedInt64(hr.Object, "status", "lastAttemptedGeneration")
		if attempted != hr.GetGeneration() || !ready(conds) {
			return fmt.Errorf("generation %d, lastAttemptedGeneration %d, conditions %v", hr.GetGeneration(), attempted, conds)
		}
		if rev, _, _ := unstructured.NestedString(hr.Object, "status", "lastAttemptedRevision"); rev != "0.1.0" {
			return fmt.Errorf("lastAttemptedRevision %q, want the chart's version 0.1.0", rev)
		}
		history, _, _ := unstructured.NestedSlice(hr.Object, "status", "history")
		if len(history) == 0 {
			return fmt.Errorf("no status.history; conditions %v", conds)
		}
		latest, _ := history[0].(map[string]any)
		if v, _, _ := unstructured.NestedInt64(latest, "version"); v != version || latest["status"] != "deployed" || latest["chartVersion"] != "0.1.0" {
			return fmt.Errorf("newest status.history entry %v", latest)
		}
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("no Helm storage Secret %s", secret)
		}
		if err == nil && (s.Labels["owner"] != "helm" || s.Labels["name"] != name || s.Labels["status"] != "deployed") {
			return fmt.Errorf("Helm storage Secret %s has labels %v", secret, s.Labels)
		}
		return err
	})
	if err != nil {
		t.Fatalf("HelmRelease %s/%s never deployed release revision %d: %v", ns, name, version, err)
	}
}

func ready(conds []any) bool {
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// requestReconcile asks source-controller to fetch the GitRepository called name now, as
// `flux reconcile source git` does; kustomize-controller follows the new artifact by itself.
func requestReconcile(t *testing.T, ctx context.Context, dyn dynamic.Interface, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := dyn.Resource(gitRepositoryGVR).Namespace(testcluster.FluxNamespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("requesting a reconcile of GitRepository %s: %v", name, err)
	}
}
