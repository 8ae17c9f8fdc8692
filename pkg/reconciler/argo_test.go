package reconciler

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func sample(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "repos", name)
}

// readObjects reads the Argo CD objects of every YAML file of the repository at root, as
// discovery finds them in files.
func readObjects(t *testing.T, root string) []Object {
	t.Helper()
	var out []Object
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
			u := &unstructured.Unstructured{Object: jsonTypes(t, m)}
			if u.GroupVersionKind().Group == ArgoGroup {
				out = append(out, Object{File: filepath.ToSlash(rel), Doc: doc, Obj: u})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonTypes gives a decoded document the types of an object read from JSON.
func jsonTypes(t *testing.T, m map[string]any) map[string]any {
	b, err := sigsyaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := sigsyaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// The sample fleet: every source each Application applies (those the ApplicationSets generate
// too), and the sources skipped with their reasons.
func TestArgoAppliedFleet(t *testing.T) {
	root := sample("argocd-fleet")
	applied, skipped, errs := ArgoApplied(readObjects(t, root), root, "ssh://git@git.example.com:22/platform/fleet.git")
	for _, err := range errs {
		t.Errorf("error: %v", err)
	}
	var b strings.Builder
	for _, a := range applied {
		fmt.Fprintf(&b, "applied %s %s %s@%s %s (%s document %d)\n", a.Reconciler.Ref(), ArgoSourceField(a.Reconciler.Obj, a.Source), a.URL, a.Branch, a.Path, a.Reconciler.File, a.Reconciler.Doc+1)
	}
	for _, s := range skipped {
		fmt.Fprintf(&b, "skipped %s\n", s)
	}
	golden(t, "argo-fleet.txt", []byte(b.String()))

	paths := map[string]string{}
	for _, a := range applied {
		paths[a.Reconciler.Name()] = a.Path
	}
	for name, want := range map[string]string{
		"root": "apps", "shop-staging": "shop/overlays/staging", "platform-cert-manager": "platform/cert-manager",
		"platform-ingress": "platform/ingress", "guestbook-dev": "guestbook", "guestbook-prod": "guestbook",
		"tools-debug": "tools/debug", "monitoring": "monitoring", "web": "extras/web",
	} {
		if paths[name] != want {
			t.Errorf("Application %s applies %q, want %q", name, paths[name], want)
		}
	}
	if _, ok := paths["platform-legacy"]; ok {
		t.Error("platform/legacy is excluded by the generator, but an Application applies it")
	}
}

func TestExpandApplicationSetGoTemplate(t *testing.T) {
	root := sample("argocd-fleet")
	var set Object
	for _, o := range readObjects(t, root) {
		if o.Name() == "guestbook" {
			set = o
		}
	}
	apps, err := ExpandApplicationSet(set, os.DirFS(root), "https://git.example.com/platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range apps {
		out, err := sigsyaml.Marshal(a.Obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\n%s", out)
	}
	golden(t, "argo-guestbook-apps.yaml", []byte(b.String()))
}

func expandSet(t *testing.T, set string, files fstest.MapFS) ([]Object, error) {
	t.Helper()
	var m map[string]any
	if err := sigsyaml.Unmarshal([]byte(set), &m); err != nil {
		t.Fatal(err)
	}
	return ExpandApplicationSet(Object{File: "set.yaml", Obj: &unstructured.Unstructured{Object: m}}, files, "https://git.example.com/org/repo")
}

const setHead = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: s, namespace: argocd}
spec:
`

func names(apps []Object) string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name()+"="+fmt.Sprint(a.Obj.Object["spec"].(map[string]any)["source"].(map[string]any)["path"]))
	}
	return strings.Join(out, " ")
}

func TestExpandGitDirectories(t *testing.T) {
	files := fstest.MapFS{
		"apps/a/x.yaml":          {},
		"apps/b/c/x.yaml":        {},
		"apps/.hidden/x.yaml":    {},
		"apps/empty":             {Mode: fs.ModeDir},
		"apps/skip/x.yaml":       {},
		".git/config":            {},
		"other/apps/deep/x.yaml": {},
	}
	apps, err := expandSet(t, setHead+`  generators:
    - git:
        repoURL: https://git.example.com/org/repo.git
        directories:
          - path: 'apps/*'
          - path: apps/skip
            exclude: true
  template:
    metadata: {name: '{{path.basename}}-{{path[0]}}'}
    spec:
      source: {repoURL: https://git.example.com/org/repo, path: '{{path}}'}
      destination: {namespace: '{{ path.basenameNormalized }}', server: 'x'}
`, files)
	if err != nil {
		t.Fatal(err)
	}
	// apps/empty holds no file (git keeps no such directory); apps/.hidden is hidden; '*' does
	// not match '/'.
	if got, want := names(apps), "a-apps=apps/a b-apps=apps/b"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if ns := apps[0].Obj.Object["spec"].(map[string]any)["destination"].(map[string]any)["namespace"]; ns != "a" {
		t.Errorf("namespace %v, want a (a tag with spaces is trimmed)", ns)
	}
	if apps[0].Namespace() != "argocd" || len(apps[0].Obj.GetFinalizers()) != 1 || apps[0].Obj.GetOwnerReferences()[0].Name != "s" {
		t.Errorf("metadata: %v", apps[0].Obj.Object["metadata"])
	}
}

func TestExpandGitFilesFlattened(t *testing.T) {
	files := fstest.MapFS{
		"envs/dev/cfg.json":      {Data: []byte(`{"env": {"name": "dev", "replicas": 2, "zones": ["a", "b"]}}`)},
		"envs/prod/eu/cfg.json":  {Data: []byte(`[{"env": {"name": "prod-eu"}}, {"env": {"name": "prod-eu2"}}]`)},
		"envs/prod/old/cfg.json": {Data: []byte(`{"env": {"name": "old"}}`)},
	}
	apps, err := expandSet(t, setHead+`  generators:
    - git:
        repoURL: git@git.example.com:org/repo
        files:
          - path: 'envs/*/cfg.json'
          - path: 'envs/prod/old/*'
            exclude: true
        values:
          team: 'team-{{env.name}}'
  template:
    metadata: {name: '{{env.name}}', labels: {zones: '{{env.zones.1}}', replicas: '{{env.replicas}}', team: '{{values.team}}', missing: '{{nope}}'}}
    spec:
      source: {repoURL: https://git.example.com/org/repo, path: '{{path}}/{{path.filename}}'}
      destination: {namespace: x, server: 'x'}
`, files)
	if err != nil {
		t.Fatal(err)
	}
	// '*' of a pathspec matches '/': envs/prod/eu/cfg.json is one of the files.
	if got, want := names(apps), "dev=envs/dev/cfg.json prod-eu=envs/prod/eu/cfg.json prod-eu2=envs/prod/eu/cfg.json"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	labels := apps[0].Obj.GetLabels()
	if labels["zones"] != "b" || labels["replicas"] != "2" || labels["team"] != "team-dev" || labels["missing"] != "{{nope}}" {
		t.Errorf("labels %v", labels)
	}
}

func TestExpandMatrixAndSelector(t *testing.T) {
	files := fstest.MapFS{"apps/web/x.yaml": {}, "apps/db/x.yaml": {}}
	apps, err := expandSet(t, setHead+`  goTemplate: true
  generators:
    - matrix:
        generators:
          - list:
              elements:
                - {cluster: dev, dir: apps}
                - {cluster: prod, dir: apps}
          - git:
              repoURL: https://git.example.com/org/repo
              directories:
                - path: '{{.dir}}/*'
      selector:
        matchExpressions:
          - {key: path.basename, operator: NotIn, values: [db]}
  template:
    metadata: {name: '{{.cluster}}-{{.path.basename}}'}
    spec:
      source: {repoURL: https://git.example.com/org/repo, path: '{{.path.path}}'}
      destination: {namespace: '{{.path.segments | last | upper}}', server: 'x'}
`, files)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(apps), "dev-web=apps/web prod-web=apps/web"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestExpandRefusals(t *testing.T) {
	for name, c := range map[string]struct{ spec, want string }{
		"cluster generator": {`  generators: [{clusters: {}}]
  template: {metadata: {name: x}, spec: {}}
`, "the clusters generator needs the cluster"},
		"merge": {`  generators: [{merge: {generators: []}}]
  template: {metadata: {name: x}, spec: {}}
`, "merge generator is not supported"},
		"other repository": {`  generators: [{git: {repoURL: https://git.example.com/org/other, directories: [{path: '*'}]}}]
  template: {metadata: {name: x}, spec: {}}
`, "not this repository"},
		"templatePatch": {`  templatePatch: 'spec: {}'
  generators: [{list: {elements: [{a: b}]}}]
`, "templatePatch is not supported"},
		"duplicate names": {`  generators: [{list: {elements: [{a: b}, {a: c}]}}]
  template: {metadata: {name: same}, spec: {}}
`, `two Applications named "same"`},
		"slugify": {`  goTemplate: true
  generators: [{list: {elements: [{a: b}]}}]
  template: {metadata: {name: '{{slugify .a}}'}, spec: {}}
`, "slugify is not supported"},
		"missingkey": {`  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators: [{list: {elements: [{a: b}]}}]
  template: {metadata: {name: '{{.b}}'}, spec: {}}
`, `map has no entry for key "b"`},
		"non-string fasttemplate element": {`  generators: [{list: {elements: [{a: 1}]}}]
  template: {metadata: {name: x}, spec: {}}
`, "elements[0].a is not a string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := expandSet(t, setHead+c.spec, fstest.MapFS{"a/x.yaml": {}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), "ApplicationSet argocd/s (set.yaml, document 1)") {
				t.Errorf("error %v does not name the ApplicationSet", err)
			}
		})
	}
}

func TestReadArgoSourceTypes(t *testing.T) {
	files := fstest.MapFS{
		"k/kustomization.yaml":      {},
		"k/Chart.yaml":              {},
		"c/Chart.yaml":              {},
		"d/x.yaml":                  {},
		"o/x.yaml":                  {},
		"o/.argocd-source.yaml":     {Data: []byte("directory: {recurse: true}\npath: elsewhere\n")},
		"o/.argocd-source-app.yaml": {Data: []byte("directory: {include: '*.yaml'}\n")},
	}
	app := func(src string) *unstructured.Unstructured {
		var m map[string]any
		if err := sigsyaml.Unmarshal([]byte("metadata: {name: app}\nspec: {source: "+src+"}"), &m); err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	for src, want := range map[string]string{
		"{path: k}":                          ArgoKustomize,
		"{path: /c/}":                        ArgoHelm,
		"{path: d}":                          ArgoDirectory,
		"{path: k, directory: {}}":           ArgoDirectory,
		"{path: d, plugin: {name: x}}":       ArgoPlugin,
		"{path: d, kustomize: {}}":           ArgoKustomize,
		"{path: d, helm: {}}":                ArgoHelm,
		"{path: o}":                          ArgoDirectory,
		"{path: d, helm: {}, kustomize: {}}": "error: spec.source: multiple application sources defined: Kustomize,Helm",
		"{path: ../x}":                       `error: spec.source.path: "../x" leads out of the repository`,
	} {
		s, err := ReadArgoSource(app(src), 0, files)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = s.Type
		}
		if got != want {
			t.Errorf("%s: %s, want %s", src, got, want)
		}
	}
	s, err := ReadArgoSource(app("{path: o}"), 0, files)
	if err != nil {
		t.Fatal(err)
	}
	dir := s.Spec["directory"].(map[string]any)
	if dir["recurse"] != true || dir["include"] != "*.yaml" || s.Spec["path"] != "o" {
		t.Errorf("merged source %v", s.Spec)
	}
	if s.SetBy["directory.include"] != "o/.argocd-source-app.yaml" || s.SetBy["directory.recurse"] != "o/.argocd-source.yaml" {
		t.Errorf("SetBy %v", s.SetBy)
	}
}
