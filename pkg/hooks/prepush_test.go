package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

const zeros = "0000000000000000000000000000000000000000"

func TestParseRefUpdates(t *testing.T) {
	in := "refs/heads/main 1111 refs/heads/main 2222\n\n(delete) " + zeros + " refs/heads/old 3333\n"
	got, err := hooks.ParseRefUpdates(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []hooks.RefUpdate{
		{LocalRef: "refs/heads/main", LocalSHA: "1111", RemoteRef: "refs/heads/main", RemoteSHA: "2222"},
		{LocalRef: "(delete)", LocalSHA: zeros, RemoteRef: "refs/heads/old", RemoteSHA: "3333"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v", got)
	}
	if _, err := hooks.ParseRefUpdates(strings.NewReader("refs/heads/main 1111\n")); err == nil {
		t.Error("a short line was accepted")
	}
}

func TestPreCommitFrameworkUpdate(t *testing.T) {
	env := map[string]string{
		"PRE_COMMIT_FROM_REF": "2222", "PRE_COMMIT_TO_REF": "1111", "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main",
		"PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main", "PRE_COMMIT_REMOTE_NAME": "origin",
	}
	u, remote, ok := hooks.PreCommitFrameworkUpdate(func(k string) string { return env[k] })
	if !ok || remote != "origin" || u != (hooks.RefUpdate{LocalRef: "refs/heads/main", LocalSHA: "1111", RemoteRef: "refs/heads/main", RemoteSHA: "2222"}) {
		t.Errorf("got %+v %q %v", u, remote, ok)
	}
	if _, _, ok := hooks.PreCommitFrameworkUpdate(func(string) string { return "" }); ok {
		t.Error("outside the framework")
	}
}

// noCluster fails the test when a cluster is asked for.
type noCluster struct{ t *testing.T }

func (c noCluster) Cluster(context.Context, string) (*verify.Cluster, error) {
	c.t.Error("a cluster was asked for")
	return nil, errors.New("no cluster")
}

// unreachable is a cluster that does not answer.
type unreachable struct{}

func (unreachable) Cluster(_ context.Context, name string) (*verify.Cluster, error) {
	return nil, &verify.UnreachableError{Context: name, Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
}

// Deletions, tags and branches no target follows are not checked, and need no cluster.
func TestPrePushWithoutFollowedBranches(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	head := testrepo.Git(t, work, "rev-parse", "HEAD")
	rep, err := hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: noCluster{t},
		Updates: []hooks.RefUpdate{
			{LocalRef: "(delete)", LocalSHA: zeros, RemoteRef: "refs/heads/main", RemoteSHA: head},
			{LocalRef: "refs/tags/v1", LocalSHA: head, RemoteRef: "refs/tags/v1", RemoteSHA: zeros},
			{LocalRef: "refs/heads/feature", LocalSHA: head, RemoteRef: "refs/heads/feature", RemoteSHA: zeros},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := hooks.WritePrePush(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	if rep.Failed() || len(rep.Refs) != 3 {
		t.Fatalf("report:\n%s", out.String())
	}
	for i, want := range []string{"deletes the branch: nothing to check", "not a branch: no target to check", "no target follows branch feature: no target to check"} {
		if !strings.HasPrefix(rep.Refs[i].Note, want) || !strings.Contains(out.String(), want) {
			t.Errorf("ref %d: note %q, want %q", i, rep.Refs[i].Note, want)
		}
	}
}

// The remote's default branch (origin/HEAD) is followed; an unreachable cluster stops the
// checks with an error that names the context.
func TestPrePushUnreachableCluster(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	head := testrepo.Git(t, work, "rev-parse", "HEAD")
	testrepo.Git(t, work, "checkout", "-q", "-b", "feature")
	_, err := hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: unreachable{},
		Updates: []hooks.RefUpdate{{LocalRef: "refs/heads/feature", LocalSHA: head, RemoteRef: "refs/heads/main", RemoteSHA: head}},
	})
	if !verify.IsUnreachable(err) || !strings.Contains(err.Error(), "overlays/production") {
		t.Errorf("err = %v", err)
	}
}

// A remote commit this repository does not have cannot be rendered: the push is refused
// with how to fetch it.
func TestPrePushUnknownRemoteCommit(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	head := testrepo.Git(t, work, "rev-parse", "HEAD")
	rep, err := hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: noCluster{t},
		Updates: []hooks.RefUpdate{{LocalRef: "refs/heads/main", LocalSHA: head, RemoteRef: "refs/heads/main", RemoteSHA: strings.Repeat("ab", 20)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() || !strings.Contains(rep.Refs[0].Problem, "git fetch origin") {
		t.Errorf("report %+v", rep.Refs)
	}
}

// Each commit a push brings goes through the secrets guard, on the files it changes at that
// commit, whatever branch or tag it goes to; a commit is checked once per push, and what the
// remote has already is not checked again.
func TestPrePushSecretsGuard(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	commit := func(msg string, files map[string]string) string {
		t.Helper()
		for name, content := range files {
			write(t, work, name, content)
		}
		testrepo.Git(t, work, "add", "-A")
		testrepo.Git(t, work, "commit", "-q", "--no-verify", "-m", msg)
		return testrepo.Git(t, work, "rev-parse", "HEAD")
	}
	testrepo.Git(t, work, "checkout", "-q", "-b", "feature")
	plain := commit("add the db password", map[string]string{"base/db-secret.yaml": plaintextSecret})
	clean := commit("a clean change", map[string]string{"base/notes.txt": "nothing secret\n"})
	allowed := commit("allow fixtures", map[string]string{
		".kubectl-gitops.yaml": "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nguard:\n  allow:\n    - path: \"fixtures/**\"\n      reason: test data\n",
		"fixtures/db.yaml":     plaintextSecret,
	})

	rep, err := hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: noCluster{t},
		Updates: []hooks.RefUpdate{
			{LocalRef: "refs/heads/feature", LocalSHA: allowed, RemoteRef: "refs/heads/feature", RemoteSHA: zeros},
			{LocalRef: "refs/tags/v1", LocalSHA: clean, RemoteRef: "refs/tags/v1", RemoteSHA: zeros},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := hooks.WritePrePush(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	feature, tag := rep.Refs[0], rep.Refs[1]
	if !rep.Failed() || feature.Commits != 3 || len(feature.Secrets) != 2 || tag.Commits != 0 {
		t.Fatalf("want 3 commits checked for the branch, 2 refused, none again for the tag:\n%s", out.String())
	}
	if c := feature.Secrets[0]; c.Commit != plain || c.Subject != "add the db password" || len(c.Report.Findings) != 1 || c.Report.Findings[0].File != "base/db-secret.yaml" {
		t.Errorf("first refused commit %+v, want %s with base/db-secret.yaml", c, plain)
	}
	if c := feature.Secrets[1]; c.Commit != allowed || len(c.Report.Findings) != 1 || c.Report.Findings[0].File != "fixtures/db.yaml" || len(c.Report.AllowChanges) != 1 {
		t.Errorf("second refused commit %+v, want %s, its fixture allowed only by the entry it adds", c, allowed)
	}
	for _, want := range []string{
		"  secrets guard on 3 pushed commits: 2 refused\n",
		"    commit " + plain[:12] + " \"add the db password\":\n      base/db-secret.yaml:1: stringData.password: value is not encrypted",
		"      note: .kubectl-gitops.yaml: guard.allow entry \"fixtures/**\" (test data) is added in this commit; it newly allows: fixtures/db.yaml\n",
		"git rebase -i",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("the report holds a value:\n%s", out.String())
	}

	// Pushed again on top of what the remote has: only the new commits are checked.
	testrepo.Git(t, work, "push", "-q", "--no-verify", "origin", "feature")
	fixed := commit("encrypt", map[string]string{"base/db-secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"})
	rep, err = hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: noCluster{t},
		Updates: []hooks.RefUpdate{{LocalRef: "refs/heads/feature", LocalSHA: fixed, RemoteRef: "refs/heads/feature", RemoteSHA: allowed}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() || rep.Refs[0].Commits != 1 {
		t.Errorf("want one clean commit checked: %+v", rep.Refs[0])
	}
}

// A cluster that does not answer stops the checks, but what the guard found is reported.
func TestPrePushSecretsGuardBeforeCluster(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	remote := testrepo.Git(t, work, "rev-parse", "HEAD")
	write(t, work, "base/db-secret.yaml", plaintextSecret)
	testrepo.Git(t, work, "add", "-A")
	testrepo.Git(t, work, "commit", "-q", "-m", "plaintext")
	head := testrepo.Git(t, work, "rev-parse", "HEAD")
	rep, err := hooks.PrePush(context.Background(), hooks.PrePushOptions{
		Dir: work, Remote: "origin", Clusters: unreachable{},
		Updates: []hooks.RefUpdate{{LocalRef: "refs/heads/main", LocalSHA: head, RemoteRef: "refs/heads/main", RemoteSHA: remote}},
	})
	if !verify.IsUnreachable(err) {
		t.Fatalf("err = %v, want the unreachable cluster", err)
	}
	if rep == nil || len(rep.Refs) != 1 || rep.Refs[0].Commits != 1 || len(rep.Refs[0].Secrets) != 1 || !rep.Failed() {
		t.Errorf("report %+v, want the refused commit", rep)
	}
}
