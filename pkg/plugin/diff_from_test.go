package plugin

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// The Secret values of the diff --from tests: no output may hold them, in clear or base64.
const (
	firstPassword  = "first-db-password-4f1c"
	secondPassword = "second-db-password-9a2e"
)

// revisionsRepo is the kustomize sample with two commits on top: one that adds a generated
// Secret to staging, and one that raises staging's web replicas and changes that Secret's value.
func revisionsRepo(t *testing.T) string {
	t.Helper()
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	kust := filepath.Join(dir, "overlays/staging/kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(pw string) string {
		return "\nsecretGenerator:\n  - name: web-db\n    options:\n      disableNameSuffixHash: true\n    literals:\n      - password=" + pw + "\n"
	}
	commitFiles(t, dir, "staging: database password", map[string]string{
		"overlays/staging/kustomization.yaml": string(b) + secret(firstPassword),
	})
	changed := strings.Replace(string(b), "count: 1", "count: 3", 1) + secret(secondPassword)
	commitFiles(t, dir, "staging: three web replicas, new database password", map[string]string{
		"overlays/staging/kustomization.yaml": changed,
	})
	return dir
}

func noSecretIn(t *testing.T, what, out string) {
	t.Helper()
	for _, pw := range []string{firstPassword, secondPassword} {
		if strings.Contains(out, pw) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("password="+pw))) ||
			strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(pw))) {
			t.Errorf("%s holds a Secret value:\n%s", what, out)
		}
	}
}

// TestDiffFromGolden: diff --from between two commits prints the staging target's rendered
// difference (the Deployment's replicas, the Secret's changed key masked as kubectl diff masks
// it) as text, JSON and markdown, each compared byte for byte with its golden file, and exits 1
// as kubectl diff does when something differs.
func TestDiffFromGolden(t *testing.T) {
	dir := revisionsRepo(t)
	for _, tc := range []struct{ output, file string }{
		{"", "diff-from-text.golden"},
		{"json", "diff-from-json.golden"},
		{"markdown", "diff-from-markdown.golden"},
	} {
		t.Run("output="+tc.output, func(t *testing.T) {
			args := []string{"diff", "--from", "HEAD~1", "--to", "HEAD", "--repo", dir}
			if tc.output != "" {
				args = append(args, "-o", tc.output)
			}
			stdout, stderr, code := gitops(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (the renders differ)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			golden(t, filepath.Join("testdata", "golden", tc.file), stdout)
			noSecretIn(t, "stdout", stdout)
			noSecretIn(t, "stderr", stderr)
			for _, w := range []string{"-  replicas: 1", "+  replicas: 3", "password: '*** (before)'", "password: '*** (after)'"} {
				if !strings.Contains(stdout, w) {
					t.Errorf("the diff lacks %q:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout, "overlays/production") {
				t.Errorf("production reads no changed file, yet the diff names it:\n%s", stdout)
			}
		})
	}
}

// TestDiffFromExitCodes: 0 when the renders are equal (no file differs, or only one no target
// reads), 1 when they differ (the working tree against a commit), 2 when a revision does not
// resolve or a target does not render, as kubectl diff's codes.
func TestDiffFromExitCodes(t *testing.T) {
	dir := revisionsRepo(t)

	stdout, stderr, code := gitops(t, "diff", "--from", "HEAD", "--repo", dir)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "No file differs between HEAD and the working tree.") {
		t.Errorf("nothing changed: exit %d, stdout %q, stderr %q; want 0, nothing, the reason", code, stdout, stderr)
	}

	writeFiles(t, dir, map[string]string{"docs/notes.md": "read by no target\n"})
	stdout, stderr, code = gitops(t, "diff", "--from", "HEAD", "--repo", dir)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "1 file changed, read by no target") {
		t.Errorf("a file no target reads: exit %d, stdout %q, stderr %q; want 0 and nothing", code, stdout, stderr)
	}

	stdout, stderr, code = gitops(t, "diff", "--from", "HEAD~1", "--repo", dir, "-o", "json")
	if code != 1 || !strings.Contains(stdout, `"to": ""`) || !strings.Contains(stdout, "+  replicas: 3") {
		t.Errorf("working tree against HEAD~1: exit %d, want 1 and staging's replicas\n%s%s", code, stdout, stderr)
	}
	noSecretIn(t, "the working tree's diff", stdout+stderr)

	_, stderr, code = gitops(t, "diff", "--from", "no-such-revision", "--repo", dir)
	if code != 2 || !strings.Contains(stderr, "--from") || !strings.Contains(stderr, "no-such-revision") {
		t.Errorf("an unknown revision: exit %d, stderr %q; want 2 naming --from and the revision", code, stderr)
	}

	writeFiles(t, dir, map[string]string{"overlays/staging/kustomization.yaml": "resources:\n  - missing.yaml\n"})
	stdout, stderr, code = gitops(t, "diff", "--from", "HEAD", "--repo", dir)
	if code != 2 || !strings.Contains(stdout, "does not render") || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("a target that no longer renders: exit %d, want 2 naming the missing file\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
