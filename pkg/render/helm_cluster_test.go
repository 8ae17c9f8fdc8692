package render

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
)

// fakeCluster holds objects by kind/namespace/name and artifacts by URL.
type fakeCluster struct {
	objects   map[string]*unstructured.Unstructured
	secrets   []unstructured.Unstructured
	artifacts map[string][]byte
	warnings  []string
}

func (f *fakeCluster) Get(_, kind, ns, name string) (*unstructured.Unstructured, error) {
	return f.objects[kind+"/"+ns+"/"+name], nil
}

func (f *fakeCluster) List(_, _, ns, selector string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	for _, s := range f.secrets {
		k, v, _ := strings.Cut(selector, "=")
		if s.GetNamespace() == ns && s.GetLabels()[k] == v {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeCluster) Artifact(url string) ([]byte, error) {
	if b, ok := f.artifacts[url]; ok {
		return b, nil
	}
	return nil, errors.New("404 Not Found")
}

func (f *fakeCluster) Warn(msg string) { f.warnings = append(f.warnings, msg) }

// webArchive is the flux-helm sample's chart packaged by the SDK, and its digest.
func webArchive(t *testing.T) ([]byte, string) {
	t.Helper()
	ch, err := chartloader.LoadDir(filepath.Join(testrepo.Sample("flux-helm"), "charts", "web"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, "sha256:" + hex.EncodeToString(sum[:])
}

func helmChartObject(version, url, digest string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
		"metadata": map[string]any{"name": "web-web", "namespace": "charts"},
		"spec":     map[string]any{"chart": "web", "version": version, "sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts"}},
		"status":   map[string]any{"artifact": map[string]any{"url": url, "digest": digest, "revision": "0.3.0"}},
	}}
}

// A chart whose repository does not answer and which the cache lacks comes from the cluster's
// HelmChart artifact, with a warning; the artifact is refused when the HelmChart in the cluster
// is another chart than the repository's, or its bytes do not have its digest.
func TestFetchChartFromClusterCopy(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	archive, digest := webArchive(t)
	const artURL = "http://source-controller.flux-system.svc.cluster.local./helmchart/charts/web-web/web-0.3.0.tgz"
	// Port 1 on loopback refuses connections: the repository cannot be reached.
	ref := helm.ChartRef{RepoURL: "http://127.0.0.1:1", Chart: "web", Version: "0.3.x"}
	spec := map[string]any{"chart": "web", "version": "0.3.x", "sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts"}}
	cp := chartCopy(spec, "charts", "web-web")

	cases := []struct {
		name    string
		obj     *unstructured.Unstructured
		bytes   []byte
		wantErr string
	}{
		{name: "same chart", obj: helmChartObject("0.3.x", artURL, digest), bytes: archive},
		{name: "another version", obj: helmChartObject("0.2.x", artURL, digest), bytes: archive,
			wantErr: `HelmChart charts/web-web in the cluster is not the repository's (spec.version is "0.2.x", the repository's "0.3.x")`},
		{name: "corrupt artifact", obj: helmChartObject("0.3.x", artURL, digest), bytes: append([]byte{0}, archive...),
			wantErr: "HelmChart charts/web-web's artifact has digest sha256:"},
		{name: "no HelmChart", wantErr: "the cluster has no HelmChart charts/web-web"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCluster{objects: map[string]*unstructured.Unstructured{}, artifacts: map[string][]byte{artURL: tc.bytes}}
			if tc.obj != nil {
				fc.objects["HelmChart/charts/web-web"] = tc.obj
			}
			ch, err := fetchChart(ref, fc, cp)
			if tc.wantErr != "" {
				var unavailable *ChartUnavailableError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &unavailable) {
					t.Fatalf("error %v, want a ChartUnavailableError containing %q", err, tc.wantErr)
				}
				if len(fc.warnings) != 0 {
					t.Errorf("warned %q for a refused copy", fc.warnings)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Name() != "web" {
				t.Errorf("chart %q, want web", ch.Name())
			}
			if len(fc.warnings) != 1 || !strings.Contains(fc.warnings[0], "the copy source-controller holds for HelmChart charts/web-web (revision 0.3.0, digest verified)") {
				t.Errorf("warnings %q", fc.warnings)
			}
		})
	}
	// Not connected: the repository's error alone.
	if _, err := fetchChart(ref, nil, cp); err == nil || strings.Contains(err.Error(), "cluster") {
		t.Errorf("not connected: error %v, want the repository's error alone", err)
	}
}

