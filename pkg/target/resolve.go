package target

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// DefaultArgoNamespace is where Argo CD Applications live unless told otherwise.
const DefaultArgoNamespace = "argocd"

// ResolveOptions is what Resolve needs to find the target of a change.
type ResolveOptions struct {
	// Cwd is the directory the command runs in; default the process's.
	Cwd string
	// Repo, Path and Target are the --repo, --path and --target flags.
	Repo   string
	Path   string
	Target string
	// Context is the current kubeconfig context.
	Context string
	// Live is the object being changed, as the cluster has it; its GitOps labels lead to the
	// reconciler's object when neither flags nor the configuration decide. May be nil.
	Live *unstructured.Unstructured
	// Client reads Flux and Argo CD objects; needed when Live is followed.
	Client dynamic.Interface
	// Mapper, when set, maps the reconcilers' kinds to resources (and their served versions);
	// without it the current versions (Flux v1/v2, Argo CD v1alpha1) are used.
	Mapper meta.RESTMapper
	// ArgoNamespace is where Argo CD Applications live; default DefaultArgoNamespace.
	ArgoNamespace string
	// CacheDir holds the tool's own clones, as <host>/<path> below it; default
	// os.UserCacheDir()/kubectl-gitops/repos.
	CacheDir string
	// Git runs git; default ExecGit.
	Git Git
}

// NoTargetError says that no target was found, and what was tried.
type NoTargetError struct {
	Object string   // the object being changed, "" when none
	Tried  []string // one line per source
}

func (e *NoTargetError) Error() string {
	var b strings.Builder
	b.WriteString("no repository and path found")
	if e.Object != "" {
		b.WriteString(" for " + e.Object)
	}
	b.WriteString("; tried:")
	for _, t := range e.Tried {
		b.WriteString("\n  - " + t)
	}
	b.WriteString("\ngive them with --repo DIR --path PATH (or --target NAME), or, if the object is not in a repository yet, add it with `kubectl gitops capture`")
	return b.String()
}

// Resolve finds the target of a change, in this order (SPEC §3.1):
//
//  1. the --repo, --path and --target flags;
//  2. the .kubectl-gitops.yaml of the repository containing Cwd: the target whose context is
//     the current context, else its only target;
//  3. the live object's labels: the Flux Kustomization (directly, or through the HelmRelease
//     that made the object) and its GitRepository, or the Argo CD Application.
//
// A target found through labels lives in the repository containing Cwd when one of that
// repository's remotes is the reconciler's URL; otherwise in the tool's own clone below CacheDir,
// cloned, or fetched and hard-reset to the followed branch (Cached is then true).
//
// It returns beside the target the snapshot of the discovery it ran to find it (the flags
// choose among the repository's targets), nil when it ran none.
func Resolve(ctx context.Context, o ResolveOptions) (*Target, *Snapshot, error) {
	if o.Git == nil {
		o.Git = ExecGit{}
	}
	if o.ArgoNamespace == "" {
		o.ArgoNamespace = DefaultArgoNamespace
	}
	if o.Cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, nil, fmt.Errorf("failed to find the current directory: %w", err)
		}
		o.Cwd = wd
	}
	r := &resolver{o: o}
	if o.Repo != "" || o.Path != "" || o.Target != "" {
		return r.fromFlags(ctx)
	}

	tried := []string{"flags: none of --repo, --path, --target given"}
	co, err := openCheckout(ctx, o.Git, o.Cwd)
	if err != nil {
		return nil, nil, err
	}
	var cfg *Config
	var sameContext []Target
	if co == nil {
		tried = append(tried, fmt.Sprintf("config: %s is not in a git repository", o.Cwd))
	} else {
		if cfg, err = LoadConfig(co.top); err != nil {
			return nil, nil, err
		}
		var t *Target
		var note string
		t, sameContext, note = pickConfigTarget(cfg, co.top, o.Context)
		if t != nil {
			r.completeLocal(ctx, t, co)
			return t, nil, nil
		}
		tried = append(tried, note)
	}

	t, note, err := r.fromLive(ctx)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		tried = append(tried, note)
		if len(sameContext) > 1 {
			return nil, nil, fmt.Errorf("targets %s of %s all have context %q: choose one with --target", targetNames(sameContext), cfg.File, o.Context)
		}
		return nil, nil, &NoTargetError{Object: objectName(o.Live), Tried: tried}
	}
	if err := r.locate(ctx, t, co); err != nil {
		return nil, nil, err
	}
	definedHere(t)
	if t.Path == "" {
		return nil, nil, fmt.Errorf("%s renders a chart of a Helm repository with values from %s, which defines no such Application: give the repository that does with --repo DIR --target NAME", t.Name, t.RemoteURL)
	}
	if err := applyConfig(t); err != nil {
		return nil, nil, err
	}
	return t, nil, nil
}

