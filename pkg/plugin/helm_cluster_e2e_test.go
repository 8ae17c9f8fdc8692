package plugin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// helmRepoRelease turns the flux-helm sample's web release into one whose chart comes from the
// HelmRepository charts of namespace ns at repoURL (with spec.secretRef secret when given).
func helmRepoRelease(t *testing.T, dir, ns, repoURL, secret string) {
	t.Helper()
	repository := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: %s
spec:
  interval: 1h
  url: %s
`, ns, repoURL)
	if secret != "" {
		repository += "  secretRef:\n    name: " + secret + "\n"
	}
	release := strings.Replace(readFile(t, dir, "apps/base/web/release.yaml"), `      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system`, `      chart: web
      version: "0.3.x"
      sourceRef:
        kind: HelmRepository
        name: charts
        namespace: `+ns, 1)
	writeFiles(t, dir, map[string]string{
		"apps/base/web/repository.yaml":    repository,
		"apps/base/web/release.yaml":       release,
		"apps/base/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - repository.yaml\n  - release.yaml\n",
	})
	testrepo.Git(t, dir, "rm", "-rq", "charts")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from the Helm repository")
}

// With the real source-controller: a HelmRelease's chart comes from a Helm repository on
// 127.0.0.1 that source-controller fetched into the artifact of the HelmChart helm-controller
// names <namespace>-<name>. With the repository stopped and the user's chart cache empty,
// `render` and `scale` connected to the cluster render the chart from source-controller's copy,
// read through the API server's service proxy, and say so; not connected, render fails naming
// the repository.
func TestE2EHelmChartFromClusterCopy(t *testing.T) {
	c := testcluster.Shared(t)
	testcluster.WithFlux(t, c)
	gitEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ns := "helmcopy-" + utilrand.String(6)
	dir := testrepo.New(t, "flux-helm")
	srv := serveChart(t, filepath.Join(dir, "charts", "web"))
	helmRepoRelease(t, dir, ns, srv.URL, "")

	// The sources helm-controller would make from the release: the HelmChart is named as
	// helm-controller names it.
	if _, err := c.ApplyYAML(ctx, "", fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: %[1]s}
spec: {interval: 1h, url: %[2]q}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: web-web, namespace: %[1]s}
spec: {chart: web, version: "0.3.x", interval: 1h, sourceRef: {kind: HelmRepository, name: charts}}
`, ns, srv.URL)); err != nil {
		t.Fatal(err)
	}
	artifact := waitArtifact(t, ctx, dynamic.NewForConfigOrDie(c.RESTConfig()), "helmcharts", ns, "web-web")
	u, err := url.Parse(artifact)
	if err != nil {
		t.Fatal(err)
	}
	// source-controller serves its artifacts here on loopback: its Service stands in front.
	c.ServeThroughProxy(t, testcluster.FluxNamespace, "source-controller", 80, "source-controller-"+ns, u.Host)
	srv.Close()
	cache := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "kubectl-gitops", "charts")
	if entries, err := os.ReadDir(cache); err == nil && len(entries) > 0 {
		t.Fatalf("the chart cache %s is not empty", cache)
	}

	const tgt = "helmrelease/web/web@apps/staging"
	_, stderr, code := gitops(t, "render", tgt, "--repo", dir)
	if code == 0 || !strings.Contains(stderr, "cannot be fetched") {
		t.Fatalf("render not connected to the cluster: exit %d, want a failure saying the chart cannot be fetched\n%s", code, stderr)
	}

	kc := "--kubeconfig=" + c.KubeconfigPath
	out, stderr, code := gitops(t, "render", tgt, "--repo", dir, kc)
	if code != 0 {
		t.Fatalf("render connected to the cluster: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "kind: Deployment") || !strings.Contains(out, "replicas: 2") {
		t.Errorf("render printed no Deployment with the staging replicas:\n%s", out)
	}
	want := "Warning: chart web from " + srv.URL + " cannot be fetched and the chart cache holds no copy: rendered with the copy source-controller holds for HelmChart " + ns + "/web-web (revision 0.3.0, digest verified)"
	if !strings.Contains(stderr, want) {
		t.Errorf("render's stderr lacks %q:\n%s", want, stderr)
	}

	files := mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=5", "--target", tgt, kc)
	if want := []string{"apps/staging/web-values.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-    replicaCount: 2\n+    replicaCount: 5\n") {
		t.Errorf("the commit:\n%s", d)
	}
}

