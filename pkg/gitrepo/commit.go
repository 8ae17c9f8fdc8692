package gitrepo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrNoChanges is returned by Commit when the changes leave the tree as it is.
var ErrNoChanges = errors.New("nothing to commit: the files already have this content")

// Change is one file's new state.
type Change struct {
	Path    string // slash-separated, relative to the root
	Content []byte
	Delete  bool
	// Mode is filemode.Regular, Executable or Symlink (Content is then the target); zero keeps
	// the mode of an existing file and makes a new one regular.
	Mode filemode.FileMode
}

// CommitRequest describes one commit.
type CommitRequest struct {
	Changes []Change
	Message string
	// Branch receives the commit; empty means the checked-out branch (or a detached HEAD). A
	// branch that does not exist is created from HEAD. When Branch is not the checked-out
	// branch the index and working tree are not touched.
	Branch string
	// Now is the commit time unless GIT_AUTHOR_DATE/GIT_COMMITTER_DATE say otherwise;
	// nil means the clock, as git reads it.
	Now func() time.Time
	// Signoff adds the committer's Signed-off-by trailer, as `git commit --signoff` does.
	Signoff bool
	// NoVerify skips the pre-commit and commit-msg hooks, as `git commit --no-verify` does.
	NoVerify bool
	// HookOut receives what the hooks print, as git commit forwards it; nil discards it (a
	// failing hook's output is in its *HookError either way).
	HookOut io.Writer
}

// CommitResult is what Commit made.
type CommitResult struct {
	Hash   string
	Branch string // short name; "" for a detached HEAD
	Files  []string
}

// Commit makes one commit holding exactly req.Changes on top of the branch, as `git commit
// --only` of those files would, and moves the branch to it. The user's other staged and
// unstaged work is neither committed nor touched. If one of the changed paths has uncommitted
// changes, Commit returns a *DirtyError before writing anything; a refusing hook gives a
// *HookError, and the repository is then as it was. The caller holds Lock.
func (r *Repo) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	var res CommitResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	h, err := r.readHead()
	if err != nil {
		return res, err
	}
	t := target{ref: "HEAD", branch: h.ref, checkedOut: true}
	if h.exists {
		t.old, t.parent = h.hash, h.hash
	}
	if req.Branch != "" {
		if err := validBranch(req.Branch); err != nil {
			return res, err
		}
		if name := "refs/heads/" + req.Branch; name != h.ref {
			cur, ok, err := readRef(r.storage(), name)
			if err != nil {
				return res, err
			}
			// A branch that does not exist yet (old ZeroHash) starts at HEAD.
			t = target{ref: name, branch: name, old: cur, parent: t.parent}
			if ok {
				t.parent = cur
			}
		}
	}
	t.reflog = "commit"
	if t.parent.IsZero() {
		t.reflog = "commit (initial)"
	}
	hash, files, err := r.commit(ctx, req, t)
	if err != nil {
		return res, err
	}
	return CommitResult{Hash: hash.String(), Branch: shortBranch(t.branch), Files: files}, nil
}

// target is where a commit goes.
type target struct {
	ref        string        // what update-ref moves: "HEAD" for the checked-out branch or a detached HEAD
	branch     string        // the branch ("refs/heads/NAME"); "" when detached
	old        plumbing.Hash // the value ref must still have; ZeroHash: it must not exist
	parent     plumbing.Hash // the commit to build on; ZeroHash: none (a root commit)
	checkedOut bool          // the index and working tree follow the ref
	reflog     string        // "commit"…: the reflog says "REFLOG: SUBJECT"
	// follow: changes the parent already holds move the ref to the parent instead of failing
	// with ErrNoChanges (a push retry whose change the remote already has).
	follow bool
}

// entry is a path's state in a tree; mode 0: absent.
type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// delta is a path's change between two trees.
type delta struct {
	path     string
	from, to entry
}

