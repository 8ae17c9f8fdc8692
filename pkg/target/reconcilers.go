package target

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// withReconcilers makes the targets of a repository that holds reconciler objects: one target
// for each thing a Flux Kustomization or an Argo CD Application (the ones ApplicationSets
// generate included) applies from it, with the reconciler's own options (Target.Applied). ts are
// the targets found by path alone, returned as they are when files hold no reconciler object.
// Reconcilers whose sources or paths cannot be followed are left out: warnings say which.
func withReconcilers(repoDir string, ts []Target, files []string) ([]Target, []string) {
	if len(files) == 0 {
		return ts, nil
	}
	objs, warnings := readReconcilers(repoDir, files)
	var argo []reconciler.Object
	for _, o := range objs {
		if reconciler.IsArgoApplication(o) || reconciler.IsArgoApplicationSet(o) {
			argo = append(argo, o)
		}
	}
	remotes, branches := repository(repoDir)
	// The URL the reconcilers know this repository by: the first remote (the current branch's,
	// then the others: origin may be one's fork) that a source of theirs names; "" when none
	// does (a clone of a mirror, a copy): then no reconciler is taken for another repository's.
	url := ""
	named := sourceURLs(objs)
	for _, r := range remotes {
		if slices.ContainsFunc(named, func(s string) bool { return reconciler.SameRepository(r, s) }) {
			url = r
			break
		}
	}
	var applied []reconciler.Applied
	if len(argo) > 0 {
		a, _, errs := reconciler.ArgoApplied(argo, repoDir, url)
		applied = append(applied, a...)
		for _, err := range errs {
			warnings = append(warnings, err.Error())
		}
	}
	flux, errs := reconciler.FluxApplied(os.DirFS(repoDir), objs)
	for _, err := range errs {
		warnings = append(warnings, err.Error())
	}
	// A Kustomization of another Git repository (a hub's GitRepository of a tenant's
	// repository) applies none of this one's directories. This repository's URLs are url and
	// those of the sources of Kustomizations that apply their own file (a cluster's flux-system
	// syncing the repository); a Kustomization whose GitRepository the
	// files lack is taken to apply this one too (URL ""). When none of these is known (no remote
	// that a source names, no self-syncing Kustomization), all are kept.
	var self []string
	if url != "" {
		self = append(self, url)
	}
	known := false
	for _, a := range flux {
		// (A path "." holds every file: it tells nothing, as a tenant's Kustomization shows.)
		if a.URL != "" && strings.HasPrefix(a.Reconciler.File, a.Path+"/") {
			self = append(self, a.URL)
		}
		known = known || a.URL == ""
	}
	for _, a := range flux {
		known = known || slices.ContainsFunc(self, func(u string) bool { return reconciler.SameRepository(a.URL, u) })
	}
	for _, a := range flux {
		if known && a.URL != "" && !strings.HasPrefix(a.URL, "oci://") &&
			!slices.ContainsFunc(self, func(u string) bool { return reconciler.SameRepository(a.URL, u) }) {
			continue
		}
		applied = append(applied, a)
	}
	applied, warnings = onBranches(applied, url, branches, warnings)
	if len(applied) == 0 {
		return ts, warnings
	}
	// A reconciler defined once per cluster directory (clusters/staging/apps.yaml and
	// clusters/production/apps.yaml both define flux-system/apps) is named with that directory.
	files4ref := map[string]map[string]bool{}
	for _, a := range applied {
		ref := a.Reconciler.Ref()
		if files4ref[ref] == nil {
			files4ref[ref] = map[string]bool{}
		}
		files4ref[ref][a.Reconciler.File] = true
	}
	out := make([]Target, 0, len(applied))
	for i := range applied {
		a := &applied[i]
		if a.Artifact == nil && !isDir(filepath.Join(repoDir, filepath.FromSlash(a.Path))) {
			warnings = append(warnings, fmt.Sprintf("%s in %s applies %s, which is not a directory of the repository", a.Reconciler.Ref(), a.Reconciler.File, a.Path))
			continue
		}
		name := a.Reconciler.Ref()
		if len(files4ref[name]) > 1 {
			name += "@" + path.Dir(a.Reconciler.File)
		}
		if a.Source > 0 {
			name += fmt.Sprintf("[%d]", a.Source)
		}
		t := Target{Name: name, RepoDir: repoDir, Path: a.Path, Applied: a}
		if a.Artifact != nil {
			// A change is placed in the repository's files: the target's path is the
			// directory the artifact's path is copied from, when one is.
			if p, ok := reconciler.ArtifactLookup(a.Artifact, a.Path); ok && isDir(filepath.Join(repoDir, filepath.FromSlash(p))) {
				t.Path = p
			}
		}
		switch {
		case reconciler.IsArgoApplication(a.Reconciler):
			t.Source = SourceArgoCD
			t.Namespace = str(a.Reconciler.Obj.Object, "spec", "destination", "namespace")
		default:
			t.Source = SourceFlux
			t.Namespace = str(a.Reconciler.Obj.Object, "spec", "targetNamespace")
		}
		out = append(out, t)
	}
	return append(out, helmTargets(repoDir, out, objs)...), warnings
}

