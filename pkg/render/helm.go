package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// Release is what a Flux HelmRelease target's render knows of its release besides the objects:
// the chart and the values helm-controller installs it with, for the change engine's search
// of the values key that drives a field (pkg/helmvalues).
type Release struct {
	// HelmRelease is the HelmRelease as the Kustomization renders it (a Flux release).
	HelmRelease *Object
	// Application and Field are the Argo CD Application and its source (spec.source,
	// spec.sources[0]) whose Helm chart this is (an Argo CD release).
	Application *reconciler.Object
	Field       string
	Chart       *helm.Chart
	// Values are the release's values, merged as helm-controller merges them; Defaults the
	// chart's (its values.yaml, or the valuesFiles source-controller packages in its place).
	Values   map[string]any
	Defaults map[string]any
	Options  helm.Options
	// PostRender applies the HelmRelease's post-renderers to the chart's objects, and the
	// labels and annotations helm-controller and Helm's install add.
	PostRender func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error)
	// Layers say, for each values key set, where it is set (see ValuesLayer).
	Layers []ValuesLayer
}

// ValuesLayer is one source of a release's values, in the order helm-controller merges them.
type ValuesLayer struct {
	// Kind is "valuesFile" (a file of the repository: File), "valuesFrom" (the ConfigMap or
	// Secret Object, key Key) or "values" (the HelmRelease's spec.values); for Argo CD also
	// "valuesObject", "values" (the YAML text) and "parameters" of the Application in File,
	// at the field Key.
	Kind   string
	File   string
	Object *Object
	Key    string
	Values map[string]any
}

// Render renders the release's chart with values, post-renderers applied: the objects
// helm-controller would apply.
func (r *Release) Render(values map[string]any) ([]*unstructured.Unstructured, error) {
	res, err := helm.Render(r.Chart, values, r.Options)
	if err != nil {
		return nil, err
	}
	docs, _ := chartDocs(res)
	objs, err := decodeDocs(docs)
	if err != nil {
		return nil, err
	}
	if r.PostRender != nil {
		if objs, err = r.PostRender(objs); err != nil {
			return nil, err
		}
	}
	for _, u := range objs {
		withNamespace(u, r.Options.Namespace)
	}
	return objs, nil
}

// decodeDocs decodes manifest documents, leaving out empty ones.
func decodeDocs(docs [][]byte) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		u, err := decodeDoc(d)
		if err != nil {
			return nil, err
		}
		if u != nil {
			out = append(out, u)
		}
	}
	return out, nil
}

