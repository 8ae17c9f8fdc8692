package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// forgeRequest is one API request the recorded forge received.
type forgeRequest struct {
	Method, Path, Auth string
	Body               map[string]any
}

// recordedForge is one address that serves a bare repository over git's smart HTTP (git
// http-backend, as forges serve it) and plays a forge's API under apiPrefix: answer gives the
// reply to each API request, which is recorded.
type recordedForge struct {
	URL      string
	bare     string
	mu       sync.Mutex
	requests []forgeRequest
}

func startRecordedForge(t *testing.T, project, apiPrefix string, answer func(r forgeRequest, web string) (int, string)) *recordedForge {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	f := &recordedForge{bare: filepath.Join(root, filepath.FromSlash(project)+".git")}
	testrepo.Git(t, root, "init", "-q", "--bare", "-b", "main", f.bare)
	testrepo.Git(t, f.bare, "config", "http.receivepack", "true")
	backend := &cgi.Handler{Path: git, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, apiPrefix) {
			backend.ServeHTTP(w, r)
			return
		}
		rec := forgeRequest{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization") + r.Header.Get("PRIVATE-TOKEN")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_ = json.Unmarshal(b, &rec.Body)
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		status, reply := answer(rec, f.URL)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(s.Close)
	f.URL = s.URL
	return f
}

func (f *recordedForge) received() []forgeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forgeRequest(nil), f.requests...)
}

// forgeRepo is the kustomize sample in a clone whose origin is the recorded forge's repository,
// the forge named in .kubectl-gitops.yaml.
func forgeRepo(t *testing.T, f *recordedForge, provider, project string) string {
	t.Helper()
	dir := testrepo.New(t, "kustomize")
	commitFiles(t, dir, "review on "+provider, map[string]string{
		".kubectl-gitops.yaml": fmt.Sprintf("apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nreview:\n  provider: %s\n  url: %s\n", provider, f.URL),
	})
	gitRun(t, dir, "remote", "add", "origin", f.URL+"/"+project+".git")
	gitRun(t, dir, "push", "-q", "origin", "main")
	return dir
}

// TestPullRequestGitHubRecorded: scale --pr in a repository whose origin is on a GitHub
// (Enterprise, here a recorded one): the branch is pushed, one pull request is opened through
// the REST API with the token, titled with the commit's subject and holding the field change,
// the render diff and the trailers; stdout is its URL; the token appears in no output and not
// in .git/config.
func TestPullRequestGitHubRecorded(t *testing.T) {
	gitEnv(t)
	const token = "ghp_recordedtoken0123456789"
	f := startRecordedForge(t, "acme/fleet", "/api/", func(r forgeRequest, web string) (int, string) {
		switch {
		case r.Method == "GET" && r.Path == "/api/v3/repos/acme/fleet/pulls":
			return 200, "[]"
		case r.Method == "POST" && r.Path == "/api/v3/repos/acme/fleet/pulls":
			return 201, fmt.Sprintf(`{"number":12,"state":"open","html_url":"%s/acme/fleet/pull/12"}`, web)
		}
		return 404, `{"message":"Not Found"}`
	})
	dir := forgeRepo(t, f, "github", "acme/fleet")
	t.Setenv("GITHUB_TOKEN", token)

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=5", "--repo", dir, "--path", "overlays/staging", "--pr", "--branch", "scale-web")
	if code != 0 {
		t.Fatalf("scale --pr: exit %d\n%s%s", code, stdout, stderr)
	}
	if want := f.URL + "/acme/fleet/pull/12\n"; stdout != want {
		t.Errorf("stdout %q, want the pull request's URL %q", stdout, want)
	}
	reqs := f.received()
	if len(reqs) != 2 || reqs[1].Method != "POST" {
		t.Fatalf("API requests %+v, want a list and one create", reqs)
	}
	for _, r := range reqs {
		if r.Auth != "Bearer "+token {
			t.Errorf("%s %s: Authorization %q, want the token", r.Method, r.Path, r.Auth)
		}
	}
	create := reqs[1].Body
	subject := strings.TrimSpace(gitRun(t, dir, "log", "-1", "--format=%s", "scale-web"))
	if create["title"] != subject || create["head"] != "scale-web" || create["base"] != "main" {
		t.Errorf("created %v, want title %q from scale-web into main", create, subject)
	}
	body, _ := create["body"].(string)
	for _, w := range []string{"spec.replicas: 1 → 5", "-  replicas: 1\n+  replicas: 5\n", "Gitops-Target: overlays/staging"} {
		if !strings.Contains(body, w) {
			t.Errorf("the body lacks %q:\n%s", w, body)
		}
	}
	if head := testrepo.Git(t, f.bare, "rev-parse", "refs/heads/scale-web"); head != revParse(t, dir, "scale-web") {
		t.Errorf("the forge's scale-web is %s, want the commit %s", head, revParse(t, dir, "scale-web"))
	}
	config, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout+stderr+string(config), token) {
		t.Errorf("the token is in the output or .git/config:\n%s%s%s", stdout, stderr, config)
	}
}

