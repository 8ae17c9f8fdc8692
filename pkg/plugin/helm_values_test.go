package plugin

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// A change to an object a Flux HelmRelease's chart renders is written as the values key that
// drives the field, in the layer that sets it for this environment only: the overlay's
// HelmRelease values patch, or the values file its generated valuesFrom ConfigMap is made
// from; a field no key drives becomes a post-renderer patch. The commit changes exactly the
// lines shown, and the chart's render after it differs from before only in the requested
// fields of the requested object.
func TestHelmReleaseValuesWritten(t *testing.T) {
	gitEnv(t)
	runValuesCases(t, "flux-helm", []valuesCase{
		{
			name: "scale: the overlay's values patch", target: "helmrelease/web/web@apps/staging",
			args:    []string{"scale", "deploy/web", "-n", "web", "--replicas=5"},
			file:    "apps/staging/web-values.yaml",
			diff:    "@@ -9 +9 @@ spec:\n-    replicaCount: 2\n+    replicaCount: 5\n",
			object:  "Deployment/web",
			changes: []string{"spec.replicas: 2 → 5"},
		},
		{
			name: "set image: the tag key", target: "helmrelease/web/web@apps/staging",
			args:    []string{"set", "image", "deploy/web", "-n", "web", "web=registry.example.com/web:1.6.0"},
			file:    "apps/staging/web-values.yaml",
			diff:    "@@ -11 +11 @@ spec:\n-      tag: \"1.5.0-rc.1\"\n+      tag: \"1.6.0\"\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.spec.containers[name=web].image: registry.example.com/web:1.5.0-rc.1 → registry.example.com/web:1.6.0"},
		},
		{
			name: "set env: the chart's empty env list, set in the overlay", target: "helmrelease/web/web@apps/production",
			args:    []string{"set", "env", "deploy/web", "-n", "web", "LOG_FORMAT=json"},
			file:    "apps/production/web-values.yaml",
			diff:    "@@ -11,0 +12,3 @@ spec:\n+    env:\n+      - name: LOG_FORMAT\n+        value: json\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.spec.containers[name=web].env: (unset) → [{name: LOG_FORMAT, value: json}]"},
		},
		{
			name: "set resources: the chart's empty resources block", target: "helmrelease/web/web@apps/production",
			args:    []string{"set", "resources", "deploy/web", "-n", "web", "--limits=cpu=500m"},
			file:    "apps/production/web-values.yaml",
			diff:    "@@ -11,0 +12,3 @@ spec:\n+    resources:\n+      limits:\n+        cpu: 500m\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.spec.containers[name=web].resources: (unset) → {limits: {cpu: 500m}}"},
		},
		{
			name: "scale: the generated valuesFrom ConfigMap's file", target: "helmrelease/api/api@apps/staging",
			args:    []string{"scale", "deploy/api-web", "-n", "api", "--replicas=7"},
			file:    "apps/staging/api-values.yaml",
			diff:    "@@ -2 +2 @@\n-replicaCount: 1\n+replicaCount: 7\n",
			object:  "Deployment/api-web",
			changes: []string{"spec.replicas: 1 → 7"},
		},
		{
			name: "set env: an item of the ConfigMap file's env list", target: "helmrelease/api/api@apps/production",
			args:    []string{"set", "env", "deploy/api-web", "-n", "api", "LOG_LEVEL=debug"},
			file:    "apps/production/api-values.yaml",
			diff:    "@@ -10 +10 @@ env:\n-    value: info\n+    value: debug\n",
			object:  "Deployment/api-web",
			changes: []string{"spec.template.spec.containers[name=web].env[name=LOG_LEVEL].value: info → debug"},
		},
		{
			name: "no key drives the field: a post-renderer patch", target: "helmrelease/web/web@apps/staging",
			args:    []string{"patch", "deploy/web", "-n", "web", "--type", "merge", "-p", `{"spec":{"minReadySeconds":10}}`},
			file:    "apps/staging/web-values.yaml",
			diff:    "@@ -11,0 +12,13 @@ spec:\n+  postRenderers:\n+    - kustomize:\n+        patches:\n+          - patch: |\n+              apiVersion: apps/v1\n+              kind: Deployment\n+              metadata:\n+                name: web\n+              spec:\n+                minReadySeconds: 10\n+            target:\n+              kind: Deployment\n+              name: web\n",
			object:  "Deployment/web",
			changes: []string{"spec.minReadySeconds: (unset) → 10"},
		},
	})
}

