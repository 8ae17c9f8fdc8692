// Package revdiff compares what the reconcilers apply at two revisions of a config repository,
// offline: for every target whose render differs, the unified diff of its rendered objects,
// Secret values masked. It renders only the targets that read a file that differs between the
// revisions, and renders another revision from the working tree's render (kept in the render
// cache) with the differing files in place, reduced as the closed loop reduces an edit's render.
package revdiff

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// WorkingTree names the working tree as the side of a comparison.
const WorkingTree = "working tree"

// Options say which two states of which repository to compare.
type Options struct {
	// Dir is the repository's working tree (or a directory in it).
	Dir string
	// From is the revision compared from (a branch, tag or commit).
	From string
	// To is the revision compared to; empty means the working tree, files not tracked
	// included.
	To string
	// Everything renders every target at both revisions whole, from their exported trees: what
	// a render-everything review diff does, and the plain path the fast one is checked against.
	Everything bool
}

// Report is the rendered difference between two revisions.
type Report struct {
	From       string `json:"from"`
	FromCommit string `json:"fromCommit"`
	To         string `json:"to"`
	ToCommit   string `json:"toCommit,omitempty"`
	// ChangedFiles are the files that differ between the revisions.
	ChangedFiles []string `json:"changedFiles"`
	// Rendered are the targets (by name) rendered at both revisions: those that read a changed
	// file, are new, gone, or defined differently.
	Rendered []string `json:"rendered"`
	// Targets are the targets whose render differs, or that failed to render at one revision
	// only or differently at each, in the order of their keys (render.Key: directory and
	// reconciler).
	Targets []TargetDiff `json:"targets"`
	// Unrendered are the targets rendered that fail alike at both revisions (a Flux
	// substitution from a ConfigMap only the cluster holds): what the change does to them
	// cannot be shown, and it did not break them. A render-everything run lists every such
	// target; the fast one those the change reaches.
	Unrendered []Unrendered `json:"unrendered,omitempty"`
}

// Unrendered is a target that renders at neither revision, and why.
type Unrendered struct {
	Target string `json:"target"`
	Path   string `json:"path"`
	Error  string `json:"error"`
}

// Target statuses.
const (
	StatusChanged = "changed" // renders differently
	StatusAdded   = "added"   // a target at To only
	StatusRemoved = "removed" // a target at From only
	StatusError   = "error"   // does not render at one of the revisions
)

// Object changes.
const (
	ObjectAdded   = "added"
	ObjectRemoved = "removed"
	ObjectChanged = "changed"
)

// TargetDiff is one target's rendered difference.
type TargetDiff struct {
	Target  string       `json:"target"`
	Path    string       `json:"path"`
	Status  string       `json:"status"`
	Error   string       `json:"error,omitempty"`
	Objects []ObjectDiff `json:"objects,omitempty"`
}

// ObjectDiff is one rendered object's difference: a unified diff of its YAML.
type ObjectDiff struct {
	Object string `json:"object"`
	Change string `json:"change"`
	Diff   string `json:"diff"`
}

// Different tells whether a target renders differently (or is new or gone).
func (r *Report) Different() bool {
	for _, t := range r.Targets {
		if t.Status != StatusError {
			return true
		}
	}
	return false
}

// Failed tells whether a target did not render at one of the revisions.
func (r *Report) Failed() bool {
	for _, t := range r.Targets {
		if t.Status == StatusError {
			return true
		}
	}
	return false
}

// ToName is how the report names the To side.
func (r *Report) ToName() string {
	if r.To == "" {
		return WorkingTree
	}
	return r.To
}