type resolver struct {
	o ResolveOptions
}

// pickConfigTarget picks the configured target for context: the one with that context, else
// the only target if it names no other context. It returns the targets sharing the context when
// they are several, and a note on what it found otherwise.
func pickConfigTarget(cfg *Config, repoDir, context string) (*Target, []Target, string) {
	if cfg == nil {
		return nil, nil, fmt.Sprintf("config: no %s in %s", ConfigFile, repoDir)
	}
	if len(cfg.Targets) == 0 {
		return nil, nil, fmt.Sprintf("config: %s has no targets", cfg.File)
	}
	var match []Target
	for _, t := range cfg.targets(repoDir) {
		if context != "" && t.Context == context {
			match = append(match, t)
		}
	}
	if len(match) == 1 {
		return &match[0], nil, ""
	}
	if len(match) > 1 {
		return nil, match, fmt.Sprintf("config: targets %s of %s all have context %q", targetNames(match), cfg.File, context)
	}
	if len(cfg.Targets) == 1 && (cfg.Targets[0].Context == "" || context == "") {
		t := cfg.target(repoDir, cfg.Targets[0])
		return &t, nil, ""
	}
	var list []string
	for _, t := range cfg.Targets {
		c := t.Context
		if c == "" {
			c = "none"
		}
		list = append(list, fmt.Sprintf("%s (context %s)", t.Name, c))
	}
	return nil, nil, fmt.Sprintf("config: no target of %s has context %q; it has %s", cfg.File, context, strings.Join(list, ", "))
}

func targetNames(ts []Target) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// fromFlags resolves --repo, --path and --target.
func (r *resolver) fromFlags(ctx context.Context) (*Target, *Snapshot, error) {
	o := r.o
	scope := o.Cwd
	if o.Repo != "" {
		scope = o.Repo
		if !filepath.IsAbs(scope) {
			scope = filepath.Join(o.Cwd, scope)
		}
		if !isDir(scope) {
			return nil, nil, fmt.Errorf("--repo %s: not a directory", o.Repo)
		}
	}
	co, err := openCheckout(ctx, o.Git, scope)
	if err != nil {
		return nil, nil, err
	}
	if co == nil {
		if o.Repo == "" {
			return nil, nil, fmt.Errorf("%s is not in a git repository: give the repository with --repo DIR", o.Cwd)
		}
		return nil, nil, fmt.Errorf("--repo %s: not in a git repository", o.Repo)
	}
	cfg, err := LoadConfig(co.top)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		cfg = &Config{}
	}
	s, _, err := Scan(co.top, cfg)
	if err != nil {
		return nil, nil, err
	}
	all := s.Targets

	var t *Target
	switch {
	case o.Target != "":
		if t, err = matchTarget(all, o.Target); err != nil {
			return nil, nil, fmt.Errorf("--target %s: %w", o.Target, err)
		}
		if t == nil {
			return nil, nil, fmt.Errorf("--target %s: no such target in %s; its targets are: %s", o.Target, co.top, listTargets(all))
		}
		if o.Path != "" {
			p, err := r.flagPath(co.top)
			if err != nil {
				return nil, nil, err
			}
			if p != t.Path {
				return nil, nil, fmt.Errorf("--target %s has path %s, not --path %s: give one of them", o.Target, t.Path, o.Path)
			}
		}
	case o.Path != "":
		p, err := r.flagPath(co.top)
		if err != nil {
			return nil, nil, err
		}
		t = &Target{Name: p, RepoDir: co.top, Path: p, Secrets: cfg.Secrets}
		for i := range all {
			// A HelmRelease's target is named with --target: a path is its Kustomization's.
			if all[i].Path == p && !all[i].isRelease() && (t.Source == "" || all[i].Context == o.Context) {
				t = &all[i]
			}
		}
	default:
		rel, _ := relInside(co.top, scope)
		var in []Target
		for _, c := range all {
			if !c.isRelease() && (rel == "." || c.Path == rel || strings.HasPrefix(c.Path, rel+"/")) {
				in = append(in, c)
			}
		}
		switch len(in) {
		case 0:
			return nil, nil, fmt.Errorf("--repo %s: found no kustomization, manifests, Flux Kustomization or Argo CD Application; give the directory to render with --path", o.Repo)
		case 1:
			t = &in[0]
		default:
			var note string
			if t, note, err = r.pickLive(ctx, in); err != nil {
				return nil, nil, err
			}
			if t == nil {
				return nil, nil, &AmbiguousError{Repo: o.Repo, Targets: in, Live: note}
			}
		}
	}
	out := *t // a copy: t may point into all
	out.Source = SourceFlags
	r.completeLocal(ctx, &out, co)
	return &out, s, nil
}

