package gitrepo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// txn is one commit in progress. Its journal, in a directory that exists only while a commit is
// under way, tells the next holder of the lock how to finish or undo it after a kill.
type txn struct {
	r   *Repo
	dir string
	j   journal
	// given are the working tree bytes of the changes' blobs (newObjects.given).
	given map[string]givenFile
}

// The phases of a commit, as the journal records them.
const (
	phasePrepare  = "prepare"  // only files inside the git directory may have been written
	phaseWorktree = "worktree" // Files may have been written in the working tree
	phaseCommit   = "commit"   // the commit and the new index are ready; Ref may have moved to New
	phaseRollback = "rollback" // being undone
)

type journal struct {
	Root, GitDir string
	Phase        string
	Token        string // in our index.lock and the names of our temporary files
	Ref          string // the reference moved ("refs/heads/NAME", or HEAD when detached)
	New          string `json:",omitempty"` // the commit Ref moves to
	Index        bool   // the index and working tree follow Ref
	// Files are the working tree files the commit writes, with their state at HEAD (Mode 0:
	// absent); Dirs the directories it creates, parents first.
	Files []journalFile `json:",omitempty"`
	Dirs  []string      `json:",omitempty"`
}

type journalFile struct {
	Path string
	Mode filemode.FileMode `json:",omitempty"`
	Hash string            `json:",omitempty"`
	Perm fs.FileMode       `json:",omitempty"` // the file's permission bits before
}

func (r *Repo) txnDir() string          { return filepath.Join(r.CacheDir(), "commit") }
func (tx *txn) commitIndexPath() string { return filepath.Join(tx.dir, "index") }
func (tx *txn) newIndexPath() string    { return filepath.Join(tx.r.gitDir, "kubectl-gitops-index") }
func (tx *txn) tokenPath() string       { return filepath.Join(tx.r.gitDir, "kubectl-gitops-lock") }
func (tx *txn) indexPath() string       { return filepath.Join(tx.r.gitDir, "index") }
func (tx *txn) lockContent() []byte     { return []byte("kubectl-gitops " + tx.j.Token + "\n") }

// tmpPath is where a working tree file is written before it is renamed into place.
func (tx *txn) tmpPath(rel string) string {
	abs := tx.abs(rel)
	return filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".kubectl-gitops-"+tx.j.Token)
}

func (tx *txn) abs(rel string) string { return filepath.Join(tx.r.root, filepath.FromSlash(rel)) }

// begin starts the commit's transaction: its directory, then its journal.
func (r *Repo) begin(t target) (*txn, error) {
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	tx := &txn{r: r, dir: r.txnDir(), j: journal{Root: r.root, GitDir: r.gitDir, Phase: phasePrepare,
		Token: hex.EncodeToString(tok[:]), Ref: t.branch, Index: t.checkedOut}}
	if tx.j.Ref == "" {
		tx.j.Ref = "HEAD"
	}
	if err := os.MkdirAll(r.CacheDir(), 0o777); err != nil {
		return nil, err
	}
	fault("mkdir " + tx.rel(tx.dir))
	if err := os.Mkdir(tx.dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("another commit is under way in this repository, or one was interrupted (%s exists); "+
				"commits are made under the repository lock, whose next holder recovers an interrupted one", tx.dir)
		}
		return nil, err
	}
	if err := tx.save(); err != nil {
		_ = os.RemoveAll(tx.dir)
		return nil, err
	}
	return tx, nil
}

func (tx *txn) save() error {
	b, err := json.Marshal(tx.j)
	if err != nil {
		return err
	}
	tmp := filepath.Join(tx.dir, "journal.new")
	if err := tx.write(tmp, b, 0o666); err != nil {
		return err
	}
	return tx.rename(tmp, filepath.Join(tx.dir, "journal"))
}

// lockIndex takes index.lock as git does, so no git command changes the index until the commit
// is done. The lock file appears with its content at once (a hard link of a file holding our
// token), so a lock left by a kill is known to be ours.
func (tx *txn) lockIndex() error {
	tok, lock := tx.tokenPath(), tx.indexPath()+".lock"
	if err := tx.write(tok, tx.lockContent(), 0o666); err != nil {
		return err
	}
	deadline := time.Now().Add(lockFileTimeout)
	delay := 5 * time.Millisecond
	for {
		fault("link " + tx.rel(lock))
		err := os.Link(tok, lock)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("unable to create %s: %w", lock, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unable to create %s: it exists; another git process seems to be running in this "+
				"repository; if not, remove the file and try again", lock)
		}
		time.Sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
	return tx.remove(tok)
}

