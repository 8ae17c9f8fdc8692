package reconciler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Flux's API groups: Kustomizations, the sources of source-controller, and the
// ArtifactGenerators of source-watcher.
const (
	FluxKustomizeGroup       = "kustomize.toolkit.fluxcd.io"
	FluxSourceGroup          = "source.toolkit.fluxcd.io"
	FluxSourceExtensionGroup = "source.extensions.fluxcd.io"
)

// The labels kustomize-controller puts on every object it applies: the Kustomization's name and
// namespace (FluxAppliedBy takes them).
const (
	FluxNameLabel      = FluxKustomizeGroup + "/name"
	FluxNamespaceLabel = FluxKustomizeGroup + "/namespace"
)

// The OCI annotations `flux push artifact --source --revision` records on an artifact, which
// source-controller copies into an OCIRepository's status.artifact.metadata.
const (
	OCISourceAnnotation   = "org.opencontainers.image.source"
	OCIRevisionAnnotation = "org.opencontainers.image.revision"
)

// IsFluxKustomization reports whether o is a Flux Kustomization (v1, or v1beta2 whose fields
// read here have the same shape).
func IsFluxKustomization(o Object) bool {
	return o.Obj != nil && o.Kind() == "Kustomization" && group(o.Obj) == FluxKustomizeGroup
}

func group(u *unstructured.Unstructured) string {
	g, _, _ := strings.Cut(u.GetAPIVersion(), "/")
	return g
}

// DecodeObjects reads the objects of a file's documents (numbered as yaml.v3, and so the
// editor, numbers them), skipping documents without apiVersion and kind. Numbers are int64 and
// float64, as in objects read from the API server.
func DecodeObjects(file string, b []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []Object
	for doc := 0; ; doc++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		// Through JSON: yaml.v3 decodes numbers as int and float64, maps as map[string]any.
		js, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			continue
		}
		out = append(out, Object{File: file, Doc: doc, Obj: u})
	}
}

