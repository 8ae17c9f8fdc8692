package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hook installs an executable hook script in dir (the repository's .git/hooks or a
// core.hooksPath directory).
func hook(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// userWork gives the clone staged, unstaged and untracked work of its own, and returns
// what git shows of it.
func userWork(tr *testRepo) (status, cached, unstaged string) {
	tr.write("staged.yaml", "a: 2 # staged by the user\n")
	tr.git("add", "staged.yaml")
	tr.write("unstaged.yaml", "b: 2 # not staged\n")
	tr.write("untracked.yaml", "u: 1\n")
	return tr.git("status", "--porcelain"), tr.git("diff", "--cached"), tr.git("diff")
}

// sameUserWork fails the test unless git shows the user's work as it did before.
func sameUserWork(t *testing.T, tr *testRepo, status, cached, unstaged string) {
	t.Helper()
	if got := tr.git("status", "--porcelain"); got != status {
		t.Errorf("git status:\n%s\nwant:\n%s", got, status)
	}
	if got := tr.git("diff", "--cached"); got != cached {
		t.Errorf("staged work changed:\n%s", got)
	}
	if got := tr.git("diff"); got != unstaged {
		t.Errorf("unstaged work changed:\n%s", got)
	}
}

var scaleChange = []Change{
	{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 5\n")},
	{Path: "apps/web/hpa/hpa.yaml", Content: []byte("min: 5\n")},
}

// TestPreCommitHookRefuses: a refusing pre-commit hook leaves the repository, the index and
// the working tree exactly as they were, its output is shown, and the error names the hook
// and --no-verify. NoVerify skips it.
func TestPreCommitHookRefuses(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", "echo 'lint: replicas too high' ; echo 'see docs' >&2; exit 3\n")
	status, cached, unstaged := userWork(tr)
	head := tr.head()
	index, err := os.ReadFile(filepath.Join(tr.dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx := context.Background()
	_, err = tr.open().Commit(ctx, CommitRequest{Message: "scale web", Changes: scaleChange, HookOut: &out})
	var he *HookError
	if !errors.As(err, &he) || he.Hook != "pre-commit" || he.ExitCode != 3 {
		t.Fatalf("err = %v, want a HookError of pre-commit with exit status 3", err)
	}
	for _, want := range []string{"pre-commit", "--no-verify"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if out.String() != "lint: replicas too high\nsee docs\n" || he.Output != out.String() {
		t.Errorf("hook output %q, in the error %q", out.String(), he.Output)
	}
	if tr.head() != head || tr.read("apps/web/deployment.yaml") != "replicas: 3\n" {
		t.Error("something was committed or written")
	}
	if _, err := os.Stat(filepath.Join(tr.dir, "apps/web/hpa")); !os.IsNotExist(err) {
		t.Error("the new file's directory was left")
	}
	if after, _ := os.ReadFile(filepath.Join(tr.dir, ".git", "index")); !bytes.Equal(after, index) {
		t.Error("the index was rewritten")
	}
	sameUserWork(t, tr, status, cached, unstaged)
	tr.noLeftovers()

	// Without HookOut the output is in the error's message.
	_, err = tr.open().Commit(ctx, CommitRequest{Message: "scale web", Changes: scaleChange})
	if err == nil || !strings.Contains(err.Error(), "lint: replicas too high") {
		t.Errorf("err = %v, want the hook's output in it", err)
	}

	res, err := tr.open().Commit(ctx, CommitRequest{Message: "scale web", Changes: scaleChange, NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hash != tr.head() || tr.read("apps/web/deployment.yaml") != "replicas: 5\n" {
		t.Error("NoVerify did not commit")
	}
	sameUserWork(t, tr, status, cached, unstaged)
	tr.fsck()
	tr.noLeftovers()
}

// TestMessageHooks: prepare-commit-msg gets the message file and "message", commit-msg may
// add a trailer, which the commit carries, and post-commit runs after the commit, as with git
// commit -m. NoVerify skips commit-msg but not the other two.
func TestMessageHooks(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	logDir := t.TempDir()
	hooks := filepath.Join(tr.dir, ".git", "hooks")
	hook(t, hooks, "prepare-commit-msg", `echo "$(basename "$1") $2 $(head -1 "$1")" >> `+logDir+"/prepare\n")
	hook(t, hooks, "commit-msg", `printf 'Change-Id: I0123\n' >> "$1"`+"\n")
	hook(t, hooks, "post-commit", `git rev-parse HEAD >> `+logDir+`/post; git status --porcelain >> `+logDir+"/post\n")
	status, cached, unstaged := userWork(tr)
	ctx := context.Background()
	msg := FormatMessage("scale web", []string{"spec.replicas 3 -> 5"}, [][2]string{{"Gitops-Object", "apps/v1 Deployment shop/web"}})
	res, err := tr.open().Commit(ctx, CommitRequest{Message: msg, Changes: scaleChange, Signoff: true})
	if err != nil {
		t.Fatal(err)
	}
	body := tr.git("log", "-1", "--format=%B")
	want := "scale web\n\nspec.replicas 3 -> 5\n\nGitops-Object: apps/v1 Deployment shop/web\n" +
		"Signed-off-by: Test User <test@example.com>\nChange-Id: I0123\n\n"
	if body != want {
		t.Errorf("message:\n%s\nwant:\n%s", body, want)
	}
	if got := Trailers(body)["Change-Id"]; len(got) != 1 || got[0] != "I0123" {
		t.Errorf("trailers %v", Trailers(body))
	}
	if got := readFile(t, filepath.Join(logDir, "prepare")); got != "COMMIT_EDITMSG message scale web\n" {
		t.Errorf("prepare-commit-msg saw %q", got)
	}
	// post-commit runs once the index is in place: it sees the commit and the user's work only.
	if got := readFile(t, filepath.Join(logDir, "post")); got != res.Hash+"\n"+status {
		t.Errorf("post-commit saw %q, want the commit and %q", got, status)
	}
	sameUserWork(t, tr, status, cached, unstaged)

	if _, err := tr.open().Commit(ctx, CommitRequest{Message: "again", NoVerify: true,
		Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 6\n")}}}); err != nil {
		t.Fatal(err)
	}
	if body := tr.git("log", "-1", "--format=%B"); body != "again\n\n" {
		t.Errorf("NoVerify ran commit-msg: %q", body)
	}
	if got := strings.Count(readFile(t, filepath.Join(logDir, "prepare")), "\n"); got != 2 {
		t.Errorf("prepare-commit-msg ran %d times, want 2 (NoVerify does not skip it)", got)
	}
	tr.fsck()
	tr.noLeftovers()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHooksPath: with core.hooksPath the hooks come from there (here a directory tracked in
// the repository, relative to its root), not from .git/hooks.
func TestHooksPath(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", "echo 'not this one'; exit 1\n")
	hook(t, filepath.Join(tr.dir, ".githooks"), "pre-commit", "echo 'from .githooks'; exit 1\n")
	tr.git("add", ".githooks")
	tr.git("commit", "-q", "--no-verify", "-m", "hooks")
	tr.git("config", "core.hooksPath", ".githooks")
	_, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m", Changes: scaleChange})
	var he *HookError
	if !errors.As(err, &he) || strings.TrimSpace(he.Output) != "from .githooks" {
		t.Fatalf("err = %v, want the refusal of .githooks/pre-commit", err)
	}
	tr.git("config", "core.hooksPath", filepath.Join(t.TempDir(), "none"))
	if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m", Changes: scaleChange}); err != nil {
		t.Fatalf("with core.hooksPath elsewhere .git/hooks ran: %v", err)
	}
}

// TestWarmCommit: commits made through a repository whose configuration was read ahead
// (core.hooksPath here) run the hooks it names.
func TestWarmCommit(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", "echo 'not this one'; exit 1\n")
	hook(t, filepath.Join(tr.dir, ".githooks"), "pre-commit", "echo 'from .githooks'; exit 1\n")
	tr.git("config", "core.hooksPath", ".githooks")
	r := tr.open()
	r.WarmCommit(context.Background())
	for range 2 {
		_, err := r.Commit(context.Background(), CommitRequest{Message: "m", Changes: scaleChange})
		var he *HookError
		if !errors.As(err, &he) || strings.TrimSpace(he.Output) != "from .githooks" {
			t.Fatalf("err = %v, want the refusal of .githooks/pre-commit", err)
		}
	}
	tr.noLeftovers()
}

// TestHookSeesTheCommittedTree: the hooks see an index that holds HEAD and exactly the
// commit's changes, not the user's staged work, and the working tree holds the new files, as
// under git commit --only.
func TestHookSeesTheCommittedTree(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	log := filepath.Join(t.TempDir(), "log")
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", `{
	git diff --cached --name-only
	echo "index: $(git show :staged.yaml)"
	echo "worktree: $(cat apps/web/deployment.yaml)"
	test "$GIT_INDEX_FILE" != "" && test "$GIT_INDEX_FILE" != .git/index && echo "own index"
} > `+log+"\n")
	status, cached, unstaged := userWork(tr)
	if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m", Changes: scaleChange}); err != nil {
		t.Fatal(err)
	}
	want := "apps/web/deployment.yaml\napps/web/hpa/hpa.yaml\nindex: a: 1\nworktree: replicas: 5\nown index\n"
	if got := readFile(t, log); got != want {
		t.Errorf("the hook saw:\n%s\nwant:\n%s", got, want)
	}
	sameUserWork(t, tr, status, cached, unstaged)
}

// TestPreCommitFormatter: a pre-commit hook that rewrites a changed file and stages it, as
// formatters do: the commit holds the formatted file, and the working tree and index agree.
func TestPreCommitFormatter(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", `for f in $(git diff --cached --name-only); do
	printf '# formatted\n' >> "$f"; git add "$f"
done
`)
	status, cached, unstaged := userWork(tr)
	res, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m", Changes: scaleChange})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.git("show", res.Hash+":apps/web/deployment.yaml"); got != "replicas: 5\n# formatted\n" {
		t.Errorf("committed %q", got)
	}
	if tr.read("apps/web/deployment.yaml") != "replicas: 5\n# formatted\n" {
		t.Errorf("working tree %q", tr.read("apps/web/deployment.yaml"))
	}
	sameUserWork(t, tr, status, cached, unstaged)
	tr.fsck()
	tr.noLeftovers()
}

// TestPreCommitFrameworkShim runs a hook shaped like the one `pre-commit install` writes, which
// execs the framework with its arguments. The stand-in framework does what pre-commit does
// around its checks: it stashes what differs between the index and the working tree, checks
// the staged files out, runs the check on them and puts the stash back.
func TestPreCommitFrameworkShim(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", `# File generated by pre-commit: https://pre-commit.com
# ID: 138fd403232d2ddd5efb44317e38bf03
INSTALL_PYTHON=/nonexistent/python3
ARGS="hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit"
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$INSTALL_PYTHON" ]; then
	exec "$INSTALL_PYTHON" -mpre_commit $ARGS --hook-dir "$HERE" -- "$@"
elif command -v pre-commit > /dev/null; then
	exec pre-commit $ARGS --hook-dir "$HERE" -- "$@"
else
	echo '`+"`pre-commit`"+` not found.  Did you forget to activate your virtualenv?' 1>&2
	exit 1
fi
`)
	bin := t.TempDir()
	argsLog := filepath.Join(t.TempDir(), "args")
	hook(t, bin, "pre-commit", `echo "$@" > `+argsLog+`
patch=$(mktemp)
tree=$(git write-tree) || exit 1
git diff-index --ignore-submodules --binary --exit-code --no-color --no-ext-diff "$tree" -- > "$patch"
stashed=$?
if [ $stashed = 1 ]; then echo "Stashing unstaged files to $patch."; git checkout -- . || exit 1; fi
status=0
for f in $(git diff --cached --name-only --diff-filter=ACM); do
	if grep -q forbidden "$f"; then echo "$f: forbidden"; status=1; fi
done
if [ $stashed = 1 ]; then git apply --whitespace=nowarn "$patch" || exit 1; echo "Restored changes from $patch."; fi
rm -f "$patch"
exit $status
`)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	status, cached, unstaged := userWork(tr)
	tr.write("unstaged.yaml", "b: forbidden, but not part of the commit\n")
	status, unstaged = tr.git("status", "--porcelain"), tr.git("diff")
	ctx := context.Background()

	res, err := tr.open().Commit(ctx, CommitRequest{Message: "m", Changes: scaleChange})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(readFile(t, argsLog)); !strings.HasPrefix(got, "hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit --hook-dir ") {
		t.Errorf("framework called with %q", got)
	}
	if res.Hash != tr.head() {
		t.Error("not committed")
	}
	sameUserWork(t, tr, status, cached, unstaged)

	head := tr.head()
	var out bytes.Buffer
	_, err = tr.open().Commit(ctx, CommitRequest{Message: "m", HookOut: &out,
		Changes: []Change{{Path: "apps/web/service.yaml", Content: []byte("port: forbidden\n")}}})
	var he *HookError
	if !errors.As(err, &he) || !strings.Contains(out.String(), "apps/web/service.yaml: forbidden") {
		t.Fatalf("err = %v, output %q", err, out.String())
	}
	if tr.head() != head || tr.read("apps/web/service.yaml") != "port: 80\n" {
		t.Error("the refused change was written")
	}
	sameUserWork(t, tr, status, cached, unstaged)
	tr.fsck()
	tr.noLeftovers()
}

// TestHooksOnOtherBranch: a commit to a branch that is not checked out runs the hooks in a
// checkout of exactly the tree being committed; the user's working tree is not touched.
func TestHooksOnOtherBranch(t *testing.T) {
	f := newRemoteFixture(t)
	tr := f.ours
	log := filepath.Join(t.TempDir(), "log")
	hook(t, filepath.Join(tr.dir, ".git", "hooks"), "pre-commit", `{
	git diff --cached --name-only
	cat apps/web/deployment.yaml
	git status --porcelain
} > `+log+"\n")
	status, cached, unstaged := userWork(tr)
	res, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m", Branch: "gitops/scale", Changes: scaleChange})
	if err != nil {
		t.Fatal(err)
	}
	want := "apps/web/deployment.yaml\napps/web/hpa/hpa.yaml\nreplicas: 5\nM  apps/web/deployment.yaml\nA  apps/web/hpa/hpa.yaml\n"
	if got := readFile(t, log); got != want {
		t.Errorf("the hook saw:\n%s\nwant:\n%s", got, want)
	}
	if got := tr.git("show", res.Hash+":apps/web/deployment.yaml"); got != "replicas: 5\n" {
		t.Errorf("branch holds %q", got)
	}
	sameUserWork(t, tr, status, cached, unstaged)
	tr.fsck()
	tr.noLeftovers()
}
