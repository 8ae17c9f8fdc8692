package gitrepo

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
	tree, err := commitTree(r.storage(), h.hash)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if _, err := tree.Tree(p); err == nil {
			return fmt.Errorf("cannot check %s: it is a directory", p)
		}
	}
	state, err := r.status(context.Background(), paths)
	if err != nil {
		return err
	}
	return dirtyError(state)
}

func dirtyError(state map[string]string) error {
	if len(state) == 0 {
		return nil
	}
	e := &DirtyError{State: state}
	for p := range state {
		e.Paths = append(e.Paths, p)
	}
	sort.Strings(e.Paths)
	return e
}

// status asks `git status` which of paths differ from HEAD in the index or the working tree,
// and how. Filters, core.fileMode, assume-unchanged and skip-worktree entries count as git
// counts them. GIT_OPTIONAL_LOCKS=0: it runs while Commit holds the index lock.
func (r *Repo) status(ctx context.Context, paths []string) (map[string]string, error) {
	state := map[string]string{}
	if len(paths) == 0 {
		return state, nil
	}
	args := append([]string{"--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all",
		"--ignored=matching", "--no-renames", "--ignore-submodules=all", "--"}, paths...)
	out, err := gitCmd{dir: r.root, env: []string{"GIT_OPTIONAL_LOCKS=0"}}.run(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("failed to check the files to change: %w", err)
	}
	for _, line := range strings.Split(string(out), "\x00") {
		if len(line) < 4 {
			continue
		}
		xy, name := line[:2], line[3:]
		for _, p := range paths {
			if name == p || strings.HasPrefix(name, p+"/") {
				state[p] = statusWord(xy)
			}
		}
	}
	return state, nil
}

// statusWord names a porcelain status code.
func statusWord(xy string) string {
	switch {
	case xy == "??" || xy == "!!":
		return "untracked"
	case strings.ContainsRune(xy, 'U') || xy == "AA" || xy == "DD":
		return "unmerged"
	case xy[0] != ' ' || xy[1] == 'A':
		return "staged"
	case xy[1] == 'D':
		return "deleted"
	default:
		return "modified"
	}
}
