package reconciler

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// repoObjects decodes every YAML document of a sample repository.
func repoObjects(t *testing.T, root string) []Object {
	t.Helper()
	var out []Object
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		objs, err := DecodeObjects(filepath.ToSlash(rel), b)
		out = append(out, objs...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// applied is FluxApplied's answer by Kustomization and the file defining it.
func applied(t *testing.T, name string) map[string]Applied {
	t.Helper()
	root := sample(name)
	as, errs := FluxApplied(os.DirFS(root), repoObjects(t, root))
	for _, err := range errs {
		t.Errorf("%s: %v", name, err)
	}
	out := map[string]Applied{}
	for _, a := range as {
		out[a.Reconciler.Ref()+"@"+a.Reconciler.File] = a
	}
	return out
}

func TestFluxAppliedHubAndSpoke(t *testing.T) {
	got := applied(t, "flux-hub")
	want := map[string][3]string{
		"kustomization/flux-system/flux-system@clusters/hub/flux-system/gotk-sync.yaml": {"https://git.example.com/platform/fleet-hub.git", "main", "clusters/hub"},
		"kustomization/staging/apps@clusters/hub/spokes/staging/apps.yaml":              {"https://git.example.com/platform/fleet-hub.git", "main", "deploy/apps"},
		"kustomization/production/apps@clusters/hub/spokes/production/apps.yaml":        {"https://git.example.com/platform/fleet-hub.git", "main", "deploy/apps"},
	}
	if len(got) != len(want) {
		t.Fatalf("Kustomizations: got %v", slicesKeys(got))
	}
	for k, w := range want {
		a, ok := got[k]
		if !ok {
			t.Errorf("missing %s (got %v)", k, slicesKeys(got))
			continue
		}
		if a.URL != w[0] || a.Branch != w[1] || a.Path != w[2] || a.Artifact != nil {
			t.Errorf("%s: URL %q branch %q path %q artifact %v, want %v", k, a.URL, a.Branch, a.Path, a.Artifact, w)
		}
	}
	// The source is the one in flux-system, though the Kustomizations live in the spokes'
	// namespaces: sourceRef.namespace is followed.
	if a := got["kustomization/staging/apps@clusters/hub/spokes/staging/apps.yaml"]; a.Reconciler.Doc != 0 || str(a.Reconciler.Obj, "spec", "kubeConfig", "secretRef", "name") != "cluster-kubeconfig" {
		t.Errorf("staging/apps: reconciler %+v", a.Reconciler)
	}
}

func TestFluxAppliedTenants(t *testing.T) {
	got := applied(t, "flux-tenants")
	a, ok := got["kustomization/apps-team-a/team-a@tenants/base/team-a/sync.yaml"]
	if !ok {
		t.Fatalf("no team-a: %v", slicesKeys(got))
	}
	// No spec.path: the root of the tenant's own repository.
	if a.URL != "https://git.example.com/team-a/shop-apps.git" || a.Branch != "main" || a.Path != "." {
		t.Errorf("team-a: %q %q %q", a.URL, a.Branch, a.Path)
	}
	b := got["kustomization/apps-team-b/team-b@tenants/base/team-b/tenant.yaml"]
	if b.URL != "https://git.example.com/team-b/search.git" || b.Branch != ">=2.0.0 <3.0.0" || b.Path != "deploy" {
		t.Errorf("team-b: %q %q %q", b.URL, b.Branch, b.Path)
	}
}

func TestFluxAppliedArtifactGenerator(t *testing.T) {
	got := applied(t, "flux-monorepo")
	url := "https://git.example.com/shop/monorepo.git"
	cases := map[string]struct {
		path string
		tree map[string]string
	}{
		// apps/base/** into base/, apps/staging/** less *.md into staging/, and one file of
		// config/ over staging/settings.yaml.
		"kustomization/flux-system/apps@clusters/staging/apps.yaml": {"staging", map[string]string{
			"base":                  "apps/base",
			"staging":               "apps/staging",
			"staging/README.md":     "",
			"staging/settings.yaml": "config/staging/settings.yaml",
		}},
		"kustomization/flux-system/platform@clusters/staging/platform.yaml": {"ingress", map[string]string{".": "platform"}},
		// The base's contents at the root, production/ beside them.
		"kustomization/flux-system/apps@clusters/production/apps.yaml": {"production", map[string]string{".": "apps/base", "production": "apps/production"}},
		// One artifact per directory the path pattern matches.
		"kustomization/flux-system/svc-cart@clusters/production/services.yaml":   {".", map[string]string{".": "services/cart/deploy"}},
		"kustomization/flux-system/svc-search@clusters/production/services.yaml": {".", map[string]string{".": "services/search/deploy"}},
	}
	for k, c := range cases {
		a, ok := got[k]
		if !ok {
			t.Errorf("missing %s (got %v)", k, slicesKeys(got))
			continue
		}
		if a.URL != url || a.Branch != "main" || a.Path != c.path || !reflect.DeepEqual(a.Artifact, c.tree) {
			t.Errorf("%s: %q %q path %q\nartifact %v\nwant     %v", k, a.URL, a.Branch, a.Path, a.Artifact, c.tree)
		}
	}
	// The artifact's tree reads from the repository as the builder copied it.
	tree := got["kustomization/flux-system/apps@clusters/staging/apps.yaml"].Artifact
	for p, want := range map[string]string{
		"staging/kustomization.yaml":   "apps/staging/kustomization.yaml",
		"staging/settings.yaml":        "config/staging/settings.yaml",
		"base/web/deployment.yaml":     "apps/base/web/deployment.yaml",
		"staging/new-patch.yaml":       "apps/staging/new-patch.yaml",
		"staging/README.md":            "",
		"clusters/staging/apps.yaml":   "",
		"base/web/../../staging/x.yml": "apps/staging/x.yml",
	} {
		r, ok := ArtifactLookup(tree, p)
		if r != want || ok != (want != "") {
			t.Errorf("ArtifactLookup(%s) = %q, %v; want %q", p, r, ok, want)
		}
	}
	if !ArtifactDir(tree, ".") || !ArtifactDir(tree, "staging") || ArtifactDir(tree, "base/web") || ArtifactDir(tree, "nothing") {
		t.Error("ArtifactDir: the root and staging have entries below them, base/web and nothing none")
	}
}

// The copy rules, one by one, as source-watcher's builder documents them.
func TestArtifactCopyRules(t *testing.T) {
	repo := fstest.MapFS{
		"deploy/app.yaml":          {Data: []byte("a")},
		"deploy/README.md":         {Data: []byte("r")},
		"deploy/sub/svc.yaml":      {Data: []byte("s")},
		"deploy/sub/testdata/x":    {Data: []byte("x")},
		"configs/prod/values.yaml": {Data: []byte("v")},
		"configs/one.yaml":         {Data: []byte("1")},
		"configs/two.yaml":         {Data: []byte("2")},
		"charts/app-1.0.0.tgz":     {Data: []byte("t")},
	}
	cases := []struct {
		name string
		ops  []copyOp
		want map[string]string
		err  string
	}{
		{"dir/ copies the directory itself", []copyOp{{from: "@r/deploy/", to: "@artifact/apps/"}},
			map[string]string{"apps/deploy": "deploy"}, ""},
		{"dir/** copies its contents", []copyOp{{from: "@r/deploy/**", to: "@artifact/"}},
			map[string]string{".": "deploy"}, ""},
		{"excludes leave holes in the directory", []copyOp{{from: "@r/deploy/**", to: "@artifact/app/", exclude: []string{"*.md", "**/testdata/**"}}},
			map[string]string{"app": "deploy", "app/README.md": "", "app/sub/testdata": ""}, ""},
		{"an exclude relative to the selection root", []copyOp{{from: "@r/deploy/**", to: "@artifact/", exclude: []string{"sub/**"}}},
			map[string]string{".": "deploy", "sub": ""}, ""},
		{"a file to a file", []copyOp{{from: "@r/configs/prod/values.yaml", to: "@artifact/app/values.yaml"}},
			map[string]string{"app/values.yaml": "configs/prod/values.yaml"}, ""},
		{"a file into a directory", []copyOp{{from: "@r/configs/one.yaml", to: "@artifact/app/"}},
			map[string]string{"app/one.yaml": "configs/one.yaml"}, ""},
		{"a file to an existing directory", []copyOp{{from: "@r/deploy/**", to: "@artifact/app/"}, {from: "@r/configs/one.yaml", to: "@artifact/app"}},
			map[string]string{"app": "deploy", "app/one.yaml": "configs/one.yaml"}, ""},
		{"a glob keeps the matched paths", []copyOp{{from: "@r/configs/*.yaml", to: "@artifact/all/"}},
			map[string]string{"all/configs/one.yaml": "configs/one.yaml", "all/configs/two.yaml": "configs/two.yaml"}, ""},
		{"later rules overwrite", []copyOp{{from: "@r/deploy/**", to: "@artifact/"}, {from: "@r/configs/one.yaml", to: "@artifact/app.yaml"}},
			map[string]string{".": "deploy", "app.yaml": "configs/one.yaml"}, ""},
		{"two directories into one", []copyOp{{from: "@r/deploy/sub/**", to: "@artifact/"}, {from: "@r/configs/prod/**", to: "@artifact/"}},
			map[string]string{"svc.yaml": "deploy/sub/svc.yaml", "testdata": "deploy/sub/testdata", "values.yaml": "configs/prod/values.yaml"}, ""},
		{"Merge into a new file copies", []copyOp{{from: "@r/configs/one.yaml", to: "@artifact/v.yaml", strategy: "Merge"}},
			map[string]string{"v.yaml": "configs/one.yaml"}, ""},
		{"Merge into an existing file", []copyOp{{from: "@r/configs/one.yaml", to: "@artifact/v.yaml"}, {from: "@r/configs/two.yaml", to: "@artifact/v.yaml", strategy: "Merge"}},
			nil, "Merge strategy merges configs/two.yaml into the artifact's v.yaml (from configs/one.yaml)"},
		{"Extract skips what is not a tarball", []copyOp{{from: "@r/configs/*.yaml", to: "@artifact/", strategy: "Extract"}}, map[string]string{}, ""},
		{"Extract of a tarball", []copyOp{{from: "@r/charts/*.tgz", to: "@artifact/", strategy: "Extract"}},
			nil, "Extract strategy unpacks the tarball charts/app-1.0.0.tgz"},
		{"a missing source", []copyOp{{from: "@r/nothing.yaml", to: "@artifact/"}}, nil, `source "nothing.yaml" does not exist`},
		{"a glob matching nothing", []copyOp{{from: "@r/nothing/*.yaml", to: "@artifact/"}}, nil, `no file matches "nothing/*.yaml"`},
		{"everything excluded", []copyOp{{from: "@r/configs/*.yaml", to: "@artifact/", exclude: []string{"*.yaml"}}}, nil, "every file matching"},
		{"a bad destination", []copyOp{{from: "@r/configs/one.yaml", to: "app/"}}, nil, "must start with '@artifact/'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &treeBuilder{repo: repo, files: map[string]string{}}
			var err error
			for _, op := range c.ops {
				if err = b.apply(op); err != nil {
					break
				}
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.tree(); !maps.Equal(got, c.want) {
				t.Errorf("tree %v, want %v", got, c.want)
			}
		})
	}
}

func obj(t *testing.T, file, text string) []Object {
	t.Helper()
	objs, err := DecodeObjects(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestFluxAppliedSources(t *testing.T) {
	ks := func(kind string) string {
		return `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {path: ./deploy, sourceRef: {kind: ` + kind + `, name: src}}
`
	}
	oci := `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: src, namespace: flux-system}
spec: {url: oci://registry.example.com/manifests/app, ref: {tag: latest}}
`
	t.Run("OCIRepository offline", func(t *testing.T) {
		objs := obj(t, "clusters/apps.yaml", ks("OCIRepository")+"---\n"+oci)
		_, errs := FluxApplied(nil, objs)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "records no Git source") || !strings.Contains(errs[0].Error(), ".kubectl-gitops.yaml") {
			t.Fatalf("errors %v", errs)
		}
	})
	t.Run("OCIRepository from a cluster", func(t *testing.T) {
		objs := obj(t, "clusters/apps.yaml", ks("OCIRepository"))
		src := obj(t, "", oci)[0]
		src.File = ""
		if err := unstructured.SetNestedStringMap(src.Obj.Object, map[string]string{
			OCISourceAnnotation:   "https://git.example.com/shop/deploy.git",
			OCIRevisionAnnotation: "main@sha1:0123456789abcdef0123456789abcdef01234567",
		}, "status", "artifact", "metadata"); err != nil {
			t.Fatal(err)
		}
		as, errs := FluxApplied(nil, append(objs, src))
		if len(errs) != 0 || len(as) != 1 {
			t.Fatalf("applied %v, errors %v", as, errs)
		}
		if a := as[0]; a.URL != "https://git.example.com/shop/deploy.git" || a.Branch != "main" || a.Path != "deploy" {
			t.Errorf("applied %+v", a)
		}
	})
	t.Run("Bucket", func(t *testing.T) {
		_, errs := FluxApplied(nil, obj(t, "a.yaml", ks("Bucket")))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Bucket flux-system/src, not Git") {
			t.Fatalf("errors %v", errs)
		}
	})
	t.Run("a missing source", func(t *testing.T) {
		// In a repository's file: the repository it is in, as bootstrap's flux-system is.
		as, errs := FluxApplied(nil, obj(t, "a.yaml", ks("GitRepository")))
		if len(errs) != 0 || len(as) != 1 || as[0].URL != "" || as[0].Path != "deploy" {
			t.Fatalf("applied %+v, errors %v", as, errs)
		}
		// Read from a cluster: nothing tells which repository.
		live := obj(t, "a.yaml", ks("GitRepository"))
		live[0].File = ""
		_, errs = FluxApplied(nil, live)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "GitRepository flux-system/src is not among the objects read") {
			t.Fatalf("errors %v", errs)
		}
	})
	t.Run("no ref is master", func(t *testing.T) {
		as, errs := FluxApplied(nil, obj(t, "a.yaml", ks("GitRepository")+`---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: src, namespace: flux-system}
spec: {url: https://git.example.com/x.git}
`))
		if len(errs) != 0 || as[0].Branch != "master" {
			t.Fatalf("applied %v errors %v", as, errs)
		}
	})
	t.Run("an ExternalArtifact from an OCIRepository", func(t *testing.T) {
		_, errs := FluxApplied(fstest.MapFS{}, obj(t, "a.yaml", ks("ExternalArtifact")+`---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: flux-system}
spec:
  sources: [{alias: oci, kind: OCIRepository, name: chart}]
  artifacts: [{name: src, copy: [{from: "@oci/", to: "@artifact/"}]}]
`))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "from OCIRepository flux-system/chart (alias \"oci\"), not from Git") {
			t.Fatalf("errors %v", errs)
		}
	})
}

