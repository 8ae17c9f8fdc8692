// Package history finds the commits that changed one object as a target renders it: the
// history of the rendered form, not of a file. It walks the first-parent history of the paths
// the target reads (following them as they change: an overlay that once read another base
// brings that base's history in), renders the target at the commits that can have changed the
// object, and compares the object's consecutive forms. Commit trailers (Gitops-Object) that name
// the object are a hint: those commits are always rendered.
//
// The states of the history are rendered from git's objects into a private directory that is
// removed on return; the working tree is never read or written.
package history

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Request asks for the history of one object of one target.
type Request struct {
	// RepoDir is the repository's working tree (its history is read, not its files).
	RepoDir string
	// Path is the target's path in the repository.
	Path string
	// Name is the object's name as the user gave it: the first render needs only the documents
	// that can define it.
	Name string
	// Select picks the object from the target's render. An error it wraps with NotRendered says
	// the render does not hold the object: when that is so at Rev, the history goes back to the
	// commit that removed it and is the history up to and including that commit.
	Select func(*render.Result) (*render.Object, error)
	// Rev is the commit the history goes back from; default HEAD.
	Rev string
	// TempDir is where the private directory is made; default the system's.
	TempDir string
	// Applied is what the target's reconciler applies, when a reconciler's object defines the
	// target: each state is rendered as the reconciler renders it, its own file as the state
	// holds it (nil: kustomize's build of Path).
	Applied *reconciler.Applied
	// MemoDir is where the walk keeps what later walks need not learn again (the repository's
	// cache directory, gitrepo's CacheDir); "" keeps nothing.
	MemoDir string
}

// Revision is one commit that changed the object's rendered form.
type Revision struct {
	// Number counts the revisions from 1, the oldest, as kubectl's rollout history does.
	Number int
	Commit gitrepo.CommitInfo
	// Object is the rendered form after the commit; nil when the commit removed the object.
	Object *unstructured.Unstructured
	// Changes are the fields that changed from the previous revision's form.
	Changes []placement.FieldChange
	Created bool
	Deleted bool
}

// NotRendered marks err, an error of Request.Select, as saying that the render does not hold
// the object (rather than that the request is wrong).
func NotRendered(err error) error { return &notRenderedError{err} }

type notRenderedError struct{ err error }

func (e *notRenderedError) Error() string { return e.err.Error() }
func (e *notRenderedError) Unwrap() error { return e.err }

// Result is the object's history, oldest first.
type Result struct {
	// ID is the object as the target renders it at Rev; Object is that render. For an object
	// removed before Rev, they are its last rendered form, and the last revision is the commit
	// that removed it.
	ID        render.ObjectID
	Object    *render.Object
	Revisions []Revision
	Stats     Stats
}

// Stats say what the walk cost, for benchmarks and --v output.
type Stats struct {
	// Commits are the commits of the followed paths that were read; Renders the states rendered,
	// Whole those of them rendered whole (not as a slice), Memo the states whose form came from
	// the memo of earlier walks instead (Request.MemoDir).
	Commits int
	Renders int
	Whole   int
	Memo    int
	// Paths are the paths followed at the end of the walk.
	Paths []string
}

