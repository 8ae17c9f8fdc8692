package diff

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Argo CD's label tracking writes the Application's value over a manifest's own
// app.kubernetes.io/instance (a Helm chart's release name): only that is Argo CD's, not any
// other difference of the label.
func TestArgoCDTracked(t *testing.T) {
	labelled := func(v string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}}
		if v != "" {
			u.SetLabels(map[string]string{target.ArgoCDInstanceLabel: v})
		}
		return u
	}
	for _, tc := range []struct {
		name                     string
		manifest, live, instance string
		want                     bool
	}{
		{"the Application's value over the chart's", "web", "web-staging", "web-staging", true},
		{"another value is drift", "web", "someone", "web-staging", false},
		{"the manifest sets none", "", "web-staging", "web-staging", false},
		{"the manifest already says it", "web-staging", "web-staging", "web-staging", false},
		{"not an Application's objects", "web", "web-staging", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ArgoCDTracked(labelled(tc.manifest), labelled(tc.live), tc.instance); got != tc.want {
				t.Errorf("ArgoCDTracked = %v, want %v", got, tc.want)
			}
		})
	}
	if got := ArgoCDTracked(labelled("web"), nil, "web-staging"); got {
		t.Error("no live object: tracked")
	}
	if got, want := ArgoCDInstance("apps", "web"), "apps_web"; got != want {
		t.Errorf("ArgoCDInstance outside Argo CD's namespace = %q, want %q", got, want)
	}
	if got, want := ArgoCDInstance(target.DefaultArgoNamespace, "web"), "web"; got != want {
		t.Errorf("ArgoCDInstance = %q, want %q", got, want)
	}
}
