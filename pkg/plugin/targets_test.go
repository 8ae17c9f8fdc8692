package plugin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// readGolden runs a command that changes nothing and returns its golden text with its exit
// code; the repository's directory is written <repo>.
func readGolden(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := gitops(t, args...)
	mask := strings.NewReplacer(dir, "<repo>")
	return fmt.Sprintf("$ kubectl gitops %s\n==== exit %d\n==== stdout\n%s==== stderr\n%s",
		mask.Replace(strings.Join(args, " ")), code, mask.Replace(stdout), mask.Replace(stderr)), code
}

// The samples whose targets and renders the golden files show: Flux layouts (cluster
// directories, hub and spokes, a monorepo with an ArtifactGenerator, tenants), an Argo CD fleet
// (app of apps, ApplicationSets, multi-source), configured targets and the fallback paths.
var targetSamples = []string{"flux", "flux-hub", "flux-monorepo", "flux-tenants", "argocd-fleet", "sops", "kustomize", "plain"}

// `targets` lists every target of each sample, as a table, a wide table and JSON, with the
// targets that do not render and the reconcilers discovery could not follow on stderr. It
// writes nothing to the repository.
func TestGoldenTargets(t *testing.T) {
	gitEnv(t)
	for _, sample := range targetSamples {
		t.Run(sample, func(t *testing.T) {
			dir := testrepo.New(t, sample)
			before := snapshot(t, dir)
			var g strings.Builder
			for _, extra := range [][]string{nil, {"-o", "wide"}, {"-o", "json"}} {
				text, code := readGolden(t, dir, append([]string{"targets", "--repo", dir}, extra...)...)
				if code != 0 {
					t.Errorf("exit %d:\n%s", code, text)
				}
				g.WriteString(text)
			}
			assertGolden(t, "targets-"+sample, g.String())
			assertUnchanged(t, dir, before, "targets")
		})
	}
}