// helmTargets are the Flux HelmReleases the Kustomization targets apply: one target each, what
// helm-controller installs (the release's chart rendered with its values). A HelmRelease in a
// base that two environments' Kustomizations read is two targets, one per environment.
func helmTargets(repoDir string, ts []Target, objs []reconciler.Object) []Target {
	var releases, sources []reconciler.Object
	for _, o := range objs {
		if o.Obj.GroupVersionKind().Group == fluxSourceGroup {
			sources = append(sources, o)
		}
		// A document without a chart is a patch of a HelmRelease (an environment's values),
		// not one.
		spec, _ := o.Obj.Object["spec"].(map[string]any)
		chart, _ := spec["chart"].(map[string]any)
		chartSpec, _ := chart["spec"].(map[string]any)
		if reconciler.IsFluxHelmRelease(o) && (chartSpec["sourceRef"] != nil || spec["chartRef"] != nil) {
			releases = append(releases, o)
		}
	}
	if len(releases) == 0 {
		return nil
	}
	var out []Target
	refs := map[string]int{}
	for _, t := range ts {
		if t.Applied == nil || !reconciler.IsFluxKustomization(t.Applied.Reconciler) || t.Applied.Artifact != nil {
			continue
		}
		var includes []string
		read := false
		for _, r := range releases {
			if !read {
				includes, _ = IncludedDirs(repoDir, t.Path)
				read = true
			}
			if !readsFile(repoDir, t.Path, includes, r.File) {
				continue
			}
			a := *t.Applied
			rel := r
			a.Release, a.Sources = &rel, sources
			ht := t
			ht.Name, ht.Applied = r.Ref(), &a
			if ns := r.Namespace(); ns != "" {
				ht.Namespace = ns
			}
			refs[ht.Name]++
			out = append(out, ht)
		}
	}
	// A HelmRelease that several Kustomizations apply is named with the path of each.
	for i := range out {
		if refs[out[i].Name] > 1 {
			out[i].Name += "@" + out[i].Path
		}
	}
	return out
}

// readsFile tells whether the target directory dir, whose kustomizations include the files and
// directories includes, reads file as a manifest: a file its kustomizations list, or, in a
// directory without a kustomization (which Flux reads whole), any file below it.
func readsFile(repoDir, dir string, includes []string, file string) bool {
	if kustomizationFile(filepath.Join(repoDir, filepath.FromSlash(dir))) == "" {
		return dir == "." || strings.HasPrefix(file, strings.TrimSuffix(dir, "/")+"/")
	}
	return slices.Contains(includes, file)
}

