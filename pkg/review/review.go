package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Request is the pull or merge request of a pushed branch.
type Request struct {
	Title string
	Body  string
	// Head is the pushed branch; Base the branch it is to be merged into.
	Head, Base string
	// Draft opens it as a draft (GitLab: a "Draft:" title; Gitea: a "WIP:" title).
	Draft bool
	// Reviewers are user names whose review is requested; GitHub also takes ORG/TEAM.
	Reviewers []string
	// Labels are label names, which the repository must have.
	Labels []string
}

// Actions a Result reports.
const (
	Created = "created" // a request was opened
	Updated = "updated" // the open request of the branch was updated
	Link    = "link"    // no request was opened: URL is the page to open one
)

// Result is the request of the branch.
type Result struct {
	Provider string `json:"provider,omitempty"`
	Action   string `json:"action"`
	Number   int64  `json:"number,omitempty"`
	URL      string `json:"url"`
	// Why says why only a link was given (no token, a provider without an API here).
	Why string `json:"why,omitempty"`
}

// Options say where to open the request.
type Options struct {
	Remote Remote
	// Token is the forge's API token; "" gives the link to open the request by hand.
	Token string
	// HTTPClient reaches the forge; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// forge is one provider's API.
type forge interface {
	// find returns the open request from req.Head into req.Base, or nil.
	find(ctx context.Context, req Request) (*found, error)
	create(ctx context.Context, req Request) (*found, error)
	// update sets the body, and adds the reviewers and labels, of an open request.
	update(ctx context.Context, f *found, req Request) (*found, error)
}

// found is a request on the forge.
type found struct {
	number int64
	url    string
}

// Open opens the request of a pushed branch, or updates the one open for it (its title stays,
// its description becomes req.Body, and req's reviewers and labels are added). Without a token,
// or for a forge it has no API for, it returns the link to open one by hand.
func Open(ctx context.Context, o Options, req Request) (*Result, error) {
	r := o.Remote
	res := &Result{Provider: r.Provider, Action: Link, URL: r.CompareURL(req.Base, req.Head)}
	switch {
	case r.Provider == "":
		res.Why = fmt.Sprintf("%s is not a forge kubectl gitops knows: name it in .kubectl-gitops.yaml (review: {provider, url})", r.Host)
		return res, nil
	case r.Provider == Bitbucket:
		res.Why = "Bitbucket requests are opened in the browser"
		return res, nil
	case o.Token == "":
		res.Why = "no " + r.ProviderName() + " token (" + tokenVars(r.Provider) + ")"
		return res, nil
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	f, err := newForge(ctx, r, o.Token, hc)
	if err != nil {
		return nil, scrub(describe(r, "reaching "+r.Web, err), o.Token)
	}
	open, err := f.find(ctx, req)
	if err != nil {
		return nil, scrub(describe(r, "looking for the open "+r.Request()+" of "+req.Head, err), o.Token)
	}
	if open != nil {
		if open, err = f.update(ctx, open, req); err != nil {
			return nil, scrub(describe(r, "updating "+r.Request()+" "+number(r, open), err), o.Token)
		}
		res.Action = Updated
	} else {
		if open, err = f.create(ctx, req); err != nil {
			return nil, scrub(describe(r, "opening a "+r.Request()+" from "+req.Head+" into "+req.Base, err), o.Token)
		}
		res.Action = Created
	}
	res.Number, res.URL = open.number, open.url
	return res, nil
}

func newForge(ctx context.Context, r Remote, token string, hc *http.Client) (forge, error) {
	switch r.Provider {
	case GitHub:
		return newGitHub(r, token, hc)
	case GitLab:
		return newGitLab(r, token, hc)
	case Gitea, Forgejo:
		return newGitea(ctx, r, token, hc)
	}
	return nil, fmt.Errorf("no API for provider %q", r.Provider)
}

func tokenVars(provider string) string {
	switch provider {
	case GitHub:
		return "GITHUB_TOKEN or GH_TOKEN, or gh auth login"
	case GitLab:
		return "GITLAB_TOKEN, or glab auth login"
	}
	return "GITEA_TOKEN"
}

func number(r Remote, f *found) string {
	if f == nil {
		return ""
	}
	if r.Provider == GitLab {
		return fmt.Sprintf("!%d", f.number)
	}
	return fmt.Sprintf("#%d", f.number)
}

// APIError is a refusal by the forge's API.
type APIError struct {
	Provider string
	Doing    string
	Status   int
	// Message is what the forge said, as far as it says it.
	Message string
	// Hint says what to do.
	Hint string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: %s answered %d %s", e.Doing, e.Provider, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// statusError is what a provider's client reports: the HTTP status and the forge's message.
type statusError struct {
	status  int
	message string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

// describe turns a provider's error into an APIError saying what to do.
func describe(r Remote, doing string, err error) error {
	var se *statusError
	if !errors.As(err, &se) {
		return fmt.Errorf("%s on %s: %w", doing, r.ProviderName(), err)
	}
	e := &APIError{Provider: r.ProviderName(), Doing: doing, Status: se.status, Message: se.message}
	switch se.status {
	case http.StatusUnauthorized:
		e.Hint = "the token was refused: it is expired, revoked or not one for " + r.Host + "; set " + tokenVars(r.Provider)
	case http.StatusForbidden:
		e.Hint = "the token may not do this: it needs the scope to write pull requests of " + r.Project
	case http.StatusNotFound:
		e.Hint = r.Project + " does not exist on " + r.Host + ", or the token cannot see it"
	case http.StatusConflict, http.StatusUnprocessableEntity:
		if strings.Contains(strings.ToLower(se.message), "already exist") {
			e.Hint = "a " + r.Request() + " for this branch exists and is not open, or is not from this repository; update or reopen it on " + r.Host
		}
	}
	return e
}

// scrub removes the token from an error's text, whatever quoted it: what is returned holds no
// copy of it (an *APIError stays one).
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	var api *APIError
	if errors.As(err, &api) {
		clean := *api
		clean.Doing = strings.ReplaceAll(clean.Doing, token, "***")
		clean.Message = strings.ReplaceAll(clean.Message, token, "***")
		clean.Hint = strings.ReplaceAll(clean.Hint, token, "***")
		return &clean
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "***"))
}