// renderRelease renders the HelmRelease that opts.Applied.Release names, found among objs (the
// render of the Kustomization that applies it), as helm-controller installs it.
func renderRelease(fsys *overlayFS, root string, objs []*Object, opts Options) (*Release, []*Object, error) {
	want := opts.Applied.Release
	hr := findRelease(objs, want)
	if hr == nil {
		return nil, nil, fmt.Errorf("%s in %s is not among what %s applies", want.Ref(), want.File, opts.Applied.Reconciler.Ref())
	}
	obj := hr.Obj().Object
	name, ns := hr.ID.Name, hr.ID.Namespace
	what := fmt.Sprintf("HelmRelease %s/%s", ns, name)
	rel := &Release{HelmRelease: hr}
	ch, chartDir, chartSpec, err := releaseChart(fsys, root, objs, hr, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	in := helm.FluxInput{Values: mapAt(obj, "spec", "values")}
	in.IgnoreMissingValuesFiles, _, _ = unstructured.NestedBool(chartSpec, "ignoreMissingValuesFiles")
	files, _, _ := unstructured.NestedStringSlice(chartSpec, "valuesFiles")
	for _, f := range files {
		if chartDir == "" {
			vf := ch.ValuesFile(f)
			in.ValuesFiles = append(in.ValuesFiles, vf)
			continue
		}
		// A chart of a Git source: the files are paths in the source, the repository.
		p := reconciler.FluxPath(f)
		b, err := fsys.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		vf := helm.ValuesFile{Path: f, Data: b, Missing: err != nil}
		in.ValuesFiles = append(in.ValuesFiles, vf)
		if err == nil {
			v := map[string]any{}
			if yaml.Unmarshal(b, &v) == nil {
				rel.Layers = append(rel.Layers, ValuesLayer{Kind: "valuesFile", File: p, Values: v})
			}
		}
	}
	from, _, _ := unstructured.NestedSlice(obj, "spec", "valuesFrom")
	for i, f := range from {
		m, _ := f.(map[string]any)
		ref := helm.ValuesReference{Kind: str(m, "kind"), Name: str(m, "name"), ValuesKey: str(m, "valuesKey"), TargetPath: str(m, "targetPath")}
		ref.Optional, _ = m["optional"].(bool)
		key := ref.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		data, src, err := valuesFrom(objs, ref.Kind, ns, ref.Name, key, opts.Lookup)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: spec.valuesFrom[%d]: %w", what, i, err)
		}
		ref.Data, ref.Missing = data, data == nil
		in.ValuesFrom = append(in.ValuesFrom, ref)
		if data != nil && ref.TargetPath == "" && src != nil {
			v := map[string]any{}
			if yaml.Unmarshal(data, &v) == nil {
				rel.Layers = append(rel.Layers, ValuesLayer{Kind: "valuesFrom", Object: src, Key: key, Values: v})
			}
		}
	}
	rel.Layers = append(rel.Layers, ValuesLayer{Kind: "values", Object: hr, Values: in.Values})
	rel.Defaults = map[string]any{}
	defaults := in.ValuesFiles
	if len(defaults) == 0 {
		defaults = []helm.ValuesFile{ch.ValuesFile("values.yaml")}
	}
	for _, f := range defaults {
		v := map[string]any{}
		if !f.Missing && yaml.Unmarshal(f.Data, &v) == nil {
			rel.Defaults = mergeValues(rel.Defaults, v)
		}
	}
	ch, values, err := helm.FluxValues(ch, in)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	rel.Chart, rel.Values = ch, values
	rel.Options = releaseOptions(obj, name, ns)
	rel.PostRender = postRenderer(obj)
	res, err := helm.Render(ch, values, rel.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	docs, templates := chartDocs(res)
	// The template of each object, by kind and name (post-renderers may reorder them).
	templateOf := map[string]string{}
	var made []*unstructured.Unstructured
	for i, d := range docs {
		u, err := decodeDoc(d)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: chart %s: %s: %w", what, ch.Name(), templates[i], err)
		}
		if u != nil {
			made = append(made, u)
			templateOf[u.GetKind()+"/"+u.GetName()] = templates[i]
		}
	}
	if made, err = rel.PostRender(made); err != nil {
		return nil, nil, fmt.Errorf("%s: spec.postRenderers: %w", what, err)
	}
	layer := fmt.Sprintf("Flux HelmRelease %s/%s chart %s", ns, name, ch.Name())
	var out []*Object
	for _, u := range made {
		u = withNamespace(u, rel.Options.Namespace)
		gvk := u.GroupVersionKind()
		id := ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
		origin := Origin{Doc: -1, Name: u.GetName(), Namespace: u.GetNamespace(), Layer: layer}
		if t := templateOf[u.GetKind()+"/"+u.GetName()]; t != "" {
			origin.Layer += " " + t
		}
		o := NewObject(id, origin, u)
		o.version = gvk.Version
		out = append(out, o)
	}
	return rel, out, nil
}

// findRelease is the HelmRelease want among objs: the object its document renders as.
func findRelease(objs []*Object, want *reconciler.Object) *Object {
	var byName *Object
	for _, o := range objs {
		if o.ID.Kind != "HelmRelease" || o.ID.Group != reconciler.FluxHelmGroup {
			continue
		}
		if o.Origin.File == want.File && o.Origin.Doc == want.Doc {
			return o
		}
		if o.Origin.Name == want.Name() && (want.Namespace() == "" || o.Origin.Namespace == want.Namespace()) {
			byName = o
		}
	}
	return byName
}