// Object returns the history of the object that req.Select picks from the target's render.
func Object(ctx context.Context, req Request) (*Result, error) {
	if req.Rev == "" {
		req.Rev = "HEAD"
	}
	root := path.Clean(filepath.ToSlash(req.Path))
	out, err := gitOutput(ctx, req.RepoDir, "rev-parse", "--verify", "--quiet", req.Rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("failed to read the history of %s: %s has no commit %s", req.RepoDir, req.RepoDir, req.Rev)
	}
	head := strings.TrimSpace(string(out))

	w, err := newWalker(ctx, req.RepoDir, root, req.TempDir, loadMemo(req.MemoDir))
	if err != nil {
		return nil, err
	}
	defer w.close()
	w.x.hint = req.Name
	w.at = head
	w.applied = req.Applied
	if err := w.start(); err != nil {
		return nil, err
	}

	// The object, from the render at Rev; when it does not render there, it is looked for in the
	// states before, down to the one before the commit that removed it.
	res := &Result{}
	w.stats = &res.Stats
	follow := func(obj *render.Object) error {
		w.x = match{known: true, id: obj.ID, generated: generatedName(obj.ID)}
		clear(w.possiblyCache)
		w.current = obj.Obj()
		res.ID, res.Object = obj.ID, obj
		var err error
		w.hints, err = trailerHints(ctx, req.RepoDir, head, obj)
		return err
	}
	obj, absent := w.selectAtStart(req.Select)
	var notRendered *notRenderedError
	switch {
	case absent == nil:
		if err := follow(obj); err != nil {
			return nil, err
		}
	case !errors.As(absent, &notRendered):
		return nil, absent
	}
	searching := absent != nil

	var found []Revision // newest first
	log, err := startLog(ctx, req.RepoDir, head, w.followed)
	if err != nil {
		return nil, err
	}
	defer func() {
		if log != nil {
			log.close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := log.next()
		if err != nil {
			return nil, fmt.Errorf("failed to read the history: %w", err)
		}
		if e == nil {
			break
		}
		res.Stats.Commits++
		skip := !searching && w.canSkip(e)
		w.revert(e)
		if w.stale {
			w.layout, w.stale = w.layoutOf(root), false
		}
		if w.err != nil {
			return nil, w.err
		}
		if searching {
			obj, err := w.selectBefore(req.Select, &res.Stats)
			if err != nil {
				return nil, err
			}
			if obj != nil {
				// e removed the object: its first revision (newest first), and the object to follow
				// from here down.
				found = append(found, Revision{Commit: e.info, Deleted: true})
				if err := follow(obj); err != nil {
					return nil, err
				}
				searching = false
			}
		} else if !skip {
			w.submit(e.info)
		}
		if w.grew {
			// The target read other paths before this commit: follow them from here down.
			w.grew = false
			log.close()
			if e.parent == "" {
				break
			}
			if log, err = startLog(ctx, req.RepoDir, e.parent, w.followed); err != nil {
				return nil, err
			}
		}
	}
	if searching {
		// It never rendered in the followed history: the error at Rev says where it was looked for.
		return nil, absent
	}
	w.settle()
	w.memo.save()
	found = append(found, w.found...)
	for i := len(found) - 1; i >= 0; i-- {
		r := found[i]
		r.Number = len(res.Revisions) + 1
		res.Revisions = append(res.Revisions, r)
	}
	res.Stats.Paths = append([]string(nil), w.followed...)
	return res, nil
}

func sameForm(a, b *unstructured.Unstructured) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.DeepEqual(a.Object, b.Object)
}

func changes(before, after *unstructured.Unstructured) []placement.FieldChange {
	if before == nil || after == nil {
		return nil
	}
	return placement.Diff(before.Object, after.Object, placement.PatchMeta(after.GroupVersionKind()))
}

// trailerHints are the first-parent commits whose Gitops-Object trailer names the object.
func trailerHints(ctx context.Context, dir, head string, obj *render.Object) (map[string]bool, error) {
	name := obj.ID.Name
	if obj.ID.Namespace != "" {
		name = obj.ID.Namespace + "/" + name
	}
	re := `^Gitops-Object: [^ ]+ ` + regexp.QuoteMeta(obj.ID.Kind) + ` ` + regexp.QuoteMeta(name) + `$`
	out, err := gitOutput(ctx, dir, "log", "--first-parent", "--format=%H", "-E", "--grep="+re, head)
	if err != nil {
		return nil, fmt.Errorf("failed to read the history's trailers: %w", err)
	}
	hints := map[string]bool{}
	for _, h := range strings.Fields(string(out)) {
		hints[h] = true
	}
	return hints, nil
}

