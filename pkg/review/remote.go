// Package review opens or updates the pull or merge request of a pushed branch on the forge
// that hosts the repository: GitHub and GitHub Enterprise (go-github), GitLab and self-managed
// GitLab (GitLab's client-go), Gitea and Forgejo (Gitea's SDK). For Bitbucket, unknown hosts
// and a missing token it gives the page where a person opens the request instead. It finds the
// forge from the remote's URL (or the repository configuration's review: entry) and the token
// from the environment and the forges' own command-line tools' configuration. A token is sent
// to the forge's API in a header only: never printed, logged, quoted in an error or written to
// the repository.
package review

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Providers.
const (
	GitHub    = "github"
	GitLab    = "gitlab"
	Gitea     = "gitea"
	Forgejo   = "forgejo"
	Bitbucket = "bitbucket"
)

// Remote is a repository on a forge.
type Remote struct {
	// Provider is one of the Providers, or "" when the host is not known.
	Provider string
	// Host is the forge's host name (with the port of an http(s) remote).
	Host string
	// Web is the forge's web address, without a trailing slash: https://github.com,
	// https://git.example.com/gitlab.
	Web string
	// Project is the repository's path on the forge: OWNER/NAME, or GROUP/SUBGROUP/NAME on
	// GitLab.
	Project string
	// Configured says the provider came from the repository configuration.
	Configured bool
}

// ProviderName is the provider as people name it.
func (r Remote) ProviderName() string {
	switch r.Provider {
	case GitHub:
		return "GitHub"
	case GitLab:
		return "GitLab"
	case Gitea:
		return "Gitea"
	case Forgejo:
		return "Forgejo"
	case Bitbucket:
		return "Bitbucket"
	}
	return r.Host
}

// Request is what a pull or merge request is called on the forge.
func (r Remote) Request() string {
	if r.Provider == GitLab {
		return "merge request"
	}
	return "pull request"
}

// knownHosts are the public forges.
var knownHosts = map[string]string{
	"github.com":    GitHub,
	"gitlab.com":    GitLab,
	"bitbucket.org": Bitbucket,
	"gitea.com":     Gitea,
	"codeberg.org":  Forgejo,
}

// ParseRemote reads a git remote's URL, in its https, ssh and scp-like (git@host:owner/name)
// forms, with the repository configuration's review entry, which names the provider and web
// address of a host its name does not tell. Credentials in the URL are dropped.
func ParseRemote(raw string, cfg target.ReviewConfig) (Remote, error) {
	host, hostPort, repoPath, scheme, err := splitRemote(raw)
	if err != nil {
		return Remote{}, err
	}
	r := Remote{Host: host, Project: strings.TrimSuffix(strings.Trim(repoPath, "/"), ".git")}
	switch {
	case scheme == "http" || scheme == "https":
		r.Host = hostPort
		r.Web = scheme + "://" + hostPort
	default:
		r.Web = "https://" + host
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return Remote{}, fmt.Errorf("review.url: %w", err)
		}
		r.Web = strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/")
		// A forge under a path (https://host/gitlab) has it in its https remotes too.
		if prefix := strings.Trim(u.Path, "/"); prefix != "" {
			r.Project = strings.TrimPrefix(strings.TrimPrefix(r.Project, prefix), "/")
		}
	}
	switch {
	case cfg.Provider != "":
		r.Provider, r.Configured = cfg.Provider, true
	case knownHosts[strings.ToLower(host)] != "":
		r.Provider = knownHosts[strings.ToLower(host)]
	default:
		// A self-hosted forge named for itself: gitlab.example.com, github.corp.example.
		label, _, _ := strings.Cut(strings.ToLower(host), ".")
		switch label {
		case GitHub, GitLab, Gitea, Forgejo, Bitbucket:
			r.Provider = label
		}
	}
	if r.Project == "" {
		return Remote{}, fmt.Errorf("remote %s names no repository path", redact(raw))
	}
	if r.Provider != GitLab && r.Provider != "" && strings.Count(r.Project, "/") != 1 {
		return Remote{}, fmt.Errorf("remote %s: %q is not OWNER/NAME as %s names repositories", redact(raw), r.Project, r.ProviderName())
	}
	return r, nil
}

// splitRemote splits a remote URL into its host (without port), host with port, path and
// scheme ("" for the scp-like form).
func splitRemote(raw string) (host, hostPort, repoPath, scheme string, err error) {
	if !strings.Contains(raw, "://") {
		// scp-like: [user@]host:path; a path with a slash before any colon is a local path.
		at := strings.Index(raw, ":")
		if at <= 0 || strings.Contains(raw[:at], "/") {
			return "", "", "", "", fmt.Errorf("remote %s is a local path, not a repository on a forge", redact(raw))
		}
		h := raw[:at]
		if i := strings.LastIndex(h, "@"); i >= 0 {
			h = h[i+1:]
		}
		return h, h, raw[at+1:], "", nil
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", "", "", "", fmt.Errorf("remote %s is not a URL git can push to", redact(raw))
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "git+ssh", "ssh+git":
	default:
		return "", "", "", "", fmt.Errorf("remote %s is not on a forge (%s URL)", redact(raw), u.Scheme)
	}
	if u.Hostname() == "" {
		return "", "", "", "", fmt.Errorf("remote %s names no host", redact(raw))
	}
	return u.Hostname(), u.Host, u.Path, u.Scheme, nil
}

// redact is a remote URL without the credentials it may hold, parsed or not.
func redact(raw string) string {
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest
	}
	if at, colon := strings.Index(raw, "@"), strings.Index(raw, ":"); at >= 0 && (colon < 0 || at < colon) {
		return raw[at+1:]
	}
	return raw
}

// CompareURL is the page where a person opens a request from head into base.
func (r Remote) CompareURL(base, head string) string {
	project := r.Web + "/" + r.Project
	switch r.Provider {
	case GitLab:
		q := url.Values{"merge_request[source_branch]": {head}, "merge_request[target_branch]": {base}}
		return project + "/-/merge_requests/new?" + q.Encode()
	case Bitbucket:
		q := url.Values{"source": {head}, "dest": {base}}
		return project + "/pull-requests/new?" + q.Encode()
	case GitHub:
		return project + "/compare/" + pathEscape(base) + "..." + pathEscape(head) + "?expand=1"
	}
	// Gitea, Forgejo, and GitHub's form for a host no one named.
	return project + "/compare/" + pathEscape(base) + "..." + pathEscape(head)
}

// pathEscape escapes a branch name for a URL path, keeping its slashes.
func pathEscape(branch string) string {
	parts := strings.Split(branch, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