// releaseChart loads the HelmRelease's chart: from a directory of this repository (a
// GitRepository source that is this repository; chartDir is then that directory), else from
// a Helm or OCI repository through the chart cache, else from the cluster's copy. spec is the
// chart's spec (spec.chart.spec, or that of the HelmChart spec.chartRef names) whose
// valuesFiles the chart is rendered with; nil for an OCIRepository's chart.
func releaseChart(fsys *overlayFS, root string, objs []*Object, hr *Object, opts Options) (ch *helm.Chart, chartDir string, spec map[string]any, err error) {
	obj := hr.Obj().Object
	ns := hr.ID.Namespace
	if ref := mapAt(obj, "spec", "chartRef"); ref != nil {
		kind, name, refNS := str(ref, "kind"), str(ref, "name"), str(ref, "namespace")
		if refNS == "" {
			refNS = ns
		}
		switch kind {
		case "OCIRepository":
			ch, err := chartRefChart(fsys, objs, name, refNS, opts)
			return ch, "", nil, err
		case "HelmChart":
			hc := findObject(objs, kind, refNS, name)
			if hc == nil {
				hc = findSource(opts.Applied.Sources, kind, refNS, name)
			}
			if hc == nil {
				return nil, "", nil, fmt.Errorf("HelmChart %s/%s (spec.chartRef) is defined neither in what %s applies nor elsewhere in the repository", refNS, name, opts.Applied.Reconciler.Ref())
			}
			spec := mapAt(hc.Obj().Object, "spec")
			// A HelmChart's source is in its own namespace.
			cp := chartCopy(spec, refNS, name)
			ch, dir, err := specChart(fsys, root, objs, spec, refNS, opts, cp)
			if err != nil {
				return nil, "", nil, fmt.Errorf("HelmChart %s/%s: %w", refNS, name, err)
			}
			return ch, dir, spec, nil
		}
		return nil, "", nil, fmt.Errorf("spec.chartRef kind %q is not rendered (OCIRepository and HelmChart are)", kind)
	}
	spec = mapAt(obj, "spec", "chart", "spec")
	if spec == nil {
		return nil, "", nil, errors.New("it has neither spec.chart nor spec.chartRef")
	}
	srcNS := str(spec, "sourceRef", "namespace")
	if srcNS == "" {
		srcNS = ns
	}
	// helm-controller makes the HelmChart <namespace>-<name> in the source's namespace
	// (HelmRelease.GetHelmChartName); source-controller's artifact of it is the chart.
	ch, chartDir, err = specChart(fsys, root, objs, spec, srcNS, opts, chartCopy(spec, srcNS, ns+"-"+hr.ID.Name))
	return ch, chartDir, spec, err
}

// chartCopy is the cluster's HelmChart ns/name, made from spec (a chart template's or a
// HelmChart's): it stands for the chart when it has the same chart, version and source.
func chartCopy(spec map[string]any, ns, name string) *clusterCopy {
	want := map[string]string{"chart": str(spec, "chart"), "version": str(spec, "version"),
		"sourceRef.kind": str(spec, "sourceRef", "kind"), "sourceRef.name": str(spec, "sourceRef", "name")}
	// The version helm-controller and the HelmChart CRD default to.
	defaults := map[string]string{"version": "*"}
	return &clusterCopy{kind: "HelmChart", namespace: ns, name: name, matches: func(obj map[string]any) error {
		return sameFields(obj, want, defaults)
	}}
}

// specChart loads the chart a chart spec names (chart, version, sourceRef; the sourceRef's
// namespace defaulting to srcNS).
func specChart(fsys *overlayFS, root string, objs []*Object, spec map[string]any, srcNS string, opts Options, cp *clusterCopy) (*helm.Chart, string, error) {
	chart := str(spec, "chart")
	src := mapAt(spec, "sourceRef")
	kind, srcName := str(src, "kind"), str(src, "name")
	if n := str(src, "namespace"); n != "" {
		srcNS = n
	}
	switch kind {
	case "GitRepository":
		if !sameSource(opts.Applied, objs, srcName, srcNS) {
			return nil, "", fmt.Errorf("its chart is in GitRepository %s/%s, another repository than this one", srcNS, srcName)
		}
		dir := reconciler.FluxPath(chart)
		ch, err := loadChartDir(fsys, root, dir)
		return ch, dir, err
	case "HelmRepository":
		repo := findObject(objs, "HelmRepository", srcNS, srcName)
		if repo == nil {
			repo = findSource(opts.Applied.Sources, "HelmRepository", srcNS, srcName)
		}
		if repo == nil {
			return nil, "", fmt.Errorf("HelmRepository %s/%s is defined neither in what %s applies nor elsewhere in the repository", srcNS, srcName, opts.Applied.Reconciler.Ref())
		}
		rspec := mapAt(repo.Obj().Object, "spec")
		fsys.markOutside()
		ref := helm.ChartRef{RepoURL: str(rspec, "url"), Chart: chart, Version: str(spec, "version")}
		ref.PlainHTTP, _ = rspec["insecure"].(bool)
		ch, err := fetchSourceChart(ref, rspec, "HelmRepository", srcNS, srcName, opts, cp)
		return ch, "", err
	}
	return nil, "", fmt.Errorf("its chart's source kind %q is not rendered (GitRepository or HelmRepository)", kind)
}

