// Package change is the closed loop: it asks placement for the ways to write a change, renders
// every target that reads a touched file with the candidate edits (in memory), and accepts the
// first candidate under which the edited objects render exactly as asked and every other object
// of every target renders exactly as before. Nothing is written here; the caller commits Files.
package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Engine plans changes in one repository whose targets are known. It renders a target only when
// a change can reach it, so the work grows with the targets a change touches, not with the
// repository.
type Engine struct {
	root string
	opts Options
	// targets are the targets' keys (render.Key), specs the targets by key.
	targets   []string
	specs     map[string]Target
	plainness map[string]bool // plain's answers
	// reads holds, per target, the files and directories its kustomizations include, read from
	// the kustomization files alone (no render).
	reads  map[string][]string
	before map[string]*render.Result
	trees  map[string]*kustTree
	parsed *parseMemo // kustomizations parsed, with the cache's memo
	// accepted are the renders after the accepted plan, stored in the cache by Remember.
	accepted      map[string]*render.Result
	acceptedFiles map[string][]byte
	fresh         map[string]*render.Result // renders refreshed, kept for Remember (DeferStore)
	// partials are the partial renders made so far, per target.
	partials map[string][]*render.Result
	// skipped says, by target, why a target that reads a changed file was left out.
	skipped map[string]string
	// links are the symbolic links changes were placed through, with the files they lead to.
	links map[string]string
	stats Stats
}

// Options say how an Engine goes about its work; the zero Options render every target afresh
// and keep nothing.
type Options struct {
	// Includes are what discovery already read of the targets' kustomizations
	// (target.Snapshot.Includes: target.IncludedDirs of each, by path); targets missing there
	// are read.
	Includes map[string][]string
	// Cache keeps renders between invocations; the zero Cache keeps none.
	Cache render.Cache
	// DeferStore keeps refreshed renders for Remember instead of storing them at once: a
	// command that commits stores the render after its change instead.
	DeferStore bool
	// Lookup and Cluster, when set, give the renders of reconciler targets the cluster the
	// targets' reconcilers run in (render.Options).
	Lookup  func(kind, namespace, name string) (map[string]string, error)
	Cluster render.Cluster
	// Whole renders every reached target whole, never reduced nor in slices (to compare in tests).
	Whole bool
	// SliceFiles, when set, replaces defaultSliceFiles.
	SliceFiles int
}

// Stats count, for tests, the closed-loop checks done on a reduced render, the cached renders
// brought up to date by one, the partial renders made before (or kept in the cache) that stood
// for one asked for again, and the targets rendered in slices.
type Stats struct{ Reduced, Refreshed, PartialsReused, Sliced int }

// Stats says what the engine did so far.
func (e *Engine) Stats() Stats { return e.stats }

// Target is one render the closed loop keeps as it was: a directory of the repository, with the
// options of the reconciler that applies it (nil: rendered as kustomize renders it).
type Target struct {
	Path    string
	Applied *reconciler.Applied
}

// Key is the target's key among the engine's, render.Key.
func (t Target) Key() string { return render.Key(t.Path, t.Applied) }

// Paths are the targets of directories rendered as kustomize renders them.
func Paths(paths ...string) []Target {
	out := make([]Target, len(paths))
	for i, p := range paths {
		out[i] = Target{Path: p}
	}
	return out
}

// NewEngine prepares the closed loop for the repository at root and its targets.
func NewEngine(root string, targets []Target, o Options) *Engine {
	e := newEngine(root, targets, o)
	for _, tg := range targets {
		t, dir := tg.Key(), tg.Path
		var chart []string
		if tg.Applied != nil {
			// A chart's directory and value files, which no kustomization names.
			chart = tg.Applied.ChartReads(os.DirFS(root))
		}
		if !hasKustomization(filepath.Join(root, filepath.FromSlash(dir))) {
			// A plain directory: what it reads is what lies below it.
			e.reads[t] = chart
			continue
		}
		inc, ok := o.Includes[dir]
		if !ok {
			var err error
			if inc, err = target.IncludedDirs(root, dir); err != nil {
				// Its kustomizations cannot be read, so it does not render: it reads no file
				// outside its directory, and is left out with a warning where a change
				// reaches it (a target that does not render cannot be harmed).
				inc = nil
			}
		}
		inc = append(slices.Clone(inc), chart...)
		sort.Strings(inc)
		e.reads[t] = inc
	}
	return e
}