// walker is the state of the followed paths at one commit of the walk, and a private mirror of
// it on disk for the renderer.
type walker struct {
	ctx   context.Context
	repo  string
	root  string // the target path
	blobs *blobReader

	files    map[string]string // path -> blob, the followed paths' files in the state
	followed []string          // paths whose history is read
	at       string            // the commit whose tree the state is; "" before the first commit
	grew     bool              // followed grew since the log started
	err      error

	layout *layout
	stale  bool // the layout must be worked out again

	// applied is the target's reconciler (Request.Applied); appliedBlob the blob of its file
	// at the start, while plainAtStart says the reconciler then added nothing to kustomize's
	// build, so that slices, which model kustomize alone, render the states that keep that file.
	applied      *reconciler.Applied
	appliedBlob  string
	plainAtStart bool

	mirror   string
	mirrored map[string]string // what the mirror holds

	x       match
	current *unstructured.Unstructured // the object's form in the state; nil when absent
	unknown bool                       // the state did not render
	inputs  map[string]bool            // the files the last render read
	hints   map[string]bool

	// The states the walk renders, oldest last, whose results current, unknown and inputs do
	// not hold yet (see submit); workers bounds the renders running at once.
	queue   []*pending
	workers chan struct{}
	found   []Revision // newest first
	stats   *Stats

	memo          *memo
	headCache     map[string]fileHeads // the memo's heads
	manifests     map[string]bool
	possiblyCache map[string]bool // by blob, for the followed object
	kustCache     map[string]*reach.Kustomization
	// sliceKusts are the kustomizations slices rewrote, by blob and the entries left out.
	sliceKusts map[string][]byte
}

func newWalker(ctx context.Context, repo, root, tempDir string, m *memo) (*walker, error) {
	mirror, err := os.MkdirTemp(tempDir, "kubectl-gitops-history-")
	if err != nil {
		return nil, fmt.Errorf("failed to make the history's directory: %w", err)
	}
	if err := os.Chmod(mirror, 0o700); err != nil {
		_ = os.RemoveAll(mirror)
		return nil, err
	}
	blobs, err := newBlobReader(ctx, repo)
	if err != nil {
		_ = os.RemoveAll(mirror)
		return nil, err
	}
	return &walker{ctx: ctx, repo: repo, root: root, blobs: blobs, files: map[string]string{},
		mirror: mirror, mirrored: map[string]string{}, workers: make(chan struct{}, runtime.GOMAXPROCS(0)),
		memo: m, headCache: m.heads, manifests: map[string]bool{}, inputs: map[string]bool{},
		possiblyCache: map[string]bool{}, kustCache: map[string]*reach.Kustomization{}, sliceKusts: map[string][]byte{}}, nil
}

func (w *walker) close() {
	for _, p := range w.queue {
		<-p.done
	}
	w.blobs.close()
	_ = os.RemoveAll(w.mirror)
}

// start reads the target's paths at the starting commit.
func (w *walker) start() error {
	w.ensure(w.root)
	if a := w.applied; a != nil && a.Reconciler.File != "" {
		w.ensure(a.Reconciler.File)
		w.appliedBlob = w.files[a.Reconciler.File]
		w.plainAtStart = a.Plain(os.DirFS(w.repo))
	}
	if a := w.applied; a != nil && isChart(a, w.repo) {
		// A chart reads its directory and value files, which no kustomization names: what the
		// render of the working tree read is followed.
		if r, err := render.Render(w.repo, w.root, render.Options{Applied: a}); err == nil {
			for _, in := range r.Inputs {
				w.ensure(in)
			}
		}
	}
	for i := 0; ; i++ {
		w.grew = false
		w.layout = w.layoutOf(w.root)
		if w.err != nil {
			return w.err
		}
		if !w.grew || i > 100 {
			break
		}
	}
	w.grew = false
	return nil
}

// covered tells whether p is below a followed path.
func (w *walker) covered(p string) bool {
	for _, f := range w.followed {
		if under(p, f) {
			return true
		}
	}
	return false
}

// ensure follows p from now on, reading its files in the state's commit; it reports whether the
// state gained files.
func (w *walker) ensure(p string) bool {
	if p == "" || w.covered(p) {
		return false
	}
	kept := w.followed[:0:0]
	for _, f := range w.followed {
		if !under(f, p) {
			kept = append(kept, f)
		}
	}
	w.followed = append(kept, p)
	sort.Strings(w.followed)
	w.grew = true
	if w.at == "" {
		return false
	}
	entries, err := lsTree(w.ctx, w.repo, w.at, []string{p})
	if err != nil {
		w.err = fmt.Errorf("failed to read %s at %s: %w", p, w.at, err)
		return false
	}
	for _, e := range entries {
		w.files[e.path] = e.blob
	}
	return len(entries) > 0
}

