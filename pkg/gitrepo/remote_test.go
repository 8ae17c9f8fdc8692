package gitrepo

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// remoteFixture is a bare remote refusing non-fast-forward pushes, with our clone and a
// colleague's clone of it.
type remoteFixture struct {
	bare        string
	ours, other *testRepo
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	t.Helper()
	seed := newTestRepo(t, baseFiles())
	bare := filepath.Join(t.TempDir(), "remote.git")
	gitIn(t, "", "init", "-q", "--bare", bare)
	gitIn(t, bare, "config", "receive.denyNonFastForwards", "true")
	seed.git("push", "-q", bare, "main")
	clone := func() *testRepo {
		dir := filepath.Join(t.TempDir(), "clone")
		ctx := context.Background()
		if _, err := Clone(ctx, bare, "main", dir); err != nil {
			t.Fatal(err)
		}
		return &testRepo{t: t, dir: dir}
	}
	return &remoteFixture{bare: bare, ours: clone(), other: clone()}
}

// colleaguePushes commits a file in the other clone and pushes it.
func (f *remoteFixture) colleaguePushes(path, content string) string {
	f.other.git("pull", "-q", "--ff-only")
	f.other.write(path, content)
	f.other.git("add", path)
	f.other.git("commit", "-q", "-m", "colleague: "+path)
	f.other.git("push", "-q", "origin", "main")
	return f.other.head()
}

func (f *remoteFixture) remoteHead() string {
	return strings.TrimSpace(gitIn(f.ours.t, f.bare, "rev-parse", "main"))
}

// scale is the change under test, remade from whatever base it is given, as the command layer
// re-renders and re-edits the new tree.
func scale(r *Repo) func(ctx context.Context, base string) (CommitRequest, error) {
	return func(ctx context.Context, base string) (CommitRequest, error) {
		b, err := r.ReadFileAt(base, "apps/web/deployment.yaml")
		if err != nil {
			return CommitRequest{}, err
		}
		return CommitRequest{Message: "scale web to 5",
			Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte(strings.Replace(string(b), "replicas: 3", "replicas: 5", 1))}}}, nil
	}
}

