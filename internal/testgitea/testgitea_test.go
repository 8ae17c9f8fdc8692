package testgitea_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testgitea"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// TestServer: the server starts, takes a push over HTTP with the credential helper's password,
// and opens a pull request through its API with the admin's token.
func TestServer(t *testing.T) {
	testrepo.Env(t)
	s := testgitea.Start(t)
	for _, kv := range s.CredentialEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cloneURL, err := s.CreateRepo("fleet")
	if err != nil {
		t.Fatal(err)
	}
	dir := testrepo.New(t, "plain")
	testrepo.Git(t, dir, "remote", "add", "origin", cloneURL)
	testrepo.Git(t, dir, "push", "-q", "origin", "main")
	testrepo.Git(t, dir, "checkout", "-q", "-b", "feature")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, dir, "commit", "-qam", "change the readme")
	testrepo.Git(t, dir, "push", "-q", "origin", "feature")

	var pr struct {
		Number  int64  `json:"number"`
		HTMLURL string `json:"html_url"`
	}
	if err := s.Do(http.MethodPost, "/repos/gitops/fleet/pulls", map[string]string{"head": "feature", "base": "main", "title": "t"}, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Number != 1 || !strings.HasPrefix(pr.HTMLURL, s.URL+"/gitops/fleet/pulls/1") {
		t.Errorf("pull request %+v, want number 1 at %s/gitops/fleet/pulls/1", pr, s.URL)
	}
	if out, err := exec.Command("git", "-C", dir, "config", "--list", "--local").Output(); err != nil || strings.Contains(string(out), s.Password) {
		t.Errorf("the repository's configuration holds the password (or could not be read: %v)", err)
	}
}