// lockFileTimeout is how long to wait for a lock git itself holds: editors run `git status`
// often, and it holds index.lock for a moment.
const lockFileTimeout = 3 * time.Second

// unlockIndex removes index.lock if it is ours.
func (tx *txn) unlockIndex() error {
	lock := tx.indexPath() + ".lock"
	if b, err := os.ReadFile(lock); err == nil && bytes.Equal(b, tx.lockContent()) {
		if err := tx.remove(lock); err != nil {
			return err
		}
	}
	return tx.remove(tx.tokenPath())
}

// git runs git in the working tree.
func (tx *txn) git(ctx context.Context, env []string, stdin io.Reader, args ...string) ([]byte, error) {
	return gitCmd{dir: tx.r.root, env: env, stdin: stdin}.run(ctx, args...)
}

// commitIndex writes the commit's index, the parent's tree with the changes, and returns its
// tree. For a pre-commit hook, which may compare it with the working tree, it starts from a
// copy of the user's index, so the entries keep their stat data, as git commit --only's
// temporary index does.
func (tx *txn) commitIndex(ctx context.Context, t target, changes []delta, statData bool) (plumbing.Hash, error) {
	env := []string{"GIT_INDEX_FILE=" + tx.commitIndexPath()}
	if statData {
		b, err := os.ReadFile(tx.indexPath())
		if err == nil {
			err = tx.write(tx.commitIndexPath(), b, 0o666)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return plumbing.ZeroHash, err
		}
	}
	args := []string{"read-tree", "--empty"}
	if !t.parent.IsZero() {
		args = []string{"read-tree", "--reset", t.parent.String()}
	}
	if _, err := tx.git(ctx, env, nil, args...); err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := tx.git(ctx, env, indexInfo(changes, nil), "update-index", "-z", "--index-info"); err != nil {
		return plumbing.ZeroHash, err
	}
	return tx.writeTree(ctx)
}

// indexInfo is the input of `git update-index -z --index-info` that gives the deltas' paths their
// new state, except those in skip.
func indexInfo(deltas []delta, skip map[string]bool) io.Reader {
	var b bytes.Buffer
	for _, d := range deltas {
		if !skip[d.path] {
			// Mode 0 removes the entry.
			fmt.Fprintf(&b, "%o %s\t%s\x00", uint32(d.to.mode), d.to.hash, d.path)
		}
	}
	return &b
}

// emptyTree is the tree with no entries, which git knows without storing it.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// diffTrees lists what differs between the tree of from and tree, with `git diff-tree`.
func (tx *txn) diffTrees(ctx context.Context, from *object.Tree, tree plumbing.Hash) ([]delta, error) {
	a := cmp.Or(from.Hash, emptyTree)
	out, err := tx.git(ctx, nil, nil, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-ext-diff", a.String(), tree.String())
	if err != nil {
		return nil, err
	}
	// Each change is ":OLDMODE NEWMODE OLDHASH NEWHASH STATUS\0PATH\0".
	fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	var deltas []delta
	for i := 0; i+1 < len(fields); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(meta) != 5 {
			return nil, fmt.Errorf("git diff-tree: unexpected output %q", fields[i])
		}
		d := delta{path: fields[i+1]}
		for j, e := range []*entry{&d.from, &d.to} {
			mode, err := filemode.New(meta[j])
			if err != nil {
				return nil, err
			}
			if mode != filemode.Empty {
				*e = entry{mode, plumbing.NewHash(meta[2+j])}
			}
		}
		deltas = append(deltas, d)
	}
	return deltas, nil
}

func (tx *txn) writeTree(ctx context.Context) (plumbing.Hash, error) {
	out, err := tx.git(ctx, []string{"GIT_INDEX_FILE=" + tx.commitIndexPath()}, nil, "write-tree")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return parseHash(string(bytes.TrimSpace(out)))
}

// exportTree checks the commit's index out into a directory of the transaction, where the hooks
// of a commit to another branch run: they see exactly the tree being committed.
func (tx *txn) exportTree(ctx context.Context, hooks *hookRun) error {
	if !hooks.exists("pre-commit") && !hooks.exists("prepare-commit-msg") && !hooks.exists("commit-msg") &&
		!hooks.exists("post-commit") {
		return nil
	}
	dir := filepath.Join(tx.dir, "tree")
	if _, err := tx.git(ctx, hooks.env, nil, "checkout-index", "--all", "--prefix="+dir+string(filepath.Separator)); err != nil {
		return err
	}
	hooks.dir = dir
	hooks.env = append(hooks.env, "GIT_DIR="+tx.r.gitDir, "GIT_WORK_TREE="+dir)
	return nil
}

