package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

var fixedNow = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600)) }

func baseFiles() map[string]string {
	return map[string]string{
		"apps/web/deployment.yaml": "replicas: 3\n",
		"apps/web/service.yaml":    "port: 80\n",
		"apps/db/statefulset.yaml": "replicas: 1\n",
		"apps/db/old.yaml":         "old: true\n",
		"staged.yaml":              "a: 1\n",
		"unstaged.yaml":            "b: 1\n",
		"both.yaml":                "c: 1\n",
		"assumed.yaml":             "d: 1\n",
		"hack/run.sh":              "#!/bin/sh\necho 1\n",
	}
}

func TestOpen(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	r, err := Open(filepath.Join(tr.dir, "apps", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(tr.git("rev-parse", "--show-toplevel")); r.Root() != want {
		t.Errorf("Root() = %q, want %q", r.Root(), want)
	}
	if b, err := r.CurrentBranch(); err != nil || b != "main" {
		t.Errorf("CurrentBranch() = %q, %v", b, err)
	}
	if h, err := r.HeadCommit(); err != nil || h != tr.head() {
		t.Errorf("HeadCommit() = %q, %v; want %s", h, err, tr.head())
	}
	if b, err := r.ReadFileAtHead("apps/web/deployment.yaml"); err != nil || string(b) != "replicas: 3\n" {
		t.Errorf("ReadFileAtHead = %q, %v", b, err)
	}
	if _, err := r.ReadFileAtHead("apps/web/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFileAtHead(missing) = %v, want ErrNotExist", err)
	}
	if _, err := r.ReadFileAtHead("../x"); err == nil {
		t.Error("ReadFileAtHead(../x) succeeded")
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Open(not a repo) = %v, want ErrNotRepository", err)
	}
	tr.git("checkout", "-q", "--detach")
	if _, err := r.CurrentBranch(); err == nil || !strings.Contains(err.Error(), "detached") {
		t.Errorf("CurrentBranch on a detached HEAD = %v", err)
	}
}

// TestCommitKeepsOtherWork is the heart of the package: staged and unstaged work elsewhere is
// neither committed nor touched.
func TestCommitKeepsOtherWork(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	tr.write("staged.yaml", "a: 2\n")
	tr.git("add", "staged.yaml")
	tr.write("unstaged.yaml", "b: 2\n")
	tr.write("both.yaml", "c: 2\n")
	tr.git("add", "both.yaml")
	tr.write("both.yaml", "c: 3\n")
	tr.write("untracked.yaml", "u: 1\n")
	tr.write("intent.yaml", "i: 1\n")
	tr.git("add", "-N", "intent.yaml")
	tr.git("update-index", "--assume-unchanged", "assumed.yaml")

	statusBefore := tr.git("status", "--porcelain")
	cachedBefore := tr.git("diff", "--cached")
	diffBefore := tr.git("diff")
	lsBefore := tr.git("ls-files", "-v", "--stage", "--", ":!apps")
	head := tr.head()

	r := tr.open()
	res, err := r.Commit(context.Background(), CommitRequest{
		Message: FormatMessage("scale deployment shop/web to 5 replicas", []string{"spec.replicas: 3 -> 5"},
			[][2]string{{"Gitops-Object", "apps/v1 Deployment shop/web"}}),
		Changes: []Change{
			{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 5\n")},
			{Path: "apps/web/hpa/hpa.yaml", Content: []byte("min: 5\n")},
			{Path: "apps/db/old.yaml", Delete: true},
			{Path: "hack/run.sh", Content: []byte("#!/bin/sh\necho 2\n")},
		},
		Now: fixedNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"apps/db/old.yaml", "apps/web/deployment.yaml", "apps/web/hpa/hpa.yaml", "hack/run.sh"}
	if res.Hash != tr.head() || res.Branch != "main" || !reflect.DeepEqual(res.Files, wantFiles) {
		t.Errorf("result %+v, HEAD %s", res, tr.head())
	}
	if parent := strings.TrimSpace(tr.git("rev-parse", "HEAD^")); parent != head {
		t.Errorf("parent %s, want %s", parent, head)
	}
	if got := strings.Fields(tr.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD")); !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("commit touches %v, want %v", got, wantFiles)
	}
	// The other work is exactly as it was, in the index and in the working tree.
	if got := tr.git("status", "--porcelain"); got != statusBefore {
		t.Errorf("git status changed:\nbefore:\n%s\nafter:\n%s", statusBefore, got)
	}
	if got := tr.git("diff", "--cached"); got != cachedBefore {
		t.Errorf("staged changes changed:\nbefore:\n%s\nafter:\n%s", cachedBefore, got)
	}
	if got := tr.git("diff"); got != diffBefore {
		t.Errorf("unstaged changes changed:\nbefore:\n%s\nafter:\n%s", diffBefore, got)
	}
	if got := tr.git("ls-files", "-v", "--stage", "--", ":!apps"); !sameExcept(lsBefore, got, "hack/run.sh") {
		t.Errorf("index entries changed:\nbefore:\n%s\nafter:\n%s", lsBefore, got)
	}
	// The changed files are clean, in the index and the working tree.
	for _, p := range wantFiles {
		if out := tr.git("status", "--porcelain", "--", p); out != "" {
			t.Errorf("%s not clean: %q", p, out)
		}
	}
	if tr.read("apps/web/deployment.yaml") != "replicas: 5\n" || tr.read("apps/web/hpa/hpa.yaml") != "min: 5\n" {
		t.Error("working tree files not updated")
	}
	if _, err := os.Stat(filepath.Join(tr.dir, "apps/db/old.yaml")); !os.IsNotExist(err) {
		t.Errorf("deleted file still there: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(tr.dir, "hack/run.sh")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("hack/run.sh lost its executable bit: %v %v", fi.Mode(), err)
	}
	if out := tr.git("ls-tree", "HEAD", "hack/run.sh"); !strings.HasPrefix(out, "100755") {
		t.Errorf("hack/run.sh mode in tree: %s", out)
	}
	if out := tr.git("log", "-1", "--format=%an <%ae> %ad", "--date=raw"); out != "Test User <test@example.com> 1741061167 +0100\n" {
		t.Errorf("author: %q", out)
	}
	if out := tr.git("reflog", "-1", "--format=%gs"); !strings.HasPrefix(out, "commit: scale deployment") {
		t.Errorf("reflog: %q", out)
	}
	tr.fsck()
	tr.noLeftovers()

	// A later `git commit` of the staged work commits that work alone: the cache tree was
	// invalidated where it had to be.
	tr.git("commit", "-q", "-m", "user work")
	if got := strings.Fields(tr.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD")); !reflect.DeepEqual(got, []string{"both.yaml", "staged.yaml"}) {
		t.Errorf("user's commit holds %v", got)
	}
	if out := tr.git("diff", "HEAD~1", "HEAD", "--", "apps", "hack"); out != "" {
		t.Errorf("user's commit changed our files:\n%s", out)
	}
	tr.fsck()
}

// sameExcept reports whether two `git ls-files -s` listings differ at most on the line of path.
func sameExcept(a, b, path string) bool {
	drop := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasSuffix(l, "\t"+path) {
				out = append(out, l)
			}
		}
		return out
	}
	return slices.Equal(drop(a), drop(b))
}

func TestCommitRefusesDirtyTarget(t *testing.T) {
	for name, dirty := range map[string]func(tr *testRepo){
		"staged":    func(tr *testRepo) { tr.write("staged.yaml", "x: 1\n"); tr.git("add", "staged.yaml") },
		"modified":  func(tr *testRepo) { tr.write("staged.yaml", "x: 1\n") },
		"deleted":   func(tr *testRepo) { _ = os.Remove(filepath.Join(tr.dir, "staged.yaml")) },
		"untracked": func(tr *testRepo) { tr.write("new.yaml", "x: 1\n") },
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTestRepo(t, baseFiles())
			dirty(tr)
			path := "staged.yaml"
			if name == "untracked" {
				path = "new.yaml"
			}
			before, statusBefore := readOrEmpty(tr, path), tr.git("status", "--porcelain")
			head := tr.head()
			r := tr.open()
			_, err := r.Commit(context.Background(), CommitRequest{Message: "m", Changes: []Change{
				{Path: "unstaged.yaml", Content: []byte("fine\n")},
				{Path: path, Content: []byte("ours\n")},
			}})
			var de *DirtyError
			if !errors.As(err, &de) || !reflect.DeepEqual(de.Paths, []string{path}) || de.State[path] != name {
				t.Fatalf("err = %v, want DirtyError for %s (%s)", err, path, name)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("message does not name the path: %v", err)
			}
			if tr.head() != head || readOrEmpty(tr, path) != before || tr.git("status", "--porcelain") != statusBefore ||
				tr.read("unstaged.yaml") != "b: 1\n" {
				t.Error("something was written")
			}
			if err := r.CheckClean([]string{path, "unstaged.yaml"}); !errors.As(err, &de) || len(de.Paths) != 1 {
				t.Errorf("CheckClean = %v", err)
			}
			tr.noLeftovers()
		})
	}
	tr := newTestRepo(t, baseFiles())
	if err := tr.open().CheckClean([]string{"staged.yaml", "nothing.yaml"}); err != nil {
		t.Errorf("CheckClean on a clean repo: %v", err)
	}
}