// revert moves the state from after e to before it.
func (w *walker) revert(e *logEntry) {
	for _, c := range e.changes {
		if !w.covered(c.path) {
			continue
		}
		if c.before == zeroHash {
			delete(w.files, c.path)
		} else {
			w.files[c.path] = c.before
		}
		if reach.IsFileName(path.Base(c.path)) || (w.layout != nil && w.layout.plain && under(c.path, w.root)) {
			w.stale = w.stale || !w.swapEntries(c)
		}
	}
	w.at = e.parent
}

// syncTo makes the mirror hold files.
func (w *walker) syncTo(files map[string]string) error {
	for p := range w.mirrored {
		if _, ok := files[p]; ok {
			continue
		}
		if err := os.Remove(filepath.Join(w.mirror, filepath.FromSlash(p))); err != nil && !os.IsNotExist(err) {
			return err
		}
		delete(w.mirrored, p)
	}
	for p, blob := range files {
		if w.mirrored[p] == blob {
			continue
		}
		data, err := w.blobs.read(blob)
		if err != nil {
			return err
		}
		full := filepath.Join(w.mirror, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			return err
		}
		w.mirrored[p] = blob
	}
	return nil
}

// exists tells whether the target's directory has files in the state.
func (w *walker) exists() bool {
	for f := range w.files {
		if under(f, w.root) {
			return true
		}
	}
	return false
}

// render renders the state at once: as a slice in memory when it can (kustomize alone,
// without the origin annotations pkg/render asks for, which cost most of a render and which the
// walk does not need), else whole, from the mirror, by pkg/render.
func (w *walker) render(stats *Stats, sliced bool) (*render.Result, error) {
	if stats != nil {
		stats.Renders++
	}
	if sliced {
		if fsys, overlay := w.sliceFS(); fsys != nil {
			if r, err := renderSlice(fsys, w.root); err == nil {
				w.inputs = inputsOf(fsys, overlay, w.files)
				return r, nil
			}
		}
	}
	if stats != nil {
		stats.Whole++
	}
	r, inputs, err := w.renderWhole(w.files)
	if err != nil {
		return nil, err
	}
	w.inputs = inputs
	return r, nil
}

// renderWhole renders files, a state of the walk, from the mirror, by pkg/render; it returns
// the files the render read.
func (w *walker) renderWhole(files map[string]string) (*render.Result, map[string]bool, error) {
	if err := w.syncTo(files); err != nil {
		return nil, nil, err
	}
	r, err := render.Render(w.mirror, w.root, render.Options{Applied: w.applied})
	if err != nil {
		return nil, nil, err
	}
	inputs := map[string]bool{}
	for _, in := range r.Inputs {
		inputs[in] = true
	}
	return r, inputs, nil
}

// pending is a state submitted for rendering.
type pending struct {
	info  gitrepo.CommitInfo
	files map[string]string // the state
	done  chan struct{}
	// What the render found; sliceFailed when the slice did not render, so that the state is
	// rendered whole.
	obj         *unstructured.Unstructured
	known       bool
	inputs      map[string]bool
	sliceFailed bool
	// local is set when the state's kustomizations name nothing remote.
	local bool
}

// maxPending bounds the states rendered ahead of the walk's results.
const maxPending = 8

// submit renders the followed object's form in the state. A slice renders on another core
// while the walk goes on down the history (what decides a commit's skip from the renders
// before it waits for them: settle); a state rendered whole is rendered at once.
func (w *walker) submit(info gitrepo.CommitInfo) {
	p := &pending{info: info, done: make(chan struct{}), known: true}
	w.queue = append(w.queue, p)
	if !w.exists() {
		close(p.done)
		w.drain(maxPending)
		return
	}
	var key [sha256.Size]byte
	memoize := false
	if w.sliced() {
		key, memoize = w.stateKey("slice", w.files)
	}
	p.local = w.layout != nil && w.layout.err == nil && !w.layout.fetches
	if memoize {
		failed, ok := w.memo.recall(key, p)
		if ok && !failed {
			w.stats.Memo++
			close(p.done)
			w.drain(maxPending)
			return
		}
		if ok {
			// The slice does not render: the state is rendered whole.
			p.files, p.sliceFailed = maps.Clone(w.files), true
			if w.renderInto(p) {
				w.stats.Renders++
			}
			p.sliceFailed = false
			close(p.done)
			w.drain(maxPending)
			return
		}
	}
	p.files = maps.Clone(w.files)
	if fsys, overlay := w.sliceFS(); fsys != nil {
		w.stats.Renders++
		x, root := w.x, w.root
		w.workers <- struct{}{}
		go func() {
			defer close(p.done)
			defer func() { <-w.workers }()
			r, err := renderSlice(fsys, root)
			if err != nil {
				// A slice renders in memory: kustomize's error is the state's, unless it fetched.
				p.sliceFailed = true
				if memoize && p.local {
					w.memo.keep(key, nil, nil)
				}
				return
			}
			p.inputs = inputsOf(fsys, overlay, p.files)
			if o := x.find(r); o != nil {
				p.obj = o.Obj()
			}
			if memoize {
				w.memo.keep(key, p.obj, p.inputs)
			}
		}()
	} else {
		if w.renderInto(p) {
			w.stats.Renders++
		}
		close(p.done)
	}
	w.drain(maxPending)
}

