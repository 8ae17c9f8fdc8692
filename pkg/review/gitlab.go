package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// gitLab is GitLab's REST API (v4) through GitLab's client-go: gitlab.com or a self-managed
// instance.
type gitLab struct {
	c       *gitlab.Client
	project string
}

func newGitLab(r Remote, token string, hc *http.Client) (*gitLab, error) {
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(r.Web+"/api/v4"), gitlab.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	return &gitLab{c: c, project: r.Project}, nil
}

func (g *gitLab) find(ctx context.Context, req Request) (*found, error) {
	mrs, _, err := g.c.MergeRequests.ListProjectMergeRequests(g.project, &gitlab.ListProjectMergeRequestsOptions{
		State: gitlab.Ptr("opened"), SourceBranch: gitlab.Ptr(req.Head), TargetBranch: gitlab.Ptr(req.Base),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, gitLabError(err)
	}
	for _, mr := range mrs {
		if mr.SourceBranch == req.Head {
			return &found{number: mr.IID, url: mr.WebURL}, nil
		}
	}
	return nil, nil
}

func (g *gitLab) create(ctx context.Context, req Request) (*found, error) {
	title := req.Title
	if req.Draft {
		title = "Draft: " + title
	}
	opt := &gitlab.CreateMergeRequestOptions{
		Title: &title, Description: &req.Body, SourceBranch: &req.Head, TargetBranch: &req.Base,
	}
	if len(req.Labels) > 0 {
		opt.Labels = (*gitlab.LabelOptions)(&req.Labels)
	}
	if len(req.Reviewers) > 0 {
		ids, err := g.userIDs(ctx, req.Reviewers)
		if err != nil {
			return nil, err
		}
		opt.ReviewerIDs = &ids
	}
	mr, _, err := g.c.MergeRequests.CreateMergeRequest(g.project, opt, gitlab.WithContext(ctx))
	if err != nil {
		return nil, gitLabError(err)
	}
	return &found{number: mr.IID, url: mr.WebURL}, nil
}

func (g *gitLab) update(ctx context.Context, f *found, req Request) (*found, error) {
	opt := &gitlab.UpdateMergeRequestOptions{Description: &req.Body}
	if len(req.Labels) > 0 {
		opt.AddLabels = (*gitlab.LabelOptions)(&req.Labels)
	}
	if len(req.Reviewers) > 0 {
		// Reviewers are replaced, not added: keep those the request has.
		mr, _, err := g.c.MergeRequests.GetMergeRequest(g.project, f.number, nil, gitlab.WithContext(ctx))
		if err != nil {
			return nil, gitLabError(err)
		}
		ids, err := g.userIDs(ctx, req.Reviewers)
		if err != nil {
			return nil, err
		}
		for _, r := range mr.Reviewers {
			if r != nil && !slices.Contains(ids, r.ID) {
				ids = append(ids, r.ID)
			}
		}
		opt.ReviewerIDs = &ids
	}
	mr, _, err := g.c.MergeRequests.UpdateMergeRequest(g.project, f.number, opt, gitlab.WithContext(ctx))
	if err != nil {
		return nil, gitLabError(err)
	}
	return &found{number: mr.IID, url: mr.WebURL}, nil
}

// userIDs finds the users GitLab's reviewer_ids want, by user name.
func (g *gitLab) userIDs(ctx context.Context, names []string) ([]int64, error) {
	var ids []int64
	for _, n := range names {
		users, _, err := g.c.Users.ListUsers(&gitlab.ListUsersOptions{Username: gitlab.Ptr(strings.TrimPrefix(n, "@"))}, gitlab.WithContext(ctx))
		if err != nil {
			return nil, gitLabError(err)
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("--reviewer %s: GitLab has no user of that name", n)
		}
		ids = append(ids, users[0].ID)
	}
	return ids, nil
}

// gitLabError is the status and message of a GitLab API error.
func gitLabError(err error) error {
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	status := er.StatusCode
	if er.Response != nil {
		status = er.Response.StatusCode
	}
	return &statusError{status: status, message: er.Message}
}
