// Package testrepo makes real git repositories from the sample repositories under testdata, with
// a git environment isolated from the developer's (HOME, XDG dirs, no system config).
package testrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// Root is the project's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Sample is the path of testdata/repos/NAME.
func Sample(name string) string {
	return filepath.Join(Root(), "testdata", "repos", name)
}

// Env is an isolated environment for git and the plugin: a temporary HOME and XDG dirs, no
// system git config, and a fixed identity. It also sets it on the test process (t.Setenv), so
// in-process code sees the same.
func Env(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"HOME":                home,
		"XDG_CONFIG_HOME":     filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":      filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Test Author",
		"GIT_AUTHOR_EMAIL":    "author@example.com",
		"GIT_COMMITTER_NAME":  "Test Committer",
		"GIT_COMMITTER_EMAIL": "committer@example.com",
	}
	var out []string
	for k, v := range env {
		t.Setenv(k, v)
		out = append(out, k+"="+v)
	}
	Git(t, home, "config", "--global", "init.defaultBranch", "main")
	return out
}

// Git runs git in dir and returns its trimmed output; a failure fails the test.
func Git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// New copies the sample into a new git repository with one commit and returns its worktree.
func New(t *testing.T, sample string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), sample)
	if err := os.CopyFS(dir, os.DirFS(Sample(sample))); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "init", "-q", "-b", "main")
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "-m", "Initial "+sample)
	return dir
}

// NewWithRemote makes a bare repository holding the sample and a clone of it; it returns the
// bare repository's path and the clone's worktree.
func NewWithRemote(t *testing.T, sample string) (bare, work string) {
	t.Helper()
	seed := New(t, sample)
	bare = filepath.Join(t.TempDir(), sample+".git")
	Git(t, seed, "init", "-q", "--bare", "-b", "main", bare)
	Git(t, seed, "push", "-q", bare, "main")
	work = filepath.Join(t.TempDir(), "clone")
	Git(t, filepath.Dir(work), "clone", "-q", "file://"+bare, work)
	return bare, work
}

// NextTick waits until the file system's clock (fsstat.Clock, read in a directory of the test's
// on the temporary file system the repositories are made on) has moved past what it reads now:
// every file written before the call then has times older than any clock a cache reads after
// it, so the cache's stats vouch for those files (fsstat.Key.Vouches).
func NextTick(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	start, err := fsstat.Clock(dir)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		now, err := fsstat.Clock(dir)
		if err != nil {
			t.Fatal(err)
		}
		if now > start {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("the file system's clock did not move in 10 s")
}
