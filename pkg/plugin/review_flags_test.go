package plugin

import (
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// TestPRFlagErrors: --pr's companions without it, --pr with what it cannot go with, and a
// request from the target's branch into itself are refused with what to change, writing
// nothing.
func TestPRFlagErrors(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	before := snapshot(t, dir)
	base := []string{"scale", "deploy/web", "--replicas=5", "--repo", dir, "--path", "overlays/staging"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--draft"}, "--draft is for the request --pr opens: add --pr"},
		{[]string{"--label", "x"}, "--label is for the request --pr opens: add --pr"},
		{[]string{"--pr", "--dry-run"}, "--pr pushes a branch and opens a request, and --dry-run writes nothing: give one of them"},
		{[]string{"--pr", "--wait"}, "give one of them"},
		{[]string{"--pr", "--branch", "main"}, "--pr opens a request from --branch main into main, the same branch"},
	} {
		stdout, stderr, code := gitops(t, append(append([]string{}, base...), tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", tc.args, code, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("%v: printed %q", tc.args, stdout)
		}
	}
	assertUnchanged(t, dir, before, "a refused --pr")
}
