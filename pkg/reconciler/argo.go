package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ArgoGroup is the API group of Argo CD's Applications and ApplicationSets.
const ArgoGroup = "argoproj.io"

// The source types of Argo CD's repo-server, as it names them.
const (
	ArgoKustomize = "Kustomize"
	ArgoDirectory = "Directory"
	ArgoHelm      = "Helm"
	ArgoPlugin    = "Plugin"
)

// IsArgoApplication reports whether o is an Argo CD Application.
func IsArgoApplication(o Object) bool { return isArgo(o, "Application") }

// IsArgoApplicationSet reports whether o is an Argo CD ApplicationSet.
func IsArgoApplicationSet(o Object) bool { return isArgo(o, "ApplicationSet") }

func isArgo(o Object, kind string) bool {
	return o.Obj != nil && o.Obj.GroupVersionKind().Group == ArgoGroup && o.Kind() == kind
}

// describe names an object and where it is defined, for messages.
func describe(o Object) string {
	s := fmt.Sprintf("%s %s/%s", o.Kind(), o.Namespace(), o.Name())
	if o.File != "" {
		s += fmt.Sprintf(" (%s, document %d)", o.File, o.Doc+1)
	}
	return s
}

// ArgoSkipped is a source of an Argo CD Application that is not rendered from this repository's
// directories, and why: a Helm chart (the Helm renderer's), a $values reference, another
// repository, a Config Management Plugin.
type ArgoSkipped struct {
	Reconciler Object
	Source     int
	Reason     string
}

func (s ArgoSkipped) String() string {
	return fmt.Sprintf("%s %s: %s", describe(s.Reconciler), ArgoSourceField(s.Reconciler.Obj, s.Source), s.Reason)
}

// ArgoApplied is what the Argo CD Applications among objs apply from the repository at root,
// whose own remote is repoURL: one Applied for each source that Argo CD's repo-server renders
// from a directory of this repository with kustomize or as plain manifests. ApplicationSets
// among objs are expanded into the Applications they generate (ExpandApplicationSet). An
// Application defined in a directory another Application applies (app of apps) is one of objs
// like any other. Sources rendered otherwise are returned as skipped; objects that cannot be
// read are errors naming them. With repoURL "" every Git source is taken as this repository.
func ArgoApplied(objs []Object, root, repoURL string) ([]Applied, []ArgoSkipped, []error) {
	fsys := os.DirFS(root)
	var applied []Applied
	var skipped []ArgoSkipped
	var errs []error
	add := func(o Object) {
		a, s, err := argoApplied(o, fsys, repoURL)
		applied, skipped = append(applied, a...), append(skipped, s...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range objs {
		switch {
		case IsArgoApplication(o):
			add(o)
		case IsArgoApplicationSet(o):
			apps, err := ExpandApplicationSet(o, fsys, repoURL)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, a := range apps {
				add(a)
			}
		}
	}
	return applied, skipped, errs
}

func argoApplied(o Object, fsys fs.FS, repoURL string) ([]Applied, []ArgoSkipped, error) {
	if spec, _ := o.Obj.Object["spec"].(map[string]any); spec["sourceHydrator"] != nil {
		return nil, []ArgoSkipped{{Reconciler: o, Reason: "spec.sourceHydrator: Argo CD applies the hydrated branch, which this repository's directories do not hold"}}, nil
	}
	srcs, multi, err := argoSources(o.Obj)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", describe(o), err)
	}
	var applied []Applied
	var skipped []ArgoSkipped
	for i, s := range srcs {
		skip := func(format string, args ...any) {
			skipped = append(skipped, ArgoSkipped{Reconciler: o, Source: i, Reason: fmt.Sprintf(format, args...)})
		}
		url, _ := s["repoURL"].(string)
		chart, _ := s["chart"].(string)
		ref, _ := s["ref"].(string)
		p, _ := s["path"].(string)
		switch {
		case url == "":
			return nil, nil, fmt.Errorf("%s: %s has no repoURL", describe(o), ArgoSourceField(o.Obj, i))
		case chart != "" && o.File == "":
			skip("Helm chart %s from %s: an Application read from the cluster, whose values no file of this repository holds", chart, url)
			continue
		case chart != "":
			// A chart from a Helm or OCI repository: its values are in the Application's file
			// and in $REF/… files of this repository; the target is the Application's directory.
			applied = append(applied, Applied{Reconciler: o, Source: i, URL: repoURL, Branch: argoRefRevision(srcs, repoURL), Path: path.Dir(o.File)})
			continue
		case strings.HasPrefix(url, "oci://"):
			skip("OCI artifact %s: not a Git repository", url)
			continue
		case multi && p == "" && ref != "":
			skip("reference $%s to %s: read by other sources (Helm value files), renders nothing itself", ref, url)
			continue
		case repoURL != "" && !SameRepository(url, repoURL):
			skip("repository %s is not this one (%s)", url, repoURL)
			continue
		}
		src, err := ReadArgoSource(o.Obj, i, fsys)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", describe(o), err)
		}
		switch src.Type {
		case ArgoPlugin:
			skip("Config Management Plugin: its output cannot be rendered here")
			continue
		}
		rev, _ := s["targetRevision"].(string)
		if rev == "" {
			rev = "HEAD"
		}
		applied = append(applied, Applied{Reconciler: o, Source: i, URL: url, Branch: rev, Path: src.Path})
	}
	return applied, skipped, nil
}

