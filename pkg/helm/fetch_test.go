package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// helmRepo is a Helm HTTP repository on 127.0.0.1: archives and an index.yaml made with the SDK.
type helmRepo struct {
	dir    string
	server *httptest.Server
	// archives by version
	archives map[string][]byte
}

func newHelmRepo(t *testing.T, versions ...string) *helmRepo {
	t.Helper()
	r := &helmRepo{dir: t.TempDir(), archives: map[string][]byte{}}
	r.server = httptest.NewServer(http.FileServer(http.Dir(r.dir)))
	t.Cleanup(r.server.Close)
	index := repo.NewIndexFile()
	for _, v := range versions {
		data := packageChart(t, webChart(v))
		r.archives[v] = data
		name := "web-" + v + ".tgz"
		if err := os.WriteFile(filepath.Join(r.dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		md := &chartv2.Metadata{APIVersion: "v2", Name: "web", Version: v}
		// A relative URL, as `helm repo index` writes without --url.
		if err := index.MustAdd(md, name, "", hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
	}
	index.SortEntries()
	if err := index.WriteFile(filepath.Join(r.dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFetchHTTPRepository(t *testing.T) {
	r := newHelmRepo(t, "0.1.0", "0.2.0", "0.2.5", "1.0.0", "1.1.0-rc.1")
	f := &Fetcher{Dir: filepath.Join(t.TempDir(), "charts")}
	ctx := context.Background()
	for constraint, want := range map[string]string{
		"":          "1.0.0",
		"*":         "1.0.0",
		"~0.2":      "0.2.5",
		"0.1.0":     "0.1.0",
		"<1.0.0":    "0.2.5",
		">=1.1.0-0": "1.1.0-rc.1",
	} {
		got, err := f.Fetch(ctx, ChartRef{RepoURL: r.server.URL, Chart: "web", Version: constraint})
		if err != nil {
			t.Fatalf("%q: %v", constraint, err)
		}
		if got.Version != want || got.Name != "web" || got.Offline || string(got.Archive) != string(r.archives[want]) || got.Digest != sha256Digest(r.archives[want]) {
			t.Errorf("%q: fetched %s %s (offline %v, digest %s), want %s", constraint, got.Name, got.Version, got.Offline, got.Digest, want)
		}
	}
	ch, err := LoadArchive(mustFetch(t, f, ChartRef{RepoURL: r.server.URL + "/", Chart: "web", Version: "~0.2"}).Archive)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Version() != "0.2.5" {
		t.Errorf("loaded %s", ch.Version())
	}
	if _, err := f.Fetch(ctx, ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "9.x"}); err == nil || !strings.Contains(err.Error(), `"9.x"`) {
		t.Errorf("no matching version: %v", err)
	}
	if _, err := f.Fetch(ctx, ChartRef{RepoURL: r.server.URL, Chart: "api"}); err == nil || !strings.Contains(err.Error(), "api") {
		t.Errorf("unknown chart: %v", err)
	}
	assertPrivate(t, f.Dir)
}

func mustFetch(t *testing.T, f *Fetcher, ref ChartRef) *Fetched {
	t.Helper()
	got, err := f.Fetch(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// assertPrivate checks the cache holds only 0700 directories and 0600 files.
func assertPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("cache holds %d entries", n)
	}
}

func TestFetchHTTPRefusesDigestMismatch(t *testing.T) {
	r := newHelmRepo(t, "0.1.0")
	// The archive served is not the one the index describes.
	if err := os.WriteFile(filepath.Join(r.dir, "web-0.1.0.tgz"), packageChart(t, webChart("0.1.0-tampered")), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Dir: t.TempDir()}
	_, err := f.Fetch(context.Background(), ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "0.1.0"})
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("tampered archive: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.Dir, "blobs", "sha256")); len(entries) != 0 {
		t.Errorf("tampered archive cached: %v", entries)
	}
}

func TestFetchHTTPOfflineFromCache(t *testing.T) {
	r := newHelmRepo(t, "0.1.0", "0.2.0")
	f := &Fetcher{Dir: t.TempDir()}
	online := mustFetch(t, f, ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "~0.2"})
	r.server.Close()
	offline, err := f.Fetch(context.Background(), ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "~0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if !offline.Offline || offline.Version != "0.2.0" || offline.Digest != online.Digest || string(offline.Archive) != string(online.Archive) {
		t.Errorf("offline fetch = %s %v %s", offline.Version, offline.Offline, offline.Digest)
	}
	// A reference never fetched has no copy.
	if _, err := f.Fetch(context.Background(), ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "0.1.x"}); err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("unknown reference offline: %v", err)
	}
	// A corrupted cache copy is not used.
	hexDigest := strings.TrimPrefix(online.Digest, "sha256:")
	if err := os.WriteFile(filepath.Join(f.Dir, "blobs", "sha256", hexDigest), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), ChartRef{RepoURL: r.server.URL, Chart: "web", Version: "~0.2"}); err == nil {
		t.Error("corrupted cache copy used")
	}
}

