package plugin

import (
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
