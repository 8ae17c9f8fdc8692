package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// helmForTest is the helm CLI built from the SDK version this package uses (make testbin). The
// equality tests need it; with KUBECTL_GITOPS_E2E set, its absence fails them.
func helmForTest(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "testbin", "helm")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("KUBECTL_GITOPS_E2E") != "" {
			t.Fatalf("%s missing: run `make testbin`", p)
		}
		t.Skipf("%s missing: run `make testbin`", p)
	}
	return p
}

// sourced is one document of a render, as the template it came from and the parsed object.
type sourced struct {
	Template string
	Object   map[string]any
}

// parseTemplateOutput reads `helm template` output: documents after "---" lines, each named by
// the last "# Source:" comment seen.
func parseTemplateOutput(t *testing.T, out []byte) []sourced {
	t.Helper()
	var docs []sourced
	source := ""
	for _, chunk := range strings.Split("\n"+string(out), "\n---\n") {
		var body []string
		for _, line := range strings.Split(chunk, "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
				continue
			}
			body = append(body, line)
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(strings.Join(body, "\n")), &obj); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, chunk)
		}
		if obj != nil {
			docs = append(docs, sourced{source, obj})
		}
	}
	return docs
}

// resultDocs lists a Result in the order `helm template` prints it.
func resultDocs(t *testing.T, res *Result) []sourced {
	t.Helper()
	all := append(slices.Clone(res.CRDs), res.Manifests...)
	for _, h := range res.Hooks {
		all = append(all, h.Document)
	}
	var docs []sourced
	for _, d := range all {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(d.YAML), &obj); err != nil {
			t.Fatalf("%s: %v", d.Template, err)
		}
		docs = append(docs, sourced{d.Template, obj})
	}
	return docs
}

func TestRenderEqualsHelmTemplate(t *testing.T) {
	helm := helmForTest(t)
	files := webChart("0.1.0")
	files["values-staging.yaml"] = []byte("replicaCount: 2\nenv:\n  LOG_LEVEL: debug\ncache:\n  enabled: true\n")
	files["files/app.conf"] = []byte("listen = 8080\n")
	chartDir := filepath.Join(t.TempDir(), "web")
	writeChart(t, chartDir, files)
	ch, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		argo ArgoInput
		opts Options
		args []string
	}{
		{
			name: "argo value files values parameters CRDs skip-tests",
			argo: ArgoInput{
				ValueFiles:     []ValuesFile{{Path: "values-staging.yaml", Data: files["values-staging.yaml"]}, {Path: "values-prod.yaml", Data: files["values-prod.yaml"]}},
				Values:         "resources:\n  limits:\n    cpu: 250m\n",
				Parameters:     []ArgoParameter{{Name: "image.tag", Value: "3.1.4"}, {Name: "env.BUILD", Value: "42", ForceString: true}, {Name: "env.LIST", Value: "a,b"}},
				FileParameters: []ArgoFileParameter{{Name: "env.CONF", Path: "files/app.conf", Data: files["files/app.conf"]}},
			},
			opts: Options{ReleaseName: "shop", Namespace: "prod", KubeVersion: "v1.31.0", APIVersions: []string{"example.com/v1/Widget"}, IncludeCRDs: true, SkipTests: true},
			args: []string{"shop", chartDir, "--namespace", "prod", "--kube-version", "v1.31.0", "--api-versions", "example.com/v1/Widget", "--include-crds", "--skip-tests",
				"-f", filepath.Join(chartDir, "values-staging.yaml"), "-f", filepath.Join(chartDir, "values-prod.yaml"), "-f", "VALUES",
				"--set", "image.tag=3.1.4", "--set", `env.LIST=a\,b`, "--set-string", "env.BUILD=42", "--set-file", "env.CONF=" + filepath.Join(chartDir, "files/app.conf")},
		},
		{
			name: "upgrade valuesObject hooks and tests without CRDs",
			argo: ArgoInput{ValuesObject: map[string]any{"replicaCount": 4, "cache": map[string]any{"enabled": true, "port": 6380}}},
			opts: Options{ReleaseName: "web", Namespace: "apps", KubeVersion: "v1.31.0", IsUpgrade: true},
			args: []string{"web", chartDir, "--namespace", "apps", "--kube-version", "v1.31.0", "--is-upgrade", "-f", "VALUES"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			valuesFile := filepath.Join(t.TempDir(), "values.yaml")
			extra := []byte(c.argo.Values)
			if c.argo.ValuesObject != nil {
				if extra, err = yaml.Marshal(c.argo.ValuesObject); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(valuesFile, extra, 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"template"}, c.args...)
			for i, a := range args {
				if a == "VALUES" {
					args[i] = valuesFile
				}
			}
			cmd := exec.Command(helm, args...)
			cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			out, err := cmd.Output()
			helmTook := time.Since(start)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}

			start = time.Now()
			vals, err := ArgoValues(c.argo)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Render(ch, vals, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			renderTook := time.Since(start)
			t.Logf("values + Render %v, helm template (a process) %v", renderTook, helmTook)

			want, got := parseTemplateOutput(t, out), resultDocs(t, res)
			if len(want) < 4 {
				t.Fatalf("helm template printed %d documents:\n%s", len(want), out)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(want)
				t.Errorf("Render differs from helm template\n--- Render\n%s\n--- helm template\n%s", g, w)
			}
		})
	}
}