func readOrEmpty(tr *testRepo, rel string) string {
	b, _ := os.ReadFile(filepath.Join(tr.dir, rel))
	return string(b)
}

func TestCommitToOtherBranch(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	tr.write("apps/web/deployment.yaml", "replicas: 9 # local experiment\n")
	statusBefore := tr.git("status", "--porcelain")
	head := tr.head()
	r := tr.open()
	ctx := context.Background()
	res, err := r.Commit(ctx, CommitRequest{Message: "first", Branch: "gitops/scale",
		Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 5\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Branch != "gitops/scale" || strings.TrimSpace(tr.git("rev-parse", "gitops/scale^")) != head {
		t.Errorf("branch not created from HEAD: %+v", res)
	}
	res2, err := r.Commit(ctx, CommitRequest{Message: "second", Branch: "gitops/scale",
		Changes: []Change{{Path: "apps/web/service.yaml", Content: []byte("port: 81\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(tr.git("rev-parse", "gitops/scale^")) != res.Hash {
		t.Error("second commit not on top of the first")
	}
	if tr.head() != head || tr.git("status", "--porcelain") != statusBefore || tr.git("branch", "--show-current") != "main\n" {
		t.Error("the checked-out branch or working tree changed")
	}
	if got := tr.git("show", res2.Hash+":apps/web/deployment.yaml"); got != "replicas: 5\n" {
		t.Errorf("branch content %q", got)
	}
	if _, err := r.Commit(ctx, CommitRequest{Message: "m", Branch: "bad..name",
		Changes: []Change{{Path: "x", Content: nil}}}); err == nil {
		t.Error("invalid branch name accepted")
	}
	tr.fsck()
	tr.noLeftovers()
}

func TestCommitEdgeCases(t *testing.T) {
	ctx := context.Background()
	t.Run("no changes", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		_, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "staged.yaml", Content: []byte("a: 1\n")}}})
		if !errors.Is(err, ErrNoChanges) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no changes to a file with uncommitted changes", func(t *testing.T) {
		// The commit would change nothing, but the working tree file differs from it: what
		// stops the change is the user's work, as for any change.
		tr := newTestRepo(t, baseFiles())
		tr.write("staged.yaml", "a: 2\n")
		_, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "staged.yaml", Content: []byte("a: 1\n")}}})
		var de *DirtyError
		if !errors.As(err, &de) || !reflect.DeepEqual(de.Paths, []string{"staged.yaml"}) {
			t.Errorf("err = %v, want DirtyError for staged.yaml", err)
		}
		if tr.read("staged.yaml") != "a: 2\n" {
			t.Error("the working tree file was changed")
		}
		tr.noLeftovers()
	})
	t.Run("bad paths", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		for _, p := range []string{"/abs", "../up", "a//b", ".git/config", "apps/web", "staged.yaml/x", "dir/"} {
			if _, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
				Changes: []Change{{Path: p, Content: []byte("x")}}}); err == nil {
				t.Errorf("path %q accepted", p)
			}
		}
		tr.noLeftovers()
	})
	t.Run("empty repository", func(t *testing.T) {
		tr := newTestRepo(t, nil)
		res, err := tr.open().Commit(ctx, CommitRequest{Message: "init",
			Changes: []Change{{Path: "clusters/prod/kustomization.yaml", Content: []byte("resources: []\n")}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Hash != tr.head() || tr.git("status", "--porcelain") != "" {
			t.Errorf("root commit %+v; status %q", res, tr.git("status", "--porcelain"))
		}
		tr.fsck()
	})
	t.Run("detached HEAD", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		tr.git("checkout", "-q", "--detach")
		res, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "staged.yaml", Content: []byte("a: 5\n")}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Branch != "" || res.Hash != tr.head() || tr.git("status", "--porcelain") != "" {
			t.Errorf("%+v", res)
		}
	})
	t.Run("packed refs and objects", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		tr.git("gc", "-q")
		if _, err := os.Stat(filepath.Join(tr.dir, ".git", "refs", "heads", "main")); !os.IsNotExist(err) {
			t.Fatalf("main not packed: %v", err)
		}
		res, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "apps/db/statefulset.yaml", Content: []byte("replicas: 3\n")}}})
		if err != nil || res.Hash != tr.head() {
			t.Fatalf("%+v %v", res, err)
		}
		tr.fsck()
	})
	t.Run("cancelled", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		head := tr.head()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := tr.open().Commit(cctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "apps/web/new/x.yaml", Content: []byte("x\n")}}})
		if !errors.Is(err, context.Canceled) || tr.head() != head || tr.git("status", "--porcelain") != "" {
			t.Fatalf("err = %v; status %q", err, tr.git("status", "--porcelain"))
		}
		if _, err := os.Stat(filepath.Join(tr.dir, "apps/web/new")); !os.IsNotExist(err) {
			t.Error("directory created for the cancelled commit was left")
		}
		tr.noLeftovers()
	})
	t.Run("ref moved", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		tr.write("unstaged.yaml", "mine\n")
		statusBefore := tr.git("status", "--porcelain")
		other := strings.TrimSpace(tr.git("commit-tree", "-m", "elsewhere", "HEAD^{tree}"))
		// Someone moves the branch between our read of HEAD and our update of it.
		faultHook = func(point string) {
			if point == "git update-ref" {
				tr.git("update-ref", "refs/heads/main", other)
			}
		}
		defer func() { faultHook = nil }()
		_, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "apps/web/new/x.yaml", Content: []byte("x\n")}, {Path: "staged.yaml", Content: []byte("a: 2\n")}}})
		var moved *RefMovedError
		if !errors.As(err, &moved) || moved.Actual != other {
			t.Fatalf("err = %v, want RefMovedError", err)
		}
		if tr.head() != other || tr.read("staged.yaml") != "a: 1\n" || tr.read("unstaged.yaml") != "mine\n" {
			t.Error("the working tree was not restored")
		}
		if _, err := os.Stat(filepath.Join(tr.dir, "apps/web/new")); !os.IsNotExist(err) {
			t.Error("directory created for the failed commit was left")
		}
		if got := tr.git("diff", "--cached", "--stat", "HEAD"); got != "" {
			t.Errorf("index changed:\n%s", got)
		}
		if got := tr.git("status", "--porcelain"); got != statusBefore {
			t.Errorf("status %q, want %q", got, statusBefore)
		}
		tr.noLeftovers()
	})
	t.Run("symlink and executable", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		_, err := tr.open().Commit(ctx, CommitRequest{Message: "m", Changes: []Change{
			{Path: "current", Content: []byte("apps/web"), Mode: filemode.Symlink},
			{Path: "tool.sh", Content: []byte("#!/bin/sh\n"), Mode: filemode.Executable},
			{Path: "hack/run.sh", Content: []byte("#!/bin/sh\n"), Mode: filemode.Regular},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if out := tr.git("status", "--porcelain"); out != "" {
			t.Errorf("status %q", out)
		}
		if target, err := os.Readlink(filepath.Join(tr.dir, "current")); err != nil || target != "apps/web" {
			t.Errorf("symlink %q %v", target, err)
		}
		if fi, _ := os.Stat(filepath.Join(tr.dir, "hack/run.sh")); fi.Mode().Perm()&0o111 != 0 {
			t.Error("executable bit kept")
		}
	})
	t.Run("linked worktree", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		wt := filepath.Join(t.TempDir(), "wt")
		tr.git("worktree", "add", "-q", "-b", "side", wt)
		r, err := Open(wt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "staged.yaml", Content: []byte("a: 7\n")}}}); err != nil {
			t.Fatal(err)
		}
		if got := gitIn(t, wt, "status", "--porcelain"); got != "" {
			t.Errorf("status in worktree %q", got)
		}
		if got := tr.git("show", "side:staged.yaml"); got != "a: 7\n" || tr.read("staged.yaml") != "a: 1\n" {
			t.Errorf("side has %q; main worktree has %q", got, tr.read("staged.yaml"))
		}
		tr.fsck()
	})
	t.Run("index version 4", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		tr.git("update-index", "--index-version", "4")
		tr.write("staged.yaml", "a: 2\n")
		tr.git("add", "staged.yaml")
		if _, err := tr.open().Commit(ctx, CommitRequest{Message: "m",
			Changes: []Change{{Path: "apps/web/new.yaml", Content: []byte("n: 1\n")}}}); err != nil {
			t.Fatal(err)
		}
		if got := tr.git("status", "--porcelain"); got != "M  staged.yaml\n" {
			t.Errorf("status %q", got)
		}
		if raw, _ := os.ReadFile(filepath.Join(tr.dir, ".git", "index")); len(raw) < 8 || raw[7] != 4 {
			t.Errorf("index version changed: % x", raw[:8])
		}
		tr.fsck()
	})
}

