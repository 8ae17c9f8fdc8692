// Package target decides which repository, path, branch and cluster a change goes to: from the
// --repo/--path/--target flags, from the repository's .kubectl-gitops.yaml, or from the live
// object's Flux and Argo CD labels, which lead to the Kustomization or Application that applies
// it and to the Git repository that holds its source. It also lists every target of a repository
// (Discover), which the closed loop renders again after a change.
package target

import (
	"fmt"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Where a Target came from.
const (
	SourceFlags      = "flags"
	SourceConfig     = "config"
	SourceFlux       = "flux"
	SourceArgoCD     = "argocd"
	SourceDiscovered = "discovered"
)

// Target is one path in a config repository that a reconciler renders for a cluster.
type Target struct {
	// Name is the config target's name, the Flux Kustomization or Argo CD Application name, or
	// the path.
	Name string
	// RepoDir is the local worktree root: the user's checkout or the tool's cached clone.
	RepoDir string
	// Path is the slash-separated, repository-relative directory that is rendered
	// ("overlays/staging", ".").
	Path string
	// Branch is the branch the reconciler follows (flux, argocd), the configured branch, or the
	// checkout's current branch.
	Branch string
	// RemoteURL is the repository's URL: the reconciler's source URL, or the checkout's remote.
	RemoteURL string
	// Context is the kubeconfig context of the cluster the target is applied to, when known.
	Context string
	// Namespace is the default namespace for objects without one, when known.
	Namespace string
	// Source is how the target was found: SourceFlags, SourceConfig, SourceFlux, SourceArgoCD
	// or SourceDiscovered.
	Source string
	// Cached is true when RepoDir is the tool's own clone: fetch before a change, push after
	// committing.
	Cached bool
	// Secrets says how Secrets written into this target are encrypted.
	Secrets SecretsConfig
	// HelmRelease is the Flux HelmRelease that made the live object, when one did; its values
	// in Path, not the object itself, render the object.
	HelmRelease *ObjectRef
	// Applied is what the reconciler that applies Path applies from it, its own options
	// included; nil for a directory rendered as kustomize renders it (flags, configuration,
	// fallback).
	Applied *reconciler.Applied
}

// ShortName names the target briefly, for commit subjects: a reconciler's target by the
// reconciler object's name (with the directory that defines it, when Name has one), any other
// by Name.
func (t Target) ShortName() string {
	if t.Applied == nil {
		return t.Name
	}
	short := t.Applied.Reconciler.Name()
	if _, dir, ok := strings.Cut(t.Name, "@"); ok {
		short += "@" + dir
	}
	return short
}

// isRelease tells the target of a Flux HelmRelease (what helm-controller installs from it).
func (t Target) isRelease() bool { return t.Applied != nil && t.Applied.Release != nil }

// Key names the target among the renders of its repository (render.Key).
func (t Target) Key() string { return render.Key(t.Path, t.Applied) }

func (t Target) String() string {
	if t.Name == "" || t.Name == t.Path {
		return t.Path
	}
	return fmt.Sprintf("%s (%s)", t.Name, t.Path)
}

// Snapshot is what one discovery learned of a repository: its targets, and what it read on the
// way, which later steps of the same command (the closed loop, the render cache) take instead of
// reading it again. Beside the targets it is only a hint: without it they read it themselves,
// with the same result.
type Snapshot struct {
	// Targets are the repository's targets, as Discover lists them.
	Targets []Target
	// Includes are, by target path, the repository-relative files and directories the target's
	// kustomizations include (as IncludedDirs lists them), for the targets whose kustomizations
	// discovery read.
	Includes map[string][]string
	// Stats are the stats discovery took of the repository's files (nil when it did not scan):
	// the render cache checks its inputs with them instead of stat'ing each again, while the
	// index is as it was then.
	Stats *FileStats
}

// FileStats are stats of a repository's regular YAML files, by repository-relative path, taken
// while its index had the stamp Index (gitrepo.Repo.IndexStamp): a commit made since (by another
// invocation that held the lock meanwhile) may have changed them.
type FileStats struct {
	Files map[string]fsstat.Stat
	Index string
}

// ObjectRef names an object in the cluster.
type ObjectRef struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}