// commit makes the commit of req on t and moves t.ref to it; it returns the commit and the
// changed files. See the package documentation for the order of its steps.
func (r *Repo) commit(ctx context.Context, req CommitRequest, t target) (plumbing.Hash, []string, error) {
	msg := cleanMessage(req.Message)
	if msg == "" {
		return plumbing.ZeroHash, nil, errors.New("empty commit message")
	}
	s := r.storage()
	parentTree, err := commitTree(s, t.parent)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	cfg, err := r.commitConfig(ctx)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	changes, objs, err := r.prepareChanges(ctx, cfg, parentTree, req.Changes, t.checkedOut)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	files := make([]string, len(changes))
	noop := true
	for i, c := range changes {
		files[i] = c.path
		noop = noop && c.from == c.to
	}
	sort.Strings(files)
	if noop && !t.follow {
		// Files with uncommitted changes are what differs, as the check under the index lock
		// would say.
		if t.checkedOut {
			state, err := r.status(ctx, files)
			if err != nil {
				return plumbing.ZeroHash, nil, err
			}
			if err := dirtyError(state); err != nil {
				return plumbing.ZeroHash, nil, err
			}
		}
		return plumbing.ZeroHash, nil, ErrNoChanges
	}
	if req.Signoff {
		out, err := runGit(ctx, r.root, nil, nil, "var", "GIT_COMMITTER_IDENT")
		if err != nil {
			return plumbing.ZeroHash, nil, identityError(err)
		}
		ident := string(out)
		msg = withSignoff(msg, ident[:strings.LastIndex(ident, ">")+1])
	}
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, nil, err
	}

	tx, err := r.begin(t)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	tx.given = objs.given
	hash, err := tx.run(ctx, s, req, t, cfg, changes, objs, msg, noop)
	if err != nil {
		// As the next command would: finished if the branch moved, else undone.
		if rerr := tx.settle(); rerr != nil {
			err = fmt.Errorf("%w; completing or undoing it failed too (the next kubectl-gitops command retries): %v", err, rerr)
		}
		return plumbing.ZeroHash, nil, err
	}
	return hash, files, nil
}

// prepareChanges checks the changes against the parent's tree and the working tree, and makes
// their blobs in memory, but those git converts (attributes.go), which git stores.
func (r *Repo) prepareChanges(ctx context.Context, cfg commitConfig, parent *object.Tree, in []Change, checkedOut bool) ([]delta, *newObjects, error) {
	if len(in) == 0 {
		return nil, nil, errors.New("no changes to commit")
	}
	seen := map[string]bool{}
	out := make([]delta, 0, len(in))
	objs := &newObjects{mem: memory.NewStorage(), given: map[string]givenFile{}}
	var withContent []int // indexes in out (and in) of the changes with content
	for _, c := range in {
		if err := validPath(c.Path); err != nil {
			return nil, nil, err
		}
		if seen[c.Path] {
			return nil, nil, fmt.Errorf("%s is changed twice", c.Path)
		}
		seen[c.Path] = true
		switch c.Mode {
		case 0, filemode.Regular, filemode.Executable, filemode.Symlink:
		default:
			return nil, nil, fmt.Errorf("%s: unsupported file mode %s", c.Path, c.Mode)
		}
		old, err := checkTreePath(parent, c)
		if err != nil {
			return nil, nil, err
		}
		if checkedOut {
			if err := r.checkWorktreePath(c); err != nil {
				return nil, nil, err
			}
		}
		d := delta{path: c.Path}
		if old != nil {
			d.from = entry{old.Mode, old.Hash}
		}
		if !c.Delete {
			d.to.mode = c.Mode
			if d.to.mode == 0 {
				d.to.mode = cmp.Or(d.from.mode, filemode.Regular)
			}
			withContent = append(withContent, len(out))
		}
		out = append(out, d)
	}
	// The blobs git converts are stored at once: a commit refused later leaves them unreachable,
	// as `git add` followed by a reset would.
	var files []Change // the changes with content but links, whose blobs git may convert
	for _, i := range withContent {
		if out[i].to.mode != filemode.Symlink {
			files = append(files, in[i])
		}
	}
	convert, err := r.converted(ctx, cfg, files)
	if err != nil {
		return nil, nil, err
	}
	for _, i := range withContent {
		d, c := &out[i], in[i]
		var h plumbing.Hash
		if convert[c.Path] {
			h, err = r.gitBlob(ctx, c.Path, c.Content)
		} else {
			h, err = writeBlob(objs.mem, c.Content)
			objs.blobs = append(objs.blobs, h)
		}
		if err != nil {
			return nil, nil, err
		}
		d.to.hash = h
		objs.given[c.Path] = givenFile{h, c.Content}
	}
	return out, objs, nil
}

