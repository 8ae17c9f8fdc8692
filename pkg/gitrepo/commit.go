package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/storage/filesystem"
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
	// nil means time.Now.
	Now func() time.Time
	// Signoff adds the committer's Signed-off-by trailer, as `git commit --signoff` does.
	Signoff bool
}

// CommitResult is what Commit made.
type CommitResult struct {
	Hash   string
	Branch string // short name; "" for a detached HEAD
	Files  []string
}

// Commit makes one commit holding exactly req.Changes on top of the branch, and moves the
// branch to it. The new tree is HEAD's tree with the changed paths replaced, so the user's other
// staged and unstaged work is neither committed nor touched; only the changed paths' index
// entries and files are updated. If one of them has uncommitted changes, Commit returns a
// *DirtyError before writing anything. The caller holds Lock.
func (r *Repo) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	var res CommitResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	in, err := r.resolveRequest(req)
	if err != nil {
		return res, err
	}
	h, err := r.readHead()
	if err != nil {
		return res, err
	}
	ref := h.ref
	if ref == "" {
		ref = "HEAD"
	}
	checkedOut := true
	if req.Branch != "" {
		if err := validBranch(req.Branch); err != nil {
			return res, err
		}
		ref = "refs/heads/" + req.Branch
		checkedOut = ref == h.ref
	}
	// parent is the commit to build on; old is the value ref must still have when it is moved
	// (ZeroHash: it must not exist yet).
	parent, hasParent, old := h.hash, h.exists, h.hash
	if !h.exists {
		old = plumbing.ZeroHash
	}
	if !checkedOut {
		cur, ok, err := r.readRef(ref)
		if err != nil {
			return res, err
		}
		old = cur // ZeroHash when the branch is new: it is created from HEAD
		if ok {
			parent, hasParent = cur, true
		}
	}

	s := r.storage()
	if checkedOut {
		// Checked again under the index lock; checking now spares a signing prompt.
		paths := make([]string, len(in.changes))
		for i, c := range in.changes {
			paths[i] = c.path
		}
		var tree plumbing.Hash
		if hasParent {
			c, err := readCommit(s, parent)
			if err != nil {
				return res, err
			}
			tree = c.tree
		}
		if err := r.checkClean(s, in.cfg, tree, paths); err != nil {
			return res, err
		}
	}
	made, err := r.makeCommit(ctx, s, in, parent, hasParent)
	if err != nil {
		return res, err
	}
	reflog := "commit: " + made.subject
	if !hasParent {
		reflog = "commit (initial): " + made.subject
	}
	err = r.advance(ctx, s, advance{
		ref: ref, checkedOut: checkedOut, headLog: ref == h.ref,
		old: old, new: made.hash, oldTree: made.baseTree, newTree: made.tree,
		reflogMsg: reflog, ident: reflogIdent(in.cfg, in.committer), cfg: in.cfg,
	})
	if err != nil {
		return res, err
	}
	res.Hash, res.Branch = made.hash.String(), shortBranch(strings.TrimPrefix(ref, "HEAD"))
	for _, c := range in.changes {
		res.Files = append(res.Files, c.path)
	}
	sort.Strings(res.Files)
	return res, nil
}

type madeCommit struct {
	hash, tree, baseTree plumbing.Hash
	subject              string
}

// commitInput is a CommitRequest checked and resolved against the configuration.
type commitInput struct {
	changes           []treeChange
	msg               string
	cfg               *gitConfig
	author, committer signature
}