// The JSON of `targets` says, for every target discovery finds, what Describe says, and renders
// is true exactly when the closed loop can render the target.
func TestTargetsJSONMatchesDiscovery(t *testing.T) {
	gitEnv(t)
	for _, sample := range []string{"flux-hub", "flux-monorepo", "argocd-fleet"} {
		t.Run(sample, func(t *testing.T) {
			dir := testrepo.New(t, sample)
			stdout, stderr, code := gitops(t, "targets", "--repo", dir, "-o", "json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			var got targetsOutput
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			ts, err := target.Discover(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Targets) != len(ts) {
				t.Fatalf("%d targets listed, discovery finds %d", len(got.Targets), len(ts))
			}
			for i, tg := range ts {
				d, g := target.Describe(tg), got.Targets[i]
				if g.Name != d.Name || g.Kind != d.Kind || g.Path != d.Path || g.File != d.File || g.URL != d.URL || g.Artifact != d.Artifact {
					t.Errorf("target %d listed as %+v, discovery says %+v", i, g, d)
				}
				_, err := change.Render(dir, change.Target{Path: tg.Path, Applied: tg.Applied}, render.Cache{})
				if g.Renders != (err == nil) {
					t.Errorf("%s: renders %v, the closed loop's render: %v", tg.Name, g.Renders, err)
				}
				if err != nil && !strings.Contains(err.Error(), g.Reason) {
					t.Errorf("%s: reason %q is not the render's error %q", tg.Name, g.Reason, err)
				}
			}
		})
	}
}

// --target and --path narrow the list; a name that fits several targets, or none, is an error
// that lists them; a directory that no target renders is an error naming the targets.
func TestTargetsSelect(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "argocd-fleet")
	stdout, stderr, code := gitops(t, "targets", "--repo", dir, "--path", "guestbook")
	if code != 0 || !strings.Contains(stdout, "application/argocd/guestbook-dev") || !strings.Contains(stdout, "application/argocd/guestbook-prod") || strings.Count(stdout, "\n") != 3 {
		t.Errorf("--path guestbook: exit %d, want the two guestbook targets:\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = gitops(t, "targets", "--repo", dir, "--target", "application/argocd/guestbook-prod")
	if code != 0 || strings.Contains(stdout, "guestbook-dev") || !strings.Contains(stdout, "guestbook-prod") {
		t.Errorf("--target guestbook-prod: exit %d:\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = gitops(t, "targets", "--repo", dir, "--path", "shop/base")
	if code != 1 || !strings.Contains(stderr, "--path shop/base: no reconciler") || !strings.Contains(stderr, "application/argocd/shop-staging (shop/overlays/staging)") {
		t.Errorf("--path of a base: exit %d, want 1 naming the targets:\n%s", code, stderr)
	}

	flux := testrepo.New(t, "flux")
	_, stderr, code = gitops(t, "targets", "--repo", flux, "--target", "kustomization/flux-system/apps")
	if code != 1 || !strings.Contains(stderr, "it names 2 targets: kustomization/flux-system/apps@clusters/production (apps/production), kustomization/flux-system/apps@clusters/staging (apps/staging)") {
		t.Errorf("an ambiguous --target: exit %d, want 1 listing both:\n%s", code, stderr)
	}
	_, stderr, code = gitops(t, "targets", "--repo", flux, "-o", "name")
	if code != 1 || !strings.Contains(stderr, "--output must be one of wide, json, yaml") {
		t.Errorf("-o name: exit %d:\n%s", code, stderr)
	}
}

// renderCases are the golden renders: YAML, JSON, origins with the reconcilers' layers (Flux
// patches, images, targetNamespace, postBuild; an ExternalArtifact's files; Argo CD kustomize
// options of an ApplicationSet's Application), the alias build, and the errors.
var renderCases = []struct {
	name, sample string
	args         []string
	code         int
}{
	{"render-flux-staging", "flux", []string{"render", "kustomization/flux-system/apps@clusters/staging"}, 0},
	{"render-flux-hub-production-origin", "flux-hub", []string{"render", "kustomization/production/apps", "--show-origin"}, 0},
	{"render-flux-monorepo-staging-origin", "flux-monorepo", []string{"render", "--target", "kustomization/flux-system/apps@clusters/staging", "--show-origin"}, 0},
	{"render-argocd-fleet-shop-staging-json", "argocd-fleet", []string{"render", "application/argocd/shop-staging", "-o", "json"}, 0},
	{"render-argocd-fleet-guestbook-origin", "argocd-fleet", []string{"build", "application/argocd/guestbook-prod", "--show-origin"}, 0},
	{"render-kustomize-path-origin", "kustomize", []string{"render", "--path", "overlays/staging", "--show-origin"}, 0},
	{"render-plain-json", "plain", []string{"render", "-o", "json"}, 0},
	{"render-flux-ambiguous-error", "flux", []string{"render", "kustomization/flux-system/apps"}, 1},
	{"render-kustomize-no-target-error", "kustomize", []string{"render"}, 1},
	{"render-argocd-fleet-shared-path-error", "argocd-fleet", []string{"render", "--path", "guestbook"}, 1},
}

func TestGoldenRender(t *testing.T) {
	gitEnv(t)
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := testrepo.New(t, tc.sample)
			// In the repository, for the cases without a target; back for the golden file.
			wd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			text, code := readGolden(t, dir, tc.args...)
			if err := os.Chdir(wd); err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, text)
			}
			assertGolden(t, tc.name, text)
		})
	}
}

// A target that cannot render (its substituteFrom ConfigMap is neither in the repository nor
// readable offline) exits 1 with the reason, and prints no object.
func TestRenderCannotRender(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-hub")
	gitRun(t, dir, "rm", "-q", "clusters/hub/spokes/staging/cluster-settings.yaml")
	gitRun(t, dir, "commit", "-q", "-m", "the cluster's settings live in the cluster")
	stdout, stderr, code := gitops(t, "render", "--repo", dir, "kustomization/staging/apps")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "spec.postBuild.substituteFrom[0]: ConfigMap staging/cluster-settings is not in the repository and cannot be read offline") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// What `render` prints for every target of every sample is what the closed loop renders for