// worktreeDeltas leaves out submodules: their checkout is not this repository's to change.
func worktreeDeltas(deltas []delta) []delta {
	var out []delta
	for _, d := range deltas {
		if d.from.mode != filemode.Submodule && d.to.mode != filemode.Submodule && d.from != d.to {
			out = append(out, d)
		}
	}
	return out
}

// writeWorktree brings the working tree files of deltas to their new state, after recording
// their old state in the journal. A file is written beside its destination and renamed into
// place, so a reader never sees half of it.
func (tx *txn) writeWorktree(ctx context.Context, s *filesystem.Storage, deltas []delta) error {
	deltas = worktreeDeltas(deltas)
	var files []journalFile
	var dirs []string
	created := map[string]bool{}
	for _, d := range deltas {
		f := journalFile{Path: d.path, Mode: d.from.mode}
		if d.from.mode != 0 {
			f.Hash = d.from.hash.String()
			if fi, err := os.Lstat(tx.abs(d.path)); err == nil {
				f.Perm = fi.Mode().Perm()
			}
		}
		files = append(files, f)
		parts := strings.Split(d.path, "/")
		for i := 1; i < len(parts); i++ {
			dir := strings.Join(parts[:i], "/")
			fi, err := os.Lstat(tx.abs(dir))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if d.to.mode != 0 && !created[dir] {
					created[dir] = true
					dirs = append(dirs, dir)
				}
			case err != nil:
				return fmt.Errorf("cannot write %s: %w", d.path, err)
			case !fi.IsDir():
				return fmt.Errorf("cannot write %s: %s is not a directory in the working tree", d.path, dir)
			}
		}
	}
	tx.j.Phase, tx.j.Files, tx.j.Dirs = phaseWorktree, files, dirs
	if err := tx.save(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, d := range deltas {
		if d.to.mode == 0 {
			if err := tx.removeFile(d.path); err != nil {
				return err
			}
			continue
		}
		content, err := tx.worktreeBytes(ctx, s, d.path, d.to)
		if err != nil {
			return err
		}
		if err := tx.writeFile(d.path, content, d.to.mode, 0); err != nil {
			return err
		}
	}
	return nil
}

// worktreeBytes is what a checkout writes at p for e: the bytes the commit was given for it,
// else the blob, through git's smudge filter and end-of-line conversion where
// attributes may apply (attributes.go).
func (tx *txn) worktreeBytes(ctx context.Context, s *filesystem.Storage, p string, e entry) ([]byte, error) {
	if g, ok := tx.given[p]; ok && g.hash == e.hash {
		return g.content, nil
	}
	if e.mode != filemode.Symlink && tx.r.hasAttributes(commitConfig{}, []string{p}) {
		out, err := runGit(ctx, tx.r.root, nil, nil, "cat-file", "--filters", "--path="+p, e.hash.String())
		if err != nil {
			return nil, fmt.Errorf("failed to read %s as git checks it out: %w", p, err)
		}
		return out, nil
	}
	return readBlob(s, e.hash)
}