// TestCommitSignoff: Signoff adds the committer's Signed-off-by trailer where `git commit
// --signoff` puts it (in the trailer block, or as one after the body), and only once.
func TestCommitSignoff(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	r := tr.open()
	ctx := context.Background()
	withTrailers := FormatMessage("scale deployment shop/web to 5 replicas (staging)",
		[]string{"Deployment.apps shop/web spec.replicas: 1 → 5"},
		[][2]string{{"Gitops-Object", "apps/v1 Deployment shop/web"}, {"Gitops-Target", "staging"}})
	for i, msg := range []string{withTrailers, "subject only\n", "subject\n\nA body without trailers.\n"} {
		if _, err := r.Commit(ctx, CommitRequest{Message: msg, Signoff: true,
			Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte(fmt.Sprintf("replicas: %d\n", 10+i))}}}); err != nil {
			t.Fatal(err)
		}
		ours := tr.git("log", "-1", "--format=%B")
		file := filepath.Join(t.TempDir(), "msg")
		if err := os.WriteFile(file, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		tr.git("commit", "--quiet", "--allow-empty", "--signoff", "--file", file)
		if theirs := tr.git("log", "-1", "--format=%B"); ours != theirs {
			t.Errorf("message %d:\n--- ours\n%s--- git commit --signoff\n%s", i, ours, theirs)
		}
	}
	signed := strings.TrimRight(tr.git("log", "-1", "--format=%B"), "\n") + "\n"
	if _, err := r.Commit(ctx, CommitRequest{Message: signed, Signoff: true,
		Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 99\n")}}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.git("log", "-1", "--format=%B"); strings.Count(got, "Signed-off-by:") != 1 {
		t.Errorf("signed off twice:\n%s", got)
	}
}

