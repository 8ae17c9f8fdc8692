package render

import (
	"crypto/sha256"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// renderArgoHelm renders an Argo CD Application's Helm source whose chart is the directory dir
// of the repository, as the repo-server's `helm template` does: its value files (paths from the
// chart's directory, or $REF/… of another source of this repository), values or valuesObject
// and parameters, release name and namespace; ok is false for a source that is not a chart.
func renderArgoHelm(fsys *overlayFS, root, dir string, opts Options) (res *Result, ok bool, err error) {
	app := opts.Applied.Reconciler
	name := fmt.Sprintf("Argo CD Application %s/%s", app.Namespace(), app.Name())
	obj, err := currentReconciler(fsys, root, app, reconciler.IsArgoApplication, "Argo CD Application")
	if err != nil {
		return nil, true, err
	}
	src, err := reconciler.ReadArgoSource(obj, opts.Applied.Source, repoFS{o: fsys, root: root})
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", name, err)
	}
	if src.Type != reconciler.ArgoHelm {
		return nil, false, nil
	}
	chartName := str(src.Spec, "chart")
	var ch *helm.Chart
	if chartName != "" {
		// A chart of a Helm repository (or an OCI registry: a repoURL without a scheme).
		url := str(src.Spec, "repoURL")
		ref := helm.ChartRef{RepoURL: url, Chart: chartName, Version: str(src.Spec, "targetRevision")}
		argoNS := app.Namespace()
		if argoNS == "" {
			argoNS = "argocd"
		}
		// Credentials that cannot be read matter only when the repository is asked.
		creds, cerr := argoCredentials(opts.Cluster, argoNS, url)
		ref.Credentials = creds
		if !strings.Contains(url, "://") {
			ref.RepoURL = "oci://" + url
		}
		fsys.markOutside()
		ch, err = fetchRepoChart(ref)
		if err != nil && cerr != nil {
			err = fmt.Errorf("%w (%v)", err, cerr)
		}
	} else {
		ch, err = loadChartDir(fsys, root, src.Path)
	}
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: %w", name, src.Field, err)
	}
	hs := mapAt(src.Spec, "helm")
	rel := &Release{Application: &reconciler.Object{File: app.File, Doc: app.Doc, Obj: obj}, Field: src.Field}
	var in helm.ArgoInput
	in.IgnoreMissingValueFiles, _ = hs["ignoreMissingValueFiles"].(bool)
	refs := argoRefs(obj.Object, opts.Applied.URL)
	files, _ := hs["valueFiles"].([]any)
	for i, f := range files {
		s, _ := f.(string)
		if chartName != "" && !strings.HasPrefix(s, "$") {
			// A file of the fetched chart.
			in.ValueFiles = append(in.ValueFiles, ch.ValuesFile(s))
			continue
		}
		p, err := argoValueFile(src.Path, s, refs)
		if err != nil {
			return nil, true, fmt.Errorf("%s %s.helm.valueFiles[%d]: %w", name, src.Field, i, err)
		}
		b, rerr := fsys.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		in.ValueFiles = append(in.ValueFiles, helm.ValuesFile{Path: s, Data: b, Missing: rerr != nil})
		if rerr == nil {
			v := map[string]any{}
			if yaml.Unmarshal(b, &v) == nil {
				rel.Layers = append(rel.Layers, ValuesLayer{Kind: "valuesFile", File: p, Values: v})
			}
		}
	}
	if vo := mapAt(hs, "valuesObject"); vo != nil {
		in.ValuesObject = vo
		rel.Layers = append(rel.Layers, ValuesLayer{Kind: "valuesObject", File: app.File, Key: src.Field + ".helm.valuesObject", Values: vo})
	} else if s, _ := hs["values"].(string); s != "" {
		in.Values = s
		v := map[string]any{}
		if yaml.Unmarshal([]byte(s), &v) == nil {
			rel.Layers = append(rel.Layers, ValuesLayer{Kind: "values", File: app.File, Key: src.Field + ".helm.values", Values: v})
		}
	}
	params, _ := hs["parameters"].([]any)
	for _, p := range params {
		m := asMap(p)
		fs, _ := m["forceString"].(bool)
		in.Parameters = append(in.Parameters, helm.ArgoParameter{Name: str(m, "name"), Value: fmt.Sprint(m["value"]), ForceString: fs})
	}
	if len(params) > 0 {
		rel.Layers = append(rel.Layers, ValuesLayer{Kind: "parameters", File: app.File, Key: src.Field + ".helm.parameters"})
	}
	values, err := helm.ArgoValues(in)
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: %w", name, src.Field, err)
	}
	release, _ := hs["releaseName"].(string)
	if release == "" {
		release = app.Name()
	}
	ns := str(obj.Object, "spec", "destination", "namespace")
	skipCRDs, _ := hs["skipCrds"].(bool)
	skipTests, _ := hs["skipTests"].(bool)
	rel.Chart, rel.Values, rel.Options = ch, values, helm.Options{ReleaseName: release, Namespace: ns, IncludeCRDs: !skipCRDs, SkipTests: skipTests}
	rel.Defaults = map[string]any{}
	if f := ch.ValuesFile("values.yaml"); !f.Missing {
		v := map[string]any{}
		if yaml.Unmarshal(f.Data, &v) == nil {
			rel.Defaults = v
		}
	}
	out, err := helm.Render(ch, values, rel.Options)
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: %w", name, src.Field, err)
	}
	docs, templates := chartDocs(out)
	res = &Result{Path: dir, Key: Key(dir, opts.Applied), Release: rel}
	layer := fmt.Sprintf("%s %s chart %s", name, src.Field, ch.Name())
	for i, d := range docs {
		u, err := decodeDoc(d)
		if err != nil {
			return nil, true, fmt.Errorf("%s: chart %s: %w", name, ch.Name(), err)
		}
		if u == nil {
			continue
		}
		u = withNamespace(u, ns)
		gvk := u.GroupVersionKind()
		id := ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
		o := NewObject(id, Origin{Doc: -1, Name: u.GetName(), Namespace: u.GetNamespace(), Layer: layer + " " + templates[i]}, u)
		o.version = gvk.Version
		res.Objects = append(res.Objects, o)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, true, err
		}
		res.docs = append(res.docs, b)
	}
	res.Inputs, res.Dirs, res.dirSums = fsys.Inputs(), fsys.Dirs(), fsys.dirs
	res.sums = make(map[string][sha256.Size]byte, len(res.Inputs))
	for _, p := range res.Inputs {
		if sum, ok := fsys.sums[p]; ok {
			res.sums[p] = sum
		}
	}
	// A chart's render is not cached: the cache stores kustomize's renders.
	res.outside, res.Cacheable = fsys.outside, false
	return res, true, nil
}