// packBlobs is how many new files a commit writes as one pack instead of as loose objects: a
// bulk capture writes hundreds, and each loose object is a temporary file, a directory and a
// rename (80 ms of a 200-object capture's CPU).
const packBlobs = 32

// newObjects are the blobs and trees a commit makes, kept in memory until the commit goes
// ahead: a commit refused for the user's uncommitted work leaves no objects behind.
type newObjects struct {
	mem   *memory.Storage
	blobs []plumbing.Hash // the changes' blobs, in order
	// given are, by path, the changes' blobs with the bytes they were made from, which the
	// working tree keeps (git's blob differs from them where git converts them).
	given map[string]givenFile
}

type givenFile struct {
	hash    plumbing.Hash
	content []byte
}

// store writes the objects the repository lacks into it: the blobs as loose objects, or as one
// pack when there are packBlobs or more, and the trees as loose objects, as write-tree does.
func (o *newObjects) store(s *filesystem.Storage) error {
	var missing []plumbing.Hash
	queued := map[plumbing.Hash]bool{}
	for _, h := range o.blobs {
		if !queued[h] && s.HasEncodedObject(h) != nil {
			queued[h] = true
			missing = append(missing, h)
		}
	}
	if len(o.blobs) >= packBlobs {
		if err := writePack(s, o.mem, missing); err != nil {
			return fmt.Errorf("failed to store the new files: %w", err)
		}
		missing = nil
	}
	trees, err := o.mem.IterEncodedObjects(plumbing.TreeObject)
	if err != nil {
		return err
	}
	if err := trees.ForEach(func(t plumbing.EncodedObject) error {
		if s.HasEncodedObject(t.Hash()) != nil {
			missing = append(missing, t.Hash())
		}
		return nil
	}); err != nil {
		return err
	}
	for _, h := range missing {
		obj, err := o.mem.EncodedObject(plumbing.AnyObject, h)
		if err == nil {
			_, err = s.SetEncodedObject(obj)
		}
		if err != nil {
			return fmt.Errorf("failed to store object %s: %w", h, err)
		}
	}
	return nil
}