// An exact version fetched once is served from the cache without a request; a range asks the
// repository every time.
func TestFetchExactVersionFromCache(t *testing.T) {
	r := newHelmRepo(t, "0.1.0", "0.2.0")
	requests := 0
	files := http.FileServer(http.Dir(r.dir))
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests++
		files.ServeHTTP(w, req)
	}))
	defer counting.Close()
	f := &Fetcher{Dir: t.TempDir()}
	exact := ChartRef{RepoURL: counting.URL, Chart: "web", Version: "0.1.0"}
	first := mustFetch(t, f, exact)
	if first.FromCache || requests != 2 {
		t.Errorf("first fetch: from cache %v, %d requests (want index and archive)", first.FromCache, requests)
	}
	second := mustFetch(t, f, exact)
	if !second.FromCache || requests != 2 || second.Digest != first.Digest || string(second.Archive) != string(first.Archive) {
		t.Errorf("second fetch: from cache %v, %d requests", second.FromCache, requests)
	}
	ranged := ChartRef{RepoURL: counting.URL, Chart: "web", Version: "~0.2"}
	mustFetch(t, f, ranged)
	if got := mustFetch(t, f, ranged); got.FromCache || requests != 5 {
		t.Errorf("range: from cache %v, %d requests (want 2 indexes and one archive more)", got.FromCache, requests)
	}
}

func TestFetchHTTPCredentials(t *testing.T) {
	r := newHelmRepo(t, "0.1.0")
	files := http.FileServer(http.Dir(r.dir))
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "reader" || p != "s3cret-pw" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, req)
	}))
	defer private.Close()
	f := &Fetcher{Dir: t.TempDir()}
	_, err := f.Fetch(context.Background(), ChartRef{RepoURL: private.URL, Chart: "web", Credentials: Credentials{Username: "reader", Password: "wrong-pw"}})
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("wrong password: %v", err)
	}
	got, err := f.Fetch(context.Background(), ChartRef{RepoURL: private.URL, Chart: "web", Credentials: Credentials{Username: "reader", Password: "s3cret-pw"}})
	if err != nil || got.Version != "0.1.0" {
		t.Errorf("with credentials: %v", err)
	}
	// Credentials in the URL are used as credentials and kept out of messages.
	inURL := strings.Replace(private.URL, "http://", "http://reader:wrong-pw@", 1)
	if _, err := f.Fetch(context.Background(), ChartRef{RepoURL: inURL, Chart: "web", Version: "9.9.9"}); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("wrong password in the URL: %v", err)
	}
	inURL = strings.Replace(private.URL, "http://", "http://reader:s3cret-pw@", 1)
	if got, err := f.Fetch(context.Background(), ChartRef{RepoURL: inURL, Chart: "web"}); err != nil || got.Version != "0.1.0" {
		t.Errorf("credentials in the URL: %v", err)
	}
}

// ociRegistry is go-containerregistry's distribution registry on 127.0.0.1 with the web chart
// pushed by the SDK's registry client.
func ociRegistry(t *testing.T, versions ...string) (host string, pushed map[string]*registry.PushResult, archives map[string][]byte) {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	pushed, archives = map[string]*registry.PushResult{}, map[string][]byte{}
	for _, v := range versions {
		data := packageChart(t, webChart(v))
		res, err := client.Push(data, host+"/charts/web:"+v)
		if err != nil {
			t.Fatal(err)
		}
		pushed[v], archives[v] = res, data
	}
	return host, pushed, archives
}

