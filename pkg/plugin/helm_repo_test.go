package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// serveChart packages the chart in dir with the SDK, as `helm package` does, and serves it in a
// Helm HTTP repository (index.yaml and the archive) on 127.0.0.1.
func serveChart(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	return serveChartWith(t, dir, nil)
}

// serveChartWith serves the chart in dir as serveChart does, through wrap when it is not nil.
func serveChartWith(t *testing.T, dir string, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	ch, err := chartloader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	served := t.TempDir()
	p, err := chartutil.Save(ch, served)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	index := repo.NewIndexFile()
	sum := sha256.Sum256(data)
	md := &chartv2.Metadata{APIVersion: "v2", Name: ch.Metadata.Name, Version: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion}
	if err := index.MustAdd(md, filepath.Base(p), "", hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if err := index.WriteFile(filepath.Join(served, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.FileServer(http.Dir(served))
	if wrap != nil {
		h = wrap(h)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// A HelmRelease whose chart comes from a Helm repository: the chart is fetched (over HTTP from
// 127.0.0.1) into the user's chart cache, a change is written in the environment's values patch
// and proven by the chart's render, and with the repository gone the cached chart renders the
// next change.
func TestHelmReleaseChartFromHelmRepository(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-helm")
	srv := serveChart(t, filepath.Join(dir, "charts", "web"))
	writeFiles(t, dir, map[string]string{"apps/base/web/repository.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: web
spec:
  interval: 1h
  url: ` + srv.URL + `
`})
	release := strings.Replace(readFile(t, dir, "apps/base/web/release.yaml"), `      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system`, `      chart: web
      version: "0.3.x"
      sourceRef:
        kind: HelmRepository
        name: charts`, 1)
	writeFiles(t, dir, map[string]string{
		"apps/base/web/release.yaml":       release,
		"apps/base/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - repository.yaml\n  - release.yaml\n",
	})
	// The chart is in the Helm repository only.
	testrepo.Git(t, dir, "rm", "-rq", "charts")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from the Helm repository")

	const tgt, file = "helmrelease/web/web@apps/staging", "apps/staging/web-values.yaml"
	files := mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=5", "--target", tgt)
	if want := []string{file}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-    replicaCount: 2\n+    replicaCount: 5\n") {
		t.Errorf("the commit:\n%s", d)
	}
	cache := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "kubectl-gitops", "charts")
	if entries, err := os.ReadDir(cache); err != nil || len(entries) == 0 {
		t.Errorf("the chart cache %s holds nothing (%v)", cache, err)
	}

	srv.Close()
	files = mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=6", "--target", tgt)
	if want := []string{file}; !reflect.DeepEqual(files, want) {
		t.Fatalf("offline, the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-    replicaCount: 5\n+    replicaCount: 6\n") {
		t.Errorf("offline, the commit:\n%s", d)
	}
}

// A HelmRelease whose spec.chartRef names an OCIRepository: the chart is pulled from an OCI
// registry on 127.0.0.1 (go-containerregistry's), pushed there by the Helm SDK, and the change
// is written in the environment's values patch.
func TestHelmReleaseChartFromOCIRepository(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-helm")
	_, host := pushChart(t, filepath.Join(dir, "charts", "web"), "charts/web:0.3.0")
	release := strings.Replace(readFile(t, dir, "apps/base/web/release.yaml"), `  chart:
    spec:
      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system`, `  chartRef:
    kind: OCIRepository
    name: web`, 1)
	writeFiles(t, dir, map[string]string{
		"apps/base/web/release.yaml": release,
		"apps/base/web/oci.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: web
  namespace: web
spec:
  interval: 1h
  insecure: true
  url: oci://` + host + `/charts/web
  ref:
    tag: 0.3.0
`,
		"apps/base/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - oci.yaml\n  - release.yaml\n",
	})
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from the OCI registry")

	files := mustGitops(t, dir, "set", "image", "deploy/web", "-n", "web", "web=registry.example.com/web:1.6.0", "--target", "helmrelease/web/web@apps/staging")
	if want := []string{"apps/staging/web-values.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-      tag: \"1.5.0-rc.1\"\n+      tag: \"1.6.0\"\n") {
		t.Errorf("the commit:\n%s", d)
	}
}

// An Argo CD Application whose chart comes from a Helm repository (served on 127.0.0.1) and
// whose values come from a $values file of this repository: the change is written in that file,
// proven by the fetched chart's render.
func TestArgoHelmChartFromHelmRepository(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "argocd-helm")
	srv := serveChart(t, filepath.Join(dir, "charts", "web"))
	writeFiles(t, dir, map[string]string{
		"values/web/remote.yaml": remoteWebValues,
		"apps/web-remote.yaml":   remoteWebApplication(srv.URL, "https://git.example.com/platform/argo-helm.git"),
	})
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from the chart repository")
	testrepo.Git(t, dir, "remote", "add", "origin", "https://git.example.com/platform/argo-helm.git")

	files := mustGitops(t, dir, "scale", "deploy/web", "-n", "web-remote", "--replicas=4", "--target", "application/argocd/web-remote")
	if want := []string{"values/web/remote.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-replicaCount: 2\n+replicaCount: 4\n") {
		t.Errorf("the commit:\n%s", d)
	}
}

// A HelmRelease whose spec.chartRef names a HelmChart of the repository: the HelmChart's spec
// (chart, version, HelmRepository source in its own namespace) gives the chart, fetched from a
// Helm repository on 127.0.0.1, and the change is written in the environment's values patch.
func TestHelmReleaseChartRefHelmChart(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-helm")
	srv := serveChart(t, filepath.Join(dir, "charts", "web"))
	release := strings.Replace(readFile(t, dir, "apps/base/web/release.yaml"), `  chart:
    spec:
      chart: ./charts/web
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system`, `  chartRef:
    kind: HelmChart
    name: web
    namespace: charts`, 1)
	writeFiles(t, dir, map[string]string{
		"apps/base/web/release.yaml": release,
		"apps/base/web/chart.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: charts
spec:
  interval: 1h
  url: ` + srv.URL + `
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata:
  name: web
  namespace: charts
spec:
  interval: 1h
  chart: web
  version: "0.3.x"
  sourceRef:
    kind: HelmRepository
    name: charts
`,
		"apps/base/web/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - chart.yaml\n  - release.yaml\n",
	})
	testrepo.Git(t, dir, "rm", "-rq", "charts")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-qm", "web from a HelmChart")

	const tgt = "helmrelease/web/web@apps/staging"
	out, stderr, code := gitops(t, "render", tgt, "--repo", dir)
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "replicas: 2") || !strings.Contains(out, "image: registry.example.com/web:1.5.0-rc.1") {
		t.Errorf("render does not show the staging values on the HelmChart's chart:\n%s", out)
	}
	files := mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=3", "--target", tgt)
	if want := []string{"apps/staging/web-values.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD"); !strings.Contains(d, "-    replicaCount: 2\n+    replicaCount: 3\n") {
		t.Errorf("the commit:\n%s", d)
	}
}

// pushChart packages the chart in dir with the SDK and pushes it as ref (PATH:TAG) to an OCI
// registry (go-containerregistry's) it serves on 127.0.0.1; host is the registry's HOST:PORT.
func pushChart(t *testing.T, dir, ref string) (srv *httptest.Server, host string) {
	t.Helper()
	srv = httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	ch, err := chartloader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Push(data, host+"/"+ref); err != nil {
		t.Fatal(err)
	}
	return srv, host
}

// remoteWebValues is the value file remoteWebApplication's chart reads.
const remoteWebValues = "# Values for web from the chart repository.\nreplicaCount: 2\n"

// remoteWebApplication is an Argo CD Application of the web chart from the Helm repository at
// chartURL, with its value file from the Git repository at valuesURL ($values).
func remoteWebApplication(chartURL, valuesURL string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-remote
  namespace: argocd
spec:
  project: default
  sources:
    - repoURL: ` + chartURL + `
      chart: web
      targetRevision: 0.3.0
      helm:
        releaseName: web
        valueFiles:
          - $values/values/web/remote.yaml
    - repoURL: ` + valuesURL + `
      targetRevision: main
      ref: values
  destination:
    server: https://kubernetes.default.svc
    namespace: web-remote
`
}