// writePack stores the objects hashes of mem in one pack (go-git's packfile encoder, no deltas).
func writePack(s *filesystem.Storage, mem *memory.Storage, hashes []plumbing.Hash) error {
	if len(hashes) == 0 {
		return nil
	}
	w, err := s.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := packfile.NewEncoder(w, mem, false).Encode(hashes, 0); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// checkTreePath refuses a change that the tree holds as a directory, below a file, or through
// or onto a symbolic link: Commit never replaces a link by a file, nor writes through one. It
// returns the path's entry, nil if absent.
func checkTreePath(tree *object.Tree, c Change) (*object.TreeEntry, error) {
	parts := strings.Split(c.Path, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/")
		e, err := tree.FindEntry(dir)
		switch {
		case err != nil:
			return nil, nil // nothing there yet
		case e.Mode == filemode.Symlink:
			return nil, fmt.Errorf("refusing to change %s: %s is a symbolic link in the repository", c.Path, dir)
		case e.Mode != filemode.Dir:
			return nil, fmt.Errorf("cannot write %s: %s is a file in the repository", c.Path, dir)
		}
	}
	e, err := tree.FindEntry(c.Path)
	switch {
	case err != nil:
		return nil, nil
	case e.Mode == filemode.Dir:
		return nil, fmt.Errorf("cannot write %s: it is a directory in the repository", c.Path)
	case e.Mode == filemode.Symlink && c.Mode != filemode.Symlink:
		return nil, fmt.Errorf("refusing to change %s: it is a symbolic link in the repository; change the file it points to", c.Path)
	}
	return e, nil
}

// checkWorktreePath is checkTreePath for the working tree.
func (r *Repo) checkWorktreePath(c Change) error {
	parts := strings.Split(c.Path, "/")
	for i := 1; i <= len(parts); i++ {
		rel := strings.Join(parts[:i], "/")
		fi, err := os.Lstat(filepath.Join(r.root, filepath.FromSlash(rel)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return fmt.Errorf("cannot write %s: %w", c.Path, err)
		case fi.Mode()&fs.ModeSymlink != 0 && i < len(parts):
			return fmt.Errorf("refusing to change %s: %s is a symbolic link in the working tree", c.Path, rel)
		case fi.Mode()&fs.ModeSymlink != 0 && c.Mode != filemode.Symlink:
			return fmt.Errorf("refusing to change %s: it is a symbolic link in the working tree; change the file it points to", c.Path)
		case !fi.IsDir() && i < len(parts):
			return fmt.Errorf("cannot write %s: %s is not a directory in the working tree", c.Path, rel)
		}
	}
	return nil
}

func writeBlob(s storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	o := s.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	o.SetSize(int64(len(content)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	if s.HasEncodedObject(o.Hash()) == nil {
		return o.Hash(), nil
	}
	return s.SetEncodedObject(o)
}

// run is the commit inside the transaction tx; rolling back is the caller's.
func (tx *txn) run(ctx context.Context, s *filesystem.Storage, req CommitRequest, t target, cfg commitConfig,
	changes []delta, objs *newObjects, msg string, noop bool) (plumbing.Hash, error) {
	r := tx.r
	oldTree, err := commitTree(s, t.old)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	parentTree, err := commitTree(s, t.parent)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	hooks := &hookRun{r: r, cfg: cfg, dir: r.root, env: []string{"GIT_INDEX_FILE=" + tx.commitIndexPath()},
		out: req.HookOut, noVer: req.NoVerify}
	preCommit := t.checkedOut && !noop && hooks.exists("pre-commit")
	// The commit's tree, the parent's plus the changes, is made here unless a hook reads the
	// commit's index, which git then makes.
	commitIndex := hooks.exists("pre-commit") || hooks.exists("prepare-commit-msg") || hooks.exists("commit-msg") ||
		!t.checkedOut && hooks.exists("post-commit")
	var tree plumbing.Hash
	if !commitIndex {
		if tree, err = buildTree(s, objs.mem, parentTree, changes); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	made := false
	makeTree := func() error {
		made = true
		if err := objs.store(s); err != nil || !commitIndex {
			return err
		}
		// The hooks see it as the index.
		var err error
		tree, err = tx.commitIndex(ctx, t, changes, preCommit)
		return err
	}
	// deltas are what changes between the old commit and the new one in the index and the
	// working tree: the changes, unless the commit goes on another parent (a push retry).
	deltas := changes
	if t.checkedOut && t.old != t.parent {
		if err := makeTree(); err != nil {
			return plumbing.ZeroHash, err
		}
		if deltas, err = tx.diffTrees(ctx, oldTree, tree); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	// From here until the commit is in place no git command changes the index, as under git
	// commit.
	if t.checkedOut {
		if err := tx.lockIndex(); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	clean := map[string]bool{}
	if t.checkedOut {
		paths := make([]string, 0, len(deltas))
		for _, d := range deltas {
			paths = append(paths, d.path)
			clean[d.path] = true
		}
		state, err := r.status(ctx, paths)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if err := dirtyError(state); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if !made {
		if err := makeTree(); err != nil {
			return plumbing.ZeroHash, err
		}
	}

	commit := t.parent
	// A pre-commit hook finds the new files in the working tree, as under git commit. Without
	// one they are written last, just before the branch moves, so that `git status` shows them
	// as uncommitted changes for a few milliseconds only.
	written := false
	if preCommit {
		if err := tx.writeWorktree(ctx, s, deltas); err != nil {
			return plumbing.ZeroHash, err
		}
		written = true
	}
	if !noop {
		if !t.checkedOut {
			if err := tx.exportTree(ctx, hooks); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		if err := hooks.run(ctx, "pre-commit"); err != nil {
			return plumbing.ZeroHash, err
		}
		if hooks.ran {
			// A pre-commit hook may stage more (a formatter): the commit holds its index.
			staged, err := tx.writeTree(ctx)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if staged == parentTree.Hash && !t.follow {
				return plumbing.ZeroHash, ErrNoChanges
			}
			if staged != tree && t.checkedOut {
				if deltas, err = tx.diffTrees(ctx, oldTree, staged); err != nil {
					return plumbing.ZeroHash, err
				}
			}
			tree = staged
		}
		if msg, err = tx.message(ctx, hooks, msg); err != nil {
			return plumbing.ZeroHash, err
		}
		if commit, err = tx.commitTree(ctx, cfg, req.Now, tree, t.parent, msg); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if t.checkedOut {
		if err := tx.newIndex(ctx, deltas, clean); err != nil {
			return plumbing.ZeroHash, err
		}
		if !written {
			if err := tx.writeWorktree(ctx, s, deltas); err != nil {
				return plumbing.ZeroHash, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, err
	}
	subject, _, _ := strings.Cut(msg, "\n")
	if err := tx.updateRef(ctx, t, commit, t.reflog+": "+subject); err != nil {
		return plumbing.ZeroHash, err
	}
	// The commit is made: what is left completes it, whatever ctx says. post-commit runs after
	// the index is in place, as git commit runs it (in the exported tree for another branch).
	ctx = context.WithoutCancel(ctx)
	if !noop && !t.checkedOut {
		_ = hooks.run(ctx, "post-commit")
	}
	if err := tx.finish(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s was made, but finishing it failed (the next kubectl-gitops "+
			"command completes it): %w", commit, err)
	}
	if !noop && t.checkedOut {
		hooks.env = nil
		_ = hooks.run(ctx, "post-commit")
	}
	return commit, nil
}

// message runs the message hooks on msg as git commit does, with the message in
// $GIT_DIR/COMMIT_EDITMSG, and returns the message they leave, cleaned.
func (tx *txn) message(ctx context.Context, hooks *hookRun, msg string) (string, error) {
	if !hooks.exists("prepare-commit-msg") && !hooks.exists("commit-msg") {
		return msg, nil
	}
	file := filepath.Join(tx.r.gitDir, "COMMIT_EDITMSG")
	if err := tx.write(file, []byte(msg), 0o666); err != nil {
		return "", err
	}
	if err := hooks.run(ctx, "prepare-commit-msg", file, "message"); err != nil {
		return "", err
	}
	if err := hooks.run(ctx, "commit-msg", file); err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if msg = cleanMessage(string(b)); msg == "" {
		return "", errors.New("aborting commit due to empty commit message (left so by the message hooks)")
	}
	return msg, nil
}

// commitTree writes the commit object with `git commit-tree`, which takes the identity and
// dates from git's configuration and environment and signs with the user's setup when
// commit.gpgSign asks.
func (tx *txn) commitTree(ctx context.Context, cfg commitConfig, now func() time.Time, tree, parent plumbing.Hash,
	msg string) (plumbing.Hash, error) {
	args := []string{"commit-tree"}
	if cfg.sign {
		args = append(args, "-S")
	}
	args = append(args, tree.String())
	if !parent.IsZero() {
		args = append(args, "-p", parent.String())
	}
	var env []string
	if now != nil {
		t := now()
		date := fmt.Sprintf("%d %s", t.Unix(), t.Format("-0700"))
		for _, v := range []string{"GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"} {
			if os.Getenv(v) == "" {
				env = append(env, v+"="+date)
			}
		}
	}
	out, err := tx.git(ctx, env, strings.NewReader(msg), args...)
	if err != nil {
		if err = identityError(err); cfg.sign && !errors.As(err, new(*IdentityError)) {
			err = fmt.Errorf("failed to sign the commit (commit.gpgSign is set): %w", err)
		}
		return plumbing.ZeroHash, err
	}
	return parseHash(string(bytes.TrimSpace(out)))
}