// TestPullRequestGitLabRecorded: the same on a self-managed GitLab (recorded) with -o json and
// --draft: a merge request titled "Draft: SUBJECT", and the result's pullRequest entry.
func TestPullRequestGitLabRecorded(t *testing.T) {
	gitEnv(t)
	const token = "glpat-recordedtoken0123"
	f := startRecordedForge(t, "platform/fleet", "/api/", func(r forgeRequest, web string) (int, string) {
		const mrs = "/api/v4/projects/platform%2Ffleet/merge_requests"
		switch {
		case r.Method == "GET" && r.Path == mrs:
			return 200, "[]"
		case r.Method == "POST" && r.Path == mrs:
			return 201, fmt.Sprintf(`{"id":300,"iid":3,"state":"opened","web_url":"%s/platform/fleet/-/merge_requests/3"}`, web)
		}
		return 404, `{"message":"404 Not Found"}`
	})
	dir := forgeRepo(t, f, "gitlab", "platform/fleet")
	t.Setenv("GITLAB_TOKEN", token)

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=5", "--repo", dir, "--path", "overlays/staging", "--pr", "--draft", "-o", "json")
	if code != 0 {
		t.Fatalf("scale --pr: exit %d\n%s%s", code, stdout, stderr)
	}
	var res struct {
		Commit      string `json:"commit"`
		PullRequest struct {
			Provider, Action, URL, Branch, Commit string
			Number                                int64
		} `json:"pullRequest"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	p := res.PullRequest
	if p.Provider != "gitlab" || p.Action != "created" || p.Number != 3 || p.URL != f.URL+"/platform/fleet/-/merge_requests/3" ||
		!generatedBranch.MatchString(p.Branch) || p.Commit != res.Commit {
		t.Errorf("pullRequest %+v, want merge request !3 created from a generated branch at commit %s", p, res.Commit)
	}
	reqs := f.received()
	if len(reqs) != 2 {
		t.Fatalf("API requests %+v, want a list and one create", reqs)
	}
	create := reqs[1].Body
	subject := strings.TrimSpace(gitRun(t, dir, "log", "-1", "--format=%s", p.Branch))
	if create["title"] != "Draft: "+subject || create["source_branch"] != p.Branch || create["target_branch"] != "main" || reqs[1].Auth != token {
		t.Errorf("created %v (token header %v), want a draft titled %q from %s into main", create, reqs[1].Auth == token, subject, p.Branch)
	}
	if desc, _ := create["description"].(string); !strings.Contains(desc, "+  replicas: 5\n") {
		t.Errorf("the description lacks the render diff:\n%s", desc)
	}
	if strings.Contains(stdout+stderr, token) {
		t.Errorf("the output holds the token")
	}
}
