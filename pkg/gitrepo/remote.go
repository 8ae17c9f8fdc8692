package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// Network operations run the git executable, for every kind of remote. Only git honours all of
// the user's remote configuration: url.*.insteadOf and pushurl, credential helpers, ssh-agent
// and ~/.ssh/config (ProxyJump, IdentityFile), GIT_SSH_COMMAND, http proxies and CA settings,
// and the pre-push hooks that `kubectl gitops hooks install` sets up. go-git would need each of
// these reimplemented, and a split (go-git for file://, git for ssh and https) would leave the
// path users take in production untested by the tests, which use local remotes.

// MaxPushRetries is how many times Push reapplies the change after the remote moved.
const MaxPushRetries = 5

// PushRequest describes a push of one branch.
type PushRequest struct {
	Remote string // default "origin"
	Branch string // default: the checked-out branch
	// Reapply remakes the change after a rejected push: base is the remote branch's new head
	// (ReadFileAt reads its files), and the returned request's changes are committed on top of
	// it, replacing the local commit. Its Branch is ignored. Nil: a rejected push fails.
	Reapply func(ctx context.Context, base string) (CommitRequest, error)
}

// PushRejectedError is a push the remote refused.
type PushRejectedError struct {
	Remote, Branch string
	Reason         string // as git reports it: "fetch first", "non-fast-forward", "pre-receive hook declined"
	Attempts       int
	nonFastForward bool
}

func (e *PushRejectedError) Error() string {
	msg := fmt.Sprintf("push of %s to %s was rejected (%s)", e.Branch, e.Remote, e.Reason)
	if e.nonFastForward && e.Attempts > 1 {
		msg += fmt.Sprintf(" %d times: the remote kept moving; try again", e.Attempts)
	}
	return msg
}

// Push pushes the branch to the remote, never forcing. When the remote moved meanwhile, Push
// fetches it, rebuilds the local commit on top of the new remote head with Reapply, moves the
// local branch (and, if it is checked out, the changed files) there, and pushes again, at most
// MaxPushRetries times. Only a branch that is one commit ahead of the remote is rebuilt: other
// unpushed commits are the user's to rebase. The caller holds Lock.
func (r *Repo) Push(ctx context.Context, req PushRequest) error {
	remote, branch := req.Remote, req.Branch
	if remote == "" {
		remote = "origin"
	}
	if strings.HasPrefix(remote, "-") {
		return fmt.Errorf("invalid remote %q", remote)
	}
	if branch == "" {
		b, err := r.CurrentBranch()
		if err != nil {
			return fmt.Errorf("failed to push: %w", err)
		}
		branch = b
	}
	if err := validBranch(branch); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := r.pushOnce(ctx, remote, branch)
		var rej *PushRejectedError
		if !errors.As(err, &rej) {
			return err
		}
		rej.Attempts = attempt
		if !rej.nonFastForward || req.Reapply == nil || attempt > MaxPushRetries {
			return rej
		}
		base, err := r.Fetch(ctx, remote, branch)
		if err != nil {
			return err
		}
		if err := r.rebuildOn(ctx, branch, remote, base, req.Reapply); err != nil {
			return fmt.Errorf("failed to reapply the change on %s/%s: %w", remote, branch, err)
		}
	}
}

func (r *Repo) pushOnce(ctx context.Context, remote, branch string) error {
	ref := "refs/heads/" + branch
	out, err := runGit(ctx, r.root, nil, nil, "push", "--porcelain", remote, ref+":"+ref)
	// --porcelain reports each ref on stdout as "FLAG\tFROM:TO\tSUMMARY (REASON)"; "!" is a
	// rejection. Its words are not translated.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 3 || fields[0] != "!" {
			continue
		}
		reason := fields[2]
		if i := strings.Index(reason, "("); i >= 0 {
			reason = strings.TrimSuffix(reason[i+1:], ")")
		}
		return &PushRejectedError{Remote: remote, Branch: branch, Reason: reason,
			nonFastForward: strings.HasPrefix(fields[2], "[rejected]") &&
				(reason == "fetch first" || reason == "non-fast-forward")}
	}
	if err != nil {
		return fmt.Errorf("failed to push %s to %s: %w", branch, remote, err)
	}
	return nil
}