// it (the same render, with the same reconciler's options): the objects of -o json, and the
// YAML byte for byte; a target the closed loop cannot render exits 1 with the render's error.
func TestRenderIsTheClosedLoopRender(t *testing.T) {
	gitEnv(t)
	for _, sample := range targetSamples {
		t.Run(sample, func(t *testing.T) {
			dir := testrepo.New(t, sample)
			ts, err := target.Discover(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range ts {
				loop, loopErr := change.Render(dir, change.Target{Path: tg.Path, Applied: tg.Applied}, workflow.RenderCache(dir))
				stdout, stderr, code := gitops(t, "render", "--repo", dir, "--target", tg.Name, "-o", "json")
				if loopErr != nil {
					first, _, _ := strings.Cut(loopErr.Error(), "\n")
					if code != 1 || !strings.Contains(stderr, first) {
						t.Errorf("%s: the closed loop cannot render it (%v); render exits %d:\n%s", tg.Name, loopErr, code, stderr)
					}
					continue
				}
				if code != 0 {
					t.Errorf("%s: exit %d\n%s", tg.Name, code, stderr)
					continue
				}
				var list struct {
					Kind  string           `json:"kind"`
					Items []map[string]any `json:"items"`
				}
				if err := json.Unmarshal([]byte(stdout), &list); err != nil || list.Kind != "List" {
					t.Errorf("%s: -o json printed no List (%v):\n%s", tg.Name, err, stdout)
					continue
				}
				if len(list.Items) != len(loop.Objects) {
					t.Errorf("%s: %d objects, the closed loop renders %d", tg.Name, len(list.Items), len(loop.Objects))
					continue
				}
				for i, o := range loop.Objects {
					if !reflect.DeepEqual(list.Items[i], jsonRoundTrip(t, maskSecret(o.Obj()).Object)) {
						a, _ := yaml.Marshal(list.Items[i])
						b, _ := yaml.Marshal(o.Obj().Object)
						t.Errorf("%s: object %d (%s) differs from the closed loop's:\n%s", tg.Name, i, o.ID, lineDiff(string(b), string(a)))
					}
				}
				fresh, err := render.Render(dir, tg.Path, render.Options{Applied: tg.Applied})
				if err != nil {
					t.Fatal(err)
				}
				want := string(fresh.YAML())
				if masked := maskedYAML(t, fresh); masked != want {
					// Secrets print masked; every other document as kustomize prints it.
					want = masked
				}
				stdout, stderr, code = gitops(t, "render", "--repo", dir, "--target", tg.Name)
				if code != 0 || stdout != want {
					t.Errorf("%s: exit %d, the YAML is not the render's:\n%s%s", tg.Name, code, lineDiff(want, stdout), stderr)
				}
			}
		})
	}
}

// maskedYAML is the render's YAML with its Secrets' documents masked.
func maskedYAML(t *testing.T, r *render.Result) string {
	t.Helper()
	docs, err := r.Documents()
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range r.Objects {
		if o.ID.Kind == "Secret" && o.ID.Group == "" {
			if docs[i], err = yaml.Marshal(maskSecret(o.Obj()).Object); err != nil {
				t.Fatal(err)
			}
		}
	}
	return strings.Join(func() []string {
		out := make([]string, len(docs))
		for i, d := range docs {
			out[i] = string(d)
		}
		return out
	}(), "---\n")
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Without a target, render renders the only target of the current directory; flag mistakes are
// usage errors.
func TestRenderArguments(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	want, _, code := gitops(t, "render", "--repo", dir, "--path", "overlays/staging")
	if code != 0 || want == "" {
		t.Fatalf("--path overlays/staging: exit %d", code)
	}
	t.Chdir(filepath.Join(dir, "overlays", "staging"))
	if got, stderr, code := gitops(t, "render"); code != 0 || got != want {
		t.Errorf("render in overlays/staging: exit %d, not the render of --path overlays/staging:\n%s%s", code, lineDiff(want, got), stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"render", "overlays/staging", "--target", "overlays/production"}, "TARGET overlays/staging and --target overlays/production name two targets"},
		{[]string{"render", "-o", "wide"}, "--output must be one of yaml, json"},
		{[]string{"render", "-o", "json", "--show-origin"}, "--show-origin writes YAML comments: use it with -o yaml"},
		{[]string{"render", "a", "b"}, "accepts at most 1 arg(s), received 2"},
		{[]string{"render", "--target", "nope"}, "--target nope: no such target"},
		{[]string{"render", "--path", "nope"}, "--path nope: not a directory in repository"},
	} {
		_, stderr, code := gitops(t, append(tc.args, "--repo", dir)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, want 1 and %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
}

// render's TARGET and --target, and targets' --target, complete the repository's target names.
func TestCompleteTargets(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux")
	want := "kustomization/flux-system/apps@clusters/production\nkustomization/flux-system/apps@clusters/staging\n"
	for _, args := range [][]string{
		{"__complete", "render", "--repo", dir, "kustomization/flux-system/a"},
		{"__complete", "build", "--repo", dir, "--target", "kustomization/flux-system/a"},
		{"__complete", "targets", "--repo", dir, "--target", "kustomization/flux-system/a"},
	} {
		stdout, stderr, code := gitops(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, want+":4\n") {
			t.Errorf("%q: exit %d, want the two apps targets:\n%s%s", args, code, stdout, stderr)
		}
	}
}

// render never prints what a Secret holds, whatever the output: a Secret written in plain text,
// one a secretGenerator makes from a literal, and a sops-encrypted one show "***" for each value,
// and the other objects print as kustomize prints them.
func TestRenderMasksSecrets(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	const plain, literal = "hunter2-plain", "s3cr3t-literal"
	staging, err := os.ReadFile(filepath.Join(dir, "overlays", "staging", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kust := string(staging) + "secretGenerator:\n  - name: web-token\n    literals:\n      - token=" + literal + "\n"
	commitFiles(t, dir, "secrets", map[string]string{
		"overlays/staging/kustomization.yaml": strings.Replace(kust, "resources:\n", "resources:\n  - db.yaml\n", 1),
		"overlays/staging/db.yaml":            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + plain + "\ndata:\n  user: " + base64.StdEncoding.EncodeToString([]byte(plain)) + "\n",
	})
	fresh, err := render.Render(dir, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := 0
	for _, o := range fresh.Objects {
		if o.ID.Kind == "Secret" {
			secrets++
		}
	}
	if secrets != 2 {
		t.Fatalf("the sample renders %d Secrets, want 2", secrets)
	}
	for _, extra := range [][]string{nil, {"--show-origin"}, {"-o", "json"}} {
		stdout, stderr, code := gitops(t, append([]string{"render", "--repo", dir, "--path", "overlays/staging"}, extra...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d\n%s", extra, code, stderr)
		}
		for _, secret := range []string{plain, literal, base64.StdEncoding.EncodeToString([]byte(plain)), base64.StdEncoding.EncodeToString([]byte(literal))} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%q prints a Secret's value %q", extra, secret)
			}
		}
		if n := strings.Count(stdout, "***"); n != 3 {
			t.Errorf("%q: %d masked values, want 3 (password, user, token):\n%s", extra, n, stdout)
		}
		if extra == nil {
			docs, _ := fresh.Documents()
			for i, o := range fresh.Objects {
				if o.ID.Kind != "Secret" && !strings.Contains(stdout, string(docs[i])) {
					t.Errorf("%s is not printed as kustomize prints it:\n%s", o.ID, docs[i])
				}
			}
		}
	}
}

// A target whose path is in an ExternalArtifact is listed, and found by --path, with the
// repository directory its path is copied from.
func TestTargetsArtifactPath(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "flux-monorepo")
	stdout, stderr, code := gitops(t, "targets", "--repo", dir, "--path", "apps/staging", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var got targetsOutput
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 1 || got.Targets[0].Name != "kustomization/flux-system/apps@clusters/staging" ||
		got.Targets[0].Path != "apps/staging" || got.Targets[0].ArtifactPath != "staging" {
		t.Errorf("--path apps/staging lists %+v, want apps@clusters/staging at staging of its artifact", got.Targets)
	}
}

// The origin comment names the file and document from 1 (or the generator's kustomization), and
// the layers in order, each reconciler once for the options of it in a row.
func TestOriginComment(t *testing.T) {
	for _, tc := range []struct {
		org  render.Origin
		want string
	}{
		{render.Origin{File: "base/web.yaml", Doc: 0}, "base/web.yaml, document 1"},
		{render.Origin{Generated: "overlays/staging/kustomization.yaml", Doc: -1}, "generated by overlays/staging/kustomization.yaml"},
		{render.Origin{File: "apps/web.yaml", Doc: 2, Layer: "Argo CD Application argocd/web spec.source.kustomize.images; apps/.argocd-source-web.yaml; Argo CD Application argocd/web spec.source.kustomize.namePrefix"},
			"apps/web.yaml, document 3; layers: Argo CD Application argocd/web spec.source.kustomize.images, apps/.argocd-source-web.yaml, Argo CD Application argocd/web spec.source.kustomize.namePrefix"},
		{render.Origin{File: "a.yaml", Doc: 0, Layer: "Flux Kustomization x/a spec.patches[0]; Flux Kustomization x/a spec.images"}, "a.yaml, document 1; layers: Flux Kustomization x/a spec.patches[0], spec.images"},
	} {
		if got := originComment(tc.org); got != tc.want {
			t.Errorf("originComment(%+v) = %q, want %q", tc.org, got, tc.want)
		}
	}
}