// FluxApplied says what each Flux Kustomization among objs applies: the Git repository its
// source follows, the path, and for an ExternalArtifact the artifact's tree mapped back to the
// repository (Applied.Artifact). objs are every object the Kustomizations may name (sources,
// ArtifactGenerators, ExternalArtifacts), read from a repository or a cluster; repo holds the
// files of the repository the Kustomizations are in (os.DirFS of its root), which
// ArtifactGenerators' copy rules are matched against (nil when there is none: then an
// ExternalArtifact cannot be followed). A Kustomization that cannot be followed has an error
// naming it and what to write instead, and no Applied.
func FluxApplied(repo fs.FS, objs []Object) ([]Applied, []error) {
	var out []Applied
	var errs []error
	for _, o := range objs {
		if !IsFluxKustomization(o) {
			continue
		}
		a, err := FluxKustomizationApplied(repo, o, objs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errs
}

// FluxAppliedBy is FluxKustomizationApplied for the Kustomization namespace/name, as the
// labels FluxNamespaceLabel and FluxNameLabel of a live object name it, found among objs (the
// cluster's Flux objects, or the repository's). When the repository defines that Kustomization
// more than once (one per cluster directory), the first is taken: pass the cluster's own
// objects to tell them apart.
func FluxAppliedBy(repo fs.FS, namespace, name string, objs []Object) (Applied, error) {
	for _, o := range objs {
		if IsFluxKustomization(o) && o.Namespace() == namespace && o.Name() == name {
			return FluxKustomizationApplied(repo, o, objs)
		}
	}
	return Applied{}, fmt.Errorf("Flux Kustomization %s/%s is not among the objects read: connect to the cluster that runs it, or name the target in .kubectl-gitops.yaml", namespace, name)
}

// FluxKustomizationApplied says what the Flux Kustomization ks applies (see FluxApplied).
func FluxKustomizationApplied(repo fs.FS, ks Object, objs []Object) (Applied, error) {
	a := Applied{Reconciler: ks, Path: FluxPath(str(ks.Obj, "spec", "path"))}
	kind, name := str(ks.Obj, "spec", "sourceRef", "kind"), str(ks.Obj, "spec", "sourceRef", "name")
	ns := str(ks.Obj, "spec", "sourceRef", "namespace")
	if ns == "" {
		ns = ks.Namespace()
	}
	fail := func(format string, args ...any) (Applied, error) {
		return Applied{}, fmt.Errorf("Flux Kustomization %s: %s", objectName(ks), fmt.Sprintf(format, args...))
	}
	if name == "" {
		return fail("spec.sourceRef has no name")
	}
	switch kind {
	case "GitRepository":
		src, ok := find(objs, ks, FluxSourceGroup, kind, ns, name)
		switch {
		case ok:
			a.URL, a.Branch = gitSource(src)
		case ks.File == "":
			return fail("its source GitRepository %s/%s is not among the objects read (%s); connect to the cluster, or name the target in .kubectl-gitops.yaml", ns, name, where(ks))
		default:
			// A repository's files often lack the GitRepository that syncs them (flux bootstrap
			// and the Flux Operator make flux-system in the cluster): the Kustomization is taken
			// to apply the repository it is in, URL and branch unknown ("").
		}
	case "OCIRepository":
		src, ok := find(objs, ks, FluxSourceGroup, kind, ns, name)
		if !ok {
			return fail("its source OCIRepository %s/%s is not among the objects read (%s); name the target in .kubectl-gitops.yaml", ns, name, where(ks))
		}
		url, rev, err := ociSource(src)
		if err != nil {
			return fail("%v", err)
		}
		a.URL, a.Branch = url, rev
	case "ExternalArtifact":
		url, branch, tree, err := externalArtifact(repo, ks, objs, ns, name)
		if err != nil {
			return fail("%v", err)
		}
		a.URL, a.Branch, a.Artifact = url, branch, tree
	case "Bucket":
		return fail("its source is Bucket %s/%s, not Git; name the target in .kubectl-gitops.yaml if a directory of this repository is what the bucket holds", ns, name)
	default:
		return fail("spec.sourceRef.kind %q is not a Flux source (GitRepository, OCIRepository, ExternalArtifact, Bucket)", kind)
	}
	return a, nil
}

// FluxPath is a Kustomization's spec.path as kustomize-controller resolves it within its
// source's root: "./staging" and "/staging" are "staging", and the root (an empty path) is ".";
// ".." cannot leave the root.
func FluxPath(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "."
	}
	return c
}

// gitSource is the URL of a GitRepository and the reference it follows, as source-controller
// picks among them: commit, then name, semver, tag, branch; with none, the branch master.
func gitSource(src Object) (url, ref string) {
	url = str(src.Obj, "spec", "url")
	for _, f := range []string{"commit", "name", "semver", "tag", "branch"} {
		if v := str(src.Obj, "spec", "ref", f); v != "" {
			return url, v
		}
	}
	return url, "master"
}

// ociSource is the Git repository and revision an OCIRepository's artifact was pushed from, as
// `flux push artifact --source --revision` records them: in the status source-controller writes
// (read from a cluster), or in the object's own annotations. Offline, a repository's
// OCIRepository has neither, and the pushed path is recorded nowhere: the Kustomization's path
// is then taken as relative to the Git repository's root.
func ociSource(src Object) (url, revision string, err error) {
	meta, _, _ := unstructured.NestedStringMap(src.Obj.Object, "status", "artifact", "metadata")
	ann := src.Obj.GetAnnotations()
	pick := func(k string) string {
		if v := meta[k]; v != "" {
			return v
		}
		return ann[k]
	}
	url, revision = pick(OCISourceAnnotation), pick(OCIRevisionAnnotation)
	if url == "" {
		return "", "", fmt.Errorf("its source OCIRepository %s (%s) records no Git source (the %s annotation that `flux push artifact --source` writes is not known offline); name the target in .kubectl-gitops.yaml", objectName(src), str(src.Obj, "spec", "url"), OCISourceAnnotation)
	}
	// `flux push artifact --revision=main@sha1:0123...` is the documented form.
	if ref, _, ok := strings.Cut(revision, "@"); ok && ref != "" {
		revision = ref
	}
	return url, revision, nil
}

// find is the object of that group, kind, namespace and name among objs. A repository may
// define it once per cluster directory: the one whose file shares the longest directory with
// from's wins (the first on a tie), and one read from a cluster (no file) first of all.
func find(objs []Object, from Object, grp, kind, ns, name string) (Object, bool) {
	best, bestScore := Object{}, -1
	for _, o := range objs {
		if o.Obj == nil || o.Kind() != kind || group(o.Obj) != grp || o.Name() != name || o.Namespace() != ns {
			continue
		}
		score := sharedDirs(from.File, o.File)
		if o.File == "" {
			score = 1 << 20
		}
		if score > bestScore {
			best, bestScore = o, score
		}
	}
	return best, bestScore >= 0
}

// sharedDirs counts the leading directories files a and b share.
func sharedDirs(a, b string) int {
	da, db := strings.Split(path.Dir(a), "/"), strings.Split(path.Dir(b), "/")
	n := 0
	for n < len(da) && n < len(db) && da[n] == db[n] && da[n] != "." {
		n++
	}
	return n
}

func where(o Object) string {
	if o.File == "" {
		return "read from the cluster"
	}
	return "defined in " + o.File
}

func objectName(o Object) string {
	if o.Namespace() == "" {
		return o.Name()
	}
	return o.Namespace() + "/" + o.Name()
}

func str(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