// A repository defining the same objects per cluster directory: each Kustomization follows the
// source defined nearest to it.
func TestFluxAppliedNearestDefinition(t *testing.T) {
	var objs []Object
	for _, env := range []string{"staging", "production"} {
		objs = append(objs, obj(t, "clusters/"+env+"/sync.yaml", `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: https://git.example.com/fleet.git, ref: {branch: `+env+`}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {path: ./clusters/`+env+`, sourceRef: {kind: GitRepository, name: flux-system}}
`)...)
	}
	as, errs := FluxApplied(nil, objs)
	if len(errs) != 0 || len(as) != 2 {
		t.Fatalf("applied %v errors %v", as, errs)
	}
	for _, a := range as {
		if !strings.Contains(a.Reconciler.File, a.Branch) {
			t.Errorf("%s follows branch %s", a.Reconciler.File, a.Branch)
		}
	}
	a, err := FluxAppliedBy(nil, "flux-system", "flux-system", objs)
	if err != nil || a.Path != "clusters/staging" {
		t.Errorf("FluxAppliedBy: %+v, %v", a, err)
	}
	if _, err := FluxAppliedBy(nil, "flux-system", "apps", objs); err == nil || !strings.Contains(err.Error(), "flux-system/apps is not among the objects read") {
		t.Errorf("FluxAppliedBy of a missing Kustomization: %v", err)
	}
}

func TestFluxPath(t *testing.T) {
	for in, want := range map[string]string{"": ".", "./": ".", "./staging": "staging", "/apps/x/": "apps/x", "../../etc": "etc", "a/../b": "b"} {
		if got := FluxPath(in); got != want {
			t.Errorf("FluxPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func slicesKeys[V any](m map[string]V) []string { return sortedKeys(m) }