// valuesCase is a change whose commit changes exactly diff in file, after which the target's
// chart renders differently only in changes of object.
type valuesCase struct {
	name, target string
	args         []string
	file, diff   string
	object       string
	changes      []string // the chart render's changes, as placement.FieldChange prints them
}

// runValuesCases runs each case on a fresh copy of sample.
func runValuesCases(t *testing.T, sample string, cases []valuesCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := testrepo.New(t, sample)
			before := renderTarget(t, dir, tc.target)
			files := mustGitops(t, dir, append(tc.args, "--target", tc.target)...)
			if want := []string{tc.file}; !reflect.DeepEqual(files, want) {
				t.Fatalf("the commit changes %q, want %q", files, want)
			}
			d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD", "--", tc.file)
			if _, hunks, _ := strings.Cut(d, "\n@@"); "@@"+hunks != tc.diff {
				t.Errorf("%s:\n%s\nwant:\n%s", tc.file, "@@"+hunks, tc.diff)
			}
			after := renderTarget(t, dir, tc.target)
			if got := renderChanges(before, after); !reflect.DeepEqual(got, map[string][]string{tc.object: tc.changes}) {
				t.Errorf("the chart's render changed:\n%v\nwant only %s: %v", got, tc.object, tc.changes)
			}
		})
	}
}

// renderChanges are the field changes from one render to another, by KIND/NAME.
func renderChanges(before, after *render.Result) map[string][]string {
	out := map[string][]string{}
	for _, a := range after.Objects {
		name := a.ID.Kind + "/" + a.ID.Name
		b := before.Get(a.ID)
		if b == nil {
			out[name] = []string{"(created)"}
			continue
		}
		for _, c := range placement.Diff(b.Obj().Object, a.Obj().Object, placement.PatchMeta(a.Obj().GroupVersionKind())) {
			out[name] = append(out[name], c.String())
		}
	}
	for _, b := range before.Objects {
		if after.Get(b.ID) == nil {
			out[b.ID.Kind+"/"+b.ID.Name] = []string{"(deleted)"}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// The same for Argo CD Applications whose source is a chart in the repository: the key goes in
// the last layer that sets it when only this Application reads it (its value file, its
// valuesObject, a $values file of another source), else in the most specific one it alone
// reads. Argo CD has no post-renderer: a field no key drives alone is refused, naming the
// template, and nothing is written.
func TestArgoHelmValuesWritten(t *testing.T) {
	gitEnv(t)
	runValuesCases(t, "argocd-helm", []valuesCase{
		{
			name: "scale: the environment's value file", target: "application/argocd/web-staging",
			args:    []string{"scale", "deploy/web", "-n", "web-staging", "--replicas=2"},
			file:    "charts/web/values-staging.yaml",
			diff:    "@@ -2 +2 @@\n-replicaCount: 1\n+replicaCount: 2\n",
			object:  "Deployment/web",
			changes: []string{"spec.replicas: 1 → 2"},
		},
		{
			name: "set image: the Application's valuesObject", target: "application/argocd/web-production",
			args:   []string{"set", "image", "deploy/web", "-n", "web-production", "web=registry.example.com/web:1.4.1", "migrate=registry.example.com/web:1.4.1"},
			file:   "apps/web-production.yaml",
			diff:   "@@ -19 +19 @@ spec:\n-          tag: \"1.4.0\"\n+          tag: \"1.4.1\"\n",
			object: "Deployment/web",
			changes: []string{
				"spec.template.spec.containers[name=web].image: registry.example.com/web:1.4.0 → registry.example.com/web:1.4.1",
				"spec.template.spec.initContainers[name=migrate].image: registry.example.com/web:1.4.0 → registry.example.com/web:1.4.1",
			},
		},
		{
			name: "scale: a $values file of another source", target: "application/argocd/web-edge",
			args:    []string{"scale", "deploy/web", "-n", "web-edge", "--replicas=5"},
			file:    "values/web/edge.yaml",
			diff:    "@@ -2 +2 @@\n-replicaCount: 2\n+replicaCount: 5\n",
			object:  "Deployment/web",
			changes: []string{"spec.replicas: 2 → 5"},
		},
		{
			// -c web: the migrations init container has no env key.
			name: "set env: the chart's empty env list, in the environment's value file", target: "application/argocd/web-production",
			args:    []string{"set", "env", "deploy/web", "-n", "web-production", "-c", "web", "FOO=bar"},
			file:    "charts/web/values-production.yaml",
			diff:    "@@ -7,0 +8,4 @@ resources:\n+\n+env:\n+  - name: FOO\n+    value: bar\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.spec.containers[name=web].env: (unset) → [{name: FOO, value: bar}]"},
		},
		{
			name: "set resources: the chart's empty resources block, in the environment's value file", target: "application/argocd/web-staging",
			args:    []string{"set", "resources", "deploy/web", "-n", "web-staging", "-c", "web", "--limits=cpu=250m"},
			file:    "charts/web/values-staging.yaml",
			diff:    "@@ -6,0 +7,4 @@ env:\n+\n+resources:\n+  limits:\n+    cpu: 250m\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.spec.containers[name=web].resources: (unset) → {limits: {cpu: 250m}}"},
		},
		{
			// podAnnotations.team is set in values/web/common.yaml, which web-edge reads too.
			name: "a shared value file: the environment's own file instead", target: "application/argocd/web-staging",
			args:    []string{"patch", "deploy/web", "-n", "web-staging", "--type", "merge", "-p", `{"spec":{"template":{"metadata":{"annotations":{"team":"storefront"}}}}}`},
			file:    "charts/web/values-staging.yaml",
			diff:    "@@ -6,0 +7,3 @@ env:\n+\n+podAnnotations:\n+  team: storefront\n",
			object:  "Deployment/web",
			changes: []string{"spec.template.metadata.annotations.team: web → storefront"},
		},
	})
}

func TestArgoHelmRefusals(t *testing.T) {
	gitEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "no key drives the field",
			args: []string{"patch", "deploy/web", "-n", "web-staging", "--type", "merge", "-p", `{"spec":{"minReadySeconds":10}}`, "--target", "application/argocd/web-staging"},
			want: []string{"no values key of the chart drives deployment/web alone", "spec.minReadySeconds", "web/templates/deployment.yaml"},
		},
		{
			// The tag also makes the migrations init container's image.
			name: "the key moves another field",
			args: []string{"set", "image", "deploy/web", "-n", "web-production", "web=registry.example.com/web:1.4.1", "--target", "application/argocd/web-production"},
			want: []string{"image.tag=1.4.1 also changes spec.template.spec.initContainers[name=migrate].image", "web/templates/deployment.yaml"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testrepo.New(t, "argocd-helm")
			head := gitRun(t, dir, "rev-parse", "HEAD")
			_, stderr, code := gitops(t, append(tc.args, "--repo", dir)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the refusal does not say %q:\n%s", w, stderr)
				}
			}
			if now := gitRun(t, dir, "rev-parse", "HEAD"); now != head {
				t.Errorf("a refused change committed %s", now)
			}
			if st := gitRun(t, dir, "status", "--porcelain"); st != "" {
				t.Errorf("a refused change left the working tree changed:\n%s", st)
			}
		})
	}
}