// renderInto renders p's state whole, or takes the form from the memo when the target has no
// reconciler (whose options and lookups the state's files do not hold) and the state names
// nothing remote; it reports whether it rendered. A render that read outside the state is not
// kept.
func (w *walker) renderInto(p *pending) bool {
	var key [sha256.Size]byte
	memoize := false
	if w.applied == nil && p.local {
		key, memoize = w.stateKey("whole", p.files)
	}
	if memoize {
		if failed, ok := w.memo.recall(key, p); ok {
			w.stats.Memo++
			p.known = !failed
			return false
		}
	}
	w.stats.Whole++
	if err := w.syncTo(p.files); err != nil {
		p.known = false
		return true
	}
	r, inputs, err := w.renderWhole(p.files)
	if err != nil {
		// A failure is kept when the slice, which reads nothing but the state, failed too.
		p.known = false
		if memoize && p.sliceFailed && w.ctx.Err() == nil {
			w.memo.keep(key, nil, nil)
		}
		return true
	}
	p.inputs = inputs
	if o := w.x.find(r); o != nil {
		p.obj = o.Obj()
	}
	if memoize && r.Cacheable {
		w.memo.keep(key, p.obj, p.inputs)
	}
	return true
}

// drain takes the results of the submitted states, oldest first, until keep are left: a form
// that differs from the one after it makes the commit after it a revision.
func (w *walker) drain(keep int) {
	for len(w.queue) > keep {
		p := w.queue[0]
		w.queue = w.queue[1:]
		<-p.done
		if p.sliceFailed {
			w.renderInto(p)
		}
		if p.known {
			if !sameForm(p.obj, w.current) {
				w.found = append(w.found, Revision{Commit: p.info, Object: w.current, Created: p.obj == nil, Deleted: w.current == nil,
					Changes: changes(p.obj, w.current)})
			}
			w.current = p.obj
			if p.inputs != nil {
				w.inputs = p.inputs
			}
		}
		// A state that does not render is compared across: the states after it are rendered
		// until one does.
		w.unknown = !p.known
	}
}

// settle takes the results of every submitted state.
func (w *walker) settle() { w.drain(0) }

// isChart tells whether a applies a Helm chart: a Flux HelmRelease's, or an Argo CD source's.
func isChart(a *reconciler.Applied, repo string) bool {
	if a.Release != nil {
		return true
	}
	if !reconciler.IsArgoApplication(a.Reconciler) {
		return false
	}
	src, err := reconciler.ReadArgoSource(a.Reconciler.Obj, a.Source, os.DirFS(repo))
	return err == nil && src.Type == reconciler.ArgoHelm
}

// sliceable tells whether a slice renders the state as its reconciler does: no reconciler, or
// one that adds nothing to kustomize's build, whose file is as at the start, and (Argo CD) no
// override file of the target's directory.
func (w *walker) sliceable() bool {
	a := w.applied
	if a == nil {
		return true
	}
	if !w.plainAtStart || w.files[a.Reconciler.File] != w.appliedBlob {
		return false
	}
	for f := range w.files {
		if under(f, w.root) && strings.HasPrefix(path.Base(f), ".argocd-source") {
			return false
		}
	}
	return true
}

