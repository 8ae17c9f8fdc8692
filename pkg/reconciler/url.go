package reconciler

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?([^@/:]{2,}):(.*)$`)

// caseInsensitiveHosts are forges whose repository paths ignore case.
var caseInsensitiveHosts = map[string]bool{"github.com": true, "gitlab.com": true, "bitbucket.org": true}

// NormalizeURL reduces a Git remote URL to a form in which two spellings of the same repository
// are equal: "host/org/repo" for network URLs, whatever their scheme, user and port
// (https://host/org/repo.git, ssh://git@host:22/org/repo, git@host:org/repo), and
// "file:///abs/path" for local repositories (file:// URLs and plain paths, relative ones
// resolved against the current directory, symbolic links followed). A ".git" suffix and
// trailing slashes are dropped.
func NormalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	var host, p string
	switch {
	case strings.HasPrefix(s, "file://"):
		u, err := url.Parse(s)
		if err != nil {
			return localPath(strings.TrimPrefix(s, "file://"))
		}
		return localPath(u.Path)
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		host, p = u.Hostname(), u.Path
	case scpLike.MatchString(s) && !strings.HasPrefix(s, "/"):
		m := scpLike.FindStringSubmatch(s)
		host, p = m[1], m[2]
	default:
		return localPath(s)
	}
	host = strings.ToLower(host)
	p = trimRepoPath(p)
	if caseInsensitiveHosts[host] {
		p = strings.ToLower(p)
	}
	return host + "/" + p
}

func trimRepoPath(p string) string {
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	return strings.Trim(p, "/")
}

func localPath(p string) string {
	p = filepath.FromSlash(p)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	p = filepath.ToSlash(p)
	if t := trimRepoPath(p); t != "" {
		p = "/" + t
	}
	return "file://" + p
}

// SameRepository reports whether two remote URLs name the same repository.
func SameRepository(a, b string) bool {
	return NormalizeURL(a) == NormalizeURL(b)
}