// A commit of many new files stores their blobs in one pack (the same objects git would write
// loose): git reads every file back, fsck finds the repository whole, and files whose content
// the repository already holds, or that the commit holds twice, are stored once.
func TestCommitManyFilesAsOnePack(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	packs := func() []string {
		m, err := filepath.Glob(filepath.Join(tr.dir, ".git", "objects", "pack", "*.pack"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := packs()
	var changes []Change
	for i := range 2 * packBlobs {
		changes = append(changes, Change{Path: fmt.Sprintf("captured/cm-%03d.yaml", i), Content: fmt.Appendf(nil, "name: cm-%d\n", i%(packBlobs+5))})
	}
	changes = append(changes, Change{Path: "captured/same-as-web.yaml", Content: []byte(baseFiles()["apps/web/service.yaml"])})
	if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "capture", Changes: changes, Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, p := range packs() {
		if !slices.Contains(before, p) {
			added = append(added, p)
		}
	}
	if len(added) != 1 {
		t.Fatalf("the commit added packs %v, want one", added)
	}
	for _, c := range changes {
		if got := tr.git("show", "HEAD:"+c.Path); got != string(c.Content) {
			t.Errorf("%s holds %q, want %q", c.Path, got, c.Content)
		}
	}
	tr.git("fsck", "--strict", "--no-dangling")
	if count := strings.Count(tr.git("verify-pack", "-v", added[0]), " blob "); count != packBlobs+5 {
		t.Errorf("the pack holds %d blobs, want %d (one per distinct new content)", count, packBlobs+5)
	}
}