// writeFile writes a working tree file. perm 0 keeps the permission bits of the file it
// replaces, apart from the executable bits that mode asks for.
func (tx *txn) writeFile(rel string, content []byte, mode filemode.FileMode, perm fs.FileMode) error {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := tx.abs(strings.Join(parts[:i], "/"))
		if _, err := os.Lstat(dir); err == nil {
			continue
		}
		fault("mkdir " + tx.rel(dir))
		if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
	}
	dst, tmp := tx.abs(rel), tx.tmpPath(rel)
	if mode == filemode.Symlink {
		fault("symlink " + tx.rel(tmp))
		if err := os.Symlink(string(content), tmp); err != nil {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
		return tx.rename(tmp, dst)
	}
	exec := mode == filemode.Executable
	fi, err := os.Lstat(dst)
	keep := perm != 0 || err == nil && fi.Mode().IsRegular() // bits to keep rather than the umask's
	if perm == 0 && keep {
		perm = fi.Mode().Perm()
	}
	switch {
	case perm == 0 && exec:
		perm = 0o777 // less the umask, as for a new file
	case perm == 0:
		perm = 0o666
	case exec:
		perm |= (perm & 0o444) >> 2
	default:
		perm &^= 0o111
	}
	if err := tx.write(tmp, content, perm); err != nil {
		return fmt.Errorf("cannot write %s: %w", rel, err)
	}
	if keep {
		if err := os.Chmod(tmp, perm); err != nil {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
	}
	return tx.rename(tmp, dst)
}

// removeFile removes a working tree file and the directories it leaves empty, as git does.
func (tx *txn) removeFile(rel string) error {
	if err := tx.remove(tx.abs(rel)); err != nil {
		return err
	}
	for dir := filepath.Dir(tx.abs(rel)); dir != tx.r.root && strings.HasPrefix(dir, tx.r.root); dir = filepath.Dir(dir) {
		fault("rmdir " + tx.rel(dir))
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// newIndex writes the user's index as it is to be after the commit, beside it: the entries of
// deltas get their new state, all others stay as they are. Entries that a hook changed besides
// the clean ones keep the work the user staged in them.
func (tx *txn) newIndex(ctx context.Context, deltas []delta, clean map[string]bool) error {
	var extra []string
	for _, d := range worktreeDeltas(deltas) {
		if !clean[d.path] {
			extra = append(extra, d.path)
		}
	}
	state, err := tx.r.status(ctx, extra)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for p, s := range state {
		keep[p] = s == "staged" || s == "unmerged"
	}
	b, err := os.ReadFile(tx.indexPath())
	if err == nil {
		err = tx.write(tx.newIndexPath(), b, 0o666)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The entries written get no stat data: the next `git status` reads those few files.
	_, err = tx.git(ctx, []string{"GIT_INDEX_FILE=" + tx.newIndexPath()}, indexInfo(deltas, keep), "update-index", "-z", "--index-info")
	return err
}

// updateRef moves t.ref to commit with `git update-ref`, which checks that it still has the old
// value under the reference's lock and writes the reflogs. The journal says first that the
// commit may be made.
func (tx *txn) updateRef(ctx context.Context, t target, commit plumbing.Hash, reflog string) error {
	tx.j.Phase, tx.j.New = phaseCommit, commit.String()
	if err := tx.save(); err != nil {
		return err
	}
	old := ""
	if !t.old.IsZero() {
		old = t.old.String()
	}
	_, err := tx.git(ctx, nil, nil, "update-ref", "-m", strings.ReplaceAll(reflog, "\n", " "), t.ref, commit.String(), old)
	if err == nil {
		return nil
	}
	// Interrupted at its end, git may have moved the ref all the same.
	cur, ok, rerr := readRef(tx.r.storage(), tx.j.Ref)
	switch {
	case rerr != nil:
	case ok && cur == commit:
		return nil
	case ok != !t.old.IsZero() || ok && cur != t.old:
		e := &RefMovedError{Ref: tx.j.Ref}
		if !t.old.IsZero() {
			e.Expected = t.old.String()
		}
		if ok {
			e.Actual = cur.String()
		}
		return e
	}
	return fmt.Errorf("failed to move %s to the new commit: %w", tx.j.Ref, err)
}

// RefMovedError is returned when a reference no longer points where the commit started from:
// someone else committed meanwhile.
type RefMovedError struct {
	Ref      string
	Expected string // "" when the reference was expected not to exist
	Actual   string // "" when it does not exist
}

func (e *RefMovedError) Error() string {
	exp, act := e.Expected, e.Actual
	if exp == "" {
		exp = "nothing"
	}
	if act == "" {
		act = "nothing"
	}
	return fmt.Sprintf("%s moved while committing: expected %.12s, found %.12s", e.Ref, exp, act)
}

// finish completes a commit whose reference has moved: the new index takes the old one's place,
// the index lock goes, then the journal.
func (tx *txn) finish() error {
	if _, err := os.Lstat(tx.newIndexPath()); err == nil {
		if err := tx.rename(tx.newIndexPath(), tx.indexPath()); err != nil {
			return err
		}
	}
	if err := tx.unlockIndex(); err != nil {
		return err
	}
	return tx.end()
}

// rollback undoes a commit whose reference has not moved: the working tree files get their
// HEAD state back, then the index lock and the journal go.
func (tx *txn) rollback() error {
	if tx.j.Phase == phaseCommit {
		tx.j.Phase = phaseRollback // from now on the missing new index no longer means it is in place
		if err := tx.save(); err != nil {
			return err
		}
	}
	s := tx.r.storage()
	for _, f := range tx.j.Files {
		if err := tx.restore(s, f); err != nil {
			return fmt.Errorf("failed to restore %s: %w", f.Path, err)
		}
	}
	for i := len(tx.j.Dirs) - 1; i >= 0; i-- {
		dir := tx.abs(tx.j.Dirs[i])
		fault("rmdir " + tx.rel(dir))
		_ = os.Remove(dir) // only if empty
	}
	if err := tx.remove(tx.newIndexPath()); err != nil {
		return err
	}
	if err := tx.unlockIndex(); err != nil {
		return err
	}
	return tx.end()
}

// restore gives a working tree file its state at HEAD unless it has it.
func (tx *txn) restore(s *filesystem.Storage, f journalFile) error {
	if err := tx.remove(tx.tmpPath(f.Path)); err != nil {
		return err
	}
	abs := tx.abs(f.Path)
	fi, err := os.Lstat(abs)
	if f.Mode == 0 {
		if err == nil && !fi.IsDir() {
			return tx.remove(abs)
		}
		return nil
	}
	// Undone to the end, whatever cancelled the commit.
	content, cerr := tx.worktreeBytes(context.Background(), s, f.Path, entry{f.Mode, plumbing.NewHash(f.Hash)})
	if cerr != nil {
		return cerr
	}
	if err == nil && sameFile(abs, fi, f.Mode, content) {
		return nil
	}
	return tx.writeFile(f.Path, content, f.Mode, f.Perm)
}

func sameFile(abs string, fi fs.FileInfo, mode filemode.FileMode, content []byte) bool {
	if mode == filemode.Symlink {
		target, err := os.Readlink(abs)
		return err == nil && target == string(content)
	}
	if !fi.Mode().IsRegular() || (fi.Mode().Perm()&0o100 != 0) != (mode == filemode.Executable) {
		return false
	}
	b, err := os.ReadFile(abs)
	return err == nil && bytes.Equal(b, content)
}

// end removes the transaction's directory, the journal last.
func (tx *txn) end() error {
	entries, err := os.ReadDir(tx.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.Name() != "journal" {
			fault("remove " + tx.rel(filepath.Join(tx.dir, e.Name())))
			if err := os.RemoveAll(filepath.Join(tx.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := tx.remove(filepath.Join(tx.dir, "journal")); err != nil {
		return err
	}
	return tx.remove(tx.dir)
}

// recoverCommit finishes or undoes a commit a killed process left, as its journal says: one
// whose reference moved is finished, any other undone. The caller holds the lock.
func (r *Repo) recoverCommit() error {
	dir := r.txnDir()
	b, err := os.ReadFile(filepath.Join(dir, "journal"))
	if errors.Is(err, fs.ErrNotExist) {
		return os.RemoveAll(dir) // killed before its journal: nothing outside it was written
	}
	if err != nil {
		return err
	}
	tx := &txn{dir: dir}
	if err := json.Unmarshal(b, &tx.j); err != nil {
		return fmt.Errorf("the journal of an interrupted commit, %s, cannot be read (%v); remove the directory", dir, err)
	}
	tx.r = &Repo{root: tx.j.Root, gitDir: tx.j.GitDir, commonDir: r.commonDir}
	if !isDir(tx.j.GitDir) || !isDir(tx.j.Root) {
		return os.RemoveAll(dir) // its working tree was removed since
	}
	return tx.settle()
}

// settle finishes the commit if its reference moved, else undoes it.
func (tx *txn) settle() error {
	if tx.committed() {
		return tx.finish()
	}
	return tx.rollback()
}

// committed reports whether the journal's commit was made: its reference moved, or (the index
// being replaced only after that) its new index is no longer beside the index.
func (tx *txn) committed() bool {
	if tx.j.Phase != phaseCommit {
		return false
	}
	if _, err := os.Lstat(tx.newIndexPath()); tx.j.Index && errors.Is(err, fs.ErrNotExist) {
		return true
	}
	cur, ok, err := readRef(tx.r.storage(), tx.j.Ref)
	return err == nil && ok && cur.String() == tx.j.New
}

// The file operations of a commit, each a point where the tests kill it.

func (tx *txn) rel(p string) string {
	if rel, err := filepath.Rel(tx.r.root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

func (tx *txn) write(path string, b []byte, perm fs.FileMode) error {
	fault("write " + tx.rel(path))
	return os.WriteFile(path, b, perm)
}

func (tx *txn) rename(from, to string) error {
	fault("rename " + tx.rel(to))
	return os.Rename(from, to)
}

// remove removes a file; one that is not there is not an error.
func (tx *txn) remove(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	fault("remove " + tx.rel(path))
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
