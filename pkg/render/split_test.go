package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// splitKinds are objects of many kinds, cluster-scoped and namespaced, core and of groups, in
// kustomize's ordered lists and outside them, so the split build's order meets every rule of
// kustomize's legacy sort.
var splitKinds = []struct{ apiVersion, kind string }{
	{"apps/v1", "Deployment"}, {"v1", "ConfigMap"}, {"v1", "Secret"}, {"v1", "Service"},
	{"v1", "ServiceAccount"}, {"rbac.authorization.k8s.io/v1", "Role"},
	{"rbac.authorization.k8s.io/v1", "RoleBinding"}, {"rbac.authorization.k8s.io/v1", "ClusterRole"},
	{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding"}, {"apps/v1", "StatefulSet"},
	{"batch/v1", "CronJob"}, {"batch/v1", "Job"}, {"policy/v1", "PodDisruptionBudget"},
	{"admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"},
	{"admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"},
	{"networking.k8s.io/v1", "Ingress"}, {"v1", "ResourceQuota"}, {"storage.k8s.io/v1", "StorageClass"},
	{"scheduling.k8s.io/v1", "PriorityClass"}, {"v1", "PersistentVolume"},
	{"v1", "PersistentVolumeClaim"}, {"v1", "LimitRange"}, {"v1", "Endpoints"}, {"apps/v1", "DaemonSet"},
	{"autoscaling/v2", "HorizontalPodAutoscaler"}, {"example.com/v1", "Widget"},
	{"example.com/v2", "Widget"}, {"other.example.com/v1", "Widget"}, {"example.com/v1", "Namespace"},
	{"v1", "Namespace"},
}

var clusterScoped = map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true,
	"PriorityClass": true, "PersistentVolume": true, "Namespace": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true}

