package testcluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// gitServerEnv makes the test binary, run again by StartGitServer, the Git server (see TestMain).
const gitServerEnv = "TESTCLUSTER_TEST_GIT_SERVER"

// serveGit is the test binary as the program StartGitServer runs: ServeGit with the --listen
// and --root it is given, until SIGTERM.
func serveGit(args []string) int {
	flags := flag.NewFlagSet("git-server", flag.ContinueOnError)
	listen := flags.String("listen", "", "")
	root := flags.String("root", "", "")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := testcluster.ServeGit(ctx, *listen, *root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// StartGitServer runs the Git server as one of the cluster's processes: it serves fetch and
// push of the bare repositories under its root, including ones made after it started, and
// another program finds its URL through Open.
func TestE2EGitServerProcess(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	t.Setenv(gitServerEnv, "1")
	// A root that lives as long as the shared cluster, which keeps its one Git server.
	root := filepath.Join(c.Dir, "test-repos")
	if err := c.StartGitServer(t.Context(), root, []string{os.Args[0]}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.GitURL, "http://127.0.0.1:") {
		t.Fatalf("GitURL = %q, want http://127.0.0.1:PORT", c.GitURL)
	}

	name := "repo-" + utilrand.String(6) + ".git"
	bare := filepath.Join(root, name)
	testrepo.Git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	clone := filepath.Join(t.TempDir(), "clone")
	testrepo.Git(t, filepath.Dir(clone), "clone", "-q", c.GitURL+"/"+name, clone)
	if err := os.WriteFile(filepath.Join(clone, "README"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, clone, "add", "README")
	testrepo.Git(t, clone, "commit", "-q", "-m", "hello")
	testrepo.Git(t, clone, "push", "-q", "origin", "main")
	if got, want := testrepo.Git(t, bare, "rev-parse", "main"), testrepo.Git(t, clone, "rev-parse", "HEAD"); got != want {
		t.Errorf("bare main is %q after the push over HTTP, want %s", got, want)
	}
	if out := testrepo.Git(t, clone, "ls-remote", "origin", "main"); !strings.HasPrefix(out, testrepo.Git(t, clone, "rev-parse", "HEAD")) {
		t.Errorf("ls-remote over HTTP: %q", out)
	}

	again, err := testcluster.Open(testcluster.Options{Dir: c.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if again.GitURL != c.GitURL {
		t.Errorf("Open found GitURL %q, want %q", again.GitURL, c.GitURL)
	}
}