// AmbiguousError says that --repo alone names several targets, and the live object's labels
// (when it was read) did not pick one of them.
type AmbiguousError struct {
	Repo    string
	Targets []Target
	// Live says what the live object's labels named instead, when it was read.
	Live string
}

func (e *AmbiguousError) Error() string {
	msg := fmt.Sprintf("--repo %s has %d targets: %s; choose one with --path PATH or --target NAME", e.Repo, len(e.Targets), listTargets(e.Targets))
	if e.Live != "" {
		msg += " (" + e.Live + ")"
	}
	return msg
}

// pickLive picks, among the candidates of --repo, the target whose reconciler object the live
// object's labels name (the same chart rendered by two environments' Applications, told apart
// by Argo CD's tracking). Nil when there is no live object, or its labels name none of them,
// with a note saying what they name.
func (r *resolver) pickLive(ctx context.Context, in []Target) (*Target, string, error) {
	if r.o.Live == nil {
		return nil, "", nil
	}
	lt, note, err := r.fromLive(ctx)
	if err != nil || lt == nil {
		return nil, note, err
	}
	for i := range in {
		a := in[i].Applied
		if a == nil || a.Reconciler.Ref() != lt.Applied.Reconciler.Ref() || (lt.Path != "" && in[i].Path != lt.Path) || a.Source != lt.Applied.Source {
			continue
		}
		t := in[i]
		t.HelmRelease = lt.HelmRelease
		return &t, "", nil
	}
	return nil, fmt.Sprintf("labels: %s is applied by %s, which is none of them", objectName(r.o.Live), lt.Applied.Reconciler.Ref()), nil
}

