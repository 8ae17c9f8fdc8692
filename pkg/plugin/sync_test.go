package plugin

import (
	"strings"
	"testing"

	gitopssync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func TestReconcilerKind(t *testing.T) {
	for res, want := range map[string]gitopssync.Kind{
		"ks": gitopssync.FluxKustomization, "kustomization": gitopssync.FluxKustomization,
		"Kustomizations.kustomize.toolkit.fluxcd.io": gitopssync.FluxKustomization,
		"kustomization.kustomize":                    gitopssync.FluxKustomization,
		"app":                                        gitopssync.ArgoCDApplication, "applications.argoproj.io": gitopssync.ArgoCDApplication,
		"apps":   gitopssync.ArgoCDApplication,
		"deploy": "", "deployments.apps": "", "kustomization.config.k8s.io": "", "application.example.com": "",
	} {
		if got := reconcilerKind(res); got != want {
			t.Errorf("reconcilerKind(%q) = %q, want %q", res, got, want)
		}
	}
}

// Mistakes in the command line are usage errors, found before anything reaches the cluster.
func TestSyncUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--timeout=1m"}, "--timeout needs --wait"},
		{[]string{"sync", "--wait", "--timeout=0s"}, "--timeout must be positive"},
		{[]string{"sync", "deploy/web", "--target", "staging"}, "give either TYPE/NAME or --target/--path"},
		{[]string{"sync", "staging", "--target", "production"}, `target "staging" and --target "production" differ`},
		{[]string{"sync", "a", "b"}, "accepts at most 1 arg"},
	} {
		_, stderr, code := gitopsSync(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant %q", tc.args, code, stderr, tc.want)
		}
	}
}