// waitArtifact waits until source-controller has fetched the source ns/name (of resource
// helmcharts, ocirepositories) and returns its artifact's URL.
func waitArtifact(t *testing.T, ctx context.Context, dyn dynamic.Interface, resource, ns, name string) string {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: resource}
	for {
		u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if s, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "url"); s != "" {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s %s/%s has no artifact (last error: %v)", resource, ns, name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A private Helm repository (basic authentication) whose HelmRepository's spec.secretRef Secret
// is in the cluster: connected, the render reads the Secret and fetches the chart; with wrong
// credentials in the Secret it fails saying so, without printing them; not connected it says
// the credentials are read from the cluster.
func TestE2EHelmPrivateRepositorySecretRef(t *testing.T) {
	c := testcluster.Shared(t)
	gitEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ns := "helmauth-" + utilrand.String(6)
	const user, password = "reader", "s3cret-Pa55"
	dir := testrepo.New(t, "flux-helm")
	srv := serveChartWith(t, filepath.Join(dir, "charts", "web"), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	helmRepoRelease(t, dir, ns, srv.URL, "charts-auth")
	secret := func(pw string) []byte {
		return fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: charts-auth, namespace: %[1]s}
stringData: {username: %[2]s, password: %[3]s}
`, ns, user, pw)
	}
	const wrong = "not-the-Pa55word"
	if _, err := c.ApplyYAML(ctx, "", secret(wrong)); err != nil {
		t.Fatal(err)
	}
	const tgt = "helmrelease/web/web@apps/staging"
	kc := "--kubeconfig=" + c.KubeconfigPath

	_, stderr, code := gitops(t, "render", tgt, "--repo", dir, kc)
	if code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("render with wrong credentials: exit %d, want a failure naming the 401\n%s", code, stderr)
	}
	if strings.Contains(stderr, wrong) || strings.Contains(stderr, password) {
		t.Errorf("render with wrong credentials printed a password:\n%s", stderr)
	}

	_, stderr, code = gitops(t, "render", tgt, "--repo", dir)
	if code == 0 || !strings.Contains(stderr, "credentials, Secret "+ns+"/charts-auth, are read from the cluster") {
		t.Errorf("render not connected: exit %d, want a failure saying the credentials are read from the cluster\n%s", code, stderr)
	}

	if _, err := c.ApplyYAML(ctx, "", secret(password)); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gitops(t, "render", tgt, "--repo", dir, kc)
	if code != 0 {
		t.Fatalf("render with the Secret's credentials: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "kind: Deployment") {
		t.Errorf("render printed no Deployment:\n%s", out)
	}
	if strings.Contains(out+stderr, password) {
		t.Errorf("render printed the password")
	}
}

// With the real source-controller: a HelmRelease's spec.chartRef OCIRepository whose chart is in
// an OCI registry on 127.0.0.1. With the registry stopped and the chart cache empty, a change
// connected to the cluster renders the chart from the OCIRepository's artifact.
func TestE2EHelmChartRefOCIFromClusterCopy(t *testing.T) {
	c := testcluster.Shared(t)
	testcluster.WithFlux(t, c)
	gitEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ns := "ocicopy-" + utilrand.String(6)
	dir := testrepo.New(t, "flux-helm")
	srv, host := pushChart(t, filepath.Join(dir, "charts", "web"), "charts/web:0.3.0")
	oci := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: web
  namespace: %s
spec:
  interval: 1h
  insecure: true
  url: oci://%s/charts/web
  ref:
    tag: 0.3.0
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
`, ns, host)
	release := strings.Replace(readFile(t, dir, "apps/base/web/release.yaml"), `  chart:
    spec:
      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system`, `  chartRef:
    kind: OCIRepository
    name: web
    namespace: `+ns, 1)
	writeFiles(t, dir, map[string]string{
		"apps/base/web/release.yaml":       release,
		"apps/base/web/oci.yaml":           oci,
		"apps/base/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - oci.yaml\n  - release.yaml\n",
	})
	testrepo.Git(t, dir, "rm", "-rq", "charts")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from the OCI registry")
	if _, err := c.ApplyYAML(ctx, "", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n---\n"+oci)); err != nil {
		t.Fatal(err)
	}
	artifact := waitArtifact(t, ctx, dynamic.NewForConfigOrDie(c.RESTConfig()), "ocirepositories", ns, "web")
	u, err := url.Parse(artifact)
	if err != nil {
		t.Fatal(err)
	}
	c.ServeThroughProxy(t, testcluster.FluxNamespace, "source-controller", 80, "source-controller-"+ns, u.Host)
	srv.Close()

	const tgt = "helmrelease/web/web@apps/staging"
	_, stderr, code := gitops(t, "scale", "deploy/web", "-n", "web", "--replicas=7", "--target", tgt, "--repo", dir)
	if code == 0 {
		t.Fatalf("scale not connected to the cluster succeeded with the registry stopped and no cached chart:\n%s", stderr)
	}
	files := mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=7", "--target", tgt, "--kubeconfig="+c.KubeconfigPath)
	if want := []string{"apps/staging/web-values.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-    replicaCount: 2\n+    replicaCount: 7\n") {
		t.Errorf("the commit:\n%s", d)
	}
}

// An Argo CD Application whose chart is in a private Helm repository: connected, the render
// reads the repository Secret (argocd.argoproj.io/secret-type: repository) whose url is the
// Application's repoURL from Argo CD's namespace, and fetches the chart with it.
func TestE2EArgoHelmPrivateRepository(t *testing.T) {
	c := testcluster.Shared(t)
	gitEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const user, password = "argo", "argo-Pa55-word"
	dir := testrepo.New(t, "argocd-helm")
	srv := serveChartWith(t, filepath.Join(dir, "charts", "web"), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	writeFiles(t, dir, map[string]string{"apps/web-private.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-private
  namespace: argocd
spec:
  project: default
  source:
    repoURL: ` + srv.URL + `
    chart: web
    targetRevision: 0.3.0
    helm:
      releaseName: web
  destination:
    server: https://kubernetes.default.svc
    namespace: web-private
`})
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from a private chart repository")
	testrepo.Git(t, dir, "remote", "add", "origin", "https://git.example.com/platform/argo-helm.git")
	name := "repo-" + utilrand.String(6)
	if _, err := c.ApplyYAML(ctx, "", fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata: {name: argocd}
---
apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: repository}
stringData: {type: helm, name: charts, url: %q, username: %s, password: %s}
`, name, srv.URL, user, password)); err != nil {
		t.Fatal(err)
	}
	const tgt = "application/argocd/web-private"
	_, stderr, code := gitops(t, "render", tgt, "--repo", dir)
	if code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("render not connected: exit %d, want the repository's 401\n%s", code, stderr)
	}
	out, stderr, code := gitops(t, "render", tgt, "--repo", dir, "--kubeconfig="+c.KubeconfigPath)
	if code != 0 {
		t.Fatalf("render connected: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "kind: Deployment") || strings.Contains(out+stderr, password) {
		t.Errorf("render printed no Deployment, or the password:\n%s\n%s", out, stderr)
	}
}
