package review

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-github/v74/github"
)

// gitHub is GitHub's REST API through go-github: api.github.com, or a GitHub Enterprise
// server's /api/v3.
type gitHub struct {
	c           *github.Client
	owner, repo string
}

func newGitHub(r Remote, token string, hc *http.Client) (*gitHub, error) {
	c := github.NewClient(hc).WithAuthToken(token)
	if !strings.EqualFold(r.Host, "github.com") {
		var err error
		if c, err = c.WithEnterpriseURLs(r.Web+"/api/v3/", r.Web+"/api/uploads/"); err != nil {
			return nil, err
		}
	}
	owner, repo, _ := strings.Cut(r.Project, "/")
	return &gitHub{c: c, owner: owner, repo: repo}, nil
}

func (g *gitHub) find(ctx context.Context, req Request) (*found, error) {
	prs, _, err := g.c.PullRequests.List(ctx, g.owner, g.repo, &github.PullRequestListOptions{
		State: "open", Head: g.owner + ":" + req.Head, Base: req.Base,
	})
	if err != nil {
		return nil, gitHubError(err)
	}
	for _, pr := range prs {
		if pr.GetHead().GetRef() == req.Head {
			return &found{number: int64(pr.GetNumber()), url: pr.GetHTMLURL()}, nil
		}
	}
	return nil, nil
}

func (g *gitHub) create(ctx context.Context, req Request) (*found, error) {
	pr, _, err := g.c.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
		Title: &req.Title, Head: &req.Head, Base: &req.Base, Body: &req.Body, Draft: &req.Draft,
	})
	if err != nil {
		return nil, gitHubError(err)
	}
	f := &found{number: int64(pr.GetNumber()), url: pr.GetHTMLURL()}
	return f, g.decorate(ctx, f, req)
}

func (g *gitHub) update(ctx context.Context, f *found, req Request) (*found, error) {
	if _, _, err := g.c.PullRequests.Edit(ctx, g.owner, g.repo, int(f.number), &github.PullRequest{Body: &req.Body}); err != nil {
		return nil, gitHubError(err)
	}
	return f, g.decorate(ctx, f, req)
}

// decorate requests the reviews (users, and ORG/TEAM teams) and adds the labels.
func (g *gitHub) decorate(ctx context.Context, f *found, req Request) error {
	if len(req.Reviewers) > 0 {
		var rr github.ReviewersRequest
		for _, r := range req.Reviewers {
			if _, team, ok := strings.Cut(r, "/"); ok {
				rr.TeamReviewers = append(rr.TeamReviewers, team)
			} else {
				rr.Reviewers = append(rr.Reviewers, r)
			}
		}
		if _, _, err := g.c.PullRequests.RequestReviewers(ctx, g.owner, g.repo, int(f.number), rr); err != nil {
			return gitHubError(err)
		}
	}
	if len(req.Labels) > 0 {
		if _, _, err := g.c.Issues.AddLabelsToIssue(ctx, g.owner, g.repo, int(f.number), req.Labels); err != nil {
			return gitHubError(err)
		}
	}
	return nil
}

// gitHubError is the status and message of a GitHub API error (its validation errors
// included: "A pull request already exists for owner:branch.").
func gitHubError(err error) error {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return err
	}
	msg := er.Message
	for _, e := range er.Errors {
		if e.Message != "" {
			msg += ": " + e.Message
		} else if e.Code != "" {
			msg += ": " + e.Field + " " + e.Code
		}
	}
	return &statusError{status: er.Response.StatusCode, message: msg}
}
