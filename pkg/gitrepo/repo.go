package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// ErrNotRepository is returned by Open when no enclosing Git working tree exists.
var ErrNotRepository = errors.New("not a git repository")

// Repo is a Git working tree and its repository. It holds only paths: every operation reads the
// repository afresh, so one Repo may be shared by goroutines and outlives changes made by git.
type Repo struct {
	root      string // the working tree
	gitDir    string // HEAD, index and per-worktree refs (.git, or .git/worktrees/NAME)
	commonDir string // objects, branches, config (the same as gitDir except in linked worktrees)
	// warmConfig is the configuration WarmCommit started reading; nil: a commit reads it.
	warmConfig func() (commitConfig, error)
}

// CacheDir is where kubectl-gitops keeps data it can compute again (renders), inside the git
// directory so it goes with the repository.
func (r *Repo) CacheDir() string { return filepath.Join(r.commonDir, "kubectl-gitops") }

// Open finds the working tree containing dir, searching upward like
// `git rev-parse --show-toplevel`.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open repository at %s: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else {
		return nil, fmt.Errorf("failed to open repository at %s: %w", dir, err)
	}
	for d := abs; ; {
		gitDir, err := findGitDir(d)
		if err != nil {
			return nil, fmt.Errorf("failed to open repository at %s: %w", d, err)
		}
		if gitDir != "" {
			return newRepo(d, gitDir)
		}
		if isGitDir(d) && isDir(filepath.Join(d, "objects")) {
			return nil, fmt.Errorf("%s is a bare repository or a git directory; a working tree is needed", d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil, fmt.Errorf("%w (or any of the parent directories): %s", ErrNotRepository, abs)
		}
		d = parent
	}
}

// findGitDir returns the git directory of a working tree rooted at dir, or "" if dir has none.
func findGitDir(dir string) (string, error) {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	case fi.IsDir():
		if !isGitDir(dotGit) {
			return "", nil
		}
		return dotGit, nil
	}
	// A .git file ("gitdir: PATH") marks a linked worktree or a submodule.
	b, err := os.ReadFile(dotGit)
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(b))
	target, ok := strings.CutPrefix(line, "gitdir:")
	if !ok {
		return "", fmt.Errorf("invalid .git file %s", dotGit)
	}
	target = strings.TrimSpace(target)
	if !filepath.IsAbs(target) {
		target = filepath.Join(dir, target)
	}
	if !isGitDir(target) {
		return "", fmt.Errorf(".git file %s points to %s, which is not a git directory", dotGit, target)
	}
	return filepath.Clean(target), nil
}

func isGitDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return false
	}
	return true
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func newRepo(root, gitDir string) (*Repo, error) {
	common := gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		common = filepath.Clean(c)
	}
	r := &Repo{root: root, gitDir: gitDir, commonDir: common}
	// go-git reads and writes objects here; formats it cannot handle are refused up front.
	// Extensions live in the repository's own config file, never in an included one.
	f, err := os.Open(filepath.Join(common, "config"))
	if err != nil {
		return nil, fmt.Errorf("failed to open repository at %s: %w", root, err)
	}
	defer f.Close()
	cfg := gitconfig.New()
	if err := gitconfig.NewDecoder(f).Decode(cfg); err != nil {
		return nil, fmt.Errorf("failed to open repository at %s: reading its config: %w", root, err)
	}
	ext := cfg.Section("extensions")
	if v := ext.Option("objectformat"); v != "" && !strings.EqualFold(v, "sha1") {
		return nil, fmt.Errorf("repository %s uses object format %s, which is not supported", root, v)
	}
	if v := ext.Option("refstorage"); v != "" && !strings.EqualFold(v, "files") {
		return nil, fmt.Errorf("repository %s stores references as %s, which is not supported", root, v)
	}
	return r, nil
}

// Root is the top directory of the working tree.
func (r *Repo) Root() string { return r.root }

// storage opens the repository with go-git, which reads references and objects and writes
// blobs. It is opened per operation because go-git caches the list of pack files, which a
// concurrent fetch or gc changes.
func (r *Repo) storage() *filesystem.Storage {
	fs := dotgit.NewRepositoryFilesystem(osfs.New(r.gitDir), osfs.New(r.commonDir))
	return filesystem.NewStorage(fs, cache.NewObjectLRUDefault())
}

// head is what HEAD points to.
type head struct {
	ref    string        // "refs/heads/NAME", or "" when detached
	hash   plumbing.Hash // the commit, if exists
	exists bool          // false on an unborn branch
}

