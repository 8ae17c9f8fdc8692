package validate

import (
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

// Refusals become problems; what the API server did not check becomes one notice per reason,
// naming the objects.
func TestFromDryRun(t *testing.T) {
	web := diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "new", Name: "web"}
	svc := diff.ObjectID{Version: "v1", Kind: "Service", Namespace: "new", Name: "web"}
	api := diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "api"}
	cm := diff.ObjectID{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "cfg"}
	problems, notices := fromDryRun([]DryRunResult{
		{ID: web, Outcome: DryRunSkipped, Message: "its namespace new is created along with it"},
		{ID: api, Outcome: DryRunRefused, Message: `Deployment.apps "api" is invalid: spec.replicas: Invalid value: -1`, Field: "spec.replicas"},
		{ID: svc, Outcome: DryRunSkipped, Message: "its namespace new is created along with it"},
		{ID: cm, Outcome: DryRunForbidden, Message: `configmaps "cfg" is forbidden: User "x" cannot patch resource "configmaps"`},
		{ID: cm, Outcome: DryRunAccepted},
	})
	if len(problems) != 1 || problems[0].Object != api || problems[0].Field != "spec.replicas" || problems[0].Check != CheckDryRun {
		t.Errorf("problems: %+v", problems)
	}
	want := []string{
		`RBAC forbids the server-side dry run of ConfigMap shop/cfg (configmaps "cfg" is forbidden: User "x" cannot patch resource "configmaps"); checked offline only`,
		"no server-side dry run of Deployment.apps new/web, Service new/web: its namespace new is created along with it; checked offline only",
	}
	if len(notices) != len(want) || notices[0] != want[0] || notices[1] != want[1] {
		t.Errorf("notices:\n%q\nwant:\n%q", notices, want)
	}
}
