package sync

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// pushed is the commit at the head of the branch the reconciler follows, rendered.
type pushed struct {
	commit  string
	objects []*unstructured.Unstructured
}

// fetchPushed fetches the head of the source's branch (into FETCH_HEAD only: the user's
// branches and remote-tracking refs stay as they are; without a clone, into a temporary one) and
// renders the source's path from a private copy of that commit's tree, so that uncommitted
// changes never count.
func fetchPushed(ctx context.Context, git target.Git, src source) (*pushed, error) {
	repoDir, fetch := src.repoDir, []string{"fetch", "--quiet", "--no-tags"}
	if repoDir == "" {
		tmp, remove, err := privtmp.MkdirTemp("sync-repo-")
		if err != nil {
			return nil, err
		}
		defer remove()
		if _, err := git.Run(ctx, tmp, "init", "--quiet", "--bare"); err != nil {
			return nil, err
		}
		repoDir, fetch = tmp, append(fetch, "--depth=1")
	}
	branch := src.branch
	if branch == "" {
		b, err := defaultBranch(ctx, git, repoDir, src.url)
		if err != nil {
			return nil, err
		}
		branch = b
	}
	if _, err := git.Run(ctx, repoDir, append(fetch, src.url, "refs/heads/"+branch)...); err != nil {
		return nil, fmt.Errorf("failed to fetch branch %s of %s: %w", branch, src.url, err)
	}
	out, err := git.Run(ctx, repoDir, "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
	if err != nil {
		return nil, fmt.Errorf("failed to read the commit fetched from %s: %w", src.url, err)
	}
	commit := strings.TrimSpace(out)
	dir, remove, err := privtmp.MkdirTemp("sync-")
	if err != nil {
		return nil, err
	}
	defer remove()
	if err := gitrepo.ExportTree(ctx, repoDir, commit, dir); err != nil {
		return nil, err
	}
	res, err := render.Render(dir, src.path, render.Options{Applied: src.applied})
	if err != nil {
		return nil, fmt.Errorf("failed to render %s at %s: %w", src.path, short(commit), err)
	}
	p := &pushed{commit: commit}
	for _, o := range res.Objects {
		p.objects = append(p.objects, o.Obj())
	}
	return p, nil
}

// defaultBranch asks the remote which branch its HEAD is.
func defaultBranch(ctx context.Context, git target.Git, repoDir, url string) (string, error) {
	out, err := git.Run(ctx, repoDir, "ls-remote", "--symref", url, "HEAD")
	if err != nil {
		return "", fmt.Errorf("failed to find the default branch of %s: %w", url, err)
	}
	for line := range strings.Lines(out) {
		if ref, ok := strings.CutPrefix(line, "ref: refs/heads/"); ok {
			b, _, _ := strings.Cut(ref, "\t")
			return strings.TrimSpace(b), nil
		}
	}
	return "", fmt.Errorf("failed to find the default branch of %s: it reports no HEAD branch", url)
}
