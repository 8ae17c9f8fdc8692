package render

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// loadArgoObjects reads the Argo CD objects of the repository's YAML files, as discovery does.
func loadArgoObjects(t *testing.T, root string) []reconciler.Object {
	t.Helper()
	var out []reconciler.Object
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for doc := 0; ; doc++ {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			js, err := sigsyaml.Marshal(m)
			if err != nil {
				return err
			}
			u := &unstructured.Unstructured{}
			if err := sigsyaml.Unmarshal(js, &u.Object); err != nil {
				return err
			}
			if u.GroupVersionKind().Group == reconciler.ArgoGroup {
				out = append(out, reconciler.Object{File: filepath.ToSlash(rel), Doc: doc, Obj: u})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fleetApplied is what the Argo CD Applications of the sample fleet apply.
func fleetApplied(t *testing.T) (string, []reconciler.Applied) {
	t.Helper()
	root := filepath.Join(repoRoot(t), "testdata", "repos", "argocd-fleet")
	applied, _, errs := reconciler.ArgoApplied(loadArgoObjects(t, root), root, "https://git.example.com/platform/fleet")
	for _, err := range errs {
		t.Fatal(err)
	}
	if len(applied) < 10 {
		t.Fatalf("%d sources applied", len(applied))
	}
	return root, applied
}

// Each source of the sample fleet renders as Argo CD's repo-server renders it: the golden files
// hold the render and, per object, the file and document it comes from and the Application
// option that last changed it.
func TestRenderArgoFleetGolden(t *testing.T) {
	root, applied := fleetApplied(t)
	for _, a := range applied {
		t.Run(a.Reconciler.Name(), func(t *testing.T) {
			res, err := Render(root, a.Path, Options{Applied: &a})
			var unavailable *ChartUnavailableError
			if errors.As(err, &unavailable) {
				// A chart of a repository on the internet (web's): not rendered here.
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "# %s %s: %s\n", a.Reconciler.Ref(), reconciler.ArgoSourceField(a.Reconciler.Obj, a.Source), a.Path)
			for _, o := range res.Objects {
				fmt.Fprintf(&b, "# %s <- %s document %d", o.ID, o.Origin.File, o.Origin.Doc)
				if o.Origin.Layer != "" {
					fmt.Fprintf(&b, ", last changed by %s", o.Origin.Layer)
				}
				b.WriteString("\n")
			}
			b.Write(res.YAML())
			golden(t, filepath.Join("argo", a.Reconciler.Name()+".yaml"), b.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// kustomizeForTest is the kustomize CLI of the version Argo CD ships (make testbin).
func kustomizeForTest(t *testing.T) string {
	p := filepath.Join(repoRoot(t), "bin", "testbin", "kustomize")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("KUBECTL_GITOPS_E2E") != "" {
			t.Fatalf("%s missing: run `make testbin`", p)
		}
		t.Skipf("%s missing: run `make testbin`", p)
	}
	return p
}

// argoKustomizeBuild does in a copy of the repository what Argo CD's repo-server does to render
// a source with kustomize options (util/kustomize Build): `kustomize edit` commands in the
// source's directory, the patches written into its kustomization, then `kustomize build`.
func argoKustomizeBuild(t *testing.T, kustomize, root, dir string, opt map[string]any) []byte {
	t.Helper()
	repo := t.TempDir()
	if err := os.CopyFS(repo, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(repo, filepath.FromSlash(dir))
	run := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(kustomize, args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kustomize %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	strs := func(key string) []string {
		var out []string
		list, _ := opt[key].([]any)
		for _, v := range list {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	pairs := func(key string) []string {
		m, _ := opt[key].(map[string]any)
		var out []string
		for k, v := range m {
			out = append(out, fmt.Sprintf("%s:%v", k, v))
		}
		sort.Strings(out)
		return out
	}
	if p, _ := opt["namePrefix"].(string); p != "" {
		run(appDir, "edit", "set", "nameprefix", "--", p)
	}
	if s, _ := opt["nameSuffix"].(string); s != "" {
		run(appDir, "edit", "set", "namesuffix", "--", s)
	}
	if images := strs("images"); len(images) > 0 {
		run(appDir, append([]string{"edit", "set", "image"}, images...)...)
	}
	if reps, _ := opt["replicas"].([]any); len(reps) > 0 {
		args := []string{"edit", "set", "replicas"}
		for _, r := range reps {
			m := r.(map[string]any)
			args = append(args, fmt.Sprintf("%v=%v", m["name"], m["count"]))
		}
		run(appDir, args...)
	}
	if labels := pairs("commonLabels"); len(labels) > 0 {
		args := []string{"edit", "add", "label"}
		if f, _ := opt["forceCommonLabels"].(bool); f {
			args = append(args, "--force")
		}
		run(appDir, append(args, labels...)...)
	}
	if annotations := pairs("commonAnnotations"); len(annotations) > 0 {
		args := []string{"edit", "add", "annotation"}
		if f, _ := opt["forceCommonAnnotations"].(bool); f {
			args = append(args, "--force")
		}
		run(appDir, append(args, annotations...)...)
	}
	if ns, _ := opt["namespace"].(string); ns != "" {
		run(appDir, "edit", "set", "namespace", "--", ns)
	}
	if patches, _ := opt["patches"].([]any); len(patches) > 0 {
		kf := filepath.Join(appDir, "kustomization.yaml")
		b, err := os.ReadFile(kf)
		if err != nil {
			t.Fatal(err)
		}
		var k map[string]any
		if err := sigsyaml.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		existing, _ := k["patches"].([]any)
		k["patches"] = append(existing, patches...)
		if b, err = sigsyaml.Marshal(k); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kf, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if comps := strs("components"); len(comps) > 0 {
		run(appDir, append([]string{"edit", "add", "component"}, comps...)...)
	}
	return run(repo, "build", appDir)
}

// objectsOf decodes a multi-document render into objects, sorted by kind, namespace and name.
func objectsOf(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		js, err := sigsyaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))
	}
	sort.Strings(out)
	return out
}

// The render of each source of the sample fleet with kustomize options equals what the kustomize
// CLI builds after Argo CD's own edits of the kustomization.
func TestRenderArgoKustomizeEqualsKustomizeEdit(t *testing.T) {
	kustomize := kustomizeForTest(t)
	root, applied := fleetApplied(t)
	checked := 0
	for _, a := range applied {
		src, err := reconciler.ReadArgoSource(a.Reconciler.Obj, a.Source, os.DirFS(root))
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := src.Spec["kustomize"].(map[string]any)
		if src.Type != reconciler.ArgoKustomize || len(opt) == 0 {
			continue
		}
		checked++
		t.Run(a.Reconciler.Name(), func(t *testing.T) {
			res, err := Render(root, a.Path, Options{Applied: &a})
			if err != nil {
				t.Fatal(err)
			}
			want := objectsOf(t, argoKustomizeBuild(t, kustomize, root, a.Path, opt))
			got := objectsOf(t, res.YAML())
			if strings.Join(got, "---\n") != strings.Join(want, "---\n") {
				t.Errorf("render differs from kustomize after Argo CD's edits\n--- ours\n%s\n--- kustomize\n%s", strings.Join(got, "---\n"), strings.Join(want, "---\n"))
			}
		})
	}
	if checked < 4 {
		t.Errorf("only %d sources with kustomize options checked", checked)
	}
}

// application is an Argo CD Application with one source.
func application(t *testing.T, source string) *reconciler.Applied {
	t.Helper()
	var m map[string]any
	if err := sigsyaml.Unmarshal([]byte(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: app, namespace: argocd}
spec:
  project: default
  destination: {namespace: dest}
  source: `+source), &m); err != nil {
		t.Fatal(err)
	}
	app := reconciler.Object{File: "app.yaml", Obj: &unstructured.Unstructured{Object: m}}
	p, _, _ := unstructured.NestedString(m, "spec", "source", "path")
	return &reconciler.Applied{Reconciler: app, URL: "https://git.example.com/org/repo", Branch: "main", Path: p}
}

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"

// Edits in the overlay are what the render of an Argo CD source reads: a changed manifest, a new
// file of a directory source, a new override file; nothing is written to the repository.
func TestRenderArgoOverlay(t *testing.T) {
	root, applied := fleetApplied(t)
	byName := map[string]*reconciler.Applied{}
	for _, a := range applied {
		byName[a.Reconciler.Name()] = &a
	}
	web, err := os.ReadFile(filepath.Join(root, "shop/base/web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(web, []byte("image: registry.example.com/shop/web:1.4.0"), []byte("image: registry.example.com/shop/web:1.4.0\n          imagePullPolicy: Always"), 1)
	res, err := Render(root, "shop/overlays/staging", Options{Applied: byName["shop-staging"], Overlay: map[string][]byte{"shop/base/web.yaml": edited}})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Get(ObjectID{Group: "apps", Kind: "Deployment", Namespace: "shop-staging", Name: "staging-web"})
	if d == nil {
		t.Fatal("no staging-web")
	}
	c, _, _ := unstructured.NestedSlice(d.Obj().Object, "spec", "template", "spec", "containers")
	if c[0].(map[string]any)["imagePullPolicy"] != "Always" || c[0].(map[string]any)["image"] != "registry.example.com/shop/web:1.5.0" {
		t.Errorf("container %v: want the overlay's pull policy and the Application's image", c[0])
	}

	res, err = Render(root, "monitoring", Options{Applied: byName["monitoring"], Overlay: map[string][]byte{
		"monitoring/alerts/new.yaml":      []byte(fmt.Sprintf(cm, "new-rules")),
		"monitoring/alerts/new-test.yaml": []byte(fmt.Sprintf(cm, "excluded")),
		"monitoring/prometheus.yaml":      nil,
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range res.Objects {
		ids = append(ids, o.ID.String())
	}
	if got, want := strings.Join(ids, " "), "ConfigMap/alert-routes ConfigMap/alert-rules ConfigMap/grafana-dashboards ConfigMap/new-rules"; got != want {
		t.Errorf("objects %s, want %s", got, want)
	}

	res, err = Render(root, "platform/ingress", Options{Applied: byName["platform-ingress"], Overlay: map[string][]byte{
		"platform/ingress/.argocd-source-platform-ingress.yaml": []byte("directory:\n  exclude: service.yaml\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].ID.Kind != "Deployment" {
		t.Errorf("objects %v: the override file excludes the Service", res.Objects)
	}
	if !slices.Contains(res.Inputs, "platform/ingress/.argocd-source-platform-ingress.yaml") {
		t.Errorf("inputs %v lack the override file", res.Inputs)
	}
	if _, err := os.Stat(filepath.Join(root, "platform/ingress/kustomization.yaml")); err == nil {
		t.Error("the render wrote a kustomization into the repository")
	}

	// The Application's own file, changed, is what the render applies: a change to an image
	// override is seen, and the file is an input of the render.
	appFile := filepath.Join(root, "apps/shop-staging.yaml")
	app, err := os.ReadFile(appFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err = Render(root, "shop/overlays/staging", Options{Applied: byName["shop-staging"], Overlay: map[string][]byte{
		"apps/shop-staging.yaml": bytes.Replace(app, []byte("shop/web:1.5.0"), []byte("shop/web:1.6.0"), 1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	d = res.Get(ObjectID{Group: "apps", Kind: "Deployment", Namespace: "shop-staging", Name: "staging-web"})
	c, _, _ = unstructured.NestedSlice(d.Obj().Object, "spec", "template", "spec", "containers")
	if c[0].(map[string]any)["image"] != "registry.example.com/shop/web:1.6.0" {
		t.Errorf("image %v: want the edited Application's 1.6.0", c[0].(map[string]any)["image"])
	}
	if !slices.Contains(res.Inputs, "apps/shop-staging.yaml") {
		t.Errorf("inputs %v lack the Application's file", res.Inputs)
	}
	if _, err := Render(root, "shop/overlays/staging", Options{Applied: byName["shop-staging"], Overlay: map[string][]byte{
		"apps/shop-staging.yaml": bytes.Replace(app, []byte("name: shop-staging"), []byte("name: renamed"), 1),
	}}); err == nil || !strings.Contains(err.Error(), "no longer defines") {
		t.Errorf("render of a renamed Application: %v, want an error saying the file no longer defines it", err)
	}
}

func TestRenderArgoRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		files  map[string]string
		source string
		want   string
	}{
		"helm chart in git without a version": {map[string]string{"chart/Chart.yaml": "name: x\n"}, "{repoURL: r, path: chart}",
			"Argo CD Application argocd/app spec.source: chart chart: loading chart: validation: chart.metadata.version is required"},
		"plugin": {map[string]string{"d/x.yaml": fmt.Sprintf(cm, "x")}, "{repoURL: r, path: d, plugin: {name: p}}",
			"a Config Management Plugin renders it"},
		"jsonnet": {map[string]string{"d/x.jsonnet": "{}"}, "{repoURL: r, path: d}",
			"d/x.jsonnet is Jsonnet"},
		"directory on a kustomization": {map[string]string{"d/kustomization.yaml": "resources: []\n"}, "{repoURL: r, path: d, directory: {recurse: true}}",
			"it holds a kustomization"},
		"kustomize without kustomization": {map[string]string{"d/x.yaml": fmt.Sprintf(cm, "x")}, "{repoURL: r, path: d, kustomize: {namePrefix: a-}}",
			"renders d with kustomize (spec.source.kustomize), but it has no kustomization"},
		"label already set": {map[string]string{"d/kustomization.yaml": "commonLabels: {env: a}\nresources: [x.yaml]\n", "d/x.yaml": fmt.Sprintf(cm, "x")},
			"{repoURL: r, path: d, kustomize: {commonLabels: {env: b}}}", "spec.source.kustomize.commonLabels: label env is already in the kustomization; Argo CD refuses to override it without forceCommonLabels"},
		"revision": {map[string]string{"d/kustomization.yaml": "resources: [x.yaml]\n", "d/x.yaml": fmt.Sprintf(cm, "x")},
			"{repoURL: r, path: d, kustomize: {images: ['nginx:${ARGOCD_APP_REVISION_SHORT}']}}", "the commit Argo CD renders"},
		"bad image": {map[string]string{"d/kustomization.yaml": "resources: [x.yaml]\n", "d/x.yaml": fmt.Sprintf(cm, "x")},
			"{repoURL: r, path: d, kustomize: {images: [nginx]}}", `image "nginx": give NAME:TAG`},
		"unreadable json": {map[string]string{"d/x.json": `{"title": "no object"}`}, "{repoURL: r, path: d}",
			`failed to unmarshal "x.json"`},
	} {
		t.Run(name, func(t *testing.T) {
			root := writeRepo(t, c.files)
			a := application(t, c.source)
			_, err := Render(root, a.Path, Options{Applied: a})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Options that the kustomization already sets are taken as kustomize edit takes them: a forced
// label replaces the kustomization's, an image entry replaces the entry of its name, '*' keeps a
// part, ${ARGOCD_APP_NAME} is substituted, and each object names the option that changed it last.
func TestRenderArgoKustomizeEdits(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"d/kustomization.yaml": `commonLabels: {env: a}
images:
  - name: nginx
    newName: mirror.example.com/nginx
    newTag: "1.0"
resources: [x.yaml, svc.yaml]
`,
		"d/x.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`,
		"d/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
	})
	a := application(t, `{repoURL: r, path: d, kustomize: {commonLabels: {env: b, app.kubernetes.io/instance: "${ARGOCD_APP_NAME}"}, forceCommonLabels: true, images: ['nginx=*:1.2']}}`)
	res, err := Render(root, "d", Options{Applied: a})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Get(ObjectID{Group: "apps", Kind: "Deployment", Name: "web"})
	s := res.Get(ObjectID{Kind: "Service", Name: "web"})
	if d == nil || s == nil {
		t.Fatalf("objects %v", res.Objects)
	}
	labels := d.Obj().GetLabels()
	if labels["env"] != "b" || labels["app.kubernetes.io/instance"] != "app" {
		t.Errorf("labels %v", labels)
	}
	c, _, _ := unstructured.NestedSlice(d.Obj().Object, "spec", "template", "spec", "containers")
	if img := c[0].(map[string]any)["image"]; img != "mirror.example.com/nginx:1.2" {
		t.Errorf("image %v, want the kustomization's newName kept by '*' and the Application's tag", img)
	}
	if got, want := d.Origin.Layer, "Argo CD Application argocd/app spec.source.kustomize.images"; got != want {
		t.Errorf("Deployment layer %q, want %q", got, want)
	}
	if got, want := s.Origin.Layer, "Argo CD Application argocd/app spec.source.kustomize.commonLabels"; got != want {
		t.Errorf("Service layer %q, want %q", got, want)
	}
	if d.Origin.File != "d/x.yaml" || d.Origin.Doc != 0 {
		t.Errorf("origin %+v", d.Origin)
	}
	res, err = Render(root, "d", Options{Applied: a, NoOrigins: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Get(d.ID).Origin.Layer; l != "" {
		t.Errorf("a render without origins has layer %q", l)
	}
}