func newEngine(root string, targets []Target, o Options) *Engine {
	e := &Engine{root: root, opts: o, specs: map[string]Target{}, plainness: map[string]bool{}, reads: map[string][]string{}, before: map[string]*render.Result{},
		trees: map[string]*kustTree{}, parsed: &parseMemo{nodes: map[string]*kustNode{}, cacheDir: o.Cache.Dir, stored: map[string]*kustNode{}},
		fresh: map[string]*render.Result{}, partials: map[string][]*render.Result{}, links: map[string]string{}}
	for _, tg := range targets {
		if _, dup := e.specs[tg.Key()]; dup {
			continue
		}
		e.targets = append(e.targets, tg.Key())
		e.specs[tg.Key()] = tg
	}
	return e
}

// name names target t in messages: its directory, and its reconciler when one applies it.
func (e *Engine) name(t string) string {
	if a := e.specs[t].Applied; a != nil && a.Release != nil {
		return fmt.Sprintf("%s (%s)", a.Release.Ref(), e.dir(t))
	} else if a != nil {
		return fmt.Sprintf("%s (%s)", a.Reconciler.Ref(), e.dir(t))
	}
	return e.dir(t)
}

// skip notes that target t was left out of the closed loop because it does not render.
func (e *Engine) skip(t string, err error) {
	if e.skipped == nil {
		e.skipped = map[string]string{}
	}
	if _, ok := e.skipped[t]; ok {
		return
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	e.skipped[t] = fmt.Sprintf("target %s does not render, so this change cannot harm it; left out: %s", e.name(t), msg)
}

// dir is target t's directory.
func (e *Engine) dir(t string) string { return e.specs[t].Path }

// options are render options for target t.
func (e *Engine) options(t string, o render.Options) render.Options {
	o.Applied = e.specs[t].Applied
	o.Lookup, o.Cluster = e.opts.Lookup, e.opts.Cluster
	return o
}

// plain tells a target rendered as kustomize renders it: the reduced, sliced and refreshed
// renders model kustomize alone; a reconciler's options on top are rendered whole.
func (e *Engine) plain(t string) bool {
	p, ok := e.plainness[t]
	if !ok {
		a := e.specs[t].Applied
		p = a == nil || a.Plain(os.DirFS(e.root))
		e.plainness[t] = p
	}
	return p
}

// changesReconciler tells whether files hold the file that defines target t's reconciler
// object: what it applies may change beyond kustomize's reach, which only a whole render shows.
func (e *Engine) changesReconciler(t string, files map[string][]byte) bool {
	a := e.specs[t].Applied
	if a == nil || a.Reconciler.File == "" {
		return false
	}
	_, ok := files[a.Reconciler.File]
	return ok
}

// parseTree is parseTree through the engine's memo, kept in the cache between commands.
// A tree of the files on disk (old empty) is parsed once per engine.
func (e *Engine) parseTree(t string, old map[string][]byte) (*kustTree, error) {
	if len(old) == 0 {
		if tree, ok := e.trees[t]; ok {
			if tree == nil {
				return nil, errNoReduction
			}
			return tree, nil
		}
	}
	e.parsed.loadTree(e.root, e.dir(t))
	tree, err := parseTree(e.root, e.dir(t), old, e.parsed)
	if len(old) == 0 {
		e.trees[t] = tree
		if err != nil {
			e.trees[t] = nil
		} else {
			e.parsed.saveTree(e.root, e.dir(t), tree)
		}
	}
	return tree, err
}

// vouch lets the tree memo use the nodes whose files still have the content they had when r
// (a render loaded from the cache) was checked.
func (e *Engine) vouch(r *render.Result) {
	e.parsed.sums = append(e.parsed.sums, r.InputSum)
}

func hasKustomization(dir string) bool {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// Rendered returns the current render of a target the engine knows.
func (e *Engine) Rendered(t string) (*render.Result, error) {
	if r, ok := e.before[t]; ok {
		return r, nil
	}
	if _, ok := e.reads[t]; !ok {
		return nil, fmt.Errorf("%s is not a target of this repository (targets: %s)", t, strings.Join(e.targets, ", "))
	}
	if r, old, ok := e.opts.Cache.Load(e.root, e.dir(t), t); ok {
		e.vouch(r)
		if len(old) > 0 {
			if r, ok = e.refresh(t, r, old); ok {
				if e.opts.DeferStore {
					e.fresh[t] = r
				} else {
					_ = e.opts.Cache.Store(e.root, r, nil)
				}
			}
		}
		if ok {
			e.before[t] = r
			return r, nil
		}
	}
	var r *render.Result
	ok := false
	if e.plain(t) {
		r, ok = e.renderSliced(t)
	}
	if !ok {
		var err error
		if r, err = render.Render(e.root, e.dir(t), e.options(t, render.Options{})); err != nil {
			return nil, err
		}
	}
	e.before[t] = r
	_ = e.opts.Cache.Store(e.root, r, nil) // a cache that cannot be written only costs time
	return r, nil
}

// refresh brings a cached render up to date with files that changed since (old holds their
// contents then), rendering only what they can reach, as the closed loop does for an edit.
func (e *Engine) refresh(t string, stale *render.Result, old map[string][]byte) (*render.Result, bool) {
	if e.opts.Whole || !e.plain(t) || e.changesReconciler(t, old) {
		return nil, false
	}
	tree, err := e.parseTree(t, old)
	if err != nil {
		return nil, false
	}
	now := make(map[string][]byte, len(old))
	for f := range old {
		b, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(f)))
		if err != nil {
			return nil, false
		}
		now[f] = b
	}
	rb, ra, ok := e.renderReduced(t, tree, stale, now, old, nil)
	if !ok {
		return nil, false
	}
	e.stats.Refreshed++
	return render.Merge(stale, rb, ra, now), true
}

