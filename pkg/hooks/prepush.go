package hooks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

// RefUpdate is one line of git's pre-push input: a ref the push updates.
type RefUpdate struct {
	LocalRef  string `json:"localRef"`
	LocalSHA  string `json:"localSHA"`
	RemoteRef string `json:"remoteRef"`
	RemoteSHA string `json:"remoteSHA"`
}

// ParseRefUpdates reads git's pre-push input: one "<local ref> <local sha> <remote ref>
// <remote sha>" line per ref. A deletion has a local sha of zeros, a new ref a remote sha of
// zeros.
func ParseRefUpdates(r io.Reader) ([]RefUpdate, error) {
	var out []RefUpdate
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected pre-push input %q: want <local ref> <local sha> <remote ref> <remote sha>", line)
		}
		out = append(out, RefUpdate{LocalRef: f[0], LocalSHA: f[1], RemoteRef: f[2], RemoteSHA: f[3]})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("failed to read the pre-push input: %w", err)
	}
	return out, nil
}

// The variables the pre-commit framework hands its pre-push hooks instead of git's input.
const (
	envFromRef      = "PRE_COMMIT_FROM_REF"
	envToRef        = "PRE_COMMIT_TO_REF"
	envRemoteBranch = "PRE_COMMIT_REMOTE_BRANCH"
	envLocalBranch  = "PRE_COMMIT_LOCAL_BRANCH"
	envRemoteName   = "PRE_COMMIT_REMOTE_NAME"
)

// PreCommitFrameworkUpdate is the ref update the pre-commit framework describes in its
// PRE_COMMIT_* variables when it runs a pre-push hook (it reads git's input itself and runs the
// hook once per ref), and the remote's name; ok is false outside the framework.
func PreCommitFrameworkUpdate(getenv func(string) string) (u RefUpdate, remote string, ok bool) {
	if getenv(envToRef) == "" || getenv(envRemoteBranch) == "" {
		return RefUpdate{}, "", false
	}
	return RefUpdate{
		LocalRef:  getenv(envLocalBranch),
		LocalSHA:  getenv(envToRef),
		RemoteRef: getenv(envRemoteBranch),
		RemoteSHA: getenv(envFromRef),
	}, getenv(envRemoteName), true
}

// PrePushOptions say what is pushed where.
type PrePushOptions struct {
	// Dir is the repository's work tree, where git runs the hook.
	Dir string
	// Remote is git's first argument: the remote's name, or its URL when it has none.
	Remote string
	// Updates are the refs the push updates.
	Updates []RefUpdate
	// Clusters reaches each target's cluster: its configured context, else the context in use.
	Clusters verify.Clusters
	// Namespace is the namespace of namespaced objects when neither they nor their target name
	// one; default "default".
	Namespace string
	// RenderTimeout bounds each render; zero means DefaultRenderTimeout.
	RenderTimeout time.Duration
}

// PushReport is what the pre-push checks found, per ref and target.
type PushReport struct {
	Remote string      `json:"remote"`
	Refs   []RefReport `json:"refs"`
}

// RefReport is one pushed ref.
type RefReport struct {
	RefUpdate
	// Branch is the remote branch the ref updates; "" for tags and other refs.
	Branch string `json:"branch,omitempty"`
	// Note says why nothing was checked (a deletion, a branch no target follows).
	Note string `json:"note,omitempty"`
	// Problem fails the push before any target is looked at.
	Problem string       `json:"problem,omitempty"`
	Targets []PushTarget `json:"targets,omitempty"`
	// Commits counts the pushed commits the secrets guard checked for this ref: those the remote
	// does not have yet, less those another ref of the push already brought.
	Commits int `json:"commits"`
	// Secrets are the checked commits the guard refused or that change guard.allow.
	Secrets []CommitSecrets `json:"secrets,omitempty"`
}

// CommitSecrets is the secrets guard on one pushed commit: the files it changes, at that
// commit.
type CommitSecrets struct {
	Commit  string       `json:"commit"`
	Subject string       `json:"subject"`
	Report  guard.Report `json:"report"`
}

// PushTarget is one target that follows the pushed branch.
type PushTarget struct {
	Target  string `json:"target"`
	Context string `json:"context"`
	// Notes say what was not checked, and why.
	Notes []string `json:"notes,omitempty"`
	// DriftChecked tells whether the cluster was compared with the remote's render; Compared
	// counts its objects.
	DriftChecked bool `json:"driftChecked"`
	Compared     int  `json:"compared,omitempty"`
	// Drift are the objects the cluster holds differently from the remote's render (changed
	// or deleted by hand): the push would undo them.
	Drift []diff.Object `json:"drift,omitempty"`
	// RenderError says why the pushed commit does not render the target.
	RenderError string `json:"renderError,omitempty"`
	// DryRun are the dry-run answers for the pushed render's objects.
	DryRun []verify.DryRunResult `json:"dryRun,omitempty"`
	// Secrets are the Secrets of the pushed render whose values are in the clear.
	Secrets []guard.Finding `json:"secrets,omitempty"`
}

