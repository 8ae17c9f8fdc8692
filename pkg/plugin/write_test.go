package plugin

import (
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// --wait of the change commands waits for a pushed commit: without one to wait for, or with a
// commit on a branch the reconciler does not follow, it is a usage error found before anything
// is written (the target is the user's working tree, which pushes only with --push).
func TestChangeWaitUsageErrors(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	before := snapshot(t, dir)
	where := []string{"--repo", dir, "--path", "overlays/staging"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"scale", "deploy/web", "--replicas=3", "--wait"},
			[]string{"--wait waits for the reconciler to apply the pushed commit: add --push", dir, "See 'kubectl gitops scale --help' for usage."}},
		{[]string{"set", "image", "deploy/web", "web=registry.example.com/shop/web:2.0.0", "--push", "--wait", "--dry-run"},
			[]string{"--dry-run makes none", "See 'kubectl gitops set image --help' for usage."}},
		{[]string{"label", "deploy/web", "tier=edge", "--timeout=1m"},
			[]string{"--timeout needs --wait"}},
		{[]string{"annotate", "deploy/web", "a=b", "--push", "--wait", "--timeout=0s"},
			[]string{"--timeout must be positive, not 0s"}},
		{[]string{"scale", "deploy/web", "--replicas=3", "--push", "--wait", "--branch", "scale-web"},
			[]string{"--wait waits for branch main", "--branch commits on scale-web"}},
	} {
		stdout, stderr, code := gitops(t, append(tc.args, where...)...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s%s", tc.args, code, stdout, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: the error does not say %q:\n%s", tc.args, w, stderr)
			}
		}
	}
	assertUnchanged(t, dir, before, "the refused --wait")
}