// matchTarget finds the target named name: a configured target's name, a reconciler object as
// KIND/NAMESPACE/NAME (any case of KIND) or by its name alone, either with @DIR when several
// cluster directories define it (apps@clusters/staging, as commit subjects name it), or @DIR
// alone. A name that fits several targets is an error listing them; nil when none fits.
func matchTarget(all []Target, name string) (*Target, error) {
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	want := strings.ToLower(name)
	wantRef, wantDir, withDir := strings.Cut(want, "@")
	var found []*Target
	for i := range all {
		n := strings.ToLower(all[i].Name)
		ref, dir, _ := strings.Cut(n, "@")
		ref, _, _ = strings.Cut(ref, "[")
		if withDir && dir != wantDir {
			continue
		}
		parts := strings.Split(ref, "/")
		if n == want || ref == wantRef || wantRef == "" || (all[i].Applied != nil && len(parts) >= 2 && parts[len(parts)-1] == wantRef) {
			found = append(found, &all[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	var names []string
	for _, t := range found {
		names = append(names, fmt.Sprintf("%s (%s)", t.Name, t.Path))
	}
	return nil, fmt.Errorf("it names %d targets: %s; give the one you mean", len(found), strings.Join(names, ", "))
}

func listTargets(ts []Target) string {
	if len(ts) == 0 {
		return "none"
	}
	return targetNames(ts)
}

// flagPath finds --path as a directory in the repository: as given when absolute, else relative
// to the current directory, to --repo, or to the repository root, the first that exists. It
// returns the clean repository-relative path.
func (r *resolver) flagPath(top string) (string, error) {
	o := r.o
	var cands []string
	if filepath.IsAbs(o.Path) {
		cands = []string{o.Path}
	} else {
		cands = append(cands, filepath.Join(o.Cwd, o.Path))
		if o.Repo != "" {
			repo := o.Repo
			if !filepath.IsAbs(repo) {
				repo = filepath.Join(o.Cwd, repo)
			}
			cands = append(cands, filepath.Join(repo, o.Path))
		}
		cands = append(cands, filepath.Join(top, o.Path))
	}
	for _, c := range cands {
		if !isDir(c) {
			continue
		}
		if rel, ok := relInside(top, c); ok {
			return rel, nil
		}
	}
	return "", fmt.Errorf("--path %s: not a directory in repository %s (give it relative to the repository root or the current directory)", o.Path, top)
}

// relInside returns p relative to top, slash-separated, if p is inside top.
func relInside(top, p string) (string, bool) {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	if real, err := filepath.EvalSymlinks(top); err == nil {
		top = real
	}
	rel, err := filepath.Rel(top, p)
	if err != nil {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

// completeLocal fills in what the user's checkout says about a target found in it.
func (r *resolver) completeLocal(ctx context.Context, t *Target, co *checkout) {
	t.RepoDir = co.top
	if t.Branch == "" {
		t.Branch = co.branch
	}
	t.RemoteURL = co.remoteURL()
	if t.Context == "" {
		t.Context = r.o.Context
	}
}

// locate finds a working tree for a target found through the cluster: the user's checkout
// when one of its remotes is the target's URL, else the tool's cached clone.
func (r *resolver) locate(ctx context.Context, t *Target, co *checkout) error {
	what := fmt.Sprintf("path %s of Flux Kustomization %s", t.Path, t.Name)
	if t.Source == SourceArgoCD {
		what = fmt.Sprintf("path %s of Argo CD Application %s", t.Path, t.Name)
	}
	if co != nil {
		if remote, ok := co.remoteFor(t.RemoteURL); ok {
			t.RepoDir, t.Cached = co.top, false
			if t.Branch == "" {
				b, err := r.localDefaultBranch(ctx, co, remote)
				if err != nil {
					return err
				}
				t.Branch = b
			}
			if !isDir(filepath.Join(co.top, filepath.FromSlash(t.Path))) {
				return fmt.Errorf("%s is not a directory in your checkout %s (on branch %s; the cluster follows %s): check out %s, or run from outside the checkout to use the tool's own clone", what, co.top, co.branch, t.Branch, t.Branch)
			}
			return nil
		}
	}
	cache := r.o.CacheDir
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("failed to find the cache directory for the tool's clone of %s: %w", t.RemoteURL, err)
		}
		cache = filepath.Join(base, "kubectl-gitops", "repos")
	}
	dir := filepath.Join(cache, cacheSubdir(t.RemoteURL))
	b, err := syncClone(ctx, r.o.Git, t.RemoteURL, t.Branch, dir)
	if err != nil {
		return err
	}
	t.RepoDir, t.Branch, t.Cached = dir, b, true
	if !isDir(filepath.Join(dir, filepath.FromSlash(t.Path))) {
		return fmt.Errorf("%s is not a directory in %s on branch %s", what, t.RemoteURL, b)
	}
	return nil
}

// localDefaultBranch is the default branch of a remote of the user's checkout: what the
// remote's HEAD points at locally, else what the remote says.
func (r *resolver) localDefaultBranch(ctx context.Context, co *checkout, remote string) (string, error) {
	if out, err := r.o.Git.Run(ctx, co.top, "symbolic-ref", "--quiet", "--short", "refs/remotes/"+remote+"/HEAD"); err == nil {
		if b, ok := strings.CutPrefix(strings.TrimSpace(out), remote+"/"); ok {
			return b, nil
		}
	}
	return remoteDefaultBranch(ctx, r.o.Git, co.top, remote)
}

// applyConfig takes secrets settings, and the name and namespace of a configured target with the
// same path, from the configuration of the repository the target was found in.
func applyConfig(t *Target) error {
	cfg, err := LoadConfig(t.RepoDir)
	if err != nil || cfg == nil {
		return err
	}
	t.Secrets = cfg.Secrets
	var match []TargetConfig
	for _, tc := range cfg.Targets {
		if p, _ := cleanRepoPath(tc.Path); p == t.Path {
			match = append(match, tc)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].Context == t.Context && match[j].Context != t.Context })
	if len(match) > 0 {
		tc := match[0]
		t.Name = tc.Name
		t.Secrets = cfg.Secrets.Merge(tc.Secrets)
		if t.Namespace == "" {
			t.Namespace = tc.Namespace
		}
	}
	return nil
}
