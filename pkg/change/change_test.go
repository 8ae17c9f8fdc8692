package change

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func sample(t *testing.T, name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "repos", name)
}

var deployments = schema.GroupKind{Group: "apps", Kind: "Deployment"}

// planOne asks for one object of a target to change through mutate, and returns the plan.
func planOne(t *testing.T, root string, targets []string, target string, gk schema.GroupKind, name string, mutate func(u *unstructured.Unstructured)) (*Plan, error) {
	t.Helper()
	eng := NewEngine(root, Paths(targets...), Options{})
	r, err := eng.Rendered(target)
	if err != nil {
		t.Fatal(err)
	}
	objs := r.Find(gk, "", name)
	if len(objs) != 1 {
		t.Fatalf("%s %s: found %d", gk, name, len(objs))
	}
	desired := objs[0].Obj().DeepCopy()
	mutate(desired)
	return eng.Plan([]ObjectChange{{Target: target, Object: objs[0], Desired: desired.Object}})
}

func read(t *testing.T, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantOnly checks the plan changes exactly the files in want, to exactly those bytes.
func wantOnly(t *testing.T, p *Plan, want map[string]string) {
	t.Helper()
	if len(p.Files) != len(want) {
		t.Errorf("plan changes %v, want %d files", p.Paths(), len(want))
	}
	for f, w := range want {
		got, ok := p.Files[f]
		if !ok {
			t.Errorf("plan does not change %s (changes %v)", f, p.Paths())
			continue
		}
		if string(got) != w {
			t.Errorf("%s:\n--- got\n%s\n--- want\n%s", f, got, w)
		}
	}
}

// writeTree writes files (repository-relative path: content) below root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("fixture changed: %q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

func setReplicas(n int64) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, n, "spec", "replicas")
	}
}

var kustomizeTargets = []string{"overlays/production", "overlays/staging"}

func TestScaleUpdatesOverlayReplicasEntry(t *testing.T) {
	root := sample(t, "kustomize")
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "web", setReplicas(3))
	if err != nil {
		t.Fatal(err)
	}
	kust := "overlays/staging/kustomization.yaml"
	wantOnly(t, p, map[string]string{kust: replaceOnce(t, read(t, root, kust), "    count: 1\n", "    count: 3\n")})
}

func TestScaleSharedBaseAddsReplicasEntryInOverlay(t *testing.T) {
	root := sample(t, "kustomize")
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "worker", setReplicas(3))
	if err != nil {
		t.Fatal(err)
	}
	kust := "overlays/staging/kustomization.yaml"
	want := replaceOnce(t, read(t, root, kust), "    count: 1\n", "    count: 1\n  - name: worker\n    count: 3\n")
	wantOnly(t, p, map[string]string{kust: want})
}

func TestScalePlainDirectoryEditsOwnFile(t *testing.T) {
	root := sample(t, "plain")
	p, err := planOne(t, root, []string{"apps"}, "apps", deployments, "web", setReplicas(5))
	if err != nil {
		t.Fatal(err)
	}
	f := "apps/shop/deployment.yaml"
	want := replaceOnce(t, read(t, root, f), "  replicas: 2  # scaled up", "  replicas: 5  # scaled up")
	wantOnly(t, p, map[string]string{f: want})
}

// The staging images: entry for the web image also retags the cache-warmup CronJob, and runs
// after patches: a new image for web alone goes into a patch that kustomize applies after the
// images: entry (a PatchTransformer under transformers:), and the CronJob keeps its image.
func TestSetImageSharedImageGoesToLatePatch(t *testing.T) {
	root := sample(t, "kustomize")
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "web", func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			m := c.(map[string]any)
			if m["name"] == "web" {
				m["image"] = "registry.example.com/shop/web:1.6.0"
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	if err != nil {
		t.Fatal(err)
	}
	kust := "overlays/staging/kustomization.yaml"
	wantOnly(t, p, map[string]string{
		kust: read(t, root, kust) + "\ntransformers:\n  - web-deployment-override.yaml\n",
		"overlays/staging/web-deployment-override.yaml": `apiVersion: builtin
kind: PatchTransformer
metadata:
  name: web-deployment-override
patch: |
  apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
  spec:
    template:
      spec:
        containers:
          - name: web
            image: registry.example.com/shop/web:1.6.0
target:
  kind: Deployment
  name: web
`,
	})
}

// A target that another target builds on (staging-canary includes staging): every layer of
// staging is read by staging-canary too, so no placement keeps the change to staging alone.
func TestClosedLoopRefusesChangeThatLeaksIntoAnotherTarget(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(sample(t, "kustomize"))); err != nil {
		t.Fatal(err)
	}
	canary := filepath.Join(root, "overlays", "staging-canary")
	if err := os.MkdirAll(canary, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canary, "kustomization.yaml"), []byte("resources:\n  - ../staging\nnameSuffix: -canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	_, err := planOne(t, root, []string{"overlays/production", "overlays/staging", "overlays/staging-canary"}, "overlays/staging", deployments, "web", setReplicas(6))
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("want RefusedError, got %v", err)
	}
	if !strings.Contains(err.Error(), "web-canary in target overlays/staging-canary would also change: spec.replicas: 1 → 6") {
		t.Errorf("error does not name the object and field that would change:\n%v", err)
	}
	if after := snapshot(t, root); after != before {
		t.Error("a refused change wrote to the repository")
	}
}

