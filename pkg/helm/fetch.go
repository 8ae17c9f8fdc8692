package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"oras.land/oras-go/v2/registry/remote/auth"

	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// ChartRef names a chart in a Helm repository.
type ChartRef struct {
	// RepoURL is an HTTP(S) Helm repository ("https://charts.example.com") or an OCI repository
	// the chart name is appended to ("oci://ghcr.io/org/charts").
	RepoURL string
	Chart   string
	// Version is a version or a semver constraint ("1.2.3", "~1.2", ">=1.0 <2.0", "*"); empty
	// means the latest, as in helm-controller and Argo CD.
	Version string
	// Digest pins an OCI chart's manifest ("sha256:…"); the pulled manifest must have it.
	Digest string
	// PlainHTTP talks to an OCI registry over http (Flux's insecure HelmRepository).
	PlainHTTP   bool
	Credentials Credentials
}

// Credentials for a repository, read by the caller (a Secret, the Application's repository
// credentials). They are sent only to the repository's own host and never appear in an error.
type Credentials struct {
	Username string
	Password string
	// Token is a bearer token for an OCI registry, used when Username and Password are empty
	// (HTTP Helm repositories know basic authentication only).
	Token string
	// RegistryConfig is the Helm registry config (`helm registry login`'s file) used for an OCI
	// repository when no credentials are given; empty means Helm's default location.
	RegistryConfig string
}

// Fetched is a chart archive and what identifies it.
type Fetched struct {
	Archive []byte
	Name    string
	Version string
	// Digest is the archive's "sha256:…", as the repository index or the OCI manifest gives it.
	Digest string
	// ManifestDigest is an OCI chart's manifest digest.
	ManifestDigest string
	// FromCache says an exact version or digest fetched before was served from the cache
	// without asking the repository.
	FromCache bool
	// Offline says the repository could not be reached and the cached copy of an earlier fetch
	// of the same reference was used.
	Offline bool
}

// Fetcher fetches charts into a cache directory: archives by digest, and for each reference the
// version and digest it last resolved to, so a reference fetched once renders offline.
type Fetcher struct {
	// Dir is the cache directory, made 0700; files are 0600.
	Dir string
	// Timeout bounds each request; zero means one minute.
	Timeout time.Duration
}

// DefaultCacheDir is the user's cache for charts: os.UserCacheDir()/kubectl-gitops/charts.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory for charts: %w", err)
	}
	return filepath.Join(d, "kubectl-gitops", "charts"), nil
}

// Fetch returns the chart ref names. An exact version or a digest fetched before comes from the
// cache without a request (Fetched.FromCache). Otherwise the repository resolves the version —
// with the SDK, as `helm pull` does; source-controller differs only in ordering versions equal
// but for build metadata (it takes the newest by creation time) — and the archive comes from the
// cache when its digest is there, else from the repository, verified against the index's digest
// (HTTP) or the manifest's (OCI). When the repository cannot be reached (a network error, not an
// answer such as 404 or 401), the archive this reference resolved to last time is used, and
// Fetched.Offline says so.
func (f *Fetcher) Fetch(ctx context.Context, ref ChartRef) (*Fetched, error) {
	if ref.Chart == "" {
		return nil, errors.New("fetching a chart: no chart name given")
	}
	// Credentials written into the URL travel as credentials, so no message shows them.
	if u, err := url.Parse(ref.RepoURL); err == nil && u.User != nil {
		if ref.Credentials.Username == "" && ref.Credentials.Password == "" {
			ref.Credentials.Username = u.User.Username()
			ref.Credentials.Password, _ = u.User.Password()
		}
		u.User = nil
		ref.RepoURL = u.String()
	}
	key := strings.Join([]string{ref.RepoURL, ref.Chart, ref.Version, ref.Digest}, "\x00")
	// An exact version or a digest names one archive for good: one fetched before (and verified
	// then) is served without asking the repository, so a warm render does no network round trip.
	if _, err := semver.StrictNewVersion(ref.Version); err == nil || ref.Digest != "" {
		if cached, err := f.cachedRef(key); err == nil {
			cached.FromCache = true
			return cached, nil
		}
	}
	var got *Fetched
	var err error
	if strings.HasPrefix(ref.RepoURL, "oci://") {
		got, err = f.fetchOCI(ctx, ref)
	} else {
		got, err = f.fetchHTTP(ctx, ref)
	}
	what := fmt.Sprintf("chart %s version %q from %s", ref.Chart, ref.Version, ref.RepoURL)
	if err != nil {
		if !unreachable(err) {
			return nil, fmt.Errorf("fetching %s: %w", what, err)
		}
		cached, cerr := f.cachedRef(key)
		if cerr != nil {
			return nil, fmt.Errorf("fetching %s: the repository cannot be reached (%w) and the cache has no copy of this reference", what, err)
		}
		cached.Offline = true
		return cached, nil
	}
	if err := f.recordRef(key, got); err != nil {
		return nil, err
	}
	return got, nil
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return time.Minute
}