// Run compares the renders of two revisions.
func Run(ctx context.Context, o Options) (*Report, error) {
	dir := o.Dir
	if dir == "" {
		dir = "."
	}
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s is not in a git repository: %w", dir, err)
	}
	c := &comparison{ctx: ctx, top: strings.TrimSpace(string(out)), opts: o, exports: map[string]string{}}
	defer c.close()
	rep := &Report{From: o.From, To: o.To}
	if rep.FromCommit, err = resolve(ctx, c.top, o.From); err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if o.To != "" {
		if rep.ToCommit, err = resolve(ctx, c.top, o.To); err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
	}
	if rep.ChangedFiles, err = changedPaths(ctx, c.top, rep.FromCommit, rep.ToCommit); err != nil {
		return nil, err
	}
	sort.Strings(rep.ChangedFiles)
	rep.ChangedFiles = slices.Compact(rep.ChangedFiles)
	if len(rep.ChangedFiles) == 0 && !o.Everything {
		return rep, nil
	}
	if err := c.run(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// comparison is one Run's state.
type comparison struct {
	ctx  context.Context
	top  string
	opts Options
	// exports are the revisions' trees, by commit, in one private directory.
	exportRoot string
	remove     func() error
	exports    map[string]string
	// engine renders the working tree's targets, with the render cache.
	engine *change.Engine
}

func (c *comparison) close() {
	if c.remove != nil {
		_ = c.remove()
	}
}

// side is one revision of a comparison: its targets, and how to render it.
type side struct {
	commit string // "" for the working tree
	root   string // the exported tree, or the working tree
	// targets are this revision's targets by Key: a directory applied by two reconcilers is
	// two targets.
	targets map[string]target.Target
	// includes are what discovery read of the targets' kustomizations, by path, when known.
	includes map[string][]string
	// overlay holds, for rendering this revision from the working tree, the files that differ
	// from it (nil: absent at this revision); nil overlay with commit "" is the working tree.
	overlay map[string][]byte
	// overlayOK is false when the differences cannot be laid over the working tree (links,
	// submodules): this side is rendered from its exported tree.
	overlayOK bool
}

func (c *comparison) run(rep *Report) error {
	work, err := c.workingSide()
	if err != nil {
		return err
	}
	from, err := c.revisionSide(rep.FromCommit)
	if err != nil {
		return err
	}
	to := work
	if rep.ToCommit != "" {
		if to, err = c.revisionSide(rep.ToCommit); err != nil {
			return err
		}
	}
	if !c.opts.Everything {
		c.prepareEngine(work)
	}
	// The files whose contents some side does not share with the working tree, and the links
	// of the working tree that lead to one: a target reading none of them renders the same at
	// every side.
	reach := map[string]bool{}
	for _, s := range []*side{from, to} {
		for f := range s.overlay {
			reach[f] = true
		}
	}
	links, err := c.linksTo(reach)
	if err != nil {
		return err
	}
	for l := range links {
		reach[l] = true
	}
	reached := slices.Sorted(maps.Keys(reach))

	keys := map[string]bool{}
	for k := range from.targets {
		keys[k] = true
	}
	for k := range to.targets {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		ft, inFrom := from.targets[k]
		tt, inTo := to.targets[k]
		wt, inWork := work.targets[k]
		name, p := tt.Name, tt.Path
		if !inTo {
			name, p = ft.Name, ft.Path
		}
		td := TargetDiff{Target: name, Path: p}
		fast := !c.opts.Everything && inFrom && inTo && inWork && sameDefinition(ft, tt) && sameDefinition(tt, wt)
		if fast && !c.engine.Reaches(k, reached) {
			continue
		}
		fs, ts := from, to
		if fast {
			fs, ts = c.readBy(from, k, links), c.readBy(to, k, links)
		}
		rep.Rendered = append(rep.Rendered, name)
		var before, after *render.Result
		var berr, aerr error
		switch {
		case !inFrom:
			td.Status = StatusAdded
			after, aerr = c.render(ts, tt, fast)
		case !inTo:
			td.Status = StatusRemoved
			before, berr = c.render(fs, ft, fast)
		default:
			td.Status = StatusChanged
			before, berr = c.render(fs, ft, fast)
			after, aerr = c.render(ts, tt, fast)
		}
		if berr != nil && aerr != nil && berr.Error() == aerr.Error() {
			rep.Unrendered = append(rep.Unrendered, Unrendered{Target: name, Path: p, Error: berr.Error()})
			continue
		}
		if berr != nil || aerr != nil {
			td.Status = StatusError
			var msgs []string
			if berr != nil {
				msgs = append(msgs, fmt.Sprintf("at %s: %v", rep.From, berr))
			}
			if aerr != nil {
				msgs = append(msgs, fmt.Sprintf("at %s: %v", rep.ToName(), aerr))
			}
			td.Error = strings.Join(msgs, "; ")
			rep.Targets = append(rep.Targets, td)
			continue
		}
		if td.Objects, err = diffObjects(name, before, after); err != nil {
			return fmt.Errorf("target %s: %w", name, err)
		}
		if len(td.Objects) > 0 || td.Status != StatusChanged {
			rep.Targets = append(rep.Targets, td)
		}
	}
	return nil
}

// render renders target t (as side s defines it) at side s: from the working tree's render
// with s's differences laid over it when fast allows it, else whole from s's tree, with its
// reconciler's options. A fast render that fails is made again whole, which then decides.
func (c *comparison) render(s *side, t target.Target, fast bool) (*render.Result, error) {
	if fast && s.overlayOK {
		var r *render.Result
		var err error
		if s.commit == "" {
			r, err = c.engine.Rendered(t.Key())
		} else {
			r, err = c.engine.RenderWith(t.Key(), s.overlay)
		}
		if err == nil {
			return r, nil
		}
	}
	root, err := c.rootOf(s)
	if err != nil {
		return nil, err
	}
	r, err := render.Render(root, t.Path, render.Options{Applied: t.Applied})
	if err != nil {
		// Kustomize names files by their absolute path: named by their path in the
		// repository, the errors of the two revisions compare, and an exported tree's private
		// directory is not shown.
		return nil, errors.New(strings.ReplaceAll(err.Error(), root+string(filepath.Separator), ""))
	}
	return r, nil
}

// workingSide is the working tree: its targets, found with discovery's memo.
func (c *comparison) workingSide() (*side, error) {
	d, _, err := target.Scan(c.top, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to list the targets of the working tree: %w", err)
	}
	return &side{root: c.top, targets: byKey(d.Targets), includes: d.Includes, overlayOK: true}, nil
}

// revisionSide is a commit: its targets, discovered in its exported tree, and its differences
// from the working tree.
func (c *comparison) revisionSide(commit string) (*side, error) {
	s := &side{commit: commit}
	root, err := c.rootOf(s)
	if err != nil {
		return nil, err
	}
	cfg, err := target.LoadConfig(root)
	if err != nil {
		return nil, fmt.Errorf("at %s: %w", short(commit), err)
	}
	ts, err := target.Discover(root, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to list the targets at %s: %w", short(commit), err)
	}
	s.targets = byKey(ts)
	if c.opts.Everything {
		return s, nil
	}
	s.overlay, s.overlayOK, err = c.overlayOf(commit)
	return s, err
}

// overlayOf is what commit holds of the files that differ between it and the working tree.
func (c *comparison) overlayOf(commit string) (map[string][]byte, bool, error) {
	paths, err := changedPaths(c.ctx, c.top, commit, "")
	if err != nil {
		return nil, false, err
	}
	entries, err := treeEntries(c.ctx, c.top, commit)
	if err != nil {
		return nil, false, err
	}
	overlay := make(map[string][]byte, len(paths))
	var blobs []string
	ok := true
	for _, p := range paths {
		e, there := entries[p]
		if there && e.mode != "100644" && e.mode != "100755" {
			ok = false // a link or a submodule at the revision
		}
		if fi, err := os.Lstat(filepath.Join(c.top, filepath.FromSlash(p))); err == nil && !fi.Mode().IsRegular() {
			ok = false // a link (or not a file) in the working tree
		}
		overlay[p] = nil
		if there {
			blobs = append(blobs, e.blob)
		}
	}
	contents, err := readBlobs(c.ctx, c.top, blobs)
	if err != nil {
		return nil, false, err
	}
	for _, p := range paths {
		if e, there := entries[p]; there {
			overlay[p] = contents[e.blob]
			if overlay[p] == nil {
				overlay[p] = []byte{}
			}
		}
	}
	return overlay, ok, nil
}

// prepareEngine sets up the closed loop's engine on the working tree, with its render cache.
func (c *comparison) prepareEngine(work *side) {
	var targets []change.Target
	for _, k := range slices.Sorted(maps.Keys(work.targets)) {
		t := work.targets[k]
		targets = append(targets, change.Target{Path: t.Path, Applied: t.Applied})
	}
	opts := change.Options{Includes: work.includes}
	if repo, err := gitrepo.Open(c.top); err == nil {
		opts.Cache = render.Cache{Dir: repo.CacheDir()}
	}
	c.engine = change.NewEngine(c.top, targets, opts)
}

// linksTo are the working tree's tracked links that lead to one of files (or to a directory
// holding one), with where each leads: a target reads a file through a link by the link's path.
func (c *comparison) linksTo(files map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	if len(files) == 0 {
		return out, nil
	}
	links, err := indexLinks(c.ctx, c.top)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		real, _, err := render.Resolve(c.top, l)
		if err != nil {
			continue
		}
		for f := range files {
			if f == real || strings.HasPrefix(f, real+"/") {
				out[l] = real
				break
			}
		}
	}
	return out, nil
}