// writeSplitDir writes, in root/dir, files enough for a split build: one or two objects each,
// of the kinds above, in namespaces that sort differently as strings and as pairs ("a" and
// "a-b"), with a List, a multi-document file with empty documents, a CRD and a JSON file.
func writeSplitDir(t *testing.T, root, dir string) []string {
	t.Helper()
	var files []string
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	namespaces := []string{"", "default", "a", "a-b", "b"}
	names := []string{"z", "c", "web", "web-1", "a"}
	object := func(i int) string {
		k := splitKinds[i%len(splitKinds)]
		name := fmt.Sprintf("%s-%d", names[i%len(names)], i)
		meta := "  name: " + name + "\n"
		// Each kind in two namespaces at least: "a" and "a-b" for some.
		if ns := namespaces[(i+i/len(splitKinds))%len(namespaces)]; ns != "" && !clusterScoped[k.kind] {
			meta += "  namespace: " + ns + "\n"
		}
		return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n%s  labels:\n    index: %q\n", k.apiVersion, k.kind, meta, fmt.Sprint(i))
	}
	for i := range 70 {
		content := object(i)
		if i%4 == 0 {
			content += "---\n" + object(i+1000)
		}
		write(fmt.Sprintf("obj-%02d.yaml", i), content)
	}
	write("multi.yaml", "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: multi\n  namespace: a\ndata:\n  k: v\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a-b\n---\n")
	write("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: from-list\n    namespace: b\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: from-list\n  spec:\n    ports:\n    - port: 80\n")
	write("crd.yaml", `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: "A widget: anchors &a and *a, quotes ' and \", a long text."
`)
	write("obj.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json", "namespace": "a-b"}, "data": {"n": "1"}}`)
	return files
}

// kustomizationOf lists files as resources, with extra fields appended.
func kustomizationOf(files []string, extra string) string {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, f := range files {
		b.WriteString("- " + f + "\n")
	}
	b.WriteString(extra)
	return b.String()
}

// sameRender fails unless the two renders are alike in everything a caller sees.
func sameRender(t *testing.T, got, want *Result) {
	t.Helper()
	if !bytes.Equal(got.YAML(), want.YAML()) {
		t.Fatalf("YAML differs\n--- split\n%s\n--- whole\n%s", got.YAML(), want.YAML())
	}
	if len(got.Objects) != len(want.Objects) {
		t.Fatalf("%d objects, want %d", len(got.Objects), len(want.Objects))
	}
	for i, o := range got.Objects {
		w := want.Objects[i]
		gj, err := o.JSON()
		if err != nil {
			t.Fatal(err)
		}
		wj, err := w.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != w.ID || o.Origin != w.Origin || !bytes.Equal(gj, wj) {
			t.Fatalf("object %d: %s from %+v\n%s\nwant %s from %+v\n%s", i, o.ID, o.Origin, gj, w.ID, w.Origin, wj)
		}
	}
	gd, err := got.Documents()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := want.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gd, wd) {
		t.Error("documents differ")
	}
	if !reflect.DeepEqual(got.Inputs, want.Inputs) || !reflect.DeepEqual(got.Dirs, want.Dirs) ||
		!reflect.DeepEqual(got.sums, want.sums) || !reflect.DeepEqual(got.dirSums, want.dirSums) || got.Cacheable != want.Cacheable {
		t.Errorf("inputs %v, dirs %v, cacheable %v; want %v, %v, %v (or their sums differ)", got.Inputs, got.Dirs, got.Cacheable, want.Inputs, want.Dirs, want.Cacheable)
	}
}

// A kustomization that only gathers files builds in groups exactly as kustomize builds it
// whole: the same objects in the same order, bytes, origins and inputs, or the same error; and
// one that does more is built whole.
func TestSplitBuild(t *testing.T) {
	cases := []struct {
		name string
		// setup writes the repository below root and returns the rendered directory and options.
		setup     func(t *testing.T, root string) (string, Options)
		wantSplit bool
		wantErr   string
	}{
		{"plain directory", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			return "apps", Options{}
		}, true, ""},
		{"kustomization of files", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(files, ""))
			return "apps", Options{}
		}, true, ""},
		{"kustomization of files, no origins", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(files, ""))
			return "apps", Options{NoOrigins: true}
		}, true, ""},
		{"kustomization asking for origins", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yml", kustomizationOf(files, "buildMetadata: [originAnnotations]\n"))
			return "apps", Options{}
		}, true, ""},
		{"an edit in the overlay", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			return "apps", Options{Overlay: map[string][]byte{
				"apps/obj-03.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edited\n"),
				"apps/obj-04.yaml": nil,
				"apps/new.yaml":    []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: new\n  namespace: a\n"),
			}}
		}, true, ""},
		{"namePrefix", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(files, "namePrefix: p-\n"))
			return "apps", Options{}
		}, false, ""},
		{"a directory among the resources", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/sub/kustomization.yaml", "resources: [cm.yaml]\n")
			writeFile(t, root, "apps/sub/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(append(files, "sub"), ""))
			return "apps", Options{}
		}, false, ""},
		{"files that are not manifests", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/values.yaml", "replicas: 3\n")
			writeFile(t, root, "apps/sub/notes.yml", "- a\n- b\n")
			return "apps", Options{}
		}, true, ""},
		{"a local configuration", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/local.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n")
			return "apps", Options{}
		}, false, ""},
		{"kustomization with metadata and legacy bases", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			var b strings.Builder
			b.WriteString("metadata:\n  name: apps\nbases:\n")
			for _, f := range files[len(files)/2:] {
				b.WriteString("- " + f + "\n")
			}
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(files[:len(files)/2], b.String()))
			return "apps", Options{}
		}, true, ""},
		{"kustomization asking for managed-by labels", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(files, "buildMetadata: [originAnnotations, managedByLabel]\n"))
			return "apps", Options{}
		}, false, ""},
		{"the same object in two files", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			// obj-02.yaml holds Secret a/web-2.
			writeFile(t, root, "apps/zz-dup.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-2\n  namespace: a\n")
			return "apps", Options{}
		}, false, "may not add resource with an already registered id"},
		{"the same object in the default namespace", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			// obj-01.yaml holds ConfigMap default/c-1: kustomize takes one without a namespace
			// for it.
			writeFile(t, root, "apps/zz-dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c-1\n")
			return "apps", Options{}
		}, false, "may not add resource with an already registered id"},
		{"a missing file", func(t *testing.T, root string) (string, Options) {
			files := writeSplitDir(t, root, "apps")
			writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(append(files, "missing.yaml"), ""))
			return "apps", Options{}
		}, false, "missing.yaml"},
		{"Flux Kustomization of a plain directory", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			return "apps", fluxOptions(t, root)
		}, true, ""},
		{"Flux Kustomization of a directory with files that do not decode", func(t *testing.T, root string) (string, Options) {
			writeSplitDir(t, root, "apps")
			opts := fluxOptions(t, root)
			writeFile(t, root, "apps/sub/bad-2.yaml", "a: [\n")
			writeFile(t, root, "apps/bad-3.yaml", "a: [\n")
			writeFile(t, root, "apps/obj-00a.yaml", "a: [\n")
			return "apps", opts
		}, false, "failed to decode Kubernetes YAML from apps/bad-3.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir, opts := c.setup(t, root)
			got, gotErr := Render(root, dir, opts)
			opts.whole = true
			want, wantErr := Render(root, dir, opts)
			if c.wantErr != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), c.wantErr) {
					t.Fatalf("whole build: %v, want an error with %q", wantErr, c.wantErr)
				}
				if gotErr == nil || gotErr.Error() != wantErr.Error() {
					t.Fatalf("error %v, want the whole build's: %v", gotErr, wantErr)
				}
				return
			}
			if wantErr != nil || gotErr != nil {
				t.Fatalf("errors %v, whole build %v", gotErr, wantErr)
			}
			if got.split != c.wantSplit || want.split {
				t.Fatalf("split %v, want %v (the whole build: %v)", got.split, c.wantSplit, want.split)
			}
			if len(got.Objects) < 70 {
				t.Fatalf("only %d objects", len(got.Objects))
			}
			sameRender(t, got, want)
		})
	}
}

// fluxOptions are the options of a Flux Kustomization applying ./apps of the repository at root.
func fluxOptions(t *testing.T, root string) Options {
	t.Helper()
	writeFile(t, root, "clusters/prod/apps.yaml", `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	applied, _ := fluxApplied(t, root)
	a, ok := applied["flux-system/apps@clusters/prod/apps.yaml"]
	if !ok {
		t.Fatalf("no Flux Kustomization found: %v", applied)
	}
	return Options{Applied: &a}
}

