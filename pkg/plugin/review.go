package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/review"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// prFlags are --pr and its companions: the change goes on a branch of its own, is pushed, and
// a pull or merge request is opened (or updated) for it.
type prFlags struct {
	PR        bool
	Draft     bool
	Base      string
	Reviewers []string
	Labels    []string

	// verb names the command in a generated branch name ("scale", "set-image").
	verb string
	// id makes a generated branch name unique; the same for a push retry's second plan.
	id string
}

func (p *prFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&p.PR, "pr", p.PR, "Commit on a new branch (--branch, or gitops/VERB-KIND-NAME-ID), push it, and open a pull or merge request into the target's branch, or update the one open for --branch. Prints the request's URL (without a token for the forge: the page to open it).")
	fl.BoolVar(&p.Draft, "draft", p.Draft, "With --pr, open the request as a draft.")
	fl.StringVar(&p.Base, "base", p.Base, "With --pr, the branch the request is to be merged into (default: the branch the target's reconciler follows).")
	fl.StringSliceVar(&p.Reviewers, "reviewer", p.Reviewers, "With --pr, request a review from this user (GitHub: also ORG/TEAM); repeat or separate with commas.")
	fl.StringSliceVar(&p.Labels, "label", p.Labels, "With --pr, add this label to the request; repeat or separate with commas.")
}

// validate checks the flags that need --pr and what --pr cannot go with.
func (c *changeFlags) validatePR(cmd *cobra.Command) error {
	p := &c.prFlags
	if !p.PR {
		for _, f := range []string{"draft", "base", "reviewer", "label"} {
			if cmd.Flags().Changed(f) {
				return usageErrorf(cmd, "--%s is for the request --pr opens: add --pr", f)
			}
		}
		return nil
	}
	switch {
	case c.dryRun():
		return usageErrorf(cmd, "--pr pushes a branch and opens a request, and --dry-run writes nothing: give one of them")
	case c.Wait:
		return usageErrorf(cmd, "--wait waits for the reconciler to apply the target's branch, and --pr leaves the change on a branch of its own until the request is merged: give one of them")
	}
	var names []string
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		names = append([]string{c.Name()}, names...)
	}
	p.verb = strings.Join(names, "-")
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	p.id = hex.EncodeToString(b)
	return nil
}

// checkPR refuses a request from a branch into itself, once the target says which branch its
// reconciler follows.
func (c *changeFlags) checkPR(cmd *cobra.Command, t *target.Target) error {
	if !c.PR {
		return nil
	}
	if c.base(t) == "" {
		return usageErrorf(cmd, "--pr needs the branch the request is to be merged into, and target %s names none: add --base BRANCH", t)
	}
	if c.Branch != "" && c.Branch == c.base(t) {
		return usageErrorf(cmd, "--pr opens a request from --branch %s into %s, the same branch: give --branch a new name, or drop it for a generated one", c.Branch, c.base(t))
	}
	return nil
}

func (c *changeFlags) base(t *target.Target) string {
	if c.Base != "" {
		return c.Base
	}
	return t.Branch
}

// unsafeBranchChars are what a generated branch name replaces by "-".
var unsafeBranchChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// branchFor names --pr's branch from the first changed object: gitops/VERB-KIND-NAME-ID.
func (p *prFlags) branchFor(objs []change.ObjectResult) string {
	what := "change"
	if len(objs) > 0 {
		what = objs[0].ID.Kind + "-" + objs[0].ID.Name
	}
	name := unsafeBranchChars.ReplaceAllString(strings.ToLower(p.verb+"-"+what), "-")
	name = strings.Trim(strings.ReplaceAll(name, "..", "."), "-.")
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "-.")
	}
	return "gitops/" + name + "-" + p.id
}

// pullRequest is what --pr adds to -o json|yaml.
type pullRequest struct {
	*review.Result
	Branch string `json:"branch"`
	Commit string `json:"commit"`
}