// Fetch fetches a branch of a remote (a configured remote's name, or a URL) and returns the
// commit it points to. For a configured remote the remote-tracking branch is updated.
func (r *Repo) Fetch(ctx context.Context, remote, branch string) (string, error) {
	if strings.HasPrefix(remote, "-") {
		return "", fmt.Errorf("invalid remote %q", remote)
	}
	if err := validBranch(branch); err != nil {
		return "", err
	}
	src := "refs/heads/" + branch
	if _, err := runGit(ctx, r.root, nil, nil, "config", "--get", "remote."+remote+".url"); err == nil {
		dst := "refs/remotes/" + remote + "/" + branch
		if _, err := runGit(ctx, r.root, nil, nil, "fetch", "--no-tags", "--no-write-fetch-head", remote, "+"+src+":"+dst); err != nil {
			return "", fmt.Errorf("failed to fetch %s from %s: %w", branch, remote, err)
		}
		h, ok, err := readRef(r.storage(), dst)
		if err != nil || !ok {
			return "", fmt.Errorf("failed to fetch %s from %s: %s not updated: %v", branch, remote, dst, err)
		}
		return h.String(), nil
	}
	if _, err := runGit(ctx, r.root, nil, nil, "fetch", "--no-tags", remote, src); err != nil {
		return "", fmt.Errorf("failed to fetch %s from %s: %w", branch, remote, err)
	}
	b, err := os.ReadFile(filepath.Join(r.gitDir, "FETCH_HEAD"))
	if err != nil {
		return "", fmt.Errorf("failed to fetch %s from %s: %w", branch, remote, err)
	}
	hex, _, _ := strings.Cut(string(b), "\t")
	h, err := parseHash(strings.TrimSpace(hex))
	if err != nil {
		return "", fmt.Errorf("failed to fetch %s from %s: FETCH_HEAD: %w", branch, remote, err)
	}
	return h.String(), nil
}

// rebuildOn replaces the local branch's one unpushed commit by the change Reapply makes on base,
// made as Commit makes it (hooks included).
func (r *Repo) rebuildOn(ctx context.Context, branch, remote, base string, reapply func(context.Context, string) (CommitRequest, error)) error {
	ref := "refs/heads/" + branch
	s := r.storage()
	tip, ok, err := readRef(s, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("branch %s does not exist", branch)
	}
	baseHash, err := parseHash(base)
	if err != nil {
		return err
	}
	tipCommit, err := object.GetCommit(s, tip)
	if err != nil {
		return err
	}
	if tipCommit.NumParents() != 1 {
		return fmt.Errorf("the tip of %s is not a single-parent commit; pull and rebase it yourself", branch)
	}
	if _, err := runGit(ctx, r.root, nil, nil, "merge-base", "--is-ancestor", tipCommit.ParentHashes[0].String(), base); err != nil {
		var gerr *GitError
		if errors.As(err, &gerr) && gerr.Stderr == "" {
			return fmt.Errorf("%s has other commits that are not on %s/%s; pull and rebase them, then try again",
				branch, remote, branch)
		}
		return err
	}
	req, err := reapply(ctx, base)
	if err != nil {
		return err
	}
	h, err := r.readHead()
	if err != nil {
		return err
	}
	t := target{ref: ref, branch: ref, old: tip, parent: baseHash, checkedOut: h.ref == ref,
		reflog: fmt.Sprintf("kubectl-gitops: reapply onto %s/%s", remote, branch), follow: true}
	if t.checkedOut {
		t.ref = "HEAD"
	}
	_, _, err = r.commit(ctx, req, t)
	return err
}

// Clone clones url into dir, checking out branch (empty: the remote's default branch).
func Clone(ctx context.Context, url, branch, dir string) (*Repo, error) {
	args := []string{"clone", "--quiet"}
	if branch != "" {
		if err := validBranch(branch); err != nil {
			return nil, err
		}
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", url, dir)
	if _, err := runGit(ctx, "", nil, nil, args...); err != nil {
		return nil, fmt.Errorf("failed to clone %s: %w", url, err)
	}
	return Open(dir)
}
