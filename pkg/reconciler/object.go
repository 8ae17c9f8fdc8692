// Package reconciler reads the objects of Flux and Argo CD that say what a cluster applies from
// Git (Flux Kustomizations and their sources, Argo CD Applications and ApplicationSets), from a
// repository's manifests or a cluster, and tells what each one applies: which directory of
// which repository, with which of the reconciler's own options. It renders nothing (pkg/render
// applies the options) and decides nothing about targets (pkg/target does).
package reconciler

import (
	"fmt"
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
}
