// Package reconciler reads the objects of Flux and Argo CD that say what a cluster applies from
// Git (Flux Kustomizations and their sources, Argo CD Applications and ApplicationSets), from a
// repository's manifests or a cluster, and tells what each one applies: which directory of
// which repository, with which of the reconciler's own options. It renders nothing (pkg/render
// applies the options) and decides nothing about targets (pkg/target does).
package reconciler

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Object is a reconciler object: where it is defined and its content.
type Object struct {
	// File is the repository-relative file that defines it, Doc its document (0-based); File
	// is "" for an object read from a cluster.
	File string
	Doc  int
	Obj  *unstructured.Unstructured
}

// Kind, Namespace and Name are the object's.
func (o Object) Kind() string      { return o.Obj.GetKind() }
func (o Object) Namespace() string { return o.Obj.GetNamespace() }
func (o Object) Name() string      { return o.Obj.GetName() }

// Ref names the object as --target takes it: kustomization/flux-system/apps.
func (o Object) Ref() string {
	if o.Namespace() == "" {
		// A document that names no namespace (the kustomization that lists it, or kubectl,
		// gives it one): KIND/NAME, as kubectl names it.
		return fmt.Sprintf("%s/%s", strings.ToLower(o.Kind()), o.Name())
	}
	return fmt.Sprintf("%s/%s/%s", strings.ToLower(o.Kind()), o.Namespace(), o.Name())
}

// Applied is one directory a reconciler applies from a Git repository: what a target is.
type Applied struct {
	// Reconciler is the Flux Kustomization or Argo CD Application (or the Application an
	// ApplicationSet generates) that applies it.
	Reconciler Object
	// Source is the index of the Application's spec.sources entry (0 for spec.source, and for
	// Flux).
	Source int
	// URL and Branch are the Git repository's and the branch (or revision) the reconciler
	// follows, as its source says.
	URL, Branch string
	// Path is the directory it applies, relative to the repository's root.
	Path string
	// Artifact, for a source assembled from the repository (a Flux ExternalArtifact that an
	// ArtifactGenerator copies), maps each path of the artifact to the repository path it is
	// copied from, files and directories; Path is then a path in the artifact. A path that
	// maps to "" is not in the artifact (an exclude left it out of a directory copied with
	// it). Nil: the source is the repository itself.
	Artifact map[string]string
	// Release, when set, is a Flux HelmRelease that Reconciler applies from Path: the target is
	// then what helm-controller installs from it (its chart rendered with its values), not
	// what the Kustomization applies.
	Release *Object
	// Sources are the Flux sources (HelmRepository, OCIRepository, GitRepository) the
	// repository defines, where a HelmRelease's chart source is looked up when the
	// Kustomization that applies the HelmRelease does not apply its source too.
	Sources []Object
}

// FluxHelmGroup is the API group of Flux's HelmRelease.
const FluxHelmGroup = "helm.toolkit.fluxcd.io"

// IsFluxHelmRelease reports whether o is a Flux HelmRelease.
func IsFluxHelmRelease(o Object) bool {
	return o.Obj != nil && o.Kind() == "HelmRelease" && group(o.Obj) == FluxHelmGroup
}

// Key names what a is among the targets of one repository: the reconciler, the file that
// defines it (one object may be defined once per cluster directory), and the source. Two
// reconcilers applying one directory with different options are two targets.
func (a *Applied) Key() string {
	k := fmt.Sprintf("%s@%s#%d", a.Reconciler.Ref(), a.Reconciler.File, a.Source)
	if a.Release != nil {
		k += fmt.Sprintf("/%s@%s#%d", a.Release.Ref(), a.Release.File, a.Release.Doc)
	}
	return k
}

// fluxOptions are the fields of a Flux Kustomization's spec that change what it applies beyond
// the kustomize build of its path.
var fluxOptions = []string{"targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components", "commonMetadata", "postBuild"}

// Plain tells whether the reconciler applies the directory exactly as kustomize builds it (Flux
// reads a directory without a kustomization as the render does too): no option of its own
// changes the objects, so the closed loop's partial renders, which model kustomize alone, hold.
// fsys is the repository (Argo CD merges override files of the source's directory in).
func (a *Applied) Plain(fsys fs.FS) bool {
	if a.Artifact != nil || a.Release != nil || a.Reconciler.Obj == nil {
		return false
	}
	obj := a.Reconciler.Obj
	switch {
	case obj.GroupVersionKind().Group == "kustomize.toolkit.fluxcd.io" && obj.GetKind() == "Kustomization":
		spec, _ := obj.Object["spec"].(map[string]any)
		for _, f := range fluxOptions {
			if v, ok := spec[f]; ok && v != nil {
				return false
			}
		}
		return true
	case IsArgoApplication(a.Reconciler):
		src, err := ReadArgoSource(obj, a.Source, fsys)
		if err != nil || src.Type != ArgoKustomize || len(src.SetBy) > 0 {
			return false
		}
		opts, _ := src.Spec["kustomize"].(map[string]any)
		for k := range opts {
			if k != "version" {
				return false
			}
		}
		return true
	}
	return false
}

// ChartReads are the repository paths a Helm target reads beyond its directory and what the
// kustomizations there include: for a Flux HelmRelease whose chart is in a GitRepository, the
// chart's directory and its valuesFiles (as the HelmRelease's file writes them; an overlay
// that changes them is read by the render, which the closed loop then follows); for an Argo CD
// Helm source, its chart's directory and its value files (relative to the chart, or $REF/…).
// fsys is the repository. Nil for other targets.
func (a *Applied) ChartReads(fsys fs.FS) []string {
	var out []string
	switch {
	case a.Release != nil && a.Release.Obj != nil:
		spec, _, _ := unstructured.NestedMap(a.Release.Obj.Object, "spec", "chart", "spec")
		ref, _ := spec["sourceRef"].(map[string]any)
		if kind, _ := ref["kind"].(string); kind != "GitRepository" {
			return nil
		}
		if chart, _ := spec["chart"].(string); chart != "" {
			out = append(out, FluxPath(chart))
		}
		files, _ := spec["valuesFiles"].([]any)
		for _, f := range files {
			if s, ok := f.(string); ok {
				out = append(out, FluxPath(s))
			}
		}
	case IsArgoApplication(a.Reconciler):
		src, err := ReadArgoSource(a.Reconciler.Obj, a.Source, fsys)
		if err != nil || src.Type != ArgoHelm {
			return nil
		}
		chart, _ := src.Spec["chart"].(string)
		if chart == "" {
			out = append(out, src.Path)
		}
		helm, _ := src.Spec["helm"].(map[string]any)
		files, _ := helm["valueFiles"].([]any)
		for _, f := range files {
			s, _ := f.(string)
			if strings.HasPrefix(s, "$") {
				_, rest, _ := strings.Cut(s, "/")
				out = append(out, FluxPath(rest))
			} else if s != "" && chart == "" {
				out = append(out, FluxPath(path.Join(src.Path, s)))
			}
		}
	}
	return out
}
