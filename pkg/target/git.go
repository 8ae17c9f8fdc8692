package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// Git runs the git executable. Resolve shells out for clone and fetch so that the user's
// credential helpers, ssh configuration and proxies apply.
type Git interface {
	// Run runs git with args in dir and returns its standard output. It may be called from
	// several goroutines at once.
	Run(ctx context.Context, dir string, args ...string) (string, error)
}

// ExecGit runs the git found on PATH.
type ExecGit struct{}

// Run implements Git.
func (ExecGit) Run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// checkout is a local git worktree.
type checkout struct {
	top     string            // the worktree root
	branch  string            // current branch; "" when detached
	remotes map[string]string // remote name → fetch URL
	// branchRemotes are the branches' remotes (branch.<name>.remote), read with the remotes.
	branchRemotes map[string]string
}

// openCheckout describes the git worktree that contains dir, or returns nil when dir is not in
// one. Its three git processes run at once: each costs milliseconds, and git finds the
// repository from any directory in it.
func openCheckout(ctx context.Context, git Git, dir string) (*checkout, error) {
	var branch, config string
	var branchErr, configErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		branch, branchErr = git.Run(ctx, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	}()
	go func() {
		defer wg.Done()
		// One git process for the remotes and the branches' remotes.
		config, configErr = git.Run(ctx, dir, "config", "--get-regexp", `^(remote\..*\.url|branch\..*\.remote)$`)
	}()
	out, err := git.Run(ctx, dir, "rev-parse", "--show-toplevel")
	wg.Wait()
	if err != nil {
		if !isDir(dir) {
			return nil, fmt.Errorf("directory %s does not exist", dir)
		}
		return nil, nil
	}
	c := &checkout{top: filepath.Clean(strings.TrimSpace(out)), remotes: map[string]string{}, branchRemotes: map[string]string{}}
	if branchErr == nil {
		c.branch = strings.TrimSpace(branch)
	}
	if configErr == nil {
		for _, line := range strings.Split(strings.TrimSpace(config), "\n") {
			key, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			val = strings.TrimSpace(val)
			if name, ok := strings.CutPrefix(key, "remote."); ok {
				c.remotes[strings.TrimSuffix(name, ".url")] = val
			} else if name, ok := strings.CutPrefix(key, "branch."); ok {
				c.branchRemotes[strings.TrimSuffix(name, ".remote")] = val
			}
		}
	}
	return c, nil
}

// remoteURL is the URL of the current branch's remote, else of origin, else of the only remote.
func (c *checkout) remoteURL() string {
	if r, ok := c.branchRemotes[c.branch]; ok && c.branch != "" {
		if u, ok := c.remotes[r]; ok {
			return u
		}
	}
	if u, ok := c.remotes["origin"]; ok {
		return u
	}
	if len(c.remotes) == 1 {
		for _, u := range c.remotes {
			return u
		}
	}
	return ""
}

// remoteFor names the checkout's remote whose URL is the same repository as u.
func (c *checkout) remoteFor(u string) (string, bool) {
	for name, ru := range c.remotes {
		if SameRepository(ru, u) {
			return name, true
		}
	}
	return "", false
}

// NormalizeURL is reconciler.NormalizeURL, the one model of a repository's URL.
func NormalizeURL(raw string) string { return reconciler.NormalizeURL(raw) }

// SameRepository reports whether two remote URLs name the same repository.
func SameRepository(a, b string) bool { return reconciler.SameRepository(a, b) }

