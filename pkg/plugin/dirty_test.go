package plugin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// appendFile appends text to a repository-relative file.
func appendFile(t *testing.T, dir, name, text string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(name)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// replaceInFile replaces old by new, once, in a repository-relative file.
func replaceInFile(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", name, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The user's work elsewhere — staged, unstaged, staged then changed again, untracked — is
// exactly as it was after a scale commit, and none of it is in the commit.
func TestDirtyWorktreeUnrelatedChangesSurvive(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")

	// Unstaged: a comment in the shared base.
	appendFile(t, dir, "base/web.yaml", "# unstaged note\n")
	// Staged, then changed again in the worktree: production's HPA bounds.
	replaceInFile(t, dir, "overlays/production/hpa.yaml", "maxReplicas: 12", "maxReplicas: 14")
	gitRun(t, dir, "add", "overlays/production/hpa.yaml")
	appendFile(t, dir, "overlays/production/hpa.yaml", "# and unstaged on top\n")
	// Staged new file in the very overlay the command writes, and an untracked one.
	writeFiles(t, dir, map[string]string{"overlays/staging/NOTES.md": "staged notes\n", "scratch.txt": "untracked\n"})
	gitRun(t, dir, "add", "overlays/staging/NOTES.md")

	unstaged := gitRun(t, dir, "diff")
	staged := gitRun(t, dir, "diff", "--cached")
	status := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all")
	before := snapshot(t, dir)

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=3", "--repo", dir, "--path", "overlays/staging")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if got := gitRun(t, dir, "diff"); got != unstaged {
		t.Errorf("unstaged changes differ after the commit:\n%s", lineDiff(unstaged, got))
	}
	if got := gitRun(t, dir, "diff", "--cached"); got != staged {
		t.Errorf("staged changes differ after the commit:\n%s", lineDiff(staged, got))
	}
	if got := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all"); got != status {
		t.Errorf("status differs after the commit:\n%s", lineDiff(status, got))
	}
	if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); !reflect.DeepEqual(files, []string{"overlays/staging/kustomization.yaml"}) {
		t.Errorf("the commit changes %q, want only overlays/staging/kustomization.yaml", files)
	}
	if got := gitRun(t, dir, "show", "HEAD:overlays/staging/kustomization.yaml"); got != strings.Replace(before.Files["overlays/staging/kustomization.yaml"], "count: 1", "count: 3", 1) {
		t.Errorf("the commit's overlays/staging/kustomization.yaml:\n%s", got)
	}
	after := snapshot(t, dir)
	for p, content := range before.Files {
		if p != "overlays/staging/kustomization.yaml" && after.Files[p] != content {
			t.Errorf("%s changed in the worktree:\n%s", p, lineDiff(content, after.Files[p]))
		}
	}
}

// A target file with uncommitted changes stops the command before it writes anything, with an
// error naming the file.
func TestDirtyTargetFileRefused(t *testing.T) {
	testrepo.Env(t)
	for _, staged := range []bool{false, true} {
		name := "unstaged"
		if staged {
			name = "staged"
		}
		t.Run(name, func(t *testing.T) {
			dir := testrepo.New(t, "kustomize")
			appendFile(t, dir, "overlays/staging/kustomization.yaml", "# work in progress\n")
			if staged {
				gitRun(t, dir, "add", "overlays/staging/kustomization.yaml")
			}
			before := snapshot(t, dir)
			stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=3", "--repo", dir, "--path", "overlays/staging")
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			for _, want := range []string{"error: ", "uncommitted", "overlays/staging/kustomization.yaml"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, stderr)
				}
			}
			assertUnchanged(t, dir, before, "the refused command")
		})
	}
}

// The repository configuration's commit options reach the commit: messagePrefix before the
// subject, signoff as the committer's Signed-off-by trailer after the plugin's own trailers.
func TestConfigCommitOptions(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	if err := os.WriteFile(filepath.Join(dir, ".kubectl-gitops.yaml"), []byte(`apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    path: overlays/staging
commit:
  messagePrefix: "deploy: "
  signoff: true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, dir, "add", ".kubectl-gitops.yaml")
	testrepo.Git(t, dir, "commit", "-q", "-m", "config")
	if _, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=6", "--repo", dir, "--target", "staging"); code != 0 {
		t.Fatalf("scale: exit %d: %s", code, stderr)
	}
	msg := testrepo.Git(t, dir, "log", "-1", "--format=%B")
	committer := strings.TrimSpace(testrepo.Git(t, dir, "log", "-1", "--format=%cn <%ce>"))
	if !strings.HasPrefix(msg, "deploy: scale deployment") {
		t.Errorf("subject without the configured prefix:\n%s", msg)
	}
	if want := "Gitops-Target: staging\nSigned-off-by: " + committer + "\n"; !strings.HasSuffix(strings.TrimRight(msg, "\n")+"\n", want) {
		t.Errorf("message does not end with %q:\n%s", want, msg)
	}
}
