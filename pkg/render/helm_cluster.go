package render

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
)

// Cluster reads what the cluster a target's reconciler runs in holds, for a render that is
// connected to it: Flux's source objects and source-controller's artifacts, and Argo CD's
// repository Secrets. The plugin fills it when it knows the kubeconfig reaches that cluster;
// the render never opens a connection of its own.
type Cluster interface {
	// Get reads the object apiVersion/kind namespace/name; nil and no error when it does not exist.
	Get(apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error)
	// List reads the objects of kind in namespace that labelSelector selects.
	List(apiVersion, kind, namespace, labelSelector string) ([]unstructured.Unstructured, error)
	// Artifact reads the artifact source-controller serves at url (an object's
	// status.artifact.url), through the API server.
	Artifact(url string) ([]byte, error)
	// Warn tells the user what the render did in their stead (each message once).
	Warn(msg string)
}

// fluxSourceVersion is the API version of Flux's source objects the render reads from a cluster.
const fluxSourceVersion = "source.toolkit.fluxcd.io/v1"

// clusterCopy names the Flux source object whose artifact is the chart a release installs: the
// HelmChart helm-controller made from spec.chart, the HelmChart or OCIRepository of spec.chartRef.
// matches says whether the object in the cluster is the one the repository defines (the
// repository may hold a change the cluster has not applied yet: its artifact is another chart).
type clusterCopy struct {
	kind, namespace, name string
	matches               func(obj map[string]any) error
}

// fetchChart fetches ref through the chart cache; when the repository cannot be reached and the
// cache lacks the chart, it loads the copy source-controller holds in the cluster, when the
// render is connected to it, and says so.
func fetchChart(ref helm.ChartRef, cluster Cluster, cp *clusterCopy) (*helm.Chart, error) {
	ch, err := fetchRepoChart(ref)
	var unavailable *ChartUnavailableError
	if err == nil || cluster == nil || cp == nil || !errors.As(err, &unavailable) {
		return ch, err
	}
	ch, revision, cerr := clusterChart(cluster, cp)
	if cerr != nil {
		return nil, &ChartUnavailableError{msg: fmt.Sprintf("%s; nor can the cluster's copy be used: %v", unavailable.msg, cerr)}
	}
	cluster.Warn(fmt.Sprintf("chart %s from %s cannot be fetched and the chart cache holds no copy: rendered with the copy source-controller holds for %s %s/%s (revision %s, digest verified)",
		ref.Chart, ref.RepoURL, cp.kind, cp.namespace, cp.name, revision))
	return ch, nil
}

// clusterChart loads the chart of the artifact of the source object cp names, read through the
// API server and checked against the digest its status gives.
func clusterChart(cluster Cluster, cp *clusterCopy) (*helm.Chart, string, error) {
	what := fmt.Sprintf("%s %s/%s", cp.kind, cp.namespace, cp.name)
	u, err := cluster.Get(fluxSourceVersion, cp.kind, cp.namespace, cp.name)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", what, err)
	}
	if u == nil {
		return nil, "", fmt.Errorf("the cluster has no %s", what)
	}
	if err := cp.matches(u.Object); err != nil {
		return nil, "", fmt.Errorf("%s in the cluster %w", what, err)
	}
	art := mapAt(u.Object, "status", "artifact")
	artURL, digest, revision := str(art, "url"), str(art, "digest"), str(art, "revision")
	if artURL == "" {
		return nil, "", fmt.Errorf("%s has no artifact in the cluster yet (status.artifact)", what)
	}
	want, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return nil, "", fmt.Errorf("%s: its artifact's digest %q is not sha256, so the copy cannot be verified", what, digest)
	}
	data, err := cluster.Artifact(artURL)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s's artifact: %w", what, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, "", fmt.Errorf("%s's artifact has digest sha256:%s, not its status's %s", what, got, digest)
	}
	ch, err := helm.LoadArchive(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s's artifact: %w", what, err)
	}
	return ch, revision, nil
}

// sameFields says which of the fields (dotted paths under spec) differ between the object in
// the cluster and want, the repository's; want's empty values match the cluster's defaults.
func sameFields(obj map[string]any, want map[string]string, defaults map[string]string) error {
	var differ []string
	for f, w := range want {
		if w == "" {
			w = defaults[f]
		}
		got := str(obj, append([]string{"spec"}, strings.Split(f, ".")...)...)
		if got == "" {
			got = defaults[f]
		}
		if got != w {
			differ = append(differ, fmt.Sprintf("spec.%s is %q, the repository's %q", f, got, w))
		}
	}
	if len(differ) == 0 {
		return nil
	}
	slices.Sort(differ)
	return fmt.Errorf("is not the repository's (%s): its artifact is another chart", strings.Join(differ, "; "))
}