// cacheSubdir is where the tool's clone of a URL lives below the cache directory:
// <host>/<path>, each segment reduced to safe characters; local repositories go under "file".
func cacheSubdir(rawURL string) string {
	n := NormalizeURL(rawURL)
	if strings.HasPrefix(n, "file://") {
		n = "file" + strings.TrimPrefix(n, "file://")
	}
	var segs []string
	for _, seg := range strings.Split(n, "/") {
		if seg == "" {
			continue
		}
		seg = unsafeChars.ReplaceAllString(seg, "_")
		if seg == "." || seg == ".." {
			seg = "_"
		}
		segs = append(segs, seg)
	}
	if len(segs) == 1 {
		segs = append(segs, "_")
	}
	return filepath.FromSlash(path.Join(segs...))
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// remoteDefaultBranch asks the remote which branch its HEAD is.
func remoteDefaultBranch(ctx context.Context, git Git, dir, remote string) (string, error) {
	out, err := git.Run(ctx, dir, "ls-remote", "--symref", remote, "HEAD")
	if err != nil {
		return "", fmt.Errorf("failed to find the default branch of %s: %w", remote, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if ref, ok := strings.CutPrefix(line, "ref: refs/heads/"); ok {
			b, _, _ := strings.Cut(ref, "\t")
			return strings.TrimSpace(b), nil
		}
	}
	return "", fmt.Errorf("failed to find the default branch of %s: it reports no HEAD branch", remote)
}

// syncClone makes dir the tool's clone of rawURL with branch checked out at the remote's
// branch head: cloned when missing, else fetched and hard-reset, discarding anything left in it.
// An empty branch means the remote's default branch; the branch is returned.
func syncClone(ctx context.Context, git Git, rawURL, branch, dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); errors.Is(err, os.ErrNotExist) {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return "", fmt.Errorf("cache directory %s is not a git clone; remove it and try again", dir)
		}
		if err := cloneInto(ctx, git, rawURL, branch, dir); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", fmt.Errorf("failed to read the cached clone: %w", err)
	}

	out, err := git.Run(ctx, dir, "config", "--get", "remote.origin.url")
	if err != nil || !SameRepository(strings.TrimSpace(out), rawURL) {
		return "", fmt.Errorf("cached clone %s is not a clone of %s; remove it and try again", dir, rawURL)
	}
	// Another invocation may be committing in the clone: the reset waits for its lock.
	repo, err := gitrepo.Open(dir)
	if err != nil {
		return "", fmt.Errorf("failed to open the cached clone: %w", err)
	}
	unlock, err := repo.Lock(ctx)
	if err != nil {
		return "", fmt.Errorf("failed to update the cached clone %s: %w", dir, err)
	}
	defer unlock()
	if branch == "" {
		if branch, err = remoteDefaultBranch(ctx, git, dir, "origin"); err != nil {
			return "", err
		}
	}
	remoteRef := "refs/remotes/origin/" + branch
	if _, err := git.Run(ctx, dir, "fetch", "--prune", "--no-tags", "origin", "+refs/heads/"+branch+":"+remoteRef); err != nil {
		return "", fmt.Errorf("failed to fetch branch %s of %s: %w", branch, rawURL, err)
	}
	for _, args := range [][]string{
		{"checkout", "--quiet", "--force", "-B", branch, remoteRef},
		{"reset", "--quiet", "--hard", remoteRef},
		{"clean", "--quiet", "-ffd"},
	} {
		if _, err := git.Run(ctx, dir, args...); err != nil {
			return "", fmt.Errorf("failed to reset the cached clone %s to %s: %w", dir, remoteRef, err)
		}
	}
	return branch, nil
}

// cloneInto clones into a temporary directory beside dir and renames it into place, so that an
// interrupted clone leaves nothing behind and two clones at once both succeed.
func cloneInto(ctx context.Context, git Git, rawURL, branch, dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("failed to create the cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".clone-")
	if err != nil {
		return fmt.Errorf("failed to create the cache directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := []string{"clone", "--quiet", "--no-tags"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", rawURL, tmp)
	if _, err := git.Run(ctx, parent, args...); err != nil {
		return fmt.Errorf("failed to clone %s: %w", rawURL, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to place the clone: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, ".git")); statErr == nil {
			return nil // another invocation cloned it first
		}
		return fmt.Errorf("failed to place the clone: %w", err)
	}
	return nil
}
