package plugin

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// renderTarget renders the target named name (as --target takes it) as its reconciler applies it.
func renderTarget(t *testing.T, dir, name string) *render.Result {
	t.Helper()
	ts, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range ts {
		if tt.Name == name {
			r, err := render.Render(dir, tt.Path, render.Options{Applied: tt.Applied})
			if err != nil {
				t.Fatalf("render %s: %v", name, err)
			}
			return r
		}
	}
	t.Fatalf("no target %s", name)
	return nil
}

// A field that a reconciler's own option sets is changed in that option, in the reconciler's
// file, not overridden by a new patch: a Flux Kustomization's spec.patches entry, an Argo CD
// source's kustomize.replicas and kustomize.images entries. The commit changes exactly the
// value's line; the Application or Kustomization object itself changes accordingly in the
// render that applies it (the closed loop allows that, and nothing else).
func TestReconcilerLayersChangedWhereSet(t *testing.T) {
	gitEnv(t)
	for _, tc := range []struct {
		name, sample, target string
		setup                func(t *testing.T, dir string)
		args                 []string
		file, diff           string
		object               string
		check                func(t *testing.T, o *render.Object)
	}{
		{
			name: "flux spec.patches", sample: "flux-hub", target: "kustomization/production/apps",
			args:   []string{"patch", "configmap/eu-web-settings", "-n", "shop", "--type", "merge", "-p", `{"data":{"FEATURE_CHECKOUT_V2":"false"}}`},
			file:   "clusters/hub/spokes/production/apps.yaml",
			diff:   "@@ -30 +30 @@ spec:\n-          FEATURE_CHECKOUT_V2: \"true\"\n+          FEATURE_CHECKOUT_V2: \"false\"\n",
			object: "ConfigMap/eu-web-settings",
			check: func(t *testing.T, o *render.Object) {
				if v := o.Obj().Object["data"].(map[string]any)["FEATURE_CHECKOUT_V2"]; v != "false" {
					t.Errorf("FEATURE_CHECKOUT_V2 = %v, want false", v)
				}
			},
		},
		{
			// The entry repeats its name in newName:, which stays.
			name: "flux spec.images", sample: "flux", target: "kustomization/flux-system/apps@clusters/staging",
			setup: func(t *testing.T, dir string) {
				appendFile(t, dir, "clusters/staging/apps.yaml", "  images:\n    - name: registry.example.com/shop/web\n      newName: registry.example.com/shop/web\n      newTag: 1.5.0\n")
				testrepo.Git(t, dir, "commit", "-q", "-am", "staging: web 1.5.0")
			},
			args:   []string{"set", "image", "deploy/web", "-n", "shop", "web=registry.example.com/shop/web:1.6.0"},
			file:   "clusters/staging/apps.yaml",
			diff:   "@@ -20 +20 @@ spec:\n-      newTag: 1.5.0\n+      newTag: 1.6.0\n",
			object: "Deployment/web",
			check: func(t *testing.T, o *render.Object) {
				wantContainer("web", "registry.example.com/shop/web:1.6.0", "image")(t, o.Obj())
			},
		},
		{
			name: "argo kustomize.replicas", sample: "argocd-fleet", target: "application/argocd/shop-staging",
			args:   []string{"scale", "deploy/staging-web", "-n", "shop-staging", "--replicas=5"},
			file:   "apps/shop-staging.yaml",
			diff:   "@@ -19 +19 @@ spec:\n-          count: 3\n+          count: 5\n",
			object: "Deployment/staging-web",
			check:  func(t *testing.T, o *render.Object) { wantReplicas(5)(t, o.Obj()) },
		},
		{
			name: "argo kustomize.images", sample: "argocd-fleet", target: "application/argocd/shop-staging",
			args:   []string{"set", "image", "deploy/staging-web", "-n", "shop-staging", "web=registry.example.com/shop/web:1.6.0"},
			file:   "apps/shop-staging.yaml",
			diff:   "@@ -15 +15 @@ spec:\n-        - registry.example.com/shop/web:1.5.0\n+        - registry.example.com/shop/web:1.6.0\n",
			object: "Deployment/staging-web",
			check: func(t *testing.T, o *render.Object) {
				wantContainer("web", "registry.example.com/shop/web:1.6.0", "image")(t, o.Obj())
			},
		},
		{
			name: "argo kustomize.images with a new name", sample: "argocd-fleet", target: "application/argocd/shop-staging",
			args:   []string{"set", "image", "deploy/staging-worker", "-n", "shop-staging", "worker=registry.example.com/shop/worker-ng:2.2.0"},
			file:   "apps/shop-staging.yaml",
			diff:   "@@ -16 +16 @@ spec:\n-        - registry.example.com/shop/worker=registry.example.com/shop/worker-ng:2.1.0\n+        - registry.example.com/shop/worker=registry.example.com/shop/worker-ng:2.2.0\n",
			object: "Deployment/staging-worker",
			check: func(t *testing.T, o *render.Object) {
				wantContainer("worker", "registry.example.com/shop/worker-ng:2.2.0", "image")(t, o.Obj())
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testrepo.New(t, tc.sample)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			files := mustGitops(t, dir, append(tc.args, "--target", tc.target)...)
			if want := []string{tc.file}; !reflect.DeepEqual(files, want) {
				t.Fatalf("the commit changes %q, want %q", files, want)
			}
			d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD", "--", tc.file)
			if _, hunks, _ := strings.Cut(d, "\n@@"); "@@"+hunks != tc.diff {
				t.Errorf("%s:\n%s\nwant:\n%s", tc.file, "@@"+hunks, tc.diff)
			}
			kind, name, _ := strings.Cut(tc.object, "/")
			o := objectNamed(renderTarget(t, dir, tc.target), kind, name)
			if o == nil {
				t.Fatalf("%s no longer renders", tc.object)
			}
			tc.check(t, o)
		})
	}
}
