package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperFault commits faultRequest in GITREPO_TEST_DIR and kills itself at the
// GITREPO_TEST_KILL_AT-th fault point; with 0 it lists the points and the commit it made.
func helperFault() int {
	at, _ := strconv.Atoi(os.Getenv("GITREPO_TEST_KILL_AT"))
	n := 0
	faultHook = func(point string) {
		n++
		if at == 0 {
			fmt.Println("point " + point)
		}
		if n == at {
			fmt.Println("killed at " + point)
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			select {}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
		res, err := r.Commit(ctx, faultRequest(os.Getenv("GITREPO_TEST_BRANCH")))
		fmt.Println("commit " + res.Hash)
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// faultRequest changes a file, adds one in a new directory, and deletes two, one the last file
// of its directory.
func faultRequest(branch string) CommitRequest {
	return CommitRequest{Message: "scale web\n\nGitops-Object: apps/v1 Deployment shop/web\n", Branch: branch,
		Changes: []Change{
			{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 5\n")},
			{Path: "apps/web/hpa/hpa.yaml", Content: []byte("min: 5\n")},
			{Path: "apps/db/old.yaml", Delete: true},
			{Path: "hack/run.sh", Delete: true},
		}}
}

// runFaultHelper runs helperFault on the repository in dir.
func runFaultHelper(t *testing.T, dir, branch string, killAt int) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=fault", "GITREPO_TEST_DIR="+dir, "GITREPO_TEST_BRANCH="+branch,
		"GITREPO_TEST_KILL_AT="+strconv.Itoa(killAt),
		// The same commit at every run, so that a kill after the ref moved is recognised.
		"GIT_AUTHOR_DATE=1700000000 +0000", "GIT_COMMITTER_DATE=1700000000 +0000")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestKillAtEveryPoint kills a commit at each point where it writes, renames or removes a file
// or runs git, for the checked-out branch (without hooks and with them) and for another one, in
// a repository with the user's own staged, unstaged and untracked work. After each kill the branch is at the old
// commit or the new one, and after the next Lock (the next command) the user's work is as it
// was, the commit's files agree with the branch, nothing is left behind, fsck is clean and the
// next commit succeeds. The log lists the points where git status looked wrong until then.
func TestKillAtEveryPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a commit at each of its steps")
	}
	for _, c := range []struct {
		name, branch string
		hooks        bool
	}{{"checked-out branch", "", false}, {"checked-out branch with hooks", "", true}, {"other branch with hooks", "gitops/scale", true}} {
		branch := c.branch
		t.Run(c.name, func(t *testing.T) {
			tmpl := newTestRepo(t, baseFiles())
			if c.hooks {
				hooks := filepath.Join(tmpl.dir, ".git", "hooks")
				hook(t, hooks, "pre-commit", "git diff --cached --name-only >/dev/null\n")
				hook(t, hooks, "commit-msg", `printf 'Change-Id: I0123\n' >> "$1"`+"\n")
				hook(t, hooks, "post-commit", "exit 0\n")
			}
			status, cached, unstaged := userWork(tmpl)
			old := tmpl.head()
			ref := "HEAD"
			if branch != "" {
				ref = "refs/heads/" + branch
			}
			oldRef := strings.TrimSpace(runOK(t, tmpl.dir, "git", "rev-parse", "-q", "--verify", ref))

			copyRepo := func() *testRepo {
				dir := filepath.Join(t.TempDir(), "repo")
				runOK(t, "", "cp", "-a", tmpl.dir, dir)
				return &testRepo{t: t, dir: dir}
			}
			out, err := runFaultHelper(t, copyRepo().dir, branch, 0)
			if err != nil {
				t.Fatalf("recording run: %v\n%s", err, out)
			}
			var points []string
			var made string
			for _, l := range strings.Split(out, "\n") {
				if p, ok := strings.CutPrefix(l, "point "); ok {
					points = append(points, tokens.ReplaceAllString(p, "TOKEN"))
				}
				if h, ok := strings.CutPrefix(l, "commit "); ok {
					made = h
				}
			}
			if len(points) < 20 || made == "" {
				t.Fatalf("recording run: %d points, commit %q\n%s", len(points), made, out)
			}

			var report strings.Builder
			for k := 1; k <= len(points); k++ {
				tr := copyRepo()
				out, err := runFaultHelper(t, tr.dir, branch, k)
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != -1 || !strings.Contains(tokens.ReplaceAllString(out, "TOKEN"), "killed at "+points[k-1]) {
					t.Fatalf("point %d (%s): not killed there: %v\n%s", k, points[k-1], err, out)
				}
				cur := strings.TrimSpace(runOK(t, tr.dir, "git", "rev-parse", "-q", "--verify", ref))
				state := map[string]string{oldRef: "old", made: "new"}[cur]
				if state == "" {
					t.Fatalf("point %d (%s): %s at %q, neither %q nor %s", k, points[k-1], ref, cur, oldRef, made)
				}
				// What a user running git before the next command would see.
				var wrong []string
				if s := runOK(t, tr.dir, "git", "status", "--porcelain"); s != status {
					wrong = append(wrong, "git status shows more than the user's work")
				}
				if _, err := os.Stat(filepath.Join(tr.dir, ".git", "index.lock")); err == nil {
					wrong = append(wrong, "index.lock left")
				}
				fmt.Fprintf(&report, "%2d %-50s ref %s", k, points[k-1], state)
				if len(wrong) > 0 {
					fmt.Fprintf(&report, "; until recovered: %s", strings.Join(wrong, ", "))
				}
				report.WriteString("\n")

				r := tr.open()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				unlock, err := r.Lock(ctx)
				if err != nil {
					t.Fatalf("point %d (%s): the next command cannot start: %v", k, points[k-1], err)
				}
				unlock()
				if got := strings.TrimSpace(tr.git("rev-parse", "HEAD")); branch == "" && got != cur || branch != "" && got != old {
					t.Errorf("point %d (%s): recovery moved HEAD to %s", k, points[k-1], got)
				}
				sameUserWork(t, tr, status, cached, unstaged)
				tr.fsck()
				tr.noLeftovers()
				if _, err = r.Commit(ctx, CommitRequest{Message: "next", Branch: branch,
					Changes: []Change{{Path: "apps/web/service.yaml", Content: []byte("port: 81\n")}}}); err != nil {
					t.Fatalf("point %d (%s): the next commit failed: %v", k, points[k-1], err)
				}
				sameUserWork(t, tr, status, cached, unstaged)
				if t.Failed() {
					t.Fatalf("after a kill at point %d (%s)", k, points[k-1])
				}
			}
			t.Logf("%d points:\n%s", len(points), report.String())
		})
	}
}

// tokens are the random part of the names of a commit's temporary files.
var tokens = regexp.MustCompile(`[0-9a-f]{16}`)

func runOK(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(name == "git" && args[0] == "rev-parse" && errors.As(err, &exit)) {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