// The credentials of a Flux source's secretRef Secret: username and password, or a registry's
// entry of a dockerconfigjson (auth decoded); a Secret that holds neither is an error that
// names it and no value.
func TestSecretCredentials(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("robot:tok-en"))
	secrets := map[string]map[string]string{
		"basic":  {"username": "reader", "password": "pw-1"},
		"docker": {".dockerconfigjson": `{"auths":{"other.example.com":{"username":"x","password":"y"},"https://registry.example.com":{"auth":"` + auth + `"}}}`},
		"empty":  {"token": "pw-2"},
	}
	lookup := func(kind, ns, name string) (map[string]string, error) { return secrets[name], nil }
	cases := []struct {
		secret, host, user, password, wantErr string
	}{
		{secret: "basic", user: "reader", password: "pw-1"},
		{secret: "docker", host: "registry.example.com", user: "robot", password: "tok-en"},
		{secret: "docker", host: "nowhere.example.com", wantErr: "Secret charts/docker: .dockerconfigjson has no credentials for nowhere.example.com"},
		{secret: "empty", wantErr: "Secret charts/empty (spec.secretRef) has neither username and password nor .dockerconfigjson"},
		{secret: "absent", wantErr: "Secret charts/absent (spec.secretRef) does not exist in the cluster"},
	}
	for _, tc := range cases {
		c, err := secretCredentials(lookup, "charts", tc.secret, tc.host)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.secret, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.Username != tc.user || c.Password != tc.password {
			t.Errorf("%s: %q/%q, %v; want %q/%q", tc.secret, c.Username, c.Password, err, tc.user, tc.password)
		}
	}
	if c, err := secretCredentials(nil, "charts", "basic", ""); err != nil || c != (helm.Credentials{}) {
		t.Errorf("not connected: %v, %v; want no credentials and no error", c, err)
	}
}

// Argo CD's credentials for a repository: the repository Secret whose url is the repository's,
// before the credential template whose url is the longest prefix of it.
func TestArgoCredentials(t *testing.T) {
	secret := func(name, typ, url, user string) unstructured.Unstructured {
		enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		return unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": name, "namespace": "argocd", "labels": map[string]any{"argocd.argoproj.io/secret-type": typ}},
			"data":     map[string]any{"url": enc(url), "username": enc(user), "password": enc(user + "-pw")},
		}}
	}
	fc := &fakeCluster{secrets: []unstructured.Unstructured{
		secret("org", "repo-creds", "https://charts.example.com/", "org"),
		secret("team", "repo-creds", "https://charts.example.com/team", "team"),
		secret("exact", "repository", "https://charts.example.com/team/web/", "exact"),
	}}
	cases := map[string]string{
		"https://charts.example.com/team/web": "exact",
		"https://charts.example.com/team/api": "team",
		"https://charts.example.com/other":    "org",
		"https://elsewhere.example.com":       "",
	}
	for url, want := range cases {
		c, err := argoCredentials(fc, "argocd", url)
		if err != nil || c.Username != want || (want != "" && c.Password != want+"-pw") {
			t.Errorf("%s: %q/%q, %v; want the %q Secret's", url, c.Username, c.Password, err, want)
		}
	}
}

// A secretRef Secret that cannot be read stops a fetch only when the repository asks for
// credentials: then the error says both, and names no credential.
func TestFetchSourceChartSecretUnreadable(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	archive, digest := webArchive(t)
	auth := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); auth && !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/index.yaml":
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  web:\n  - apiVersion: v2\n    name: web\n    version: 0.3.0\n    digest: %s\n    urls: [web-0.3.0.tgz]\n", strings.TrimPrefix(digest, "sha256:"))
		case "/web-0.3.0.tgz":
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	lookup := func(kind, ns, name string) (map[string]string, error) {
		return nil, errors.New("dial tcp 192.0.2.1:6443: i/o timeout")
	}
	spec := map[string]any{"url": srv.URL, "secretRef": map[string]any{"name": "charts-auth"}}
	ref := helm.ChartRef{RepoURL: srv.URL, Chart: "web", Version: "0.3.x"}
	if _, err := fetchSourceChart(ref, spec, "HelmRepository", "charts", "charts", Options{Lookup: lookup}, nil); err != nil {
		t.Fatalf("a repository that asks for no credentials: %v", err)
	}
	auth = true
	// A range is resolved by the repository each time, so it is asked again.
	_, err := fetchSourceChart(ref, spec, "HelmRepository", "charts", "charts", Options{Lookup: lookup}, nil)
	want := "(HelmRepository charts/charts: reading Secret charts/charts-auth (spec.secretRef): dial tcp 192.0.2.1:6443: i/o timeout)"
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want the 401 and %q", err, want)
	}
}