// argoRefRevision is the revision the Application's ref source of this repository (url) follows,
// "HEAD" when it has none.
func argoRefRevision(srcs []map[string]any, url string) string {
	for _, s := range srcs {
		u, _ := s["repoURL"].(string)
		ref, _ := s["ref"].(string)
		rev, _ := s["targetRevision"].(string)
		if ref != "" && rev != "" && (url == "" || SameRepository(u, url)) {
			return rev
		}
	}
	return "HEAD"
}

// argoSources are an Application's sources: spec.sources when it has any (multi), else
// spec.source, as Argo CD reads them.
func argoSources(app *unstructured.Unstructured) (srcs []map[string]any, multi bool, err error) {
	spec, _ := app.Object["spec"].(map[string]any)
	if list, ok := spec["sources"].([]any); ok && len(list) > 0 {
		for i, s := range list {
			m, ok := s.(map[string]any)
			if !ok {
				return nil, false, fmt.Errorf("spec.sources[%d] is not a mapping", i)
			}
			srcs = append(srcs, m)
		}
		return srcs, true, nil
	}
	m, ok := spec["source"].(map[string]any)
	if !ok {
		return nil, false, errors.New("it has neither spec.source nor spec.sources")
	}
	return []map[string]any{m}, false, nil
}

// ArgoSourceField is the field of an Application that holds its source i: spec.source, or
// spec.sources[i] for an Application with several.
func ArgoSourceField(app *unstructured.Unstructured, i int) string {
	if app != nil {
		spec, _ := app.Object["spec"].(map[string]any)
		if list, ok := spec["sources"].([]any); ok && len(list) > 0 {
			return fmt.Sprintf("spec.sources[%d]", i)
		}
	}
	return "spec.source"
}

// ArgoSource is one source of an Argo CD Application as the repo-server renders it.
type ArgoSource struct {
	// Field is the Application's field that holds it (spec.source, spec.sources[1]).
	Field string
	// Spec is the source with the repository's parameter overrides merged in: the files
	// .argocd-source.yaml and .argocd-source-<application>.yaml of its path, in that order,
	// as JSON merge patches of everything but repoURL, path, targetRevision and chart.
	Spec map[string]any
	// Path is its directory, repository-relative and clean ("." for the root).
	Path string
	// Type is how the repo-server renders it: ArgoKustomize, ArgoDirectory, ArgoHelm, ArgoPlugin.
	Type string
	// SetBy tells, for each option the override files set ("kustomize.images", "directory"),
	// the last file (repository-relative) that set it; options missing here are the
	// Application's own.
	SetBy map[string]string
}

// argoSourceFiles are the parameter override files the repo-server merges into a source.
func argoSourceFiles(appName string) []string {
	return []string{".argocd-source.yaml", ".argocd-source-" + appName + ".yaml"}
}

