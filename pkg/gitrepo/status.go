package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// DirtyError names the paths that have staged or unstaged changes against HEAD, which a commit
// would have to overwrite.
type DirtyError struct {
	Paths []string
	// State says, for each path, what is uncommitted: "staged", "modified", "deleted",
	// "untracked" or "unmerged".
	State map[string]string
}

func (e *DirtyError) Error() string {
	var b strings.Builder
	b.WriteString("uncommitted changes in files this change must write; commit or stash them first:")
	for _, p := range e.Paths {
		fmt.Fprintf(&b, "\n  %s (%s)", p, e.State[p])
	}
	return b.String()
}

func (e *DirtyError) add(path, state string) {
	if e.State == nil {
		e.State = map[string]string{}
	}
	e.Paths = append(e.Paths, path)
	e.State[path] = state
}

// CheckClean returns a *DirtyError naming each of paths (slash-separated, relative to the root)
// whose index entry or working tree file differs from HEAD.
func (r *Repo) CheckClean(paths []string) error {
	for _, p := range paths {
		if err := validPath(p); err != nil {
			return err
		}
	}
	h, err := r.readHead()
	if err != nil {
		return err
	}
	s := r.storage()
	var tree plumbing.Hash
	if h.exists {
		c, err := readCommit(s, h.hash)
		if err != nil {
			return err
		}
		tree = c.tree
	}
	cfg, err := readRepoConfig(r)
	if err != nil {
		return err
	}
	return r.checkClean(s, cfg, tree, paths)
}

func (r *Repo) checkClean(s *filesystem.Storage, cfg *gitConfig, tree plumbing.Hash, paths []string) error {
	idx, err := readIndex(filepath.Join(r.gitDir, "index"))
	if err != nil {
		return err
	}
	fileMode := configFileMode(cfg)
	dirty := &DirtyError{}
	for _, p := range paths {
		e, err := lookupPath(s, tree, p)
		if err != nil {
			return err
		}
		if e != nil && e.isDir() {
			return fmt.Errorf("cannot check %s: it is a directory", p)
		}
		state, err := r.pathState(idx, e, p, fileMode)
		if err != nil {
			return err
		}
		if state != "" {
			dirty.add(p, state)
		}
	}
	if len(dirty.Paths) > 0 {
		return dirty
	}
	return nil
}

func configFileMode(cfg *gitConfig) bool {
	v, set, err := cfg.getBool("core", "", "filemode")
	return !set || err != nil || v
}

// pathState compares a path's entry in HEAD (nil: absent), the index and the working tree; ""
// means clean.
func (r *Repo) pathState(idx *gitIndex, head *treeEntry, path string, fileMode bool) (string, error) {
	var entry *indexEntry
	for _, e := range idx.entriesFor(path) {
		if e.stage() != 0 {
			return "unmerged", nil
		}
		entry = e
	}
	switch {
	case head == nil && entry != nil, head != nil && entry == nil:
		return "staged", nil
	case head != nil && (entry.hash != head.hash || entry.mode != canonicalMode(head.mode) || entry.intentToAdd()):
		return "staged", nil
	case entry != nil && entry.skipWorktree():
		return "", nil
	}
	abs := filepath.Join(r.root, filepath.FromSlash(path))
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || isNotDir(err) {
		if entry == nil {
			return "", nil
		}
		return "deleted", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to check %s: %w", path, err)
	}
	if entry == nil {
		return "untracked", nil
	}
	var content []byte
	switch canonicalMode(entry.mode) {
	case 0o160000:
		return "", nil // a submodule's own state is not this repository's business
	case 0o120000:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return "modified", nil
		}
		target, err := os.Readlink(abs)
		if err != nil {
			return "", fmt.Errorf("failed to check %s: %w", path, err)
		}
		content = []byte(target)
	default:
		if !fi.Mode().IsRegular() {
			return "modified", nil
		}
		if fileMode && (fi.Mode().Perm()&0o100 != 0) != (entry.mode == 0o100755) {
			return "modified", nil
		}
		if content, err = os.ReadFile(abs); err != nil {
			return "", fmt.Errorf("failed to check %s: %w", path, err)
		}
	}
	if plumbing.ComputeHash(plumbing.BlobObject, content) != entry.hash {
		return "modified", nil
	}
	return "", nil
}

// isNotDir is the error of a path whose parent is a file: the path cannot exist.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
