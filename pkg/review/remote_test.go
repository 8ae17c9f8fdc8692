package review

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		cfg  target.ReviewConfig
		want Remote
	}{
		{raw: "https://github.com/acme/fleet.git", want: Remote{Provider: GitHub, Host: "github.com", Web: "https://github.com", Project: "acme/fleet"}},
		{raw: "git@github.com:acme/fleet.git", want: Remote{Provider: GitHub, Host: "github.com", Web: "https://github.com", Project: "acme/fleet"}},
		{raw: "ssh://git@github.com/acme/fleet", want: Remote{Provider: GitHub, Host: "github.com", Web: "https://github.com", Project: "acme/fleet"}},
		{raw: "https://x-access-token:ghs_secret@github.com/acme/fleet.git", want: Remote{Provider: GitHub, Host: "github.com", Web: "https://github.com", Project: "acme/fleet"}},
		{raw: "git@gitlab.com:group/sub/fleet.git", want: Remote{Provider: GitLab, Host: "gitlab.com", Web: "https://gitlab.com", Project: "group/sub/fleet"}},
		{raw: "https://gitlab.example.com:8443/platform/fleet.git", want: Remote{Provider: GitLab, Host: "gitlab.example.com:8443", Web: "https://gitlab.example.com:8443", Project: "platform/fleet"}},
		{raw: "ssh://git@github.corp.example:2222/acme/fleet.git", want: Remote{Provider: GitHub, Host: "github.corp.example", Web: "https://github.corp.example", Project: "acme/fleet"}},
		{raw: "git@codeberg.org:acme/fleet.git", want: Remote{Provider: Forgejo, Host: "codeberg.org", Web: "https://codeberg.org", Project: "acme/fleet"}},
		{raw: "git@bitbucket.org:acme/fleet.git", want: Remote{Provider: Bitbucket, Host: "bitbucket.org", Web: "https://bitbucket.org", Project: "acme/fleet"}},
		{raw: "https://git.example.com/acme/fleet.git", want: Remote{Host: "git.example.com", Web: "https://git.example.com", Project: "acme/fleet"}},
		{raw: "git@git.example.com:acme/fleet.git", cfg: target.ReviewConfig{Provider: Gitea, URL: "https://git.example.com/"},
			want: Remote{Provider: Gitea, Host: "git.example.com", Web: "https://git.example.com", Project: "acme/fleet", Configured: true}},
		{raw: "https://code.example.com/gitlab/platform/team/fleet.git", cfg: target.ReviewConfig{Provider: GitLab, URL: "https://code.example.com/gitlab"},
			want: Remote{Provider: GitLab, Host: "code.example.com", Web: "https://code.example.com/gitlab", Project: "platform/team/fleet", Configured: true}},
	} {
		got, err := ParseRemote(tc.raw, tc.cfg)
		if err != nil {
			t.Errorf("ParseRemote(%q): %v", tc.raw, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseRemote(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestParseRemoteErrors(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"/srv/git/fleet.git", "is a local path, not a repository on a forge"},
		{"file:///srv/git/fleet.git", "is not on a forge (file URL)"},
		{"https://github.com/acme/sub/fleet.git", `"acme/sub/fleet" is not OWNER/NAME as GitHub names repositories`},
		{"https://user:hunter2@github.com/", "names no repository path"},
	} {
		_, err := ParseRemote(tc.raw, target.ReviewConfig{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRemote(%q): %v, want an error saying %q", tc.raw, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseRemote(%q) quotes the password: %v", tc.raw, err)
		}
	}
}

func TestCompareURL(t *testing.T) {
	for _, tc := range []struct {
		r    Remote
		want string
	}{
		{Remote{Provider: GitHub, Web: "https://github.com", Project: "acme/fleet"}, "https://github.com/acme/fleet/compare/main...gitops/scale-web?expand=1"},
		{Remote{Provider: GitLab, Web: "https://gitlab.com", Project: "g/fleet"}, "https://gitlab.com/g/fleet/-/merge_requests/new?merge_request%5Bsource_branch%5D=gitops%2Fscale-web&merge_request%5Btarget_branch%5D=main"},
		{Remote{Provider: Bitbucket, Web: "https://bitbucket.org", Project: "acme/fleet"}, "https://bitbucket.org/acme/fleet/pull-requests/new?dest=main&source=gitops%2Fscale-web"},
		{Remote{Provider: Gitea, Web: "http://127.0.0.1:3000", Project: "acme/fleet"}, "http://127.0.0.1:3000/acme/fleet/compare/main...gitops/scale-web"},
		{Remote{Web: "https://git.example.com", Project: "acme/fleet"}, "https://git.example.com/acme/fleet/compare/main...gitops/scale-web"},
	} {
		if got := tc.r.CompareURL("main", "gitops/scale-web"); got != tc.want {
			t.Errorf("%s: CompareURL = %s, want %s", tc.r.ProviderName(), got, tc.want)
		}
	}
}

// TestToken: variables first (the Enterprise ones for a host other than github.com), then the
// forge tools' files; the source names where it came from, never the token.
func TestToken(t *testing.T) {
	home, remove, err := privtmp.MkdirTemp("token-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = remove() })
	write := func(name, content string) {
		p := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".config/gh/hosts.yml", "github.com:\n  user: alice\n  users:\n    alice:\n      oauth_token: gho_from_file\ngithub.corp.example:\n  oauth_token: gho_enterprise_file\n")
	write(".config/glab-cli/config.yml", "hosts:\n  gitlab.com:\n    token: glpat_from_file\n  gitlab.example.com:\n    token:\n")
	gh := Remote{Provider: GitHub, Host: "github.com"}
	ghe := Remote{Provider: GitHub, Host: "github.corp.example"}
	gl := Remote{Provider: GitLab, Host: "gitlab.com"}
	glSelf := Remote{Provider: GitLab, Host: "gitlab.example.com"}
	gitea := Remote{Provider: Gitea, Host: "127.0.0.1:3000"}
	for _, tc := range []struct {
		name                string
		r                   Remote
		env                 map[string]string
		wantToken, wantFrom string
	}{
		{"GH_TOKEN before GITHUB_TOKEN", gh, map[string]string{"GH_TOKEN": "gh1", "GITHUB_TOKEN": "gh2"}, "gh1", "GH_TOKEN"},
		{"GITHUB_TOKEN", gh, map[string]string{"GITHUB_TOKEN": "gh2"}, "gh2", "GITHUB_TOKEN"},
		{"gh's hosts.yml, the active user's", gh, map[string]string{"HOME": home}, "gho_from_file", filepath.Join(home, ".config/gh/hosts.yml")},
		{"Enterprise variable first", ghe, map[string]string{"GH_ENTERPRISE_TOKEN": "ent", "GH_TOKEN": "gh1"}, "ent", "GH_ENTERPRISE_TOKEN"},
		{"Enterprise host in hosts.yml", ghe, map[string]string{"HOME": home}, "gho_enterprise_file", filepath.Join(home, ".config/gh/hosts.yml")},
		{"GH_CONFIG_DIR without the file", gh, map[string]string{"HOME": home, "GH_CONFIG_DIR": filepath.Join(home, "none")}, "", ""},
		{"GITLAB_TOKEN", gl, map[string]string{"GITLAB_TOKEN": "glpat1", "HOME": home}, "glpat1", "GITLAB_TOKEN"},
		{"glab's config.yml", gl, map[string]string{"XDG_CONFIG_HOME": filepath.Join(home, ".config")}, "glpat_from_file", filepath.Join(home, ".config/glab-cli/config.yml")},
		{"glab's token in the keyring", glSelf, map[string]string{"HOME": home}, "", ""},
		{"GITEA_TOKEN", gitea, map[string]string{"GITEA_TOKEN": " tea1\n"}, "tea1", "GITEA_TOKEN"},
		{"no GitHub token for Gitea", gitea, map[string]string{"GITHUB_TOKEN": "gh2", "HOME": home}, "", ""},
		{"no token for an unknown host", Remote{Host: "git.example.com"}, map[string]string{"GITHUB_TOKEN": "gh2"}, "", ""},
	} {
		token, from := Token(tc.r, func(k string) string { return tc.env[k] })
		if token != tc.wantToken || from != tc.wantFrom {
			t.Errorf("%s: token %q from %q, want %q from %q", tc.name, token, from, tc.wantToken, tc.wantFrom)
		}
	}
}

// TestBody: the description holds each commit's subject and field changes, the targets
// rendered again, the render diff in a collapsible section (collapsed when long) and the
// Gitops-* trailers once each, and stays within BodyMaxBytes however long the diff.
func TestBody(t *testing.T) {
	commits := []Commit{
		parseMessage("1111111aaaa", "scale deployment shop/web to 5 replicas (staging)\n\nDeployment.apps shop/web spec.replicas: 1 → 5\n\nGitops-Object: apps/v1 Deployment shop/web\nGitops-Target: overlays/staging\n"),
		parseMessage("2222222bbbb", "set image of deployment shop/web (staging)\n\nDeployment.apps shop/web image: a:1 → a:2\n\nGitops-Object: apps/v1 Deployment shop/web\nGitops-Target: overlays/staging\nSigned-off-by: A <a@example.com>\n"),
	}
	short := "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-  replicas: 1\n+  replicas: 5\n"
	report := func(diff string) *revdiff.Report {
		return &revdiff.Report{From: "origin/main", To: "gitops/scale", ChangedFiles: []string{"overlays/staging/kustomization.yaml"},
			Rendered: []string{"overlays/staging"},
			Targets: []revdiff.TargetDiff{{Target: "overlays/staging", Path: "overlays/staging", Status: revdiff.StatusChanged,
				Objects: []revdiff.ObjectDiff{{Object: "Deployment.apps shop/web", Change: revdiff.ObjectChanged, Diff: diff}}}}}
	}
	body, err := Body(commits, report(short))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"**scale deployment shop/web to 5 replicas (staging)** (1111111)",
		"- Deployment.apps shop/web spec.replicas: 1 → 5\n",
		"- Deployment.apps shop/web image: a:1 → a:2\n",
		"Targets rendered again: `overlays/staging`.",
		"<details open><summary>overlays/staging: 1 changed</summary>",
		"-  replicas: 1\n+  replicas: 5\n",
		"```\nGitops-Object: apps/v1 Deployment shop/web\nGitops-Target: overlays/staging\n```\n",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("the body lacks %q:\n%s", w, body)
		}
	}
	if strings.Count(body, "Gitops-Target:") != 1 || strings.Contains(body, "Signed-off-by") {
		t.Errorf("the trailers are not the Gitops-* ones once each:\n%s", body)
	}

	long := "--- a/x\n+++ b/x\n@@ -1,20000 +1,20000 @@\n" + strings.Repeat("-  line: old\n+  line: new\n", 10000)
	body, err = Body(commits, report(long))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > BodyMaxBytes {
		t.Errorf("a long diff gives a %d-byte body, over %d", len(body), BodyMaxBytes)
	}
	for _, w := range []string{"<details><summary>overlays/staging: 1 changed</summary>", "more: run kubectl gitops diff --from origin/main --to gitops/scale to see all", "Gitops-Target: overlays/staging"} {
		if !strings.Contains(body, w) {
			t.Errorf("the body of a long diff lacks %q", w)
		}
	}
}

// TestOpenLink: without a token, for Bitbucket and for a host no one named, Open asks no API
// (the client fails any request) and gives the page to open the request, saying why.
func TestOpenLink(t *testing.T) {
	refuse := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("Open sent %s %s", r.Method, r.URL)
		return nil, errors.New("no requests here")
	})}
	req := Request{Title: "t", Head: "gitops/x", Base: "main"}
	for _, tc := range []struct {
		raw, token, url, why string
	}{
		{"git@github.com:acme/fleet.git", "", "https://github.com/acme/fleet/compare/main...gitops/x?expand=1", "no GitHub token (GITHUB_TOKEN or GH_TOKEN, or gh auth login)"},
		{"https://gitlab.com/g/fleet.git", "", "https://gitlab.com/g/fleet/-/merge_requests/new?merge_request%5Bsource_branch%5D=gitops%2Fx&merge_request%5Btarget_branch%5D=main", "no GitLab token (GITLAB_TOKEN, or glab auth login)"},
		{"git@bitbucket.org:acme/fleet.git", "tok", "https://bitbucket.org/acme/fleet/pull-requests/new?dest=main&source=gitops%2Fx", "Bitbucket requests are opened in the browser"},
		{"https://git.example.com/acme/fleet.git", "tok", "https://git.example.com/acme/fleet/compare/main...gitops/x", "git.example.com is not a forge kubectl gitops knows: name it in .kubectl-gitops.yaml (review: {provider, url})"},
	} {
		r, err := ParseRemote(tc.raw, target.ReviewConfig{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Open(context.Background(), Options{Remote: r, Token: tc.token, HTTPClient: refuse}, req)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if res.Action != Link || res.URL != tc.url || res.Why != tc.why {
			t.Errorf("%s: %+v, want the link %s because %q", tc.raw, *res, tc.url, tc.why)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