// ReadArgoSource reads source i of the Application app from the repository fsys, as Argo CD's
// repo-server does before it renders it: the parameter override files of its path merged in,
// its type explicit (the source's kustomize, helm, directory or plugin block; two are an
// error) or else discovered from the directory's files (a kustomization: Kustomize; a file
// named *Chart.yaml: Helm; otherwise Directory). Config Management Plugins that match a
// directory by discovery rules are not known here.
func ReadArgoSource(app *unstructured.Unstructured, i int, fsys fs.FS) (*ArgoSource, error) {
	srcs, _, err := argoSources(app)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(srcs) {
		return nil, fmt.Errorf("the Application has no source %d", i)
	}
	field := ArgoSourceField(app, i)
	raw, _ := srcs[i]["path"].(string)
	p, err := cleanSourcePath(raw)
	if err != nil {
		return nil, fmt.Errorf("%s.path: %w", field, err)
	}
	src := &ArgoSource{Field: field, Path: p, Spec: srcs[i], SetBy: map[string]string{}}
	if err := src.mergeOverrides(fsys, app.GetName()); err != nil {
		return nil, err
	}
	if src.Type, err = argoSourceType(src.Spec); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if chart, _ := src.Spec["chart"].(string); chart != "" {
		src.Type = ArgoHelm
	}
	if src.Type == "" {
		src.Type = discoverArgoType(fsys, p)
	}
	return src, nil
}

// cleanSourcePath is a source's path relative to the repository root: Argo CD joins it to the
// checkout, so a leading slash is the root and a path out of it is refused.
func cleanSourcePath(raw string) (string, error) {
	p := path.Clean(strings.TrimLeft(strings.TrimSpace(raw), "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%q leads out of the repository", raw)
	}
	return p, nil
}

// mergeOverrides merges the parameter override files of the source's path into Spec.
func (s *ArgoSource) mergeOverrides(fsys fs.FS, appName string) error {
	merged := s.Spec
	for _, name := range argoSourceFiles(appName) {
		rel := path.Join(s.Path, name)
		b, err := fs.ReadFile(fsys, rel)
		if errors.Is(err, fs.ErrNotExist) || isDirErr(fsys, rel, err) {
			continue
		}
		if err != nil {
			return err
		}
		patch, err := yaml.YAMLToJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		doc, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		out, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		var next map[string]any
		if err := json.Unmarshal(out, &next); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		merged = next
		var set map[string]any
		if err := json.Unmarshal(patch, &set); err == nil {
			for k, v := range set {
				s.SetBy[k] = rel
				if m, ok := v.(map[string]any); ok {
					for kk := range m {
						s.SetBy[k+"."+kk] = rel
					}
				}
			}
		}
	}
	if len(s.SetBy) == 0 {
		return nil
	}
	// Only the options of the config management tools come from the files.
	for _, k := range []string{"repoURL", "path", "targetRevision", "chart"} {
		if v, ok := s.Spec[k]; ok {
			merged[k] = v
		} else {
			delete(merged, k)
		}
		delete(s.SetBy, k)
	}
	s.Spec = merged
	return nil
}

// isDirErr: an override file name that is a directory is not an override file.
func isDirErr(fsys fs.FS, rel string, err error) bool {
	if err == nil {
		return false
	}
	st, serr := fs.Stat(fsys, rel)
	return serr == nil && st.IsDir()
}

// argoSourceType is the type a source's own blocks make explicit ("" for none), as
// ApplicationSource.ExplicitType says it.
func argoSourceType(spec map[string]any) (string, error) {
	var types []string
	for _, b := range []struct{ key, typ string }{
		{"kustomize", ArgoKustomize}, {"helm", ArgoHelm}, {"directory", ArgoDirectory}, {"plugin", ArgoPlugin},
	} {
		if v, ok := spec[b.key]; ok && v != nil {
			types = append(types, b.typ)
		}
	}
	switch len(types) {
	case 0:
		return "", nil
	case 1:
		return types[0], nil
	}
	return "", fmt.Errorf("multiple application sources defined: %s", strings.Join(types, ","))
}

// kustomizationNames are the files that make a directory a kustomization for Argo CD.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// discoverArgoType is the type of a source without an explicit one, from the files of its
// directory: a kustomization wins over a chart, as in the repo-server's discovery (its walk
// meets the chart first and records the kustomization after it).
func discoverArgoType(fsys fs.FS, dir string) string {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return ArgoDirectory
	}
	typ := ArgoDirectory
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch {
		case slices.Contains(kustomizationNames, e.Name()):
			return ArgoKustomize
		case strings.HasSuffix(e.Name(), "Chart.yaml"):
			typ = ArgoHelm
		}
	}
	return typ
}