// Render returns the current render of the target at path t of the repository at root, from
// cache when it holds it (brought up to date if files changed since), stored there otherwise.
func Render(root string, tg Target, cache render.Cache) (*render.Result, error) {
	e := newEngine(root, []Target{tg}, Options{Cache: cache})
	t := tg.Key()
	e.reads[t] = nil
	return e.Rendered(t)
}

// Remember stores in the cache the renders refreshed on the way (DeferStore) and, when written
// says the accepted plan's files are committed, the renders after it, which supersede them.
func (e *Engine) Remember(written bool) {
	for t, r := range e.fresh {
		if _, ok := e.accepted[t]; !ok || !written {
			_ = e.opts.Cache.Store(e.root, r, nil)
		}
	}
	if written {
		for _, r := range e.accepted {
			_ = e.opts.Cache.Store(e.root, r, e.acceptedFiles)
		}
	}
}

// mayRead tells whether target t can read file: a file below its directory, a file its
// kustomizations include or one below an included directory, or (once rendered) a file the
// render read.
func (e *Engine) mayRead(t, file string) bool {
	if dir := e.dir(t); dir == "." || strings.HasPrefix(file, strings.TrimSuffix(dir, "/")+"/") {
		return true
	}
	if a := e.specs[t].Applied; a != nil && (a.Reconciler.File == file || a.Artifact != nil) {
		// The reconciler's own options are read from its file; an artifact assembled from
		// the repository may read anything it copies (its render lists what it did).
		return true
	}
	if r, ok := e.before[t]; ok && contains(r.Inputs, file) {
		return true
	}
	for _, inc := range e.reads[t] {
		if inc == file || strings.HasPrefix(file, inc+"/") {
			return true
		}
	}
	return false
}

// ObjectChange asks for one rendered object of a target to become Desired. A nil Desired deletes
// the object from the target; a nil Object creates Desired as a new object.
type ObjectChange struct {
	Target  string
	Object  *render.Object
	Desired map[string]any
	// FileName names a new object's file (no directory); empty means <kind>-<name>.yaml.
	FileName string
	// Content, when set, is written as it is instead of being encoded from Desired: a new
	// object's file, or an existing object's whole document. Encrypted Secrets use it, since
	// their bytes are the encryptor's; Desired must still say how the object renders.
	Content []byte
	// Layer and Files, when Files is set, are where the change is written, as they are: a Helm
	// values file the chart reads (Object is then the chart's object in Target's render); the
	// closed loop proves them like any other placement.
	Layer string
	Files map[string][]byte
	// Follows are what the change must also do in other renders, exactly: the objects a chart
	// renders from the values this change writes (a HelmRelease's spec.values key makes the
	// Deployment's replicas). Every other object of those renders must stay as it is.
	Follows []Follow
}

// Follow is one object another target renders differently because of a change, and how.
type Follow struct {
	Target  string
	ID      render.ObjectID
	Desired map[string]any
}