func (f *Fetcher) fetchHTTP(ctx context.Context, ref ChartRef) (*Fetched, error) {
	base := strings.TrimSuffix(ref.RepoURL, "/")
	opts := []getter.Option{getter.WithURL(base), getter.WithTimeout(f.timeout())}
	c := ref.Credentials
	switch {
	case c.Username != "" || c.Password != "":
		opts = append(opts, getter.WithBasicAuth(c.Username, c.Password))
	case c.Token != "":
		return nil, errors.New("a bearer token is supported for OCI repositories only; give a username and password")
	}
	g, err := getter.NewHTTPGetter(opts...)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idx, err := g.Get(base + "/index.yaml")
	if err != nil {
		return nil, fmt.Errorf("reading index.yaml: %w", err)
	}
	index, err := f.loadIndex(base, idx.Bytes())
	if err != nil {
		return nil, err
	}
	cv, err := index.Get(ref.Chart, ref.Version)
	if err != nil {
		return nil, fmt.Errorf("no version of %s in the index matches %q: %w", ref.Chart, ref.Version, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("the index lists no URL for %s %s", cv.Name, cv.Version)
	}
	if cv.Digest == "" {
		return nil, fmt.Errorf("the index gives no digest for %s %s, so the archive cannot be verified", cv.Name, cv.Version)
	}
	digest := "sha256:" + cv.Digest
	if data, err := f.readBlob(digest); err == nil {
		return &Fetched{Archive: data, Name: cv.Name, Version: cv.Version, Digest: digest}, nil
	}
	chartURL, err := repo.ResolveReferenceURL(base, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("chart URL %q in the index: %w", cv.URLs[0], err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	buf, err := g.Get(chartURL)
	if err != nil {
		return nil, fmt.Errorf("downloading %s %s: %w", cv.Name, cv.Version, err)
	}
	if got := sha256Digest(buf.Bytes()); got != digest {
		return nil, fmt.Errorf("%s %s: the archive's digest %s is not the index's %s", cv.Name, cv.Version, got, digest)
	}
	if err := f.writeBlob(digest, buf.Bytes()); err != nil {
		return nil, err
	}
	return &Fetched{Archive: buf.Bytes(), Name: cv.Name, Version: cv.Version, Digest: digest}, nil
}

// loadIndex parses an index with the SDK, which reads indexes only from files: it goes to the
// cache beside the archives.
func (f *Fetcher) loadIndex(repoURL string, data []byte) (*repo.IndexFile, error) {
	p, err := f.writeFile(filepath.Join("index", sha256Hex([]byte(repoURL))+".yaml"), data)
	if err != nil {
		return nil, err
	}
	index, err := repo.LoadIndexFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading index.yaml: %w", err)
	}
	return index, nil
}

func (f *Fetcher) fetchOCI(ctx context.Context, ref ChartRef) (*Fetched, error) {
	repoRef := strings.TrimSuffix(strings.TrimPrefix(ref.RepoURL, "oci://"), "/") + "/" + ref.Chart
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(&http.Client{Timeout: f.timeout()})}
	if ref.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c := ref.Credentials
	switch {
	case c.Username != "" || c.Password != "":
		opts = append(opts, registry.ClientOptBasicAuth(c.Username, c.Password))
	case c.Token != "":
		opts = append(opts, registry.ClientOptAuthorizer(auth.Client{
			Client:     &http.Client{Timeout: f.timeout()},
			Credential: auth.StaticCredential(registryHost(repoRef), auth.Credential{AccessToken: c.Token}),
		}))
	case c.RegistryConfig != "":
		opts = append(opts, registry.ClientOptCredentialsFile(c.RegistryConfig))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("setting up the registry client: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pull := repoRef
	version := ref.Version
	if ref.Digest != "" {
		if version != "" {
			pull += ":" + strings.ReplaceAll(version, "+", "_")
		}
		pull += "@" + ref.Digest
	} else {
		tags, err := client.Tags(repoRef)
		if err != nil {
			return nil, fmt.Errorf("listing the tags of %s: %w", repoRef, err)
		}
		version, err = registry.GetTagMatchingVersionOrConstraint(tags, ref.Version)
		if err != nil {
			return nil, err
		}
		pull += ":" + strings.ReplaceAll(version, "+", "_")
	}
	res, err := client.Pull(pull, registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", pull, err)
	}
	if ref.Digest != "" && res.Manifest.Digest != ref.Digest {
		return nil, fmt.Errorf("pulling %s: the manifest's digest is %s", pull, res.Manifest.Digest)
	}
	if got := sha256Digest(res.Chart.Data); got != res.Chart.Digest {
		return nil, fmt.Errorf("pulling %s: the chart layer's digest %s is not the manifest's %s", pull, got, res.Chart.Digest)
	}
	if err := f.writeBlob(res.Chart.Digest, res.Chart.Data); err != nil {
		return nil, err
	}
	return &Fetched{Archive: res.Chart.Data, Name: res.Chart.Meta.Name, Version: res.Chart.Meta.Version,
		Digest: res.Chart.Digest, ManifestDigest: res.Manifest.Digest}, nil
}

func registryHost(ref string) string {
	host, _, _ := strings.Cut(ref, "/")
	return host
}

// unreachable tells a repository that did not answer from one that answered with an error.
func unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// refRecord is what a reference resolved to, kept for fetching it offline.
type refRecord struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	Digest         string `json:"digest"`
	ManifestDigest string `json:"manifestDigest,omitempty"`
}

func (f *Fetcher) recordRef(key string, got *Fetched) error {
	b, err := json.Marshal(refRecord{Name: got.Name, Version: got.Version, Digest: got.Digest, ManifestDigest: got.ManifestDigest})
	if err != nil {
		return err
	}
	_, err = f.writeFile(filepath.Join("refs", sha256Hex([]byte(key))+".json"), b)
	return err
}

func (f *Fetcher) cachedRef(key string) (*Fetched, error) {
	b, err := os.ReadFile(filepath.Join(f.Dir, "refs", sha256Hex([]byte(key))+".json"))
	if err != nil {
		return nil, err
	}
	var r refRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	data, err := f.readBlob(r.Digest)
	if err != nil {
		return nil, err
	}
	return &Fetched{Archive: data, Name: r.Name, Version: r.Version, Digest: r.Digest, ManifestDigest: r.ManifestDigest}, nil
}

// readBlob reads a cached archive and checks it still has its digest.
func (f *Fetcher) readBlob(digest string) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexDigest) != 64 {
		return nil, fmt.Errorf("unsupported digest %q", digest)
	}
	data, err := os.ReadFile(filepath.Join(f.Dir, "blobs", "sha256", hexDigest))
	if err != nil {
		return nil, err
	}
	if sha256Digest(data) != digest {
		return nil, fmt.Errorf("cached chart %s is corrupt", digest)
	}
	return data, nil
}

func (f *Fetcher) writeBlob(digest string, data []byte) error {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexDigest) != 64 {
		return fmt.Errorf("unsupported digest %q", digest)
	}
	_, err := f.writeFile(filepath.Join("blobs", "sha256", hexDigest), data)
	return err
}

// writeFile writes name under the cache directory atomically, 0600 in 0700 directories.
func (f *Fetcher) writeFile(name string, data []byte) (string, error) {
	if f.Dir == "" {
		return "", errors.New("no chart cache directory set")
	}
	p := filepath.Join(f.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("making the chart cache: %w", err)
	}
	// The cache directory may predate us with a wider mode; private repositories' charts go in it.
	if err := os.Chmod(f.Dir, 0o700); err != nil {
		return "", fmt.Errorf("making the chart cache private: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("writing the chart cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("writing the chart cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("writing the chart cache: %w", err)
	}
	return p, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sha256Digest(b []byte) string { return "sha256:" + sha256Hex(b) }
