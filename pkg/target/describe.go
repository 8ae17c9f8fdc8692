package target

import (
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// Kinds of target, as Describe names them.
const (
	KindFluxKustomization = "Flux Kustomization"
	KindFluxHelmRelease   = "Flux HelmRelease"
	KindArgoApplication   = "Argo CD Application"
	KindConfig            = "config"
	KindFallback          = "fallback path"
)

// Where a target was found, as Describe says it.
const (
	FoundRepository = "repository"
	FoundCluster    = "cluster"
	FoundConfig     = "config"
	FoundFallback   = "fallback"
)

// Description says what a target is and why it is one, for `kubectl gitops targets`.
type Description struct {
	// Name is how --target names it.
	Name string
	// Kind is KindFluxKustomization, KindFluxHelmRelease, KindArgoApplication, KindConfig or
	// KindFallback.
	Kind string
	// Reconciler is the reconciler object as --target takes it (kustomization/flux-system/apps,
	// with @DIR when several directories of the repository define it); "" for other kinds.
	Reconciler string
	// SourceField is the field of an Argo CD Application the target is one source of
	// (spec.sources[1]), "" when it has one source.
	SourceField string
	// Path is the repository directory rendered; for a path in an artifact (Artifact), the
	// repository directory it is copied from, when one is.
	Path string
	// ArtifactPath is the path rendered in the artifact, when Artifact is set.
	ArtifactPath string
	// URL and Branch are the Git repository and the branch (or revision) the reconciler follows,
	// or the configured branch.
	URL, Branch string
	// Artifact names the Flux source the path is in when it is assembled from the repository
	// (ExternalArtifact flux-system/apps); "" for the repository itself.
	Artifact string
	// Found is where the target was found: FoundRepository, FoundCluster, FoundConfig or
	// FoundFallback.
	Found string
	// File is the repository file that defines the reconciler object or the configured target.
	File string
	// GeneratedBy names the ApplicationSet that generates the Application (applicationset/NS/NAME).
	GeneratedBy string
	// AppliedBy names the Flux Kustomization that applies a HelmRelease target's HelmRelease.
	AppliedBy string
}

// Describe says what t is, from what discovery found (Discover).
func Describe(t Target) Description {
	d := Description{Name: t.Name, Path: t.Path, Branch: t.Branch, URL: t.RemoteURL}
	a := t.Applied
	switch {
	case a != nil:
		d.Reconciler = a.Reconciler.Ref()
		if _, dir, ok := strings.Cut(t.Name, "@"); ok {
			dir, _, _ = strings.Cut(dir, "[")
			d.Reconciler += "@" + dir
		}
		d.URL, d.Branch, d.File = a.URL, a.Branch, a.Reconciler.File
		d.Found = FoundRepository
		if a.Reconciler.File == "" {
			d.Found = FoundCluster
		}
		if reconciler.IsArgoApplication(a.Reconciler) {
			d.Kind = KindArgoApplication
			if f := reconciler.ArgoSourceField(a.Reconciler.Obj, a.Source); f != "spec.source" {
				d.SourceField = f
			}
			for _, ref := range a.Reconciler.Obj.GetOwnerReferences() {
				if ref.Kind == "ApplicationSet" {
					d.GeneratedBy = "applicationset/" + a.Reconciler.Namespace() + "/" + ref.Name
				}
			}
		} else if a.Release != nil {
			// The HelmRelease is the reconciler of its chart's objects; the Kustomization that
			// applies it says where its values are written.
			d.Kind, d.AppliedBy = KindFluxHelmRelease, d.Reconciler
			d.Reconciler, d.File = a.Release.Ref(), a.Release.File
		} else {
			d.Kind = KindFluxKustomization
			if a.Artifact != nil {
				d.Artifact = fluxSourceName(a.Reconciler)
				d.ArtifactPath = a.Path // t.Path is the repository directory it is copied from
			}
		}
	case t.Source == SourceConfig:
		d.Kind, d.Found, d.File = KindConfig, FoundConfig, ConfigFile
	case t.Source == SourceFlux:
		// A path named by Kustomizations whose sources could not be followed (Scan
		// says why).
		d.Kind, d.Found = KindFluxKustomization, FoundRepository
	case t.Source == SourceArgoCD:
		d.Kind, d.Found = KindArgoApplication, FoundRepository
	default:
		d.Kind, d.Found = KindFallback, FoundFallback
	}
	return d
}

// fluxSourceName names a Flux Kustomization's source as "KIND NAMESPACE/NAME".
func fluxSourceName(k reconciler.Object) string {
	kind := str(k.Obj.Object, "spec", "sourceRef", "kind")
	ns := str(k.Obj.Object, "spec", "sourceRef", "namespace")
	if ns == "" {
		ns = k.Namespace()
	}
	return kind + " " + ns + "/" + str(k.Obj.Object, "spec", "sourceRef", "name")
}