func TestFetchOCI(t *testing.T) {
	host, pushed, archives := ociRegistry(t, "0.1.0", "0.2.0", "1.0.0")
	f := &Fetcher{Dir: t.TempDir()}
	base := ChartRef{RepoURL: "oci://" + host + "/charts", Chart: "web", PlainHTTP: true, Credentials: Credentials{RegistryConfig: filepath.Join(t.TempDir(), "config.json")}}
	for constraint, want := range map[string]string{"": "1.0.0", "~0.2": "0.2.0", "0.1.0": "0.1.0"} {
		ref := base
		ref.Version = constraint
		got := mustFetch(t, f, ref)
		if got.Version != want || string(got.Archive) != string(archives[want]) || got.Digest != sha256Digest(archives[want]) ||
			got.ManifestDigest != pushed[want].Manifest.Digest || got.Offline {
			t.Errorf("%q: fetched %s (digest %s, manifest %s)", constraint, got.Version, got.Digest, got.ManifestDigest)
		}
	}
	byDigest := base
	byDigest.Digest = pushed["0.2.0"].Manifest.Digest
	if got := mustFetch(t, f, byDigest); got.Version != "0.2.0" {
		t.Errorf("by digest: %s", got.Version)
	}
	wrong := base
	wrong.Version = "0.1.0"
	wrong.Digest = pushed["0.2.0"].Manifest.Digest
	if _, err := f.Fetch(context.Background(), wrong); err == nil {
		t.Error("tag 0.1.0 with 0.2.0's digest accepted")
	}
	assertPrivate(t, f.Dir)
}

func TestFetchOCIOfflineFromCache(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	data := packageChart(t, webChart("0.3.0"))
	res, err := client.Push(data, host+"/charts/web:0.3.0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Dir: t.TempDir()}
	ref := ChartRef{RepoURL: "oci://" + host + "/charts", Chart: "web", Version: "~0.3", PlainHTTP: true, Credentials: Credentials{Username: "u", Password: "p"}}
	pinned := ref
	pinned.Version, pinned.Digest = "", res.Manifest.Digest
	mustFetch(t, f, ref)
	mustFetch(t, f, pinned)
	srv.Close()
	got, err := f.Fetch(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Offline || string(got.Archive) != string(data) || got.ManifestDigest != res.Manifest.Digest {
		t.Errorf("offline: %v %s", got.Offline, got.ManifestDigest)
	}
	// A digest fetched once needs no registry.
	if got := mustFetch(t, f, pinned); !got.FromCache || string(got.Archive) != string(data) {
		t.Errorf("pinned digest: from cache %v", got.FromCache)
	}
}

// A registry that wants credentials: basic or bearer, by what the client is challenged with.
func TestFetchOCICredentials(t *testing.T) {
	host, _, archives := ociRegistry(t, "0.1.0")
	upstream := "http://" + host
	for _, c := range []struct {
		scheme, challenge string
		good, bad         Credentials
		authorized        func(*http.Request) bool
	}{
		{"basic", `Basic realm="charts"`, Credentials{Username: "reader", Password: "s3cret-pw"}, Credentials{Username: "reader", Password: "wrong-pw"},
			func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "reader" && p == "s3cret-pw" }},
		{"bearer", `Bearer realm="http://127.0.0.1:1/token",service="charts"`, Credentials{Token: "tok-s3cret"}, Credentials{Token: "wrong-tok"},
			func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer tok-s3cret" }},
	} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !c.authorized(r) {
				w.Header().Set("WWW-Authenticate", c.challenge)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			req.Header = r.Header.Clone()
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
		}))
		ref := ChartRef{RepoURL: "oci://" + strings.TrimPrefix(proxy.URL, "http://") + "/charts", Chart: "web", PlainHTTP: true}
		f := &Fetcher{Dir: t.TempDir()}
		ref.Credentials = c.bad
		if _, err := f.Fetch(context.Background(), ref); err == nil || strings.Contains(err.Error(), "wrong") {
			t.Errorf("%s: wrong credentials: %v", c.scheme, err)
		}
		ref.Credentials = c.good
		got, err := f.Fetch(context.Background(), ref)
		if err != nil || string(got.Archive) != string(archives["0.1.0"]) {
			t.Errorf("%s: with credentials: %v", c.scheme, err)
		}
		proxy.Close()
	}
}