// Rejected are the objects the API server refused in the dry-run.
func (t *PushTarget) Rejected() []verify.DryRunResult {
	var out []verify.DryRunResult
	for _, r := range t.DryRun {
		if r.Error != "" {
			out = append(out, r)
		}
	}
	return out
}

// Failed tells whether the target stops the push.
func (t *PushTarget) Failed() bool {
	return len(t.Drift) > 0 || t.RenderError != "" || len(t.Rejected()) > 0 || len(t.Secrets) > 0
}

// Problems counts what stops the push.
func (r *PushReport) Problems() int {
	n := 0
	for _, ref := range r.Refs {
		if ref.Problem != "" {
			n++
		}
		for _, c := range ref.Secrets {
			if c.Report.Failed() {
				n++
			}
		}
		for _, t := range ref.Targets {
			if t.RenderError != "" {
				n++
			}
			if len(t.Drift) > 0 {
				n++
			}
			if len(t.Secrets) > 0 {
				n++
			}
			n += len(t.Rejected())
		}
	}
	return n
}

// Failed tells whether the push must be refused.
func (r *PushReport) Failed() bool { return r.Problems() > 0 }

// BranchRule says which branch a target follows, for people; the pre-push hook checks only
// the targets that follow the pushed branch.
const BranchRule = "A target follows the branch its .kubectl-gitops.yaml entry names (branch:); " +
	"a target without one (and every discovered target) follows the remote's default branch, " +
	"as refs/remotes/REMOTE/HEAD records it, else the branch checked out."