func TestPushRetriesOnTopOfTheRemote(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := context.Background()
	r := f.ours.open()
	req, _ := scale(r)(ctx, f.ours.head())
	if _, err := r.Commit(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The remote moves before our first push, and again between our fetch and our next push.
	first := f.colleaguePushes("apps/db/statefulset.yaml", "replicas: 2\n")
	var second string
	calls := 0
	reapply := scale(r)
	err := r.Push(ctx, PushRequest{Remote: "origin", Branch: "main", Reapply: func(ctx context.Context, base string) (CommitRequest, error) {
		calls++
		if calls == 1 {
			if base != first {
				t.Errorf("reapplied on %s, want the fetched head %s", base, first)
			}
			second = f.colleaguePushes("apps/web/service.yaml", "port: 8080\n")
		}
		return reapply(ctx, base)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("Reapply ran %d times, want 2", calls)
	}
	head := f.remoteHead()
	if head != f.ours.head() {
		t.Errorf("remote at %s, local at %s", head, f.ours.head())
	}
	for _, c := range []string{first, second} {
		gitIn(t, f.bare, "merge-base", "--is-ancestor", c, head) // fails the test if c was dropped
	}
	if parent := strings.TrimSpace(gitIn(t, f.bare, "rev-parse", head+"^")); parent != second {
		t.Errorf("our commit's parent is %s, want the colleague's %s", parent, second)
	}
	if got := gitIn(t, f.bare, "diff-tree", "--no-commit-id", "--name-only", "-r", head); got != "apps/web/deployment.yaml\n" {
		t.Errorf("our commit touches %q", got)
	}
	if f.ours.read("apps/web/service.yaml") != "port: 8080\n" || f.ours.read("apps/db/statefulset.yaml") != "replicas: 2\n" ||
		f.ours.read("apps/web/deployment.yaml") != "replicas: 5\n" {
		t.Error("the working tree did not follow the rebuilt branch")
	}
	if out := f.ours.git("status", "--porcelain"); out != "" {
		t.Errorf("status %q", out)
	}
	f.ours.fsck()
	f.ours.noLeftovers()
	if out := gitIn(t, f.bare, "fsck", "--full", "--no-dangling"); strings.TrimSpace(out) != "" {
		t.Errorf("remote fsck: %s", out)
	}
}

func TestPushGivesUp(t *testing.T) {
	ctx := context.Background()
	t.Run("remote keeps moving", func(t *testing.T) {
		f := newRemoteFixture(t)
		r := f.ours.open()
		req, _ := scale(r)(ctx, f.ours.head())
		if _, err := r.Commit(ctx, req); err != nil {
			t.Fatal(err)
		}
		f.colleaguePushes("a.yaml", "0\n")
		calls := 0
		err := r.Push(ctx, PushRequest{Reapply: func(ctx context.Context, base string) (CommitRequest, error) {
			calls++
			f.colleaguePushes("a.yaml", strings.Repeat("x", calls)+"\n")
			return scale(r)(ctx, base)
		}})
		var rej *PushRejectedError
		if !errors.As(err, &rej) || rej.Attempts != MaxPushRetries+1 || calls != MaxPushRetries {
			t.Fatalf("err = %v (%d reapplies), want a rejection after %d retries", err, calls, MaxPushRetries)
		}
		gitIn(t, f.bare, "merge-base", "--is-ancestor", f.other.head(), f.remoteHead())
		if f.remoteHead() != f.other.head() {
			t.Error("remote not at the colleague's last commit")
		}
		f.ours.noLeftovers()
	})
	t.Run("local edits in the way", func(t *testing.T) {
		f := newRemoteFixture(t)
		r := f.ours.open()
		req, _ := scale(r)(ctx, f.ours.head())
		if _, err := r.Commit(ctx, req); err != nil {
			t.Fatal(err)
		}
		local := f.ours.head()
		f.colleaguePushes("apps/web/service.yaml", "port: 8080\n")
		f.ours.write("apps/web/service.yaml", "port: 9999 # mine\n")
		err := r.Push(ctx, PushRequest{Reapply: scale(r)})
		var de *DirtyError
		if !errors.As(err, &de) || de.Paths[0] != "apps/web/service.yaml" {
			t.Fatalf("err = %v, want DirtyError", err)
		}
		if f.ours.head() != local || f.ours.read("apps/web/service.yaml") != "port: 9999 # mine\n" {
			t.Error("local branch or file changed")
		}
	})
	t.Run("other unpushed commits", func(t *testing.T) {
		f := newRemoteFixture(t)
		f.ours.write("mine.yaml", "m\n")
		f.ours.git("add", "mine.yaml")
		f.ours.git("commit", "-q", "-m", "unpushed work")
		r := f.ours.open()
		req, _ := scale(r)(ctx, f.ours.head())
		if _, err := r.Commit(ctx, req); err != nil {
			t.Fatal(err)
		}
		local := f.ours.head()
		f.colleaguePushes("a.yaml", "0\n")
		err := r.Push(ctx, PushRequest{Reapply: scale(r)})
		if err == nil || !strings.Contains(err.Error(), "other commits") || f.ours.head() != local {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("plain push and fetch", func(t *testing.T) {
		f := newRemoteFixture(t)
		r := f.ours.open()
		req, _ := scale(r)(ctx, f.ours.head())
		if _, err := r.Commit(ctx, req); err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx, PushRequest{}); err != nil {
			t.Fatal(err)
		}
		if f.remoteHead() != f.ours.head() {
			t.Error("not pushed")
		}
		other := f.colleaguePushes("b.yaml", "b\n")
		if got, err := r.Fetch(ctx, "origin", "main"); err != nil || got != other {
			t.Errorf("Fetch = %s, %v; want %s", got, err, other)
		}
		if got := strings.TrimSpace(f.ours.git("rev-parse", "origin/main")); got != other {
			t.Errorf("origin/main = %s", got)
		}
		if got, err := r.Fetch(ctx, f.bare, "main"); err != nil || got != other {
			t.Errorf("Fetch(url) = %s, %v", got, err)
		}
	})
}