// history follows a chart's object through the values its release reads, and rollout undo
// writes the previous revision back as the values key: the file returns to its bytes.
func TestHelmReleaseHistoryAndUndo(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-helm")
	const tgt, file = "helmrelease/web/web@apps/staging", "apps/staging/web-values.yaml"
	orig := gitRun(t, dir, "show", "HEAD:"+file)
	mustGitops(t, dir, "scale", "deploy/web", "-n", "web", "--replicas=5", "--target", tgt)
	stdout, stderr, code := gitops(t, "rollout", "history", "deploy/web", "-n", "web", "--target", tgt, "--repo", dir)
	if code != 0 {
		t.Fatalf("rollout history: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"1          ", "2          ", "scale deployment web/web to 5 replicas via HelmRelease web/web values"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("rollout history lacks %q:\n%s", want, stdout)
		}
	}
	files := mustGitops(t, dir, "rollout", "undo", "deploy/web", "-n", "web", "--target", tgt)
	if want := []string{file}; !reflect.DeepEqual(files, want) {
		t.Fatalf("rollout undo changes %q, want %q", files, want)
	}
	if now := gitRun(t, dir, "show", "HEAD:"+file); now != orig {
		t.Errorf("after rollout undo %s is\n%s\nwant its first bytes\n%s", file, now, orig)
	}
	if subject := gitRun(t, dir, "log", "-1", "--format=%s"); !strings.HasPrefix(subject, "roll back deployment web/web to revision 1") {
		t.Errorf("rollout undo's subject: %s", subject)
	}
}
