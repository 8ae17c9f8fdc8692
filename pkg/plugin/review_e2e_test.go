package plugin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testgitea"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// giteaPull is what the tests read of a pull request on Gitea.
type giteaPull struct {
	Number  int64  `json:"number"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	State   string `json:"state"`
	HTMLURL string `json:"html_url"`
	Head    struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
	Labels []struct {
		Name string `json:"name"`
	} `json:"labels"`
	RequestedReviewers []struct {
		Login string `json:"login"`
	} `json:"requested_reviewers"`
}

// giteaRepo is the kustomize sample in a clone whose origin is a new repository on a real
// Gitea, named in .kubectl-gitops.yaml (127.0.0.1 does not tell which forge it is); git pushes
// there with the admin's password from a credential helper in the environment.
func giteaRepo(t *testing.T, s *testgitea.Server, name string) string {
	t.Helper()
	for _, kv := range s.CredentialEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cloneURL, err := s.CreateRepo(name)
	if err != nil {
		t.Fatal(err)
	}
	dir := testrepo.New(t, "kustomize")
	commitFiles(t, dir, "review on gitea", map[string]string{
		".kubectl-gitops.yaml": fmt.Sprintf("apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nreview:\n  provider: gitea\n  url: %s\n", s.URL),
	})
	gitRun(t, dir, "remote", "add", "origin", cloneURL)
	gitRun(t, dir, "push", "-q", "origin", "main")
	return dir
}

var generatedBranch = regexp.MustCompile(`^gitops/scale-deployment-web-[0-9a-f]{6}$`)

// TestE2EPullRequestGitea: scale --pr --draft --label --reviewer pushes a branch named for the
// change and opens one pull request on a real Gitea, a draft (Gitea's "WIP: " title) with the
// label and a review requested from a collaborator,
// titled with the commit's subject and describing the field change,
// the targets rendered again, the render diff and the trailers; set image --pr on the same
// branch adds a commit on top (planned on the branch's files, so the first change stays) and
// updates that request: one request, two commits. The token appears in no output and not in
// .git/config.
func TestE2EPullRequestGitea(t *testing.T) {
	gitEnv(t)
	s := testgitea.Start(t)
	dir := giteaRepo(t, s, "fleet")
	t.Setenv("GITEA_TOKEN", s.Token)
	var outputs []string
	if err := s.Do(http.MethodPost, "/repos/gitops/fleet/labels", map[string]string{"name": "gitops", "color": "#00aabb"}, nil); err != nil {
		t.Fatal(err)
	}
	// A reviewer: another user, a collaborator of the repository.
	if err := s.Do(http.MethodPost, "/admin/users", map[string]any{"username": "alice", "email": "alice@example.com", "password": "alice-test-password", "must_change_password": false}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Do(http.MethodPut, "/repos/gitops/fleet/collaborators/alice", map[string]string{"permission": "write"}, nil); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=5", "--repo", dir, "--path", "overlays/staging", "--pr", "--draft", "--label", "gitops", "--reviewer", "alice")
	outputs = append(outputs, stdout, stderr)
	if code != 0 {
		t.Fatalf("scale --pr: exit %d\n%s%s", code, stdout, stderr)
	}
	want := s.URL + "/gitops/fleet/pulls/1\n"
	if stdout != want {
		t.Errorf("scale --pr printed %q on stdout, want the request's URL %q", stdout, want)
	}
	var pr giteaPull
	if err := s.Do(http.MethodGet, "/repos/gitops/fleet/pulls/1", nil, &pr); err != nil {
		t.Fatal(err)
	}
	branch := pr.Head.Ref
	if !generatedBranch.MatchString(branch) || pr.Base.Ref != "main" || pr.State != "open" {
		t.Errorf("request from %q into %q (%s), want gitops/scale-deployment-web-ID into main, open", branch, pr.Base.Ref, pr.State)
	}
	subject := strings.TrimSpace(gitRun(t, dir, "log", "-1", "--format=%s", branch))
	if pr.Title != "WIP: "+subject {
		t.Errorf("title %q, want the commit's subject %q as a draft", pr.Title, subject)
	}
	if len(pr.Labels) != 1 || pr.Labels[0].Name != "gitops" {
		t.Errorf("labels %+v, want gitops", pr.Labels)
	}
	if len(pr.RequestedReviewers) != 1 || pr.RequestedReviewers[0].Login != "alice" {
		t.Errorf("requested reviewers %+v, want alice", pr.RequestedReviewers)
	}
	for _, w := range []string{
		"Deployment.apps shop/web spec.replicas: 1 → 5",
		"Targets rendered again: `overlays/staging`",
		"<summary>overlays/staging: 1 changed</summary>",
		"-  replicas: 1\n+  replicas: 5\n",
		"Gitops-Object: apps/v1 Deployment shop/web",
		"Gitops-Target: overlays/staging",
	} {
		if !strings.Contains(pr.Body, w) {
			t.Errorf("the description lacks %q:\n%s", w, pr.Body)
		}
	}
	if head := strings.Fields(gitRun(t, dir, "ls-remote", "origin", "refs/heads/"+branch)); len(head) == 0 || head[0] != pr.Head.SHA {
		t.Errorf("branch %s on origin: %v, want the request's head %s", branch, head, pr.Head.SHA)
	}
	if cur := strings.TrimSpace(gitRun(t, dir, "branch", "--show-current")); cur != "main" {
		t.Errorf("checked out %s after --pr, want main as it was", cur)
	}

	stdout, stderr, code = gitops(t, "set", "image", "deploy/web", "web=registry.example.com/shop/web:2.0.0",
		"--repo", dir, "--path", "overlays/staging", "--pr", "--branch", branch, "-o", "json")
	outputs = append(outputs, stdout, stderr)
	if code != 0 {
		t.Fatalf("set image --pr --branch: exit %d\n%s%s", code, stdout, stderr)
	}
	var res struct {
		Commit      string `json:"commit"`
		Branch      string `json:"branch"`
		PullRequest struct {
			Action string `json:"action"`
			Number int64  `json:"number"`
			URL    string `json:"url"`
			Branch string `json:"branch"`
			Commit string `json:"commit"`
		} `json:"pullRequest"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if p := res.PullRequest; p.Action != "updated" || p.Number != 1 || p.URL != strings.TrimSpace(want) || p.Branch != branch || p.Commit != res.Commit {
		t.Errorf("pullRequest %+v, want updated #1 at %s, branch %s, commit %s", p, want, branch, res.Commit)
	}
	var open []giteaPull
	if err := s.Do(http.MethodGet, "/repos/gitops/fleet/pulls?state=open", nil, &open); err != nil {
		t.Fatal(err)
	}
	var commits []struct {
		SHA string `json:"sha"`
	}
	if err := s.Do(http.MethodGet, "/repos/gitops/fleet/pulls/1/commits", nil, &commits); err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || len(commits) != 2 || (commits[0].SHA != res.Commit && commits[1].SHA != res.Commit) {
		t.Errorf("%d open requests with commits %v, want one with two, one of them %s", len(open), commits, res.Commit)
	}
	if err := s.Do(http.MethodGet, "/repos/gitops/fleet/pulls/1", nil, &pr); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"spec.replicas: 1 → 5", "image: registry.example.com/shop/web:2.0.0", "+  replicas: 5\n"} {
		if !strings.Contains(pr.Body, w) {
			t.Errorf("the updated description lacks %q:\n%s", w, pr.Body)
		}
	}
	// The description's render diff (base to branch) shows both changes; the first survives the
	// second only if the second was planned on the branch's files.
	if staging := gitRun(t, dir, "show", branch+":overlays/staging/kustomization.yaml"); !strings.Contains(staging, "count: 5") {
		t.Errorf("the second commit undid the first: the branch's staging overlay:\n%s", staging)
	}

	config, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range append(outputs, string(config)) {
		if strings.Contains(out, s.Token) {
			t.Errorf("output %d holds the token:\n%s", i, out)
		}
	}
}