// secretCredentials are the credentials of a Flux source's spec.secretRef Secret ns/name, read
// through lookup: username and password, or for an OCI registry a dockerconfigjson's entry for
// host. Zero credentials when there is no Secret to read (not connected); an error when the
// Secret named does not exist or holds none.
func secretCredentials(lookup func(kind, namespace, name string) (map[string]string, error), ns, name, host string) (helm.Credentials, error) {
	var c helm.Credentials
	if name == "" || lookup == nil {
		return c, nil
	}
	data, err := lookup("Secret", ns, name)
	if err != nil {
		return c, fmt.Errorf("reading Secret %s/%s (spec.secretRef): %w", ns, name, err)
	}
	if data == nil {
		return c, fmt.Errorf("Secret %s/%s (spec.secretRef) does not exist in the cluster", ns, name)
	}
	if cfg, ok := data[".dockerconfigjson"]; ok {
		return dockerCredentials(cfg, host, fmt.Sprintf("Secret %s/%s", ns, name))
	}
	c.Username, c.Password = data["username"], data["password"]
	if c.Username == "" && c.Password == "" {
		return c, fmt.Errorf("Secret %s/%s (spec.secretRef) has neither username and password nor .dockerconfigjson", ns, name)
	}
	return c, nil
}

// dockerCredentials are host's credentials in a dockerconfigjson document.
func dockerCredentials(cfg, host, what string) (helm.Credentials, error) {
	var c helm.Credentials
	var doc struct {
		Auths map[string]struct {
			Username string `json:"username"`
			Password string `json:"password"`
			Auth     string `json:"auth"`
		} `json:"auths"`
	}
	// The message names no part of the document: it holds the credentials.
	if json.Unmarshal([]byte(cfg), &doc) != nil {
		return c, fmt.Errorf("%s: .dockerconfigjson is not a Docker config", what)
	}
	for h, a := range doc.Auths {
		if u, err := url.Parse(h); err == nil && u.Host != "" {
			h = u.Host
		}
		if h != host {
			continue
		}
		c.Username, c.Password = a.Username, a.Password
		if c.Username == "" && a.Auth != "" {
			if u, p, ok := decodeAuth(a.Auth); ok {
				c.Username, c.Password = u, p
			}
		}
		return c, nil
	}
	return c, fmt.Errorf("%s: .dockerconfigjson has no credentials for %s", what, host)
}

// decodeAuth splits a Docker config's auth field, base64 of USER:PASSWORD.
func decodeAuth(auth string) (user, password string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// argoCredentials are the credentials Argo CD's repo-server uses for the repository repoURL,
// read from the cluster: the repository Secret whose url is repoURL, else the credential
// template (repo-creds) whose url is the longest prefix of it, in Argo CD's namespace ns.
// Zero credentials without a cluster or a matching Secret (Helm's registry config then serves
// an OCI registry).
func argoCredentials(cluster Cluster, ns, repoURL string) (helm.Credentials, error) {
	var c helm.Credentials
	if cluster == nil {
		return c, nil
	}
	want := strings.TrimSuffix(repoURL, "/")
	for _, typ := range []string{"repository", "repo-creds"} {
		list, err := cluster.List("v1", "Secret", ns, "argocd.argoproj.io/secret-type="+typ)
		if err != nil {
			return c, fmt.Errorf("reading Argo CD's %s Secrets in namespace %s: %w", typ, ns, err)
		}
		best := -1
		for i := range list {
			u := strings.TrimSuffix(secretField(&list[i], "url"), "/")
			match := u == want
			if typ == "repo-creds" {
				match = u != "" && strings.HasPrefix(want, u)
			}
			if match && (best < 0 || len(u) > len(strings.TrimSuffix(secretField(&list[best], "url"), "/"))) {
				best = i
			}
		}
		if best >= 0 {
			c.Username, c.Password = secretField(&list[best], "username"), secretField(&list[best], "password")
			return c, nil
		}
	}
	return c, nil
}

// secretField is key of a Secret read from the cluster, decoded ("" when absent or not base64).
func secretField(s *unstructured.Unstructured, key string) string {
	if v, ok := mapAt(s.Object, "stringData")[key].(string); ok {
		return v
	}
	v, _ := mapAt(s.Object, "data")[key].(string)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}