// snapshot is every file of a tree with its content, for "nothing was written" checks.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + "\n" + string(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A change in a base file that another target renders must not leak there.
func TestSharedBaseProductionRenderUnchanged(t *testing.T) {
	root := sample(t, "kustomize")
	before, err := render.Render(root, "overlays/production", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "worker", setReplicas(7))
	if err != nil {
		t.Fatal(err)
	}
	for f := range p.Files {
		if strings.HasPrefix(f, "base/") || strings.HasPrefix(f, "overlays/production") {
			t.Errorf("change for staging wrote %s", f)
		}
	}
	after, err := render.Render(root, "overlays/production", render.Options{Overlay: p.Files})
	if err != nil {
		t.Fatal(err)
	}
	if string(before.YAML()) != string(after.YAML()) {
		t.Error("production render changed")
	}
}

// A target that does not render before the change (a broken example, a directory no reconciler
// applies) cannot be harmed by it: it neither makes a file shared nor refuses the change; the
// plan says it was left out. A target the change breaks is refused as before.
func TestTargetThatDoesNotRenderIsLeftOut(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"app/kustomization.yaml": "resources:\n  - deployment.yaml\n",
		"app/deployment.yaml":    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: web:1\n",
		// The repository root lists the app and a file that is not there.
		"kustomization.yaml": "resources:\n  - app\n  - missing.yaml\n",
	}
	writeTree(t, root, files)
	p, err := planOne(t, root, []string{".", "app"}, "app", deployments, "web", setReplicas(3))
	if err != nil {
		t.Fatalf("the change was refused for a target that does not render: %v", err)
	}
	wantOnly(t, p, map[string]string{"app/deployment.yaml": strings.Replace(files["app/deployment.yaml"], "replicas: 1", "replicas: 3", 1)})
	if len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0], "target . does not render") || !strings.Contains(p.Skipped[0], "missing.yaml") {
		t.Errorf("skipped %q, want one line naming target . and why", p.Skipped)
	}
}

// A change to the file that defines a target's reconciler (here a Flux Kustomization given a
// namePrefix) changes what it applies beyond kustomize's reach: the closed loop renders that
// target whole and sees every object renamed, though the target was plain before.
func TestChangeToReconcilerFileIsRenderedWhole(t *testing.T) {
	root := sample(t, "flux")
	const ksFile = "clusters/staging/apps.yaml"
	var objs []reconciler.Object
	for _, f := range []string{ksFile, "clusters/staging/flux-system/gotk-sync.yaml"} {
		o, err := reconciler.DecodeObjects(f, []byte(read(t, root, f)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	applied, errs := reconciler.FluxApplied(os.DirFS(root), objs)
	i := slices.IndexFunc(applied, func(a reconciler.Applied) bool { return a.Reconciler.Name() == "apps" })
	if len(errs) > 0 || i < 0 {
		t.Fatalf("applied %v, errors %v", applied, errs)
	}
	tg := Target{Path: applied[i].Path, Applied: &applied[i]}
	e := NewEngine(root, []Target{tg}, Options{})
	if _, err := e.Rendered(tg.Key()); err != nil {
		t.Fatal(err)
	}
	if !e.plain(tg.Key()) {
		t.Fatal("the sample's Kustomization has options of its own: the test needs a plain one")
	}
	prefixed := replaceOnce(t, read(t, root, ksFile), "  path: ./apps/staging\n", "  path: ./apps/staging\n  namePrefix: x-\n")
	_, err := e.verify(map[string][]byte{ksFile: []byte(prefixed)}, nil)
	if err == nil || !strings.Contains(err.Error(), "x-") {
		t.Errorf("verify of a namePrefix added to the Kustomization: %v, want a refusal naming the renamed objects", err)
	}
}

// A render that reads the target's manifests as they are (a root kustomization listing the
// app) renders the same object the same way: the change reaches it as asked, which is no leak.
// An overlay that renders the object differently must not change, and is named when it would.
func TestChangeReachesRendersOfTheSameObjectAsAsked(t *testing.T) {
	root := t.TempDir()
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: web:1\n"
	files := map[string]string{
		"app/kustomization.yaml":  "resources:\n  - deployment.yaml\n",
		"app/deployment.yaml":     deployment,
		"kustomization.yaml":      "resources:\n  - app\n",
		"prod/kustomization.yaml": "resources:\n  - ../app\nimages:\n  - name: web\n    newTag: \"2\"\n",
	}
	writeTree(t, root, files)
	p, err := planOne(t, root, []string{".", "app"}, "app", deployments, "web", setReplicas(3))
	if err != nil {
		t.Fatalf("refused though the root renders the same object: %v", err)
	}
	if got := p.After["."].Find(deployments, "", "web")[0].Obj().Object["spec"].(map[string]any)["replicas"]; got != int64(3) {
		t.Errorf("the root renders replicas %v after the change, want 3", got)
	}

	// prod renders web with its own image and reads all of app: no file of app can hold the
	// change without changing prod's web too.
	_, err = planOne(t, root, []string{".", "app", "prod"}, "app", deployments, "web", setReplicas(3))
	if err == nil || !strings.Contains(err.Error(), "in target prod would also change: spec.replicas: 1 → 3") {
		t.Errorf("plan: %v, want a refusal naming prod", err)
	}
}
