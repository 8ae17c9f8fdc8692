package helm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func templates(docs []Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Template)
	}
	return out
}

// object parses the one document of res that came from template.
func object(t *testing.T, res *Result, template string) map[string]any {
	t.Helper()
	for _, d := range res.Manifests {
		if d.Template == template {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(d.YAML), &m); err != nil {
				t.Fatalf("%s: %v\n%s", template, err, d.YAML)
			}
			return m
		}
	}
	t.Fatalf("no document from %s in %q", template, templates(res.Manifests))
	return nil
}

func field(m map[string]any, path ...any) any {
	var cur any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur
}

func TestRender(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"replicaCount": 3, "image": map[string]any{"tag": "1.2.3"}, "env": map[string]any{"MODE": "fast"}}
	res, err := Render(ch, vals, Options{ReleaseName: "prod", Namespace: "shop", IncludeCRDs: true, KubeVersion: "v1.31.0"})
	if err != nil {
		t.Fatal(err)
	}
	// Helm's install order: Service before Deployment; the disabled subchart renders nothing.
	if got, want := templates(res.Manifests), []string{"web/templates/service.yaml", "web/templates/deployment.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("manifests from %q, want %q", got, want)
	}
	if got := templates(res.CRDs); !reflect.DeepEqual(got, []string{"web/crds/widgets.yaml"}) {
		t.Errorf("CRDs from %q", got)
	}
	dep := object(t, res, "web/templates/deployment.yaml")
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"metadata", "name"}, "prod-web"},
		{[]any{"metadata", "namespace"}, "shop"},
		{[]any{"spec", "replicas"}, float64(3)},
		{[]any{"spec", "template", "spec", "containers", 0, "image"}, "ghcr.io/example/web:1.2.3"},
		{[]any{"spec", "template", "spec", "containers", 0, "env", 0, "value"}, "info"},
		{[]any{"spec", "template", "spec", "containers", 0, "env", 1, "value"}, "fast"},
		{[]any{"spec", "template", "spec", "containers", 0, "resources", "limits", "memory"}, "64Mi"},
	} {
		if got := field(dep, c.path...); got != c.want {
			t.Errorf("deployment %v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if len(res.Hooks) != 2 {
		t.Fatalf("hooks: %+v", res.Hooks)
	}
	var hook Hook
	for _, h := range res.Hooks {
		if h.Kind == "Job" {
			hook = h
		}
	}
	if hook.Template != "web/templates/hook.yaml" || hook.Kind != "Job" || hook.Name != "prod-web-migrate" ||
		!reflect.DeepEqual(hook.Events, []string{"pre-install", "pre-upgrade"}) || hook.Weight != -5 {
		t.Errorf("hook = %+v", hook)
	}
	if res.Notes != "web 0.1.0 installed as prod\n" {
		t.Errorf("notes = %q", res.Notes)
	}
	if !reflect.DeepEqual(vals, map[string]any{"replicaCount": 3, "image": map[string]any{"tag": "1.2.3"}, "env": map[string]any{"MODE": "fast"}}) {
		t.Errorf("Render changed the values it was given: %v", vals)
	}
	if strings.Contains(res.Manifests[0].YAML, "# Source") || !strings.HasSuffix(res.Manifests[0].YAML, "\n") {
		t.Errorf("document not bare YAML: %q", res.Manifests[0].YAML)
	}
}

func TestRenderOptions(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(ch, nil, Options{ReleaseName: "r", SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CRDs) != 0 || len(res.Hooks) != 1 || res.Hooks[0].Kind != "Job" {
		t.Errorf("without IncludeCRDs and with SkipTests: CRDs %q, hooks %+v", templates(res.CRDs), res.Hooks)
	}
	if ns := field(object(t, res, "web/templates/deployment.yaml"), "metadata", "namespace"); ns != "default" {
		t.Errorf("namespace = %v, want default", ns)
	}
	res, err = Render(ch, nil, Options{ReleaseName: "r", DisableHooks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hooks) != 0 {
		t.Errorf("DisableHooks: hooks %+v", res.Hooks)
	}
}

// A chart renders many times (once per candidate edit): a render with the subchart disabled must
// not leave it pruned for the next render.
func TestRenderLeavesChartUnchanged(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, enabled := range []bool{false, true, false} {
		res, err := Render(ch, map[string]any{"cache": map[string]any{"enabled": enabled}}, Options{ReleaseName: "r"})
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, d := range res.Manifests {
			has = has || d.Template == "web/charts/cache/templates/service.yaml"
		}
		if has != enabled {
			t.Errorf("cache.enabled=%v: manifests %q", enabled, templates(res.Manifests))
		}
	}
}

func TestRenderArchiveEqualsDirectory(t *testing.T) {
	files := webChart("0.1.0")
	fromDir, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	fromTgz, err := LoadArchive(packageChart(t, files))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{ReleaseName: "r", IncludeCRDs: true}
	vals := map[string]any{"cache": map[string]any{"enabled": true}}
	a, err := Render(fromDir, vals, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(fromTgz, vals, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("directory and archive renders differ:\n%+v\n%+v", a, b)
	}
	if len(a.Manifests) != 3 {
		t.Errorf("manifests %q", templates(a.Manifests))
	}
}

func TestRenderErrors(t *testing.T) {
	files := webChart("0.1.0")
	for k := range files {
		if strings.HasPrefix(k, "charts/") {
			delete(files, k)
		}
	}
	ch, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(ch, nil, Options{ReleaseName: "r"}); err == nil || !strings.Contains(err.Error(), "cache") || !strings.Contains(err.Error(), "helm dependency build") {
		t.Errorf("missing subchart: %v", err)
	}
	files = webChart("0.1.0")
	files["templates/bad.yaml"] = []byte("{{ .Values.nope.deeper }}\n")
	ch, err = LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(ch, nil, Options{ReleaseName: "r"}); err == nil || !strings.Contains(err.Error(), "web/templates/bad.yaml:1") {
		t.Errorf("template error does not name template and line: %v", err)
	}
	files = webChart("0.1.0")
	files["Chart.yaml"] = append(files["Chart.yaml"], []byte("kubeVersion: '>=1.40.0'\n")...)
	ch, err = LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(ch, nil, Options{ReleaseName: "r", KubeVersion: "v1.31.0"}); err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Errorf("incompatible kube version: %v", err)
	}
}

// The caller renders candidates side by side: renders of one chart on several goroutines give
// each its own result (run under -race by make test-race).
func TestRenderConcurrent(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			res, err := Render(ch, map[string]any{"replicaCount": i, "cache": map[string]any{"enabled": i%2 == 0}}, Options{ReleaseName: "r"})
			if err == nil {
				var m map[string]any
				if err = yaml.Unmarshal([]byte(res.Manifests[len(res.Manifests)-1].YAML), &m); err == nil && field(m, "spec", "replicas") != float64(i) {
					err = fmt.Errorf("render %d got replicas %v", i, field(m, "spec", "replicas"))
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
