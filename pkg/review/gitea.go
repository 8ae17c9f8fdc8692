package review

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
)

// giteaForge is the API of Gitea and Forgejo through Gitea's SDK.
type giteaForge struct {
	c           *gitea.Client
	owner, repo string
}

func newGitea(ctx context.Context, r Remote, token string, hc *http.Client) (*giteaForge, error) {
	opts := []gitea.ClientOption{gitea.SetToken(token), gitea.SetHTTPClient(hc), gitea.SetContext(ctx)}
	// The SDK asks the server's version first, to know which calls it has. It is asked here,
	// where the answer's status tells a refused token from a server that cannot be reached.
	probe, err := gitea.NewClient(r.Web, append(opts, gitea.SetGiteaVersion(""))...)
	if err != nil {
		return nil, err
	}
	v, resp, err := probe.ServerVersion()
	if err != nil {
		return nil, giteaError(err, resp)
	}
	c, err := gitea.NewClient(r.Web, append(opts, gitea.SetGiteaVersion(v))...)
	if err != nil {
		// A build that reports no version ("development"): take it for a current one.
		c = probe
	}
	owner, repo, _ := strings.Cut(r.Project, "/")
	return &giteaForge{c: c, owner: owner, repo: repo}, nil
}

func (g *giteaForge) find(_ context.Context, req Request) (*found, error) {
	for page := 1; ; page++ {
		prs, resp, err := g.c.ListRepoPullRequests(g.owner, g.repo, gitea.ListPullRequestsOptions{
			ListOptions: gitea.ListOptions{Page: page, PageSize: 50}, State: gitea.StateOpen,
		})
		if err != nil {
			return nil, giteaError(err, resp)
		}
		for _, pr := range prs {
			if pr.Head != nil && pr.Base != nil && pr.Head.Ref == req.Head && pr.Base.Ref == req.Base {
				return &found{number: pr.Index, url: pr.HTMLURL}, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return nil, nil
		}
	}
}

func (g *giteaForge) create(ctx context.Context, req Request) (*found, error) {
	title := req.Title
	if req.Draft {
		title = "WIP: " + title
	}
	labels, err := g.labelIDs(req.Labels)
	if err != nil {
		return nil, err
	}
	pr, resp, err := g.c.CreatePullRequest(g.owner, g.repo, gitea.CreatePullRequestOption{
		Head: req.Head, Base: req.Base, Title: title, Body: req.Body, Labels: labels,
	})
	if err != nil {
		return nil, giteaError(err, resp)
	}
	f := &found{number: pr.Index, url: pr.HTMLURL}
	return f, g.requestReviews(f, req.Reviewers)
}

func (g *giteaForge) update(_ context.Context, f *found, req Request) (*found, error) {
	pr, resp, err := g.c.EditPullRequest(g.owner, g.repo, f.number, gitea.EditPullRequestOption{Body: &req.Body})
	if err != nil {
		return nil, giteaError(err, resp)
	}
	if len(req.Labels) > 0 {
		labels, err := g.labelIDs(req.Labels)
		if err != nil {
			return nil, err
		}
		if _, resp, err := g.c.AddIssueLabels(g.owner, g.repo, f.number, gitea.IssueLabelsOption{Labels: labels}); err != nil {
			return nil, giteaError(err, resp)
		}
	}
	f = &found{number: pr.Index, url: pr.HTMLURL}
	return f, g.requestReviews(f, req.Reviewers)
}

func (g *giteaForge) requestReviews(f *found, reviewers []string) error {
	if len(reviewers) == 0 {
		return nil
	}
	resp, err := g.c.CreateReviewRequests(g.owner, g.repo, f.number, gitea.PullReviewRequestOptions{Reviewers: reviewers})
	if err != nil {
		return giteaError(err, resp)
	}
	return nil
}

// labelIDs finds the repository's labels by name: Gitea's API takes their ids.
func (g *giteaForge) labelIDs(names []string) ([]int64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	byName := map[string]int64{}
	for page := 1; ; page++ {
		labels, resp, err := g.c.ListRepoLabels(g.owner, g.repo, gitea.ListLabelsOptions{ListOptions: gitea.ListOptions{Page: page, PageSize: 50}})
		if err != nil {
			return nil, giteaError(err, resp)
		}
		for _, l := range labels {
			byName[l.Name] = l.ID
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
	}
	var ids []int64
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("--label %s: %s/%s has no label of that name", n, g.owner, g.repo)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// giteaError is the status and message of a Gitea API error: the SDK puts the server's message
// in the error's text and the status in the response.
func giteaError(err error, resp *gitea.Response) error {
	if resp == nil || resp.Response == nil || resp.StatusCode < 400 {
		return err
	}
	return &statusError{status: resp.StatusCode, message: err.Error()}
}
