package hooks_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func preCommit(t *testing.T, repo string) (*hooks.PreCommitReport, string) {
	t.Helper()
	rep, err := hooks.PreCommit(context.Background(), hooks.PreCommitOptions{Dir: repo})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := hooks.WritePreCommit(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

const plaintextSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  password: hunter2-not-encrypted
`

func TestPreCommitRefusesStagedPlaintextSecret(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	write(t, repo, "base/db-secret.yaml", plaintextSecret)
	testrepo.Git(t, repo, "add", "base/db-secret.yaml")
	rep, out := preCommit(t, repo)
	if !rep.Failed() || len(rep.Secrets.Findings) != 1 || rep.Secrets.Findings[0].File != "base/db-secret.yaml" {
		t.Fatalf("want the staged Secret refused:\n%s", out)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "pre-commit: refused.") || !strings.Contains(out, "git commit --no-verify") {
		t.Errorf("report:\n%s", out)
	}
	// The work tree's copy does not matter: the index is what is committed.
	testrepo.Git(t, repo, "rm", "-q", "--cached", "base/db-secret.yaml")
	if rep, out := preCommit(t, repo); rep.Failed() || rep.Staged != 0 {
		t.Errorf("unstaged Secret in the work tree refused:\n%s", out)
	}
}

// Only the index renders: a broken kustomization staged is refused even when the work tree is
// fixed, and a broken work tree does not refuse a clean index.
func TestPreCommitRendersFromTheIndex(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	kust := filepath.Join(repo, "overlays", "staging", "kustomization.yaml")
	orig, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}

	broken := strings.Replace(string(orig), "../../base", "../../no-such-base", 1)
	if broken == string(orig) {
		t.Fatal("fixture changed: the staging overlay does not include ../../base")
	}
	write(t, repo, "overlays/staging/kustomization.yaml", broken)
	testrepo.Git(t, repo, "add", "overlays/staging/kustomization.yaml")
	write(t, repo, "overlays/staging/kustomization.yaml", string(orig))
	rep, out := preCommit(t, repo)
	if !rep.Failed() || len(rep.Targets) != 1 || rep.Targets[0].Target != "overlays/staging" || rep.Targets[0].Error == "" {
		t.Fatalf("want overlays/staging refused:\n%s", out)
	}
	if !strings.Contains(out, "pre-commit: target overlays/staging: does not render from the index") {
		t.Errorf("report:\n%s", out)
	}

	// A staged change the targets render, with a broken work tree: passes, and only the
	// touched target is rendered.
	testrepo.Git(t, repo, "reset", "-q")
	write(t, repo, "overlays/production/kustomization.yaml", "this: [is not a kustomization\n")
	write(t, repo, "overlays/staging/web-patch.yaml", strings.Replace(readFile(t, filepath.Join(repo, "overlays/staging/web-patch.yaml")), "debug", "info", 1))
	testrepo.Git(t, repo, "add", "overlays/staging/web-patch.yaml")
	rep, out = preCommit(t, repo)
	if rep.Failed() || len(rep.Targets) != 1 || rep.Targets[0].Target != "overlays/staging" || rep.Targets[0].Objects == 0 {
		t.Fatalf("want a pass rendering overlays/staging only:\n%s", out)
	}

	// Deleting a file of the shared base breaks both overlays: both are refused, found through
	// what they read before.
	testrepo.Git(t, repo, "checkout", "-q", "--", ".")
	testrepo.Git(t, repo, "rm", "-q", "base/service.yaml")
	rep, out = preCommit(t, repo)
	if !rep.Failed() || len(rep.Targets) != 2 || rep.Targets[0].Error == "" || rep.Targets[1].Error == "" {
		t.Fatalf("want both overlays refused:\n%s", out)
	}
}

// A commit with nothing staged (git commit --allow-empty) passes.
func TestPreCommitNothingStaged(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	if rep, out := preCommit(t, repo); rep.Failed() || rep.Staged != 0 || len(rep.Targets) != 0 {
		t.Errorf("report:\n%s", out)
	}
}