func (r *Repo) resolveRequest(req CommitRequest) (commitInput, error) {
	var in commitInput
	var err error
	if in.changes, err = treeChanges(req.Changes); err != nil {
		return in, err
	}
	if in.msg = cleanMessage(req.Message); in.msg == "" {
		return in, errors.New("empty commit message")
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	if in.cfg, err = readRepoConfig(r); err != nil {
		return in, err
	}
	if in.author, in.committer, err = resolveIdentity(in.cfg, now()); err != nil {
		return in, err
	}
	if req.Signoff {
		in.msg = withSignoff(in.msg, in.committer)
	}
	return in, nil
}

// withSignoff adds the Signed-off-by trailer of who to msg, in its trailer block when it ends
// with one, unless it is there already.
func withSignoff(msg string, who signature) string {
	line := fmt.Sprintf("Signed-off-by: %s <%s>", who.name, who.email)
	trimmed := strings.TrimRight(msg, "\n")
	for _, l := range strings.Split(trimmed, "\n") {
		if l == line {
			return msg
		}
	}
	sep := "\n\n"
	if len(Trailers(trimmed)) > 0 {
		sep = "\n"
	}
	return trimmed + sep + line + "\n"
}

// makeCommit writes the tree of parent (none: hasParent false) with the changes applied and a
// commit of it; ErrNoChanges if the tree stays the same.
func (r *Repo) makeCommit(ctx context.Context, s *filesystem.Storage, in commitInput, parent plumbing.Hash,
	hasParent bool) (madeCommit, error) {
	var m madeCommit
	var parents []plumbing.Hash
	if hasParent {
		c, err := readCommit(s, parent)
		if err != nil {
			return m, err
		}
		m.baseTree, parents = c.tree, []plumbing.Hash{parent}
	}
	tree, _, err := buildTree(s, m.baseTree, in.changes, true)
	if err != nil {
		return m, fmt.Errorf("failed to build the commit: %w", err)
	}
	if tree == m.baseTree {
		return m, ErrNoChanges
	}
	sign, _, err := in.cfg.getBool("commit", "", "gpgsign")
	if err != nil {
		return m, err
	}
	m.hash, err = r.writeCommit(ctx, s, sign, tree, parents, in.author, in.committer, in.msg)
	m.tree = tree
	m.subject, _, _ = strings.Cut(in.msg, "\n")
	return m, err
}

func treeChanges(in []Change) ([]treeChange, error) {
	if len(in) == 0 {
		return nil, errors.New("no changes to commit")
	}
	seen := map[string]bool{}
	out := make([]treeChange, 0, len(in))
	for _, c := range in {
		if err := validPath(c.Path); err != nil {
			return nil, err
		}
		if seen[c.Path] {
			return nil, fmt.Errorf("%s is changed twice", c.Path)
		}
		seen[c.Path] = true
		switch c.Mode {
		case 0, filemode.Regular, filemode.Executable, filemode.Symlink:
		default:
			return nil, fmt.Errorf("%s: unsupported file mode %s", c.Path, c.Mode)
		}
		out = append(out, treeChange{parts: strings.Split(c.Path, "/"), content: c.Content, mode: c.Mode,
			delete: c.Delete, path: c.Path})
	}
	return out, nil
}

// cleanMessage strips trailing space from lines and blank lines from both ends, and ends the
// message with a newline, as `git commit` does (without removing "#" lines: nothing here comes
// from an editor template).
func cleanMessage(m string) string {
	lines := strings.Split(strings.ReplaceAll(m, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	out := strings.Trim(strings.Join(lines, "\n"), "\n")
	if out == "" {
		return ""
	}
	return out + "\n"
}

func reflogIdent(cfg *gitConfig, committer signature) string {
	if v, set, _ := cfg.getBool("core", "", "logallrefupdates"); set && !v {
		if s, _ := cfg.get("core", "", "logallrefupdates"); !strings.EqualFold(s, "always") {
			return ""
		}
	}
	return committer.String()
}

// writeCommit stores the commit object. A commit to be signed is made by `git commit-tree -S`,
// so the user's gpg or ssh signing setup (gpg.format, user.signingkey, gpg.program) applies.
func (r *Repo) writeCommit(ctx context.Context, s *filesystem.Storage, sign bool, tree plumbing.Hash,
	parents []plumbing.Hash, author, committer signature, msg string) (plumbing.Hash, error) {
	if sign {
		args := []string{"commit-tree", "-S", tree.String()}
		for _, p := range parents {
			args = append(args, "-p", p.String())
		}
		env := []string{
			"GIT_AUTHOR_NAME=" + author.name, "GIT_AUTHOR_EMAIL=" + author.email,
			"GIT_AUTHOR_DATE=" + gitDate(author.when),
			"GIT_COMMITTER_NAME=" + committer.name, "GIT_COMMITTER_EMAIL=" + committer.email,
			"GIT_COMMITTER_DATE=" + gitDate(committer.when),
		}
		out, err := runGit(ctx, r.root, env, strings.NewReader(msg), args...)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("failed to sign the commit (commit.gpgsign is set): %w", err)
		}
		return parseHash(strings.TrimSpace(string(out)))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "tree %s\n", tree)
	for _, p := range parents {
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", author, committer, msg)
	return writeObject(s, plumbing.CommitObject, b.Bytes())
}

func gitDate(t time.Time) string { return fmt.Sprintf("%d %s", t.Unix(), t.Format("-0700")) }

// advance moves ref from old (ZeroHash: it must not exist) to new. When the ref is checked out,
// the index entries and working tree files of the paths that differ between the two trees are
// brought along, after checking they hold no uncommitted work.
type advance struct {
	ref              string
	checkedOut       bool
	headLog          bool
	old, new         plumbing.Hash
	oldTree, newTree plumbing.Hash
	reflogMsg, ident string
	cfg              *gitConfig
}

func (r *Repo) advance(ctx context.Context, s *filesystem.Storage, a advance) error {
	update := refUpdate{name: a.ref, old: a.old, new: a.new, reflogMsg: a.reflogMsg, ident: a.ident, headLog: a.headLog}
	if !a.checkedOut {
		if err := ctx.Err(); err != nil {
			return err
		}
		return r.updateRef(update)
	}
	deltas, err := diffTrees(s, a.oldTree, a.newTree, "", nil)
	if err != nil {
		return err
	}
	indexPath := filepath.Join(r.gitDir, "index")
	lock, err := createLockFile(indexPath)
	if err != nil {
		return fmt.Errorf("failed to lock the index: %w", err)
	}
	indexDone := false
	defer func() {
		if !indexDone {
			_ = lock.Close()
			_ = os.Remove(lock.Name())
		}
	}()
	idx, err := readIndex(indexPath)
	if err != nil {
		return err
	}
	fileMode := configFileMode(a.cfg)
	dirty := &DirtyError{}
	for _, d := range deltas {
		state, err := r.pathState(idx, d.old, d.path, fileMode)
		if err != nil {
			return err
		}
		if state != "" {
			dirty.add(d.path, state)
		}
	}
	if len(dirty.Paths) > 0 {
		return dirty
	}

	wt := &worktreeUpdate{root: r.root}
	defer wt.rollback()
	written := map[string]bool{}
	for _, d := range deltas {
		if i, ok := idx.find(d.path); ok && idx.entries[i].skipWorktree() {
			continue // outside the sparse checkout: index only
		}
		if err := r.checkIndexConflicts(idx, d); err != nil {
			return err
		}
		switch {
		case d.new == nil:
			if d.old.isGitlink() {
				continue
			}
			err = wt.prepareRemove(d.path)
		case d.new.isGitlink():
			continue
		default:
			content, rerr := readObject(s, plumbing.BlobObject, d.new.hash)
			if rerr != nil {
				return rerr
			}
			err = wt.prepareWrite(d.path, content, d.new.mode)
			written[d.path] = true
		}
		if err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on the commit is made: finish the index and working tree even if ctx ends.
	if err := r.updateRef(update); err != nil {
		return err
	}
	failed := wt.commit()
	for _, d := range deltas {
		if d.new == nil {
			idx.remove(d.path)
			continue
		}
		e := &indexEntry{mode: canonicalMode(d.new.mode), hash: d.new.hash, name: d.path}
		abs := filepath.Join(r.root, filepath.FromSlash(d.path))
		if fi, err := os.Lstat(abs); err == nil && written[d.path] && failed[abs] == nil {
			fillStat(e, fi)
		}
		idx.set(e)
	}
	_, err = lock.Write(idx.encode())
	if cerr := lock.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(lock.Name(), indexPath)
	}
	indexDone = err == nil
	if err != nil || len(failed) > 0 {
		var paths []string
		for p, ferr := range failed {
			paths = append(paths, fmt.Sprintf("%s: %v", p, ferr))
		}
		if err != nil {
			paths = append(paths, fmt.Sprintf("index: %v", err))
		}
		sort.Strings(paths)
		return fmt.Errorf("commit %s was made, but the working tree was not fully updated (`git status` shows "+
			"what is left; `git checkout HEAD -- PATH` restores a file):\n  %s", a.new, strings.Join(paths, "\n  "))
	}
	return nil
}

// checkIndexConflicts refuses a new file whose parent is a file in the index, or a path that
// the index holds as a directory.
func (r *Repo) checkIndexConflicts(idx *gitIndex, d delta) error {
	if d.new == nil {
		return nil
	}
	if d.old == nil && idx.hasUnder(d.path) {
		return fmt.Errorf("cannot write %s: the index has files under it", d.path)
	}
	for dir := d.path; strings.Contains(dir, "/"); {
		dir = dir[:strings.LastIndex(dir, "/")]
		if _, ok := idx.find(dir); ok {
			return fmt.Errorf("cannot write %s: %s is a file in the index", d.path, dir)
		}
	}
	return nil
}