// id is the object the change is about, as the target will render it.
func (ch ObjectChange) id() render.ObjectID {
	if ch.Object != nil {
		return ch.Object.ID
	}
	u := unstructured.Unstructured{Object: ch.Desired}
	return render.ObjectID{Group: u.GroupVersionKind().Group, Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// ObjectResult says how one object's change was written.
type ObjectResult struct {
	Target     string
	APIVersion string
	ID         render.ObjectID
	Layer      string
	Changes    []placement.FieldChange
	Created    bool
	Deleted    bool
}

// Plan is an accepted set of file contents.
type Plan struct {
	// Files are the new contents of the changed files (repository-relative); Original their
	// contents before (nil for a new file).
	Files    map[string][]byte
	Original map[string][]byte
	Objects  []ObjectResult
	// Before and After are the renders, before and after the change, of every target that
	// reads a changed file: what the gate checks the changed objects in.
	Before, After map[string]*render.Result
	// Skipped say, one line each, which targets reading a changed file were left out because
	// they did not render before the change.
	Skipped []string
}

// Paths are the changed files, sorted.
func (p *Plan) Paths() []string {
	out := make([]string, 0, len(p.Files))
	for f := range p.Files {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// RefusedError says why no placement could express a change.
type RefusedError struct {
	Object  render.ObjectID
	Target  string
	Reasons []string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cannot write the change to %s in target %s without changing something else:\n  %s",
		e.Object, e.Target, strings.Join(e.Reasons, "\n  "))
}

// Plan places every change and proves the result with the closed loop.
func (e *Engine) Plan(changes []ObjectChange) (*Plan, error) {
	// Many changes (a bulk capture, apply -f of a folder): each one's first placement, proved
	// by one closed loop over all of them, instead of one loop per change over the growing set
	// of files. If that is refused, every change is placed and proved in turn.
	if len(changes) > 1 {
		if p, err := e.plan(changes, true); err == nil {
			return p, nil
		}
	}
	return e.plan(changes, false)
}

// plan places the changes in turn; optimistic takes each change's first candidate and runs
// the closed loop once at the end.
func (e *Engine) plan(changes []ObjectChange, optimistic bool) (*Plan, error) {
	plan := &Plan{Files: map[string][]byte{}, Original: map[string][]byte{}}
	expect := map[string]map[render.ObjectID]map[string]any{}
	var created [][]placement.Candidate
	if optimistic {
		created = e.createEach(changes)
	}
	for i, ch := range changes {
		id := ch.id()
		var fields []placement.FieldChange
		apiVersion := ""
		switch {
		case ch.Object == nil:
			apiVersion, _ = ch.Desired["apiVersion"].(string)
		case ch.Content != nil:
			apiVersion = ch.Object.Obj().GetAPIVersion()
			fields = placement.Diff(ch.Object.Obj().Object, ch.Desired, placement.PatchMeta(ch.Object.Obj().GroupVersionKind()))
		case ch.Desired == nil:
			apiVersion = ch.Object.Obj().GetAPIVersion()
		default:
			apiVersion = ch.Object.Obj().GetAPIVersion()
			fields = placement.Diff(ch.Object.Obj().Object, ch.Desired, placement.PatchMeta(ch.Object.Obj().GroupVersionKind()))
			if len(fields) == 0 {
				continue
			}
		}
		place := func(files map[string][]byte) ([]placement.Candidate, error) {
			in := placement.Input{
				Root:    e.root,
				Target:  e.dir(ch.Target),
				Object:  ch.Object,
				Files:   files,
				Shared:  func(f string) bool { return e.sharedWith(ch.Target, f) },
				Applied: e.specs[ch.Target].Applied,
			}
			switch {
			case ch.Files != nil:
				return []placement.Candidate{{Layer: ch.Layer, Files: ch.Files}}, nil
			case ch.Object == nil && created != nil:
				return created[i], nil
			case ch.Object == nil:
				return placement.CreateCandidates(placement.CreateInput{Root: e.root, Target: e.dir(ch.Target), Object: ch.Desired, FileName: ch.FileName, Content: ch.Content, Files: files})
			case ch.Content != nil:
				return placement.ReplaceDocument(in, ch.Content)
			case ch.Desired == nil:
				return placement.DeleteCandidates(in)
			}
			in.Changes = fields
			return placement.Candidates(in)
		}
		// Placement reads the files this plan changed by the paths it knows, links it wrote
		// through before included. (A link to such a file that it meets for the first time is
		// read as on disk: the closed loop then refuses the candidate that undoes the edit.)
		cands, err := place(e.placementView(plan.Files))
		if err != nil {
			return nil, fmt.Errorf("%s in target %s: %w", id, e.name(ch.Target), err)
		}
		resolved, resolveErrs := make([]map[string][]byte, len(cands)), make([]error, len(cands))
		for i, c := range cands {
			resolved[i], resolveErrs[i] = writePaths(e.root, c.Files, e.links)
		}
		if expect[ch.Target] == nil {
			expect[ch.Target] = map[render.ObjectID]map[string]any{}
		}
		expect[ch.Target][id] = ch.Desired
		for _, f := range ch.Follows {
			if expect[f.Target] == nil {
				expect[f.Target] = map[render.ObjectID]map[string]any{}
			}
			expect[f.Target][f.ID] = f.Desired
		}
		var reasons []string
		accepted := false
		for i, c := range cands {
			if resolveErrs[i] != nil {
				reasons = append(reasons, fmt.Sprintf("in %s: %v", c.Layer, resolveErrs[i]))
				continue
			}
			c.Files = resolved[i]
			merged := make(map[string][]byte, len(plan.Files)+len(c.Files))
			for f, b := range plan.Files {
				merged[f] = b
			}
			for f, b := range c.Files {
				merged[f] = b
			}
			// A change written into the target's reconciler (its spec.patches) changes that
			// reconciler object where it is applied too, as the candidate writes it.
			withReconciler := e.reconcilerExpect(ch.Target, c.Files, expect)
			if !optimistic {
				afters, err := e.verify(merged, withReconciler)
				if err != nil {
					reasons = append(reasons, fmt.Sprintf("in %s: %v", c.Layer, err))
					continue
				}
				e.accepted, e.acceptedFiles = afters, merged
			}
			for f, b := range c.Files {
				if _, seen := plan.Original[f]; !seen {
					orig, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(f)))
					if err != nil && !os.IsNotExist(err) {
						return nil, err
					}
					plan.Original[f] = orig
				}
				plan.Files[f] = b
			}
			plan.Objects = append(plan.Objects, ObjectResult{Target: ch.Target, APIVersion: apiVersion, ID: id, Layer: c.Layer, Changes: fields,
				Created: ch.Object == nil, Deleted: ch.Desired == nil})
			expect = withReconciler
			accepted = true
			break
		}
		if !accepted {
			return nil, &RefusedError{Object: id, Target: e.name(ch.Target), Reasons: reasons}
		}
	}
	if optimistic && len(plan.Files) > 0 {
		afters, err := e.verify(plan.Files, expect)
		if err != nil {
			return nil, err
		}
		e.accepted, e.acceptedFiles = afters, plan.Files
	}
	plan.After, plan.Before = e.accepted, map[string]*render.Result{}
	for t := range plan.After {
		plan.Before[t] = e.before[t]
	}
	for _, t := range e.targets {
		// Placement asks about targets reading files it did not write in the end: only those
		// the change reaches are worth a warning.
		if msg, ok := e.skipped[t]; ok && e.reaches(t, plan.Files) {
			plan.Skipped = append(plan.Skipped, msg)
		}
	}
	return plan, nil
}

// createEach places changes that all create objects in one target (a bulk capture) at once,
// as placing them in turn would: nil when they are not all such, or when placement.CreateEach
// refuses them, and then they are placed in turn.
func (e *Engine) createEach(changes []ObjectChange) [][]placement.Candidate {
	ins := make([]placement.CreateInput, len(changes))
	for i, ch := range changes {
		if ch.Object != nil || ch.Files != nil || ch.Target != changes[0].Target {
			return nil
		}
		ins[i] = placement.CreateInput{Root: e.root, Target: e.dir(ch.Target), Object: ch.Desired, FileName: ch.FileName, Content: ch.Content}
	}
	ins[0].Files = e.placementView(map[string][]byte{})
	cands, err := placement.CreateEach(ins)
	if err != nil {
		return nil
	}
	return cands
}

// sharedWith tells whether a file (or, for a link, the file it leads to) is read by a target
// other than self.
func (e *Engine) sharedWith(self, file string) bool {
	paths := []string{file}
	if real, links, err := render.Resolve(e.root, file); err == nil && len(links) > 0 {
		paths = append(paths, real)
	}
	for _, t := range e.targets {
		for _, p := range paths {
			if t == self || e.releaseOf(t, self) || !e.mayRead(t, p) {
				continue
			}
			// A target that does not render cannot be harmed: it shares nothing.
			if _, err := e.Rendered(t); err != nil {
				e.skip(t, err)
				continue
			}
			return true
		}
	}
	return false
}

// releaseOf tells whether target t is a HelmRelease that target parent applies: it reads what
// parent reads, and a change's Follows say how it must change.
func (e *Engine) releaseOf(t, parent string) bool {
	a := e.specs[t].Applied
	if a == nil || a.Release == nil {
		return false
	}
	p := *a
	p.Release = nil
	return render.Key(e.specs[t].Path, &p) == parent
}

// verify renders every target a file change can reach and checks it against expect; it returns
// the targets' renders after the change.
func (e *Engine) verify(files map[string][]byte, expect map[string]map[render.ObjectID]map[string]any) (map[string]*render.Result, error) {
	var errs []error
	afters := map[string]*render.Result{}
	for _, t := range e.targets {
		if !e.reaches(t, files) {
			if len(expect[t]) > 0 {
				errs = append(errs, fmt.Errorf("target %s does not read the edited files", e.name(t)))
			}
			continue
		}
		before, err := e.Rendered(t)
		if err != nil {
			if len(expect[t]) > 0 {
				errs = append(errs, fmt.Errorf("target %s does not render before the change: %w", e.name(t), err))
				continue
			}
			// A render that fails already cannot be harmed by the change: it is not a reason
			// to refuse it, only one to say so.
			e.skip(t, err)
			continue
		}
		exp := e.mirror(t, before, expect)
		if after, ok, err := e.verifyReduced(t, before, files, exp); ok {
			afters[t] = after
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		after, err := render.Render(e.root, e.dir(t), e.options(t, render.Options{Overlay: files}))
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s no longer renders: %w", e.name(t), err))
			continue
		}
		afters[t] = after
		if err := compare(e.name(t), before, after, exp); err != nil {
			errs = append(errs, err)
		}
	}
	return afters, errors.Join(errs...)
}

// mirror is what target t must render after the change: expect[t], and, for an object another
// target is asked to change that t renders exactly as that target did before the change (same
// kind, namespace, name and content: the same manifests read the same way, as a root
// kustomization listing them, or a second reconciler of the same directory), the same request.
// An object t renders differently (another environment's overlay) must not change.
func (e *Engine) mirror(t string, before *render.Result, expect map[string]map[render.ObjectID]map[string]any) map[render.ObjectID]map[string]any {
	out := expect[t]
	copied := false
	for _, other := range e.targets {
		ob := e.before[other]
		if other == t || ob == nil {
			continue
		}
		for id, d := range expect[other] {
			if _, ok := out[id]; ok {
				continue
			}
			mine, theirs := before.Get(id), ob.Get(id)
			if mine == nil || theirs == nil || !reflect.DeepEqual(mine.Obj().Object, theirs.Obj().Object) {
				continue
			}
			if !copied {
				out, copied = maps.Clone(out), true
				if out == nil {
					out = map[render.ObjectID]map[string]any{}
				}
			}
			out[id] = d
		}
	}
	return out
}

// verifyReduced is verify for one target on a reduced render (see scope.go); ok is false when
// the target must be rendered whole. It returns the full render after the change, and err
// when the closed loop refuses it.
func (e *Engine) verifyReduced(t string, before *render.Result, files map[string][]byte, expect map[render.ObjectID]map[string]any) (*render.Result, bool, error) {
	if e.opts.Whole || !e.plain(t) || e.changesReconciler(t, files) {
		return nil, false, nil
	}
	tree, err := e.parseTree(t, nil)
	if err != nil {
		return nil, false, nil
	}
	rb, ra, ok := e.renderReduced(t, tree, before, files, nil, expect)
	if !ok {
		return nil, false, nil // the whole render decides, and says why if it fails
	}
	e.stats.Reduced++
	return render.Merge(before, rb, ra, files), true, compare(e.name(t), rb, ra, expect)
}

// renderReduced renders target t with only the resources: entries the edits in files can reach,
// before them (the contents in old, else the disk's) and after them, and checks the render
// before against full; ok is false when no sound reduction exists or a reduced render fails.
func (e *Engine) renderReduced(t string, tree *kustTree, full *render.Result, files, old map[string][]byte,
	expect map[render.ObjectID]map[string]any) (before, after *render.Result, ok bool) {
	drop, held, err := reduce(e.root, tree, full, files, old, expect)
	if err != nil {
		return nil, nil, false
	}
	before, err = e.renderPartial(t, full, old, drop)
	if err != nil || verifyReduced(full, before, held) != nil {
		return nil, nil, false
	}
	after, err = e.renderPartial(t, full, files, drop)
	if err != nil {
		return nil, nil, false
	}
	return before, after, true
}

// renderPartial renders target t without the entries in drop, with overlay over the disk. A
// partial render made before (in this command, or kept in the cache with full) stands for it
// when it left out the same entries and read the same contents: a render depends only on them.
// The render after one change is often the render before the next (a target refreshed and then
// changed, the same object changed twice in a row).
func (e *Engine) renderPartial(t string, full *render.Result, overlay map[string][]byte, drop map[string][]string) (*render.Result, error) {
	for _, p := range append(slices.Clone(e.partials[t]), full.Partial()) {
		if p.Stands(e.root, drop, overlay, full) {
			e.stats.PartialsReused++
			return p, nil
		}
	}
	r, err := render.Render(e.root, e.dir(t), render.Options{Overlay: overlay, Drop: drop, NoOrigins: true})
	if err != nil {
		return nil, err
	}
	e.partials[t] = append(e.partials[t], r)
	return r, nil
}

// reaches tells whether target t can read one of files, directly or through a link a change
// was placed through.
func (e *Engine) reaches(t string, files map[string][]byte) bool {
	for f := range files {
		if e.mayRead(t, f) {
			return true
		}
	}
	for link, f := range e.links {
		if _, ok := files[f]; ok && e.mayRead(t, link) {
			return true
		}
	}
	return false
}

// placementView is files (by the paths written) with, for each link known to lead to one of
// them, the same content under the link's path: placement reads a file by the path the
// kustomization or the object's origin names.
func (e *Engine) placementView(files map[string][]byte) map[string][]byte {
	var view map[string][]byte
	for link, f := range e.links {
		if b, ok := files[f]; ok {
			if view == nil {
				view = maps.Clone(files)
			}
			view[link] = b
		}
	}
	if view == nil {
		return files
	}
	return view
}

func compare(target string, before, after *render.Result, expect map[render.ObjectID]map[string]any) error {
	var problems []string
	// Created objects are matched by kind and the name the user gave: the target's transformers
	// may set their namespace or add a prefix.
	created := map[render.ObjectID]bool{}
	for id, d := range expect {
		if d != nil && before.Get(id) == nil {
			created[id] = false
		}
	}
	// A generated object whose content changes gets a new hash in its name, and kustomize
	// renames each reference to it: it is the same object, and so are the objects that refer
	// to it, with the old name read for the new.
	renamed, names := hashRenames(before, after)
	seen := map[render.ObjectID]bool{}
	for _, a := range after.Objects {
		id, obj := a.ID, a.Obj().Object
		if len(renamed) > 0 {
			if old, ok := renamed[id]; ok {
				id = old
			}
			obj = renameStrings(obj, names).(map[string]any)
		}
		seen[id] = true
		if before.Get(id) == nil {
			matched := false
			for cid := range created {
				if cid.Kind == a.ID.Kind && cid.Group == a.ID.Group && cid.Name == a.Origin.Name && (cid.Namespace == "" || cid.Namespace == a.ID.Namespace) {
					created[cid], matched = true, true
					if missing := notContained(expect[cid], a.Obj().Object, ""); missing != "" {
						problems = append(problems, fmt.Sprintf("%s would render in target %s without %s as given", a.ID, target, missing))
					}
				}
			}
			if !matched {
				problems = append(problems, fmt.Sprintf("%s would appear in target %s", a.ID, target))
			}
			continue
		}
		want := map[string]any(nil)
		if d, ok := expect[id]; ok && d == nil {
			problems = append(problems, fmt.Sprintf("%s would still render in target %s", a.ID, target))
			continue
		} else if ok {
			want = d
		} else {
			want = before.Get(id).Obj().Object
		}
		if !reflect.DeepEqual(stripStatus(obj), stripStatus(want)) {
			var diffs []string
			for _, c := range placement.DiffUnordered(want, obj, placement.PatchMeta(a.Obj().GroupVersionKind())) {
				diffs = append(diffs, c.String())
			}
			if len(diffs) == 0 {
				// Only the position of a new item in a list keyed by name (env, ports, ...) differs:
				// Kubernetes merges such lists by key, so the object is as asked.
				continue
			}
			what := "would also change"
			if _, ok := expect[id]; ok {
				what = "would not render as asked"
			}
			problems = append(problems, fmt.Sprintf("%s in target %s %s: %s", a.ID, target, what, strings.Join(diffs, "; ")))
		}
	}
	for _, b := range before.Objects {
		if d, ok := expect[b.ID]; !seen[b.ID] && !(ok && d == nil) {
			problems = append(problems, fmt.Sprintf("%s would disappear from target %s", b.ID, target))
		}
	}
	for id, ok := range created {
		if !ok {
			problems = append(problems, fmt.Sprintf("%s would not render in target %s", id, target))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// hashRenames pairs the generated objects (names ending in kustomize's content hash) that are
// only in before with those only in after of the same kind, namespace and name less the hash:
// it returns the old ID of each new one, and the old name of each new name.
func hashRenames(before, after *render.Result) (map[render.ObjectID]render.ObjectID, map[string]string) {
	unhashed := func(id render.ObjectID) (render.ObjectID, bool) {
		m := hashSuffix.FindStringIndex(id.Name)
		if m == nil {
			return id, false
		}
		id.Name = id.Name[:m[0]]
		return id, true
	}
	gone := map[render.ObjectID][]render.ObjectID{}
	for _, b := range before.Objects {
		if base, ok := unhashed(b.ID); ok && after.Get(b.ID) == nil {
			gone[base] = append(gone[base], b.ID)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	came := map[render.ObjectID][]render.ObjectID{}
	for _, a := range after.Objects {
		if base, ok := unhashed(a.ID); ok && before.Get(a.ID) == nil {
			came[base] = append(came[base], a.ID)
		}
	}
	ids, names := map[render.ObjectID]render.ObjectID{}, map[string]string{}
	for base, olds := range gone {
		if news := came[base]; len(olds) == 1 && len(news) == 1 {
			ids[news[0]], names[news[0].Name] = olds[0], olds[0].Name
		}
	}
	return ids, names
}

// renameStrings is v with every string equal to a key of names replaced by its value.
func renameStrings(v any, names map[string]string) any {
	switch x := v.(type) {
	case string:
		if n, ok := names[x]; ok {
			return n
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = renameStrings(e, names)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = renameStrings(e, names)
		}
		return out
	}
	return v
}

// reconcilerExpect is expect and, when files rewrite the document of target t's reconciler
// (a Flux Kustomization, an Argo CD Application), that reconciler object as each other target
// that renders it should render it after: as before, with the spec fields the document changed
// as it now writes them.
func (e *Engine) reconcilerExpect(t string, files map[string][]byte, expect map[string]map[render.ObjectID]map[string]any) map[string]map[render.ObjectID]map[string]any {
	a := e.specs[t].Applied
	if a == nil || a.Reconciler.File == "" || a.Reconciler.Obj == nil || files[a.Reconciler.File] == nil {
		return expect
	}
	docs, err := decodeDocuments(files[a.Reconciler.File])
	if err != nil || a.Reconciler.Doc >= len(docs) {
		return expect
	}
	oldSpec, _, _ := unstructured.NestedMap(a.Reconciler.Obj.Object, "spec")
	newSpec, _, _ := unstructured.NestedMap(docs[a.Reconciler.Doc], "spec")
	changed := map[string]bool{}
	for k := range oldSpec {
		changed[k] = !reflect.DeepEqual(oldSpec[k], newSpec[k])
	}
	for k := range newSpec {
		changed[k] = !reflect.DeepEqual(oldSpec[k], newSpec[k])
	}
	out := make(map[string]map[render.ObjectID]map[string]any, len(expect))
	for k, v := range expect {
		out[k] = v
	}
	for _, other := range e.targets {
		if other == t {
			continue
		}
		before, err := e.Rendered(other)
		if err != nil {
			continue
		}
		for _, o := range before.Objects {
			if o.Origin.File != a.Reconciler.File || o.Origin.Doc != a.Reconciler.Doc {
				continue
			}
			want := o.Obj().DeepCopy().Object
			spec, _, _ := unstructured.NestedMap(want, "spec")
			for k, c := range changed {
				if !c {
					continue
				}
				if v, ok := newSpec[k]; ok {
					spec[k] = v
				} else {
					delete(spec, k)
				}
			}
			want["spec"] = spec
			m := make(map[render.ObjectID]map[string]any, len(out[other])+1)
			for id, d := range out[other] {
				m[id] = d
			}
			m[o.ID] = want
			out[other] = m
		}
	}
	return out
}

// decodeDocuments decodes each document of a file, numbered as yaml.v3 (and so the editor and
// the render's origins) number them, with integers as int64 as in unstructured objects.
func decodeDocuments(b []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var v any
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := utiljson.Unmarshal(js, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
}

// notContained returns the first field path of want that got lacks or holds differently, ignoring
// metadata the target's transformers own.
func notContained(want, got map[string]any, at string) string {
	for k, wv := range want {
		p := strings.TrimPrefix(at+"."+k, ".")
		if p == "metadata.namespace" || p == "metadata.labels" || p == "metadata.annotations" || p == "metadata.name" || p == "status" {
			continue
		}
		gv, ok := got[k]
		if !ok {
			return p
		}
		if wm, ok := wv.(map[string]any); ok {
			gm, ok := gv.(map[string]any)
			if !ok {
				return p
			}
			if m := notContained(wm, gm, p); m != "" {
				return m
			}
			continue
		}
		if !reflect.DeepEqual(wv, gv) {
			return p
		}
	}
	return ""
}

func stripStatus(m map[string]any) map[string]any {
	if _, ok := m["status"]; !ok {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != "status" {
			c[k] = v
		}
	}
	return c
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}