// argoRefs are the references ($NAME) that an Application's sources of this repository (url)
// declare.
func argoRefs(app map[string]any, url string) map[string]bool {
	out := map[string]bool{}
	srcs, _ := mapAt(app, "spec")["sources"].([]any)
	for _, s := range srcs {
		m := asMap(s)
		if ref := str(m, "ref"); ref != "" && (url == "" || reconciler.SameRepository(str(m, "repoURL"), url)) {
			out[ref] = true
		}
	}
	return out
}

// argoValueFile is the repository path of a value file as a Helm source names it: relative to
// the chart's directory, or $REF/PATH from the root of the repository another source
// references (this repository: Argo CD's own sources of other repositories are not followed).
func argoValueFile(chartDir, name string, refs map[string]bool) (string, error) {
	if strings.HasPrefix(name, "$") {
		ref, rest, _ := strings.Cut(name[1:], "/")
		if !refs[ref] {
			return "", fmt.Errorf("%s: no source of the Application is ref %s", name, ref)
		}
		return cleanInRepo(rest)
	}
	return cleanInRepo(path.Join(chartDir, name))
}

// cleanInRepo is p cleaned, refused when it leaves the repository.
func cleanInRepo(p string) (string, error) {
	c := path.Clean(strings.TrimPrefix(p, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s leaves the repository", p)
	}
	return c, nil
}
