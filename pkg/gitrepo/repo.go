package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

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
	cfg, err := readRepoConfig(r)
	if err != nil {
		return nil, fmt.Errorf("failed to open repository at %s: %w", root, err)
	}
	// Formats go-git cannot read or this package cannot write safely are refused up front.
	if v, _ := cfg.get("extensions", "", "objectformat"); v != "" && !strings.EqualFold(v, "sha1") {
		return nil, fmt.Errorf("repository %s uses object format %s, which is not supported", root, v)
	}
	if v, _ := cfg.get("extensions", "", "refstorage"); v != "" && !strings.EqualFold(v, "files") {
		return nil, fmt.Errorf("repository %s stores references as %s, which is not supported", root, v)
	}
	return r, nil
}

// Root is the top directory of the working tree.
func (r *Repo) Root() string { return r.root }

// storage opens the object database. It is opened per operation because go-git caches the list
// of pack files, which a concurrent fetch or gc changes.
func (r *Repo) storage() *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(r.commonDir), cache.NewObjectLRUDefault())
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
	c, err := readCommit(s, plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, err)
	}
	e, err := lookupPath(s, c.tree, path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, err)
	}
	if e == nil || e.isDir() {
		return nil, fmt.Errorf("failed to read %s at %.12s: %w", path, commit, fs.ErrNotExist)
	}
	return readObject(s, plumbing.BlobObject, e.hash)
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
