package hooks_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// What a target renders is checked too: a Secret that gets its plaintext from a patch the file
// check cannot tie to a Secret (a target by name only) is refused by the rendered check, which
// names the target, the object and its file; a secretGenerator of sops-encrypted env files
// renders ciphertext and passes.
func TestPreCommitRenderedSecrets(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	kust := filepath.Join(repo, "overlays", "staging", "kustomization.yaml")
	orig := readFile(t, kust)
	write(t, repo, "overlays/staging/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n")
	patched := strings.Replace(orig, "  - ../../base\n", "  - ../../base\n  - db-secret.yaml\n", 1)
	patched = strings.Replace(patched, "  - path: web-patch.yaml\n", `  - path: web-patch.yaml
  - target:
      name: db
    patch: |-
      - op: add
        path: /stringData
        value:
          password: hunter2-from-a-patch
`, 1)
	write(t, repo, "overlays/staging/kustomization.yaml", patched)
	testrepo.Git(t, repo, "add", "-A")
	rep, out := preCommit(t, repo)
	if !rep.Failed() || len(rep.Targets) != 1 || len(rep.Targets[0].Secrets) != 1 {
		t.Fatalf("want the rendered Secret refused:\n%s", out)
	}
	f := rep.Targets[0].Secrets[0]
	if f.File != "overlays/staging/db-secret.yaml" || f.Object != "Secret shop/db" || f.Path != "stringData.password" {
		t.Errorf("finding %+v, want overlays/staging/db-secret.yaml, Secret shop/db, stringData.password", f)
	}
	if !strings.Contains(out, "pre-commit: target overlays/staging: renders (") || !strings.Contains(out, "1 rendered Secret value in the clear") ||
		!strings.Contains(out, "  overlays/staging/db-secret.yaml: Secret shop/db: stringData.password: rendered value is not encrypted") || strings.Contains(out, "hunter2") {
		t.Errorf("report:\n%s", out)
	}

	// The same Secret from a secretGenerator of a sops-encrypted env file.
	write(t, repo, "overlays/staging/kustomization.yaml", orig+`
secretGenerator:
  - name: db
    envs:
      - db.env
`)
	env, err := os.ReadFile(filepath.Join(testrepo.Root(), "testdata", "secrets", "guard", "pass-generator-env-sops", "secret.env"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, repo, "overlays/staging/db.env", string(env))
	if err := os.Remove(filepath.Join(repo, "overlays", "staging", "db-secret.yaml")); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, repo, "add", "-A")
	rep, out = preCommit(t, repo)
	if rep.Failed() || len(rep.Targets) != 1 || rep.Targets[0].Objects == 0 || len(rep.Targets[0].Secrets) != 0 {
		t.Errorf("want the encrypted generator to pass:\n%s", out)
	}
}

// An allow entry staged with the plaintext it allows is named, and lets nothing through.
func TestPreCommitAllowEntryAddedWithPlaintext(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	write(t, repo, ".kubectl-gitops.yaml", "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nguard:\n  allow:\n    - path: \"secrets/**\"\n      reason: fixtures\n")
	write(t, repo, "secrets/db.yaml", plaintextSecret)
	testrepo.Git(t, repo, "add", "-A")
	rep, out := preCommit(t, repo)
	if !rep.Failed() || len(rep.Secrets.Findings) != 1 || rep.Secrets.Findings[0].File != "secrets/db.yaml" {
		t.Fatalf("want secrets/db.yaml refused:\n%s", out)
	}
	if !strings.Contains(out, `  note: .kubectl-gitops.yaml: guard.allow entry "secrets/**" (fixtures) is added in this commit; it newly allows: secrets/db.yaml`) ||
		!strings.Contains(out, "commit that entry alone first") {
		t.Errorf("report:\n%s", out)
	}
}

// A staged alias bomb is refused by the guard, and nothing is rendered: kustomize would expand
// it until the memory is gone.
func TestPreCommitAliasBombNotRendered(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	var bomb strings.Builder
	bomb.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\nextra:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&bomb, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	write(t, repo, "base/lol.yaml", bomb.String())
	write(t, repo, "base/kustomization.yaml", strings.Replace(readFile(t, filepath.Join(repo, "base", "kustomization.yaml")), "  - cronjob.yaml\n", "  - cronjob.yaml\n  - lol.yaml\n", 1))
	testrepo.Git(t, repo, "add", "-A")
	done := make(chan error, 1)
	var rep *hooks.PreCommitReport
	go func() {
		var err error
		rep, err = hooks.PreCommit(context.Background(), hooks.PreCommitOptions{Dir: repo})
		done <- err
	}()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-timer.C:
		t.Fatal("the hook did not finish on an alias bomb")
	}
	var b bytes.Buffer
	if err := hooks.WritePreCommit(&b, rep, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !rep.Failed() || len(rep.Targets) != 0 || len(rep.Secrets.Unsafe) != 1 ||
		!strings.Contains(out, "base/lol.yaml:1: its YAML aliases expand to more than 1000000 values (an alias bomb)") ||
		!strings.Contains(out, "pre-commit: targets not rendered: base/lol.yaml would exhaust a render's memory") {
		t.Errorf("report:\n%s", out)
	}
}

// A render that takes too long (kustomize is slow on a mapping of tens of thousands of keys)
// ends in an error that names the target, when the timeout is over, not in a hung commit.
func TestPreCommitRenderTimeout(t *testing.T) {
	if raceDetector {
		t.Skip("a render time limit is not measured under the race detector (make test runs it)")
	}
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	var cm strings.Builder
	cm.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\ndata:\n")
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&cm, "  key-%d: value %d\n", i, i)
	}
	write(t, repo, "overlays/staging/many.yaml", cm.String())
	write(t, repo, "overlays/staging/kustomization.yaml", strings.Replace(readFile(t, filepath.Join(repo, "overlays", "staging", "kustomization.yaml")), "  - ../../base\n", "  - ../../base\n  - many.yaml\n", 1))
	testrepo.Git(t, repo, "add", "-A")
	// Far above an ordinary render's time (under the race detector on a loaded machine too),
	// far below the time kustomize takes on the 30,000 keys.
	const timeout = 5 * time.Second
	done := make(chan error, 1)
	var rep *hooks.PreCommitReport
	go func() {
		var err error
		rep, err = hooks.PreCommit(context.Background(), hooks.PreCommitOptions{Dir: repo, RenderTimeout: timeout})
		done <- err
	}()
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline.C:
		t.Fatal("the hook waited for the render")
	}
	if !rep.Failed() || len(rep.Targets) != 1 || rep.Targets[0].Target != "overlays/staging" ||
		rep.Targets[0].Error != "render overlays/staging: did not finish in 5s; kustomize is slow on very large files (a mapping of tens of thousands of keys): split them" {
		t.Errorf("targets %+v, want overlays/staging refused for its render time", rep.Targets)
	}
}