func writeFile(t testing.TB, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRenderPlainDir renders a plain directory of 1,000 manifests (500 Deployments, 500
// ConfigMaps, one a file, as BenchmarkDiff1000's) split and whole.
func BenchmarkRenderPlainDir(b *testing.B) {
	root := b.TempDir()
	for i := range 500 {
		writeFile(b, root, fmt.Sprintf("apps/deployment-web-%03d.yaml", i), fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%03d
  namespace: bench
  labels: {app.kubernetes.io/name: web-%03d}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: web-%03d}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web-%03d}
    spec:
      containers:
      - name: web
        image: registry.example.com/shop/web:1.%d.0
        args: ["--port", "8080"]
        ports: [{name: http, containerPort: 8080}]
        env: [{name: PORT, value: "8080"}, {name: CONFIG, value: config-%03d}]
        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
`, i, i, i, i, i%7, i))
		writeFile(b, root, fmt.Sprintf("apps/configmap-config-%03d.yaml", i), fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: config-%03d
  namespace: bench
data: {LOG_LEVEL: info, FEATURE_X: "true", INDEX: "%d"}
`, i, i))
	}
	var split, whole time.Duration
	for b.Loop() {
		start := time.Now()
		got, err := Render(root, "apps", Options{})
		if err != nil {
			b.Fatal(err)
		}
		split += time.Since(start)
		start = time.Now()
		want, err := Render(root, "apps", Options{whole: true})
		if err != nil {
			b.Fatal(err)
		}
		whole += time.Since(start)
		if !got.split || want.split || !bytes.Equal(got.YAML(), want.YAML()) {
			b.Fatalf("split %v, whole %v, YAML equal %v", got.split, want.split, bytes.Equal(got.YAML(), want.YAML()))
		}
	}
	b.ReportMetric(split.Seconds()/float64(b.N), "split-s/op")
	b.ReportMetric(whole.Seconds()/float64(b.N), "whole-s/op")
}

// ResourceJSON encodes every resource as kustomize's MarshalJSON does: objects of many kinds,
// and scalars YAML reads in more than one way (quoted numbers and booleans, YAML 1.1 words,
// timestamps, octal, floats, nulls, binary, block text, anchors and merge keys, unicode).
func TestResourceJSON(t *testing.T) {
	root := t.TempDir()
	files := writeSplitDir(t, root, "apps")
	writeFile(t, root, "apps/scalars.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: scalars
  namespace: a
  labels: &labels
    quoted-number: "123"
    quoted-bool: "true"
    on: yes
  annotations:
    <<: *labels
    note: |
      two lines,
        one indented   
data:
  date: 2001-12-14
  time: 2001-12-14t21:59:43.10-05:00
  octal: 0755
  octal-new: 0o755
  float: 1e3
  nothing: null
  tilde: ~
  empty: ""
  binary: !!binary aGVsbG8=
  str: !!str 42
  unicode: "caf\u00e9 \U0001F600"
  folded: >
    folded
    text
  long: "`+strings.Repeat("long ", 40)+`"
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: numbers
spec:
  int: 9007199254740993
  negative: -12
  float: 3.14159
  exp: 6.02e+23
  list: [1, "1", 1.0, true, "yes", null, {}, []]
  nested: {a: {b: {c: [x, {d: e}]}}}
`)
	writeFile(t, root, "apps/kustomization.yaml", kustomizationOf(append(files, "scalars.yaml"), ""))
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "apps"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources() {
		want, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ResourceJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant\n%s", r.CurId(), got, want)
		}
	}
	if n := len(m.Resources()); n < 90 {
		t.Fatalf("only %d resources", n)
	}
}

// A mapping whose keys are not strings renders with them as strings, as kubectl sends such a
// manifest; kustomize's MarshalJSON fails on it.
func TestRenderNonStringKeys(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "apps/release.yaml", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: shop
spec:
  values:
    tcp:
      8080: shop/web:80
      true: yes
`)
	writeFile(t, root, "apps/kustomization.yaml", "resources:\n- release.yaml\n")
	res, err := Render(root, "apps", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 {
		t.Fatalf("%d objects, want 1", len(res.Objects))
	}
	tcp, _, _ := unstructured.NestedMap(res.Objects[0].Obj().Object, "spec", "values", "tcp")
	if want := map[string]any{"8080": "shop/web:80", "true": "yes"}; !reflect.DeepEqual(tcp, want) {
		t.Errorf("spec.values.tcp = %v, want %v", tcp, want)
	}
}