// fetchSourceChart fetches ref, a chart of the Flux source kind ns/name whose spec is spec,
// with the credentials of its spec.secretRef when the render is connected to the cluster.
func fetchSourceChart(ref helm.ChartRef, spec map[string]any, kind, ns, name string, opts Options, cp *clusterCopy) (*helm.Chart, error) {
	secret := str(spec, "secretRef", "name")
	// A chart the cache holds needs no credentials: a Secret that cannot be read matters only
	// when the repository is asked.
	creds, cerr := secretCredentials(opts.Lookup, ns, secret, urlHost(ref.RepoURL))
	ref.Credentials = creds
	ch, err := fetchChart(ref, opts.Cluster, cp)
	var unavailable *ChartUnavailableError
	switch {
	case err == nil || errors.As(err, &unavailable):
		return ch, err
	case cerr != nil:
		return nil, fmt.Errorf("%w (%s %s/%s: %v)", err, kind, ns, name, cerr)
	case secret != "" && opts.Lookup == nil:
		return nil, fmt.Errorf("%w (%s %s/%s's credentials, Secret %s/%s, are read from the cluster, and this command is not connected to it)", err, kind, ns, name, ns, secret)
	}
	return nil, err
}

// urlHost is the host (and port) of a repository URL.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// chartRefChart loads the chart of a HelmRelease's spec.chartRef OCIRepository ns/name: its
// artifact (its URL, and the tag, semver range or digest of its spec.ref), through the chart
// cache, else from the cluster's copy.
func chartRefChart(fsys *overlayFS, objs []*Object, name, ns string, opts Options) (*helm.Chart, error) {
	const kind = "OCIRepository"
	repo := findObject(objs, kind, ns, name)
	if repo == nil {
		repo = findSource(opts.Applied.Sources, kind, ns, name)
	}
	if repo == nil {
		return nil, fmt.Errorf("OCIRepository %s/%s is defined neither in what %s applies nor elsewhere in the repository", ns, name, opts.Applied.Reconciler.Ref())
	}
	spec := mapAt(repo.Obj().Object, "spec")
	ociURL := strings.TrimSuffix(str(spec, "url"), "/")
	i := strings.LastIndex(ociURL, "/")
	if !strings.HasPrefix(ociURL, "oci://") || i < len("oci://") {
		return nil, fmt.Errorf("OCIRepository %s/%s: spec.url %q is not oci://HOST/PATH/CHART", ns, name, ociURL)
	}
	r := mapAt(spec, "ref")
	version := str(r, "tag")
	if sv := str(r, "semver"); sv != "" {
		version = sv
	}
	cref := helm.ChartRef{RepoURL: ociURL[:i], Chart: ociURL[i+1:], Version: version, Digest: str(r, "digest")}
	cref.PlainHTTP, _ = spec["insecure"].(bool)
	want := map[string]string{"url": str(spec, "url"), "ref.tag": str(r, "tag"), "ref.semver": str(r, "semver"), "ref.digest": str(r, "digest")}
	cp := &clusterCopy{kind: kind, namespace: ns, name: name, matches: func(obj map[string]any) error {
		return sameFields(obj, want, nil)
	}}
	fsys.markOutside()
	return fetchSourceChart(cref, spec, kind, ns, name, opts, cp)
}