// readBy is side s with only the differences target k (a Key) can read, directly or through
// one of links: the reduced render then looks at those alone.
func (c *comparison) readBy(s *side, k string, links map[string]string) *side {
	if s.overlay == nil {
		return s
	}
	out := *s
	out.overlay = map[string][]byte{}
	for f, b := range s.overlay {
		reads := c.engine.Reaches(k, []string{f})
		for l, real := range links {
			if !reads && (f == real || strings.HasPrefix(f, real+"/")) {
				reads = c.engine.Reaches(k, []string{l})
			}
		}
		if reads {
			out.overlay[f] = b
		}
	}
	return &out
}

// rootOf is the tree side s is rendered from: the working tree, or the commit's files exported
// into the process's private directory.
func (c *comparison) rootOf(s *side) (string, error) {
	if s.commit == "" {
		return c.top, nil
	}
	if d, ok := c.exports[s.commit]; ok {
		return d, nil
	}
	if c.exportRoot == "" {
		root, remove, err := privtmp.MkdirTemp("revdiff-")
		if err != nil {
			return "", fmt.Errorf("failed to make a directory for the exported revisions: %w", err)
		}
		c.exportRoot, c.remove = root, remove
	}
	d := filepath.Join(c.exportRoot, s.commit)
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", err
	}
	if err := gitrepo.ExportTree(c.ctx, c.top, s.commit, d); err != nil {
		return "", err
	}
	c.exports[s.commit] = d
	return d, nil
}

// sameDefinition tells whether two sides define a target alike (what it renders and how),
// leaving out where the repository is.
func sameDefinition(a, b target.Target) bool {
	strip := func(t target.Target) target.Target {
		t.RepoDir = ""
		return t
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func byKey(ts []target.Target) map[string]target.Target {
	m := make(map[string]target.Target, len(ts))
	for _, t := range ts {
		m[t.Key()] = t
	}
	return m
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