// BenchmarkRender measures a render of the test chart; `make bench` runs it beside nothing else,
// the equality test logs helm template's time for the same chart.
func BenchmarkRender(b *testing.B) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		b.Fatal(err)
	}
	vals := map[string]any{"replicaCount": 3, "cache": map[string]any{"enabled": true}}
	for b.Loop() {
		if _, err := Render(ch, vals, Options{ReleaseName: "r", IncludeCRDs: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// A HelmRelease's render equals `helm template` of the chart source-controller packages (its
// values.yaml replaced by the merged valuesFiles, written out here by hand) with valuesFrom and
// spec.values as -f files and the targetPath as --set.
func TestFluxRenderEqualsHelmTemplate(t *testing.T) {
	helm := helmForTest(t)
	files := webChart("0.1.0")
	ch, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	packaged := webChart("0.1.0")
	packaged["values.yaml"] = []byte(`replicaCount: 5
image:
  repository: ghcr.io/example/web
  tag: "2.0.0"
env:
  LOG_LEVEL: info
resources:
  limits:
    cpu: 100m
    memory: 64Mi
service:
  port: 80
cache:
  enabled: false
`)
	chartDir := filepath.Join(t.TempDir(), "web")
	writeChart(t, chartDir, packaged)
	cm := "env:\n  FROM_CM: \"yes\"\ncache:\n  enabled: true\n"
	spec := "replicaCount: 6\nresources:\n  limits:\n    cpu: 1\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(cm), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helm, "template", "apps-web", chartDir, "--namespace", "apps", "--kube-version", "v1.31.0",
		"-f", filepath.Join(dir, "cm.yaml"), "-f", filepath.Join(dir, "spec.yaml"), "--set", "image.tag=2.0.1")
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}

	withFiles, vals, err := FluxValues(ch, FluxInput{
		ValuesFiles: []ValuesFile{ch.ValuesFile("values.yaml"), ch.ValuesFile("values-prod.yaml")},
		ValuesFrom: []ValuesReference{
			{Kind: "ConfigMap", Name: "web-values", Data: []byte(cm)},
			{Kind: "Secret", Name: "web-tag", ValuesKey: "tag", TargetPath: "image.tag", Data: []byte("2.0.1")},
		},
		Values: mustYAML(t, spec),
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Render(withFiles, vals, Options{ReleaseName: "apps-web", Namespace: "apps", KubeVersion: "v1.31.0"})
	if err != nil {
		t.Fatal(err)
	}
	want, got := parseTemplateOutput(t, out), resultDocs(t, res)
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("Render differs from helm template\n--- Render\n%s\n--- helm template\n%s", g, w)
	}
}

// fiftyTemplates is the web chart with 50 more Deployment templates, the size of chart the
// issue's benchmark names.
func fiftyTemplates() map[string][]byte {
	files := webChart("0.1.0")
	for i := range 50 {
		files[fmt.Sprintf("templates/worker-%02d.yaml", i)] = bytes.ReplaceAll(files["templates/deployment.yaml"],
			[]byte(`{{ include "web.fullname" . }}`), fmt.Appendf(nil, `{{ include "web.fullname" . }}-worker-%02d`, i))
	}
	return files
}

// BenchmarkRender50Templates renders a chart of about 50 templates in-process and, when the helm
// CLI is there, times `helm template` of the same chart in the same run.
func BenchmarkRender50Templates(b *testing.B) {
	files := fiftyTemplates()
	ch, err := LoadFiles(files)
	if err != nil {
		b.Fatal(err)
	}
	vals := map[string]any{"replicaCount": 3}
	for b.Loop() {
		if _, err := Render(ch, vals, Options{ReleaseName: "r", IncludeCRDs: true}); err != nil {
			b.Fatal(err)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	helm := filepath.Join(filepath.Dir(file), "..", "..", "bin", "testbin", "helm")
	if _, err := os.Stat(helm); err != nil {
		return
	}
	dir := filepath.Join(b.TempDir(), "web")
	writeChart(b, dir, files)
	start := time.Now()
	const runs = 5
	for range runs {
		if out, err := exec.Command(helm, "template", "r", dir, "--include-crds", "--set", "replicaCount=3").CombinedOutput(); err != nil {
			b.Fatalf("helm template: %v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/runs, "helm-template-ms")
}