// sameSource tells whether the GitRepository ns/name is the repository the target applies:
// the Kustomization's own source, or one whose URL is its URL.
func sameSource(a *reconciler.Applied, objs []*Object, name, ns string) bool {
	ks := a.Reconciler.Obj.Object
	ref := mapAt(ks, "spec", "sourceRef")
	refNS := str(ref, "namespace")
	if refNS == "" {
		refNS = a.Reconciler.Namespace()
	}
	if str(ref, "kind") == "GitRepository" && str(ref, "name") == name && refNS == ns {
		return true
	}
	if g := findObject(objs, "GitRepository", ns, name); g != nil && a.URL != "" {
		return reconciler.SameRepository(str(g.Obj().Object, "spec", "url"), a.URL)
	}
	return false
}

func findObject(objs []*Object, kind, ns, name string) *Object {
	for _, o := range objs {
		if o.ID.Kind == kind && o.ID.Name == name && (o.ID.Namespace == ns || o.ID.Namespace == "") {
			return o
		}
	}
	return nil
}

// findSource is the source kind ns/name among the repository's sources, as an object of a render.
func findSource(sources []reconciler.Object, kind, ns, name string) *Object {
	for _, s := range sources {
		if s.Kind() == kind && s.Name() == name && (s.Namespace() == ns || s.Namespace() == "") {
			gvk := s.Obj.GroupVersionKind()
			return NewObject(ObjectID{Group: gvk.Group, Kind: kind, Namespace: ns, Name: name}, Origin{File: s.File, Doc: s.Doc}, s.Obj)
		}
	}
	return nil
}

// loadChartDir loads the chart in the repository's directory dir, recording what it reads.
func loadChartDir(fsys *overlayFS, root, dir string) (*helm.Chart, error) {
	abs := filepath.Join(root, filepath.FromSlash(dir))
	if !fsys.IsDir(abs) {
		return nil, fmt.Errorf("its chart %s is not a directory of the repository", dir)
	}
	var names []string
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := fsys.readDir(filepath.Join(abs, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(rel, e.Name())
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			names = append(names, p)
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	var ignore []byte
	if b, err := fsys.ReadFile(filepath.Join(abs, ".helmignore")); err == nil {
		ignore = b
	}
	keep, err := helm.ChartFiles(names, ignore)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	files := make(map[string][]byte, len(keep))
	for _, n := range keep {
		b, err := fsys.ReadFile(filepath.Join(abs, filepath.FromSlash(n)))
		if err != nil {
			return nil, err
		}
		files[n] = b
	}
	ch, err := helm.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	return ch, nil
}

// valuesFrom reads key of the ConfigMap or Secret ns/name: from the render (src is then the
// object), else through lookup (the cluster). Nil data: it does not exist.
func valuesFrom(objs []*Object, kind, ns, name, key string, lookup func(kind, namespace, name string) (map[string]string, error)) ([]byte, *Object, error) {
	if o := findObject(objs, kind, ns, name); o != nil {
		m := o.Obj().Object
		if _, sops := m["sops"]; !sops {
			if s, ok := mapAt(m, "stringData")[key].(string); ok {
				return []byte(s), o, nil
			}
			if s, ok := mapAt(m, "data")[key].(string); ok {
				if kind == "Secret" {
					b, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						return nil, nil, fmt.Errorf("Secret %s/%s key %s is not base64", ns, name, key)
					}
					return b, o, nil
				}
				return []byte(s), o, nil
			}
			return nil, o, nil
		}
	}
	if lookup == nil {
		return nil, nil, nil
	}
	data, err := lookup(kind, ns, name)
	if err != nil {
		return nil, nil, err
	}
	if v, ok := data[key]; ok {
		return []byte(v), nil, nil
	}
	return nil, nil, nil
}

// releaseOptions are the release's name and namespace as helm-controller chooses them, and
// whether CRDs are installed.
func releaseOptions(obj map[string]any, name, ns string) helm.Options {
	target := str(obj, "spec", "targetNamespace")
	release := str(obj, "spec", "releaseName")
	if release == "" {
		release = name
		if target != "" {
			release = target + "-" + name
		}
	}
	if len(release) > 53 {
		// helm-controller shortens a long name to 40 characters and a hash of the whole.
		sum := sha256.Sum256([]byte(release))
		release = release[:40] + "-" + hex.EncodeToString(sum[:])[:12]
	}
	if target == "" {
		target = ns
	}
	policy := str(obj, "spec", "install", "crds")
	return helm.Options{ReleaseName: release, Namespace: target, IncludeCRDs: policy != "Skip"}
}

// postRenderer applies spec.postRenderers' kustomize patches and images to the manifests, in
// order, as helm-controller does (nil when there are none).
func postRenderer(obj map[string]any) func([]*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	renderers, _, _ := unstructured.NestedSlice(obj, "spec", "postRenderers")
	// helm-controller labels every object with the HelmRelease that made it, after the user's
	// post-renderers.
	labels := map[string]any{"helm.toolkit.fluxcd.io/name": str(obj, "metadata", "name"), "helm.toolkit.fluxcd.io/namespace": str(obj, "metadata", "namespace")}
	// Helm's install marks every object it creates as the release's.
	release := releaseOptions(obj, str(obj, "metadata", "name"), str(obj, "metadata", "namespace"))
	labels["app.kubernetes.io/managed-by"] = "Helm"
	annotations := map[string]any{"meta.helm.sh/release-name": release.ReleaseName, "meta.helm.sh/release-namespace": release.Namespace}
	var kusts []map[string]any
	for _, r := range renderers {
		if k := mapAt(asMap(r), "kustomize"); k != nil {
			kusts = append(kusts, k)
		}
	}
	return func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
		for _, k := range kusts {
			var err error
			if objs, err = kustomizeObjects(objs, k); err != nil {
				return nil, err
			}
		}
		for _, u := range objs {
			l := u.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			for k, v := range labels {
				l[k] = v.(string)
			}
			u.SetLabels(l)
			a := u.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			for k, v := range annotations {
				a[k] = v.(string)
			}
			u.SetAnnotations(a)
		}
		return objs, nil
	}
}