// PrePush checks a push. Every pushed ref's new commits (those the remote does not have yet)
// go through the secrets guard, each on the files it changes, at that commit. Then each pushed
// branch that a target follows is checked, for each such target, against its cluster: the
// cluster must match the render at the remote's commit (else someone changed it by hand, and
// the push would make the reconciler undo it), and the render at the pushed commit must pass a
// server-side dry-run and hold no Secret in the clear. Both commits are exported to the
// process's private temporary directory and rendered there; the work tree is not read.
// Deleted refs are not checked, nor are the targets of refs that are not branches; a new
// branch has no remote commit to compare with, so only the dry-run runs. The error is for
// what kept the checks from running, an unreachable cluster among them; the report then holds
// what was checked before.
func PrePush(ctx context.Context, o PrePushOptions) (*PushReport, error) {
	rep := &PushReport{Remote: o.Remote, Refs: []RefReport{}}
	exports := newTrees(o.Dir)
	defer exports.Close()
	defBranch := defaultBranch(ctx, o.Dir, o.Remote)
	checked := map[string]bool{}
	for _, u := range o.Updates {
		ref := &RefReport{RefUpdate: u}
		err := checkPushedCommits(ctx, o, ref, checked)
		if err == nil && ref.Problem == "" {
			err = checkRef(ctx, o, exports, defBranch, ref)
		}
		rep.Refs = append(rep.Refs, *ref)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkPushedCommits runs the secrets guard on the commits a ref update brings to the remote,
// oldest first, each once in a push.
func checkPushedCommits(ctx context.Context, o PrePushOptions, ref *RefReport, checked map[string]bool) error {
	if isZeroSHA(ref.LocalSHA) {
		return nil
	}
	args := []string{"rev-list", "--reverse", "--topo-order", ref.LocalSHA, "--not"}
	switch {
	case !isZeroSHA(ref.RemoteSHA) && hasCommit(ctx, o.Dir, ref.RemoteSHA):
		args = append(args, ref.RemoteSHA)
	case remoteName(o.Remote):
		// A new branch: what the remote's other branches hold is there already.
		args = append(args, "--remotes="+o.Remote)
	default:
		args = append(args, "--remotes")
	}
	out, err := runGit(ctx, o.Dir, nil, args...)
	if err != nil {
		return fmt.Errorf("failed to list the commits pushed to %s: %w", ref.RemoteRef, err)
	}
	for _, sha := range strings.Fields(string(out)) {
		if checked[sha] {
			continue
		}
		checked[sha] = true
		ref.Commits++
		change, err := guard.CommitChange(ctx, o.Dir, sha)
		if err != nil {
			return err
		}
		gr := change.Check()
		if len(gr.Unsafe) > 0 {
			// An alias bomb would exhaust the memory of the renders that follow.
			ref.Problem = fmt.Sprintf("not rendered: commit %s holds %s, which would exhaust a render's memory", short(sha), strings.Join(gr.Unsafe, ", "))
		}
		if !gr.Failed() && len(gr.AllowChanges) == 0 {
			continue
		}
		subject, _ := gitLine(ctx, o.Dir, "log", "-1", "--format=%s", sha)
		ref.Secrets = append(ref.Secrets, CommitSecrets{Commit: sha, Subject: subject, Report: gr})
	}
	return nil
}

// remoteName says whether git's pre-push argument is a remote's name, not a URL or a path.
func remoteName(remote string) bool {
	return remote != "" && !strings.ContainsAny(remote, "/:\\")
}

func checkRef(ctx context.Context, o PrePushOptions, exports *trees, defBranch string, ref *RefReport) error {
	u := ref.RefUpdate
	branch, isBranch := strings.CutPrefix(u.RemoteRef, "refs/heads/")
	if !isBranch {
		ref.Note = "not a branch: no target to check"
		return nil
	}
	ref.Branch = branch
	if isZeroSHA(u.LocalSHA) {
		ref.Note = "deletes the branch: nothing to check (the reconciler of a target that follows it will report the missing branch)"
		return nil
	}
	local, err := exports.export(ctx, u.LocalSHA+"^{tree}")
	if err != nil {
		return err
	}
	cfg, err := target.LoadConfig(local)
	if err != nil {
		return fmt.Errorf("the pushed %s: %w", target.ConfigFile, err)
	}
	targets, err := target.Discover(local, cfg)
	if err != nil {
		return fmt.Errorf("failed to list the targets of %s: %w", short(u.LocalSHA), err)
	}
	var followed []target.Target
	for _, t := range targets {
		if follows(t, defBranch) == branch {
			followed = append(followed, t)
		}
	}
	if len(followed) == 0 {
		ref.Note = fmt.Sprintf("no target follows branch %s: no target to check", branch)
		return nil
	}
	remote := ""
	switch {
	case isZeroSHA(u.RemoteSHA):
	case !hasCommit(ctx, o.Dir, u.RemoteSHA):
		ref.Problem = fmt.Sprintf("the remote's %s is at %s, which this repository does not have: fetch it (git fetch %s) so that the cluster can be checked against it",
			branch, short(u.RemoteSHA), o.Remote)
		return nil
	default:
		if remote, err = exports.export(ctx, u.RemoteSHA+"^{tree}"); err != nil {
			return err
		}
	}
	for _, t := range followed {
		pt, err := checkPushTarget(ctx, o, t, u, local, remote, cfg)
		if err != nil {
			return err
		}
		ref.Targets = append(ref.Targets, *pt)
	}
	return nil
}

func checkPushTarget(ctx context.Context, o PrePushOptions, t target.Target, u RefUpdate, local, remote string, cfg *target.Config) (*PushTarget, error) {
	pt := &PushTarget{Target: t.String()}
	cl, err := o.Clusters.Cluster(ctx, t.Context)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t, err)
	}
	pt.Context = cl.Context
	ns := t.Namespace
	if ns == "" {
		ns = o.Namespace
	}

	switch {
	case remote == "":
		pt.Notes = append(pt.Notes, "new branch: no remote commit to compare the cluster with")
	case !isDir(filepath.Join(remote, filepath.FromSlash(t.Path))):
		pt.Notes = append(pt.Notes, fmt.Sprintf("new at this push (%s has no %s): no drift check", short(u.RemoteSHA), t.Path))
	default:
		res, err := renderWithin(remote, t, o.RenderTimeout)
		if err != nil {
			pt.Notes = append(pt.Notes, fmt.Sprintf("does not render at the remote's %s, so the cluster was not compared with it: %v", short(u.RemoteSHA), err))
			break
		}
		report, err := diff.Compare(ctx, diff.Options{
			Config: cl.Config, Mapper: cl.Mapper, Discovery: cl.Discovery, Objects: objects(res), Namespace: ns,
		})
		if err != nil {
			return nil, fmt.Errorf("target %s: failed to compare the cluster with %s: %w", t, short(u.RemoteSHA), err)
		}
		pt.DriftChecked, pt.Compared = true, report.Compared
		for _, d := range report.Objects {
			switch d.Status {
			case diff.StatusDrift, diff.StatusMissing:
				pt.Drift = append(pt.Drift, d)
			case diff.StatusError:
				pt.Notes = append(pt.Notes, fmt.Sprintf("%s could not be compared with the cluster: %s", d.ObjectID, d.Message))
			}
		}
	}

	res, err := renderWithin(local, t, o.RenderTimeout)
	if err != nil {
		pt.RenderError = err.Error()
		return pt, nil
	}
	var gopts guard.Options
	if cfg != nil {
		gopts.Allow = cfg.Guard.Allowed
	}
	pt.Secrets = guard.CheckRendered(renderedSecrets(res), gopts).Findings
	if pt.DryRun, err = verify.DryRun(ctx, cl, objects(res), verify.DryRunOptions{Namespace: ns}); err != nil {
		return nil, fmt.Errorf("target %s: %w", t, err)
	}
	return pt, nil
}

// follows is the branch a target follows: see BranchRule.
func follows(t target.Target, defBranch string) string {
	if t.Branch != "" {
		return t.Branch
	}
	return defBranch
}

// defaultBranch is the branch targets without one follow: the remote's default branch as
// recorded by clone or `git remote set-head`, else the branch checked out.
func defaultBranch(ctx context.Context, dir, remote string) string {
	if remote != "" {
		if ref, err := gitLine(ctx, dir, "symbolic-ref", "--quiet", "refs/remotes/"+remote+"/HEAD"); err == nil {
			if b, ok := strings.CutPrefix(ref, "refs/remotes/"+remote+"/"); ok {
				return b
			}
		}
	}
	b, _ := gitLine(ctx, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	return b
}

func objects(res *render.Result) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(res.Objects))
	for _, o := range res.Objects {
		out = append(out, o.Obj())
	}
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
