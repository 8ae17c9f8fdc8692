package gitrepo

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests run real git in temporary repositories. TestMain points HOME and XDG_CONFIG_HOME at
// a temporary directory whose .gitconfig holds the test identity, and sets GIT_CONFIG_NOSYSTEM,
// so the developer's own configuration is never read.

const helperEnv = "GITREPO_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "commit":
		os.Exit(helperCommit())
	case "hold":
		os.Exit(helperHold())
	case "fault":
		os.Exit(helperFault())
	}
	base, err := os.MkdirTemp("", "gitrepo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := isolateGit(base); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(base)
	os.Exit(code)
}

const testGitconfig = `[user]
	name = Test User
	email = test@example.com
[init]
	defaultBranch = main
[commit]
	gpgsign = false
[protocol "file"]
	allow = always
[gc]
	auto = 0
[core]
	autocrlf = false
`

func isolateGit(base string) error {
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(testGitconfig), 0o644); err != nil {
		return err
	}
	for _, v := range []string{"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS",
		"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
		"GIT_COMMITTER_DATE", "EMAIL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES"} {
		_ = os.Unsetenv(v)
	}
	for k, v := range map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(base, "xdg"),
		"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// helperCommit is one of the concurrent processes of TestConcurrentCommits.
func helperCommit() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := func() error {
		r, err := Open(os.Getenv("GITREPO_TEST_DIR"))
		if err != nil {
			return err
		}
		unlock, err := r.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		file := os.Getenv("GITREPO_TEST_FILE")
		_, err = r.Commit(ctx, CommitRequest{Message: "add " + file,
			Changes: []Change{{Path: file, Content: []byte("from process " + file + "\n")}}})
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperHold takes the lock, says so, and waits to be killed.
func helperHold() int {
	r, err := Open(os.Getenv("GITREPO_TEST_DIR"))
	if err == nil {
		_, err = r.Lock(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
	return 0
}

type testRepo struct {
	t   testing.TB
	dir string
}

// newTestRepo makes a repository with one commit of files (path → content).
func newTestRepo(t testing.TB, files map[string]string) *testRepo {
	t.Helper()
	tr := &testRepo{t: t, dir: t.TempDir()}
	tr.git("init", "-q")
	if len(files) > 0 {
		for p, c := range files {
			tr.write(p, c)
		}
		tr.git("add", "-A")
		tr.git("commit", "-q", "-m", "initial")
	}
	return tr
}

func (tr *testRepo) git(args ...string) string {
	tr.t.Helper()
	return gitIn(tr.t, tr.dir, args...)
}

func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (tr *testRepo) write(rel, content string) {
	tr.t.Helper()
	p := filepath.Join(tr.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(rel, ".sh") {
		mode = 0o755
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *testRepo) read(rel string) string {
	tr.t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.dir, filepath.FromSlash(rel)))
	if err != nil {
		tr.t.Fatal(err)
	}
	return string(b)
}

func (tr *testRepo) open() *Repo {
	tr.t.Helper()
	r, err := Open(tr.dir)
	if err != nil {
		tr.t.Fatal(err)
	}
	return r
}

func (tr *testRepo) head() string {
	tr.t.Helper()
	return strings.TrimSpace(tr.git("rev-parse", "HEAD"))
}

// fsck fails the test unless `git fsck --full --strict` is clean.
func (tr *testRepo) fsck() {
	tr.t.Helper()
	if out := tr.git("fsck", "--full", "--strict", "--no-dangling"); strings.TrimSpace(out) != "" {
		tr.t.Fatalf("git fsck:\n%s", out)
	}
}

// noLeftovers fails the test if a lock or temporary file remains.
func (tr *testRepo) noLeftovers() {
	tr.t.Helper()
	_ = filepath.WalkDir(tr.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if strings.HasSuffix(name, ".lock") || strings.Contains(name, "kubectl-gitops-") || name == LockFileName+".break" ||
			p == filepath.Join(tr.dir, ".git", "kubectl-gitops", "commit") {
			tr.t.Errorf("left behind: %s", p)
		}
		return nil
	})
}