// kustomizeObjects builds objs with a kustomization holding the post-renderer's patches and
// images, in memory.
func kustomizeObjects(objs []*unstructured.Unstructured, k map[string]any) ([]*unstructured.Unstructured, error) {
	var docs [][]byte
	for _, u := range objs {
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/r/manifests.yaml", bytes.Join(docs, []byte("\n---\n"))); err != nil {
		return nil, err
	}
	kust := map[string]any{"apiVersion": kustypes.KustomizationVersion, "kind": kustypes.KustomizationKind, "resources": []any{"manifests.yaml"}}
	for _, f := range []string{"patches", "images"} {
		if v, ok := k[f]; ok {
			kust[f] = v
		}
	}
	b, err := yaml.Marshal(kust)
	if err != nil {
		return nil, err
	}
	if err := fs.WriteFile("/r/kustomization.yaml", b); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/r")
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, m.Size())
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		out = append(out, y)
	}
	return decodeDocs(out)
}

// mergeValues merges src into dst map by map, src winning (dst is changed and returned).
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// chartDocs are a chart render's documents, CRDs first, with the template of each.
func chartDocs(res *helm.Result) (docs [][]byte, templates []string) {
	for _, list := range [][]helm.Document{res.CRDs, res.Manifests} {
		for _, d := range list {
			docs = append(docs, []byte(d.YAML))
			templates = append(templates, d.Template)
		}
	}
	return docs, templates
}

// decodeDoc decodes one manifest document (nil for an empty one); numbers as the API server's.
func decodeDoc(d []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(d)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// withNamespace gives a namespaced object without a namespace the release's, as Helm installs it.
func withNamespace(u *unstructured.Unstructured, ns string) *unstructured.Unstructured {
	gvk := u.GroupVersionKind()
	if u.GetNamespace() == "" && ns != "" && !resid.NewGvk(gvk.Group, gvk.Version, gvk.Kind).IsClusterScoped() {
		u.SetNamespace(ns)
	}
	return u
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// mapAt is the map at fields of m (nil when absent).
func mapAt(m map[string]any, fields ...string) map[string]any {
	cur := m
	for _, f := range fields {
		cur = asMap(cur[f])
		if cur == nil {
			return nil
		}
	}
	return cur
}

// str is the string at fields of m.
func str(m map[string]any, fields ...string) string {
	if len(fields) == 0 {
		return ""
	}
	s, _ := mapAt(m, fields[:len(fields)-1]...)[fields[len(fields)-1]].(string)
	return s
}

// joinDocs is documents as one YAML stream.
func joinDocs(docs [][]byte) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d)
	}
	return b.Bytes()
}