// finishRequest opens or updates the request of the pushed branch and reports it: the
// request's URL (or the page to open one) on stdout, the rest on stderr; -o json|yaml print
// the result with a pullRequest entry. A forge that refuses leaves the pushed branch in place.
func (c *changeFlags) finishRequest(ctx context.Context, streams genericiooptions.IOStreams, res *workflow.Result, objs, verbs []string) error {
	t := c.resolved
	pr, err := c.openRequest(ctx, streams, t, res)
	if err != nil {
		return fmt.Errorf("%w\nthe change is committed (%s) and pushed on branch %s, which stays", err, shortHash(res.Commit), res.Branch)
	}
	switch c.Output {
	case "json", "yaml":
		out := struct {
			*workflow.Result
			PullRequest *pullRequest `json:"pullRequest,omitempty"`
		}{res, pr}
		var b []byte
		if c.Output == "json" {
			if b, err = json.MarshalIndent(out, "", "  "); err == nil {
				b = append(b, '\n')
			}
		} else {
			b, err = yaml.Marshal(out)
		}
		if err != nil {
			return err
		}
		_, err = streams.Out.Write(b)
		return err
	case "name":
		for _, o := range objs {
			fmt.Fprintln(streams.Out, o)
		}
		return nil
	}
	for i, o := range objs {
		fmt.Fprintf(streams.ErrOut, "%s %s\n", o, verbs[i])
	}
	fmt.Fprintf(streams.ErrOut, "committed %s on %s: %s, pushed\n", shortHash(res.Commit), res.Branch, fileList(res.Files))
	if pr == nil {
		return nil
	}
	switch pr.Action {
	case review.Created:
		fmt.Fprintf(streams.ErrOut, "opened %s\n", describeRequest(pr))
	case review.Updated:
		fmt.Fprintf(streams.ErrOut, "updated %s\n", describeRequest(pr))
	default:
		fmt.Fprintf(streams.ErrOut, "no request opened (%s): open it at\n", pr.Why)
	}
	fmt.Fprintln(streams.Out, pr.URL)
	return nil
}

func describeRequest(pr *pullRequest) string {
	kind := "pull request"
	if pr.Provider == review.GitLab {
		return fmt.Sprintf("merge request !%d", pr.Number)
	}
	return fmt.Sprintf("%s #%d", kind, pr.Number)
}

// openRequest opens or updates the request of the branch res pushed; nil (with a warning) when
// origin is not on a forge.
func (c *changeFlags) openRequest(ctx context.Context, streams genericiooptions.IOStreams, t *target.Target, res *workflow.Result) (*pullRequest, error) {
	dir, base := t.RepoDir, c.base(t)
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "remote", "get-url", "origin").Output()
	if err != nil {
		return nil, fmt.Errorf("--pr: the repository has no remote origin to open the request on")
	}
	cfg, err := target.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	var rc target.ReviewConfig
	if cfg != nil {
		rc = cfg.Review
	}
	remote, err := review.ParseRemote(strings.TrimSpace(string(out)), rc)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "Warning: no request opened: %v; branch %s is pushed to origin\n", err, res.Branch)
		return nil, nil
	}
	// What the request brings, against the remote's base branch as it is now.
	from := base
	if repo, err := gitrepo.Open(dir); err == nil {
		if _, err := repo.Fetch(ctx, "origin", base); err == nil {
			from = "origin/" + base
		} else {
			fmt.Fprintf(streams.ErrOut, "Warning: fetching %s from origin failed (%v): the description compares with the local %s\n", base, err, base)
		}
	}
	commits, err := review.Commits(ctx, dir, from, res.Commit)
	if err != nil {
		return nil, err
	}
	diff, err := revdiff.Run(ctx, revdiff.Options{Dir: dir, From: from, To: res.Branch})
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "Warning: the description holds no rendered diff: %v\n", err)
		diff = nil
	}
	body, err := review.Body(commits, diff)
	if err != nil {
		return nil, err
	}
	title := res.Branch
	if len(commits) > 0 {
		title = commits[0].Subject
	}
	token, _ := review.Token(remote, os.Getenv)
	r, err := review.Open(ctx, review.Options{Remote: remote, Token: token}, review.Request{
		Title: title, Body: body, Head: res.Branch, Base: base,
		Draft: c.Draft, Reviewers: c.Reviewers, Labels: c.Labels,
	})
	if err != nil {
		return nil, fmt.Errorf("%w\nopen the request at %s", err, remote.CompareURL(base, res.Branch))
	}
	return &pullRequest{Result: r, Branch: res.Branch, Commit: res.Commit}, nil
}
