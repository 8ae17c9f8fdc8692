package plugin

import (
	"fmt"
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

// An argument that breaks the TYPE/NAME form is named in an error that shows the form, and no
// other command: set image's error read "e.g. 'kubectl gitops scale deploy/web'".
func TestObjectArgsFormError(t *testing.T) {
	for _, args := range [][]string{
		{"set", "image", "deploy/web", "web"},
		{"set", "env", "deploy/web", "LOG_LEVEL"},
		{"label", "deploy/web", "tier"},
	} {
		_, stderr, code := gitops(t, args...)
		last := args[len(args)-1]
		cmd := strings.Join(args[:len(args)-2], " ")
		if code != 1 || !strings.Contains(stderr, `"`+last+`" is not TYPE/NAME`) || !strings.Contains(stderr, "See 'kubectl gitops "+cmd+" --help' for usage.") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1, the argument %q named and the command's usage", strings.Join(args, " "), code, stderr, last)
		}
		for _, other := range []string{"scale", "set", "label"} {
			if other != args[0] && strings.Contains(stderr, "gitops "+other) {
				t.Errorf("%s: the error names another command (%s):\n%s", strings.Join(args, " "), other, stderr)
			}
		}
	}
}

// A commit's line names up to six files; a bulk commit names five and counts the rest.
func TestFileList(t *testing.T) {
	files := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("f%d.yaml", i))
		}
		return out
	}
	for _, c := range []struct {
		n    int
		want string
	}{
		{1, "f0.yaml"},
		{6, "f0.yaml, f1.yaml, f2.yaml, f3.yaml, f4.yaml, f5.yaml"},
		{7, "f0.yaml, f1.yaml, f2.yaml, f3.yaml, f4.yaml and 2 more files"},
		{201, "f0.yaml, f1.yaml, f2.yaml, f3.yaml, f4.yaml and 196 more files"},
	} {
		if got := fileList(files(c.n)); got != c.want {
			t.Errorf("%d files: %q, want %q", c.n, got, c.want)
		}
	}
}