// sliced tells whether the state renders as a slice.
func (w *walker) sliced() bool {
	l := w.layout
	return l != nil && l.blocked == "" && l.remote == "" && l.err == nil && w.sliceable()
}

// sliceFS writes the state's files into memory as the followed object's slice renders them:
// with the slice's kustomizations (overlay) and without the resources it drops. It is nil when
// the state must be rendered whole.
func (w *walker) sliceFS() (*recordingFS, map[string][]byte) {
	if !w.sliced() {
		return nil, nil
	}
	overlay, dropped := w.slice(w.layout)
	if overlay == nil {
		return nil, nil
	}
	fsys := &recordingFS{FileSystem: filesys.MakeFsInMemory(), reads: map[string]bool{}}
	for f, blob := range w.files {
		data, ok := overlay[f]
		if !ok {
			if dropped[f] {
				continue
			}
			var err error
			if data, err = w.blobs.read(blob); err != nil {
				return nil, nil
			}
		}
		if err := fsys.WriteFile("/"+f, data); err != nil {
			return nil, nil
		}
	}
	for f, data := range overlay {
		if _, ok := w.files[f]; !ok {
			if err := fsys.WriteFile("/"+f, data); err != nil {
				return nil, nil
			}
		}
	}
	return fsys, overlay
}

// renderSlice renders a slice's files as kustomize's build does (the options are pkg/render's).
// It reads nothing of the walker's: slices render on several cores.
func renderSlice(fsys *recordingFS, root string) (*render.Result, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(fsys, path.Join("/", root))
	if err != nil {
		return nil, err
	}
	r := &render.Result{Path: root}
	for _, res := range m.Resources() {
		js, err := render.ResourceJSON(res)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		gvk := u.GroupVersionKind()
		org := res.OrgId()
		r.Objects = append(r.Objects, render.NewObject(
			render.ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()},
			render.Origin{Name: org.Name, Namespace: org.Namespace, Doc: -1}, u))
	}
	return r, nil
}

// inputsOf are the files of the state (or of the slice's overlay) that a slice's render read.
func inputsOf(fsys *recordingFS, overlay map[string][]byte, files map[string]string) map[string]bool {
	inputs := map[string]bool{}
	for p := range fsys.reads {
		if _, ok := overlay[p]; ok || files[p] != "" {
			inputs[p] = true
		}
	}
	return inputs
}

// recordingFS records the files a render reads.
type recordingFS struct {
	filesys.FileSystem
	reads map[string]bool
}

func (r *recordingFS) ReadFile(p string) ([]byte, error) {
	r.reads[strings.TrimPrefix(path.Clean(p), "/")] = true
	return r.FileSystem.ReadFile(p)
}

func (r *recordingFS) Open(p string) (filesys.File, error) {
	r.reads[strings.TrimPrefix(path.Clean(p), "/")] = true
	return r.FileSystem.Open(p)
}

// selectBefore picks the object, not yet known, from the state, when a document of the state
// can define it and the state renders; nil when it does not. Only an error that is not about the
// object's absence (an ambiguous name) ends the walk.
func (w *walker) selectBefore(sel func(*render.Result) (*render.Object, error), stats *Stats) (*render.Object, error) {
	if !w.exists() {
		return nil, nil
	}
	possible := false
	for _, blob := range w.files {
		if w.possiblyIn(blob) {
			possible = true
			break
		}
	}
	if !possible {
		return nil, nil
	}
	r, err := w.render(stats, true)
	if err != nil {
		return nil, nil
	}
	obj, err := sel(r)
	var notRendered *notRenderedError
	if errors.As(err, &notRendered) {
		return nil, nil
	}
	return obj, err
}

// selectAtStart renders the starting state and picks the object; a slice that does not find it
// is checked against the whole render, whose error then says what the target holds.
func (w *walker) selectAtStart(sel func(*render.Result) (*render.Object, error)) (*render.Object, error) {
	if !w.exists() {
		return nil, fmt.Errorf("target path %s does not exist at %s", w.root, w.at)
	}
	r, err := w.render(nil, true)
	if err == nil {
		var obj *render.Object
		if obj, err = sel(r); err == nil {
			return obj, nil
		}
	}
	r, err = w.render(nil, false)
	if err != nil {
		return nil, err
	}
	return sel(r)
}