func (r *Repo) readHead() (head, error) {
	s := r.storage()
	ref, err := s.Reference(plumbing.HEAD)
	if err != nil {
		return head{}, fmt.Errorf("failed to read HEAD: %w", err)
	}
	if ref.Type() != plumbing.SymbolicReference {
		return head{hash: ref.Hash(), exists: true}, nil
	}
	h := head{ref: ref.Target().String()}
	h.hash, h.exists, err = readRef(s, h.ref)
	return h, err
}

// readRef resolves a reference to an object; false if it does not exist.
func readRef(s *filesystem.Storage, name string) (plumbing.Hash, bool, error) {
	ref, err := storer.ResolveReference(s, plumbing.ReferenceName(name))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("failed to read %s: %w", name, err)
	}
	return ref.Hash(), true, nil
}

// HeadCommit is the commit HEAD points to.
func (r *Repo) HeadCommit() (string, error) {
	h, err := r.readHead()
	if err != nil {
		return "", err
	}
	if !h.exists {
		return "", fmt.Errorf("HEAD of %s has no commit yet (branch %s is unborn)", r.root, shortBranch(h.ref))
	}
	return h.hash.String(), nil
}

// CurrentBranch is the short name of the checked-out branch; an error if HEAD is detached.
func (r *Repo) CurrentBranch() (string, error) {
	h, err := r.readHead()
	if err != nil {
		return "", err
	}
	if h.ref == "" {
		return "", fmt.Errorf("HEAD of %s is detached at %s, not on a branch", r.root, h.hash)
	}
	return shortBranch(h.ref), nil
}

// ReadFileAtHead returns the content of a file in HEAD's tree. path is slash-separated and
// relative to the root.
func (r *Repo) ReadFileAtHead(path string) ([]byte, error) {
	h, err := r.readHead()
	if err != nil {
		return nil, err
	}
	if !h.exists {
		return nil, fmt.Errorf("failed to read %s at HEAD: %w", path, fs.ErrNotExist)
	}
	return r.ReadFileAt(h.hash.String(), path)
}

// ReadFileAt returns the content of a file in a commit's tree.
func (r *Repo) ReadFileAt(commit, path string) ([]byte, error) {
	if err := validPath(path); err != nil {
		return nil, err
	}
	s := r.storage()
	hash, err := parseHash(commit)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	tree, err := commitTree(s, hash)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, err)
	}
	e, err := tree.FindEntry(path)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) ||
		err == nil && !e.Mode.IsFile() {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, err)
	}
	return readBlob(s, e.Hash)
}

// commitTree is the tree of a commit; an empty tree for ZeroHash (no commit yet).
func commitTree(s *filesystem.Storage, commit plumbing.Hash) (*object.Tree, error) {
	if commit.IsZero() {
		return &object.Tree{}, nil
	}
	c, err := object.GetCommit(s, commit)
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

func readBlob(s *filesystem.Storage, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(s, h)
	if err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// validPath accepts clean, relative, slash-separated paths that stay inside the working tree
// and do not reach into .git.
func validPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("invalid repository path %q: want a relative, slash-separated file path", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return fmt.Errorf("invalid repository path %q: want a relative, slash-separated file path", p)
		}
	}
	return nil
}

func parseHash(s string) (plumbing.Hash, error) {
	if len(s) != 40 || !plumbing.IsHash(s) {
		return plumbing.ZeroHash, fmt.Errorf("invalid object name %q", s)
	}
	return plumbing.NewHash(s), nil
}

// validBranch checks a short branch name against git's rules for reference names.
func validBranch(name string) error {
	ref := plumbing.NewBranchReferenceName(name)
	if name == "" || name == "HEAD" || strings.HasPrefix(name, "-") || ref.Validate() != nil {
		return fmt.Errorf("invalid branch name %q", name)
	}
	return nil
}

func shortBranch(ref string) string { return strings.TrimPrefix(ref, "refs/heads/") }

// IndexStamp identifies the state of the repository's index file: every commit kubectl-gitops
// or git makes, and every `git add`, writes a new one. Stats of the working tree taken under one
// stamp may be trusted under the same stamp by the same command ("" when there is no index).
func (r *Repo) IndexStamp() string {
	st, err := fsstat.Lstat(filepath.Join(r.gitDir, "index"))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d %d %d %d", st.Size, st.Mtime, st.Ctime, st.Ino)
}