// onBranches leaves out, with a warning each, the reconcilers of this repository that follow
// another of its branches than branches (the checked-out one and the remote's default): this
// checkout does not hold what they apply (a tenant on its own branch). Nothing is left out
// when branches is empty.
func onBranches(applied []reconciler.Applied, url string, branches, warnings []string) ([]reconciler.Applied, []string) {
	if len(branches) == 0 {
		return applied, warnings
	}
	kept := applied[:0]
	for _, a := range applied {
		other := a.Branch != "" && a.Branch != "HEAD" && !slices.Contains(branches, a.Branch) &&
			!strings.HasPrefix(a.URL, "oci://") && (a.URL == "" || reconciler.SameRepository(a.URL, url))
		if other {
			warnings = append(warnings, fmt.Sprintf("%s in %s follows branch %s, not %s: check it out to change what it applies", a.Reconciler.Ref(), a.Reconciler.File, a.Branch, strings.Join(branches, " or ")))
			continue
		}
		kept = append(kept, a)
	}
	return kept, warnings
}

// readReconcilers reads the Flux and Argo CD objects of files.
func readReconcilers(repoDir string, files []string) ([]reconciler.Object, []string) {
	var out []reconciler.Object
	var warnings []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(f)))
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		objs, err := reconciler.DecodeObjects(f, data)
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		for _, o := range objs {
			group := o.Obj.GroupVersionKind().Group
			if strings.HasSuffix(group, ".fluxcd.io") || group == argoGroup {
				out = append(out, o)
			}
		}
	}
	return out, warnings
}

// sourceURLs are the repository URLs the reconciler objects name: Argo CD Applications' and
// ApplicationSet templates' repoURL, Flux GitRepositories' url.
func sourceURLs(objs []reconciler.Object) []string {
	var out []string
	for _, o := range objs {
		if o.Kind() == "GitRepository" {
			if u, _, _ := unstructured.NestedString(o.Obj.Object, "spec", "url"); u != "" {
				out = append(out, u)
			}
			continue
		}
		spec, _, _ := unstructured.NestedMap(o.Obj.Object, "spec")
		if reconciler.IsArgoApplicationSet(o) {
			spec, _, _ = unstructured.NestedMap(o.Obj.Object, "spec", "template", "spec")
		}
		srcs, _, _ := unstructured.NestedSlice(spec, "sources")
		if src, ok, _ := unstructured.NestedMap(spec, "source"); ok {
			srcs = append(srcs, src)
		}
		for _, s := range srcs {
			if m, ok := s.(map[string]any); ok {
				if u, _ := m["repoURL"].(string); u != "" {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// repository is what discovery knows of the checkout at repoDir: its remotes' URLs (the current
// branch's first, else origin's), and the branches a reconciler of it may follow for its files to
// be what it applies: the checked-out branch and the remote's default branch (none when the
// remote's default is not known locally).
func repository(repoDir string) (remotes, branches []string) {
	ctx := context.Background()
	c, err := openCheckout(ctx, ExecGit{}, repoDir)
	if err != nil || c == nil {
		return nil, nil
	}
	url := c.remoteURL()
	if url != "" {
		remotes = append(remotes, url)
	}
	for _, u := range c.remotes {
		if u != url {
			remotes = append(remotes, u)
		}
	}
	slices.Sort(remotes[min(1, len(remotes)):])
	for name, u := range c.remotes {
		if u != url {
			continue
		}
		out, err := ExecGit{}.Run(ctx, c.top, "symbolic-ref", "--quiet", "--short", "refs/remotes/"+name+"/HEAD")
		if def, ok := strings.CutPrefix(strings.TrimSpace(out), name+"/"); err == nil && ok {
			branches = append(branches, def)
			if c.branch != "" && c.branch != def {
				branches = append(branches, c.branch)
			}
		}
		break
	}
	return remotes, branches
}

// reconcilerFiles are the files of the scan that hold reconciler objects.
func (s *repoScan) reconcilerFiles() []string {
	var out []string
	for _, o := range s.objects {
		if o.file != "" && !slices.Contains(out, o.file) {
			out = append(out, o.file)
		}
	}
	slices.Sort(out)
	return out
}

// reconcilerFiles are the files the memo's tree knows to hold reconciler objects.
func (m *scanMemo) reconcilerFiles() []string {
	var out []string
	if m == nil || m.tree == nil {
		return nil
	}
	m.tree.number(func(_ uint32, d *memoDir, e *memoEntry) {
		if len(e.objects) > 0 {
			out = append(out, entryPath(d.path, e.name))
		}
	})
	slices.Sort(out)
	return out
}
