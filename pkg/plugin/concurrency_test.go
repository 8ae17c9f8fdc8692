package plugin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Twenty `kubectl gitops scale` processes started together on one repository all land, one
// after the other: twenty commits in a line, each planned on the one before (its body's old
// count is the previous commit's new count), none lost, and git fsck finds nothing wrong.
func TestConcurrentScaleInvocations(t *testing.T) {
	env := append(os.Environ(), testrepo.Env(t)...)
	dir := testrepo.New(t, "kustomize")
	start := revParse(t, dir, "HEAD")

	// Staging's web has 1 replica: counts 2..21 are each a change whatever the order.
	const n = 20
	counts := make([]int, n)
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		counts[i] = i + 2
		cmd := exec.Command(pluginBin, "scale", "deploy/web", fmt.Sprintf("--replicas=%d", counts[i]), "--repo", dir, "--path", "overlays/staging")
		cmd.Env = env
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting invocation %d: %v", i, err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("scale --replicas=%d: %v\n%s", counts[i], err, outs[i])
		}
	}

	if got := strings.TrimSpace(gitRun(t, dir, "rev-list", "--count", start+"..HEAD")); got != strconv.Itoa(n) {
		t.Errorf("%s new commits, want %d", got, n)
	}
	if merges := strings.TrimSpace(gitRun(t, dir, "rev-list", "--merges", "--count", "HEAD")); merges != "0" {
		t.Errorf("%s merge commits, want a line of commits", merges)
	}
	subject := regexp.MustCompile(`^scale deployment shop/web to (\d+) replicas \(overlays/staging\)$`)
	body := regexp.MustCompile(`spec\.replicas: (\d+) → (\d+)`)
	seen := map[int]int{}
	prev := 1 // oldest first: the sample's count
	for _, c := range strings.Fields(gitRun(t, dir, "rev-list", "--reverse", start+"..HEAD")) {
		m := subject.FindStringSubmatch(strings.TrimSpace(gitRun(t, dir, "log", "-1", "--format=%s", c)))
		if m == nil {
			t.Errorf("commit %s: unexpected subject %q", c, gitRun(t, dir, "log", "-1", "--format=%s", c))
			continue
		}
		to, _ := strconv.Atoi(m[1])
		seen[to]++
		if b := body.FindStringSubmatch(gitRun(t, dir, "log", "-1", "--format=%b", c)); b == nil || b[1] != strconv.Itoa(prev) || b[2] != m[1] {
			t.Errorf("commit %s (to %d): body %q, want spec.replicas: %d → %d", c, to, b, prev, to)
		}
		if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", c+"~1", c)); len(files) != 1 || files[0] != "overlays/staging/kustomization.yaml" {
			t.Errorf("commit %s changes %q", c, files)
		}
		prev = to
	}
	for _, c := range counts {
		if seen[c] != 1 {
			t.Errorf("--replicas=%d is in %d commit subjects, want 1", c, seen[c])
		}
	}
	if out := gitRun(t, dir, "fsck", "--full", "--strict"); strings.TrimSpace(out) != "" {
		t.Errorf("git fsck: %s", out)
	}
	if st := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all", "--ignored"); st != "" {
		t.Errorf("the worktree is not clean (a lock or temporary file left?):\n%s", st)
	}
	if want := fmt.Sprintf("count: %d\n", prev); !strings.Contains(gitRun(t, dir, "show", "HEAD:overlays/staging/kustomization.yaml"), want) {
		t.Errorf("HEAD's kustomization.yaml does not say %q", want)
	}
}