// TestE2EPullRequestGiteaNoToken: without a token the branch is pushed, the page to open the
// request (into --base when given) is printed, and the command succeeds. With a token Gitea refuses, the command fails
// saying so and what to do, the pushed branch stays, and the token is not printed.
func TestE2EPullRequestGiteaNoToken(t *testing.T) {
	gitEnv(t)
	s := testgitea.Start(t)
	dir := giteaRepo(t, s, "notoken")
	t.Setenv("GITEA_TOKEN", "")

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=5", "--repo", dir, "--path", "overlays/staging", "--pr", "--branch", "more-web")
	if code != 0 {
		t.Fatalf("scale --pr without a token: exit %d\n%s%s", code, stdout, stderr)
	}
	if want := s.URL + "/gitops/notoken/compare/main...more-web\n"; stdout != want {
		t.Errorf("stdout %q, want the compare page %q", stdout, want)
	}
	if !strings.Contains(stderr, "no Gitea token (GITEA_TOKEN)") {
		t.Errorf("stderr does not say why no request was opened:\n%s", stderr)
	}
	if head := gitRun(t, dir, "ls-remote", "origin", "refs/heads/more-web"); head == "" {
		t.Error("branch more-web was not pushed")
	}
	var open []giteaPull
	if err := s.Do(http.MethodGet, "/repos/gitops/notoken/pulls?state=all", nil, &open); err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("%d requests opened without a token", len(open))
	}

	// --base: the request goes into another branch than the one the target follows.
	gitRun(t, dir, "push", "-q", "origin", "main:release")
	stdout, stderr, code = gitops(t, "scale", "deploy/web", "--replicas=4", "--repo", dir, "--path", "overlays/staging", "--pr", "--branch", "into-release", "--base", "release")
	if want := s.URL + "/gitops/notoken/compare/release...into-release\n"; code != 0 || stdout != want {
		t.Errorf("--base release: exit %d, stdout %q; want 0 and %q\n%s", code, stdout, want, stderr)
	}

	const refused = "0123456789abcdef0123456789abcdef01234567"
	t.Setenv("GITEA_TOKEN", refused)
	stdout, stderr, code = gitops(t, "scale", "deploy/web", "--replicas=6", "--repo", dir, "--path", "overlays/staging", "--pr", "--branch", "refused")
	if code != 1 {
		t.Fatalf("scale --pr with a refused token: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, w := range []string{"401", "the token was refused", "GITEA_TOKEN", "pushed on branch refused, which stays", "/gitops/notoken/compare/main...refused"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(stdout+stderr, refused) {
		t.Errorf("the output holds the token:\n%s%s", stdout, stderr)
	}
	if head := gitRun(t, dir, "ls-remote", "origin", "refs/heads/refused"); head == "" {
		t.Error("branch refused was not pushed, or was removed")
	}
}
