package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Changes the API server would reject are refused before anything is written, whichever
// command asks for them, with the object and field named; the repository (files, index, HEAD,
// objects) stays as it was.
func TestGateRefusesInvalidChanges(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	where := []string{"--repo", dir, "--path", "overlays/staging"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"replicas of the wrong type", []string{"patch", "deploy/web", "-p", `{"spec":{"replicas":"three"}}`}, []string{"Deployment.apps shop/web", "spec.replicas"}},
		{"negative replicas through patch", []string{"patch", "deploy/web", "-p", `{"spec":{"replicas":-5}}`}, []string{"spec.replicas", "must be greater than or equal to 0"}},
		{"replicas beyond int32", []string{"scale", "deploy/web", "--replicas=2147483648"}, []string{"spec.replicas"}},
		{"no spec", []string{"patch", "deploy/web", "--type", "merge", "-p", `{"spec":null}`}, []string{"Deployment.apps shop/web", "spec"}},
		{"every container removed", []string{"patch", "deploy/web", "--type", "json", "-p", `[{"op":"remove","path":"/spec/template/spec/containers"}]`}, []string{"containers"}},
		{"requests above limits", []string{"set", "resources", "deploy/web", "--requests=cpu=2", "--limits=cpu=1"}, []string{"requests", "less than or equal to cpu limit"}},
		{"an invalid label value", []string{"patch", "deploy/web", "-p", `{"metadata":{"labels":{"tier":"not valid!"}}}`}, []string{"metadata.labels"}},
		{"a name that leaves the target", []string{"create", "secret", "generic", "../base-evil", "--from-literal=a=b", "--secrets", "sops"}, []string{"../base-evil", "invalid name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, dir)
			stdout, stderr, code := gitops(t, append(tc.args, where...)...)
			if code == 0 {
				t.Fatalf("exit 0, want a refusal\n%s%s", stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, stderr)
				}
			}
			assertUnchanged(t, dir, before, tc.name)
		})
	}
}

// The repository's own hooks run for the plugin's commits as for git commit's: a pre-commit
// hook that refuses stops the command (its output shown, exit 1, nothing written), --no-verify
// skips it, and a commit-msg hook's trailer lands in the commit.
func TestRepositoryHooksRunForPluginCommits(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	where := []string{"--repo", dir, "--path", "overlays/staging"}
	hooks := filepath.Join(dir, ".git", "hooks")
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(hooks, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	write("pre-commit", `echo "lint: replicas must be odd here" >&2; exit 1`)
	write("commit-msg", `printf '\nReviewed-by: hook <hook@example.com>\n' >> "$1"`)

	before := snapshot(t, dir)
	_, stderr, code := gitops(t, append([]string{"scale", "deploy/web", "--replicas=4"}, where...)...)
	if code != 1 || !strings.Contains(stderr, "lint: replicas must be odd here") || !strings.Contains(stderr, "pre-commit hook refused") || !strings.Contains(stderr, "--no-verify") {
		t.Fatalf("a refusing pre-commit hook: exit %d\n%s", code, stderr)
	}
	// As with git commit, the objects written before the hook ran stay, unreferenced (git gc
	// prunes them); HEAD, the index, the status and every file are as they were.
	before.Objects = snapshot(t, dir).Objects
	assertUnchanged(t, dir, before, "the refused commit")

	if _, stderr, code := gitops(t, append([]string{"scale", "deploy/web", "--replicas=4", "--no-verify"}, where...)...); code != 0 {
		t.Fatalf("--no-verify: exit %d\n%s", code, stderr)
	}
	write("pre-commit", "exit 0")
	if _, stderr, code := gitops(t, append([]string{"scale", "deploy/web", "--replicas=5"}, where...)...); code != 0 {
		t.Fatalf("with hooks that pass: exit %d\n%s", code, stderr)
	}
	if msg := gitRun(t, dir, "log", "-1", "--format=%B"); !strings.Contains(msg, "Reviewed-by: hook <hook@example.com>") || !strings.Contains(msg, "Gitops-Object:") {
		t.Errorf("the commit-msg hook's trailer is not in the commit:\n%s", msg)
	}
}

// The secrets guard runs on what a change writes, whatever the command and the kind: a private
// key patched into a ConfigMap is refused, naming the file and the field, and nothing is written.
func TestGateRefusesPrivateKeysInAnyObject(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	_, _, keyPEM := tlsPair(t, t.TempDir())
	patch, err := json.Marshal(map[string]any{"data": map[string]string{"tls.key": keyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	_, stderr, code := gitops(t, "patch", "cm/web-config", "-p", string(patch), "--repo", dir, "--path", "overlays/staging")
	if code == 0 || !strings.Contains(stderr, "secrets in plain text") || !strings.Contains(stderr, "private key") {
		t.Fatalf("a private key patched into a ConfigMap: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "BEGIN EC PRIVATE KEY") || strings.Contains(stderr, strings.Split(keyPEM, "\n")[1]) {
		t.Errorf("the refusal shows the key:\n%s", stderr)
	}
	assertUnchanged(t, dir, before, "the refused patch")
}
