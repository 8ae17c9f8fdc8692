package helm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// webChart is the test chart: a Deployment driven by values, a Service, a CRD, a pre-install hook,
// a test hook, NOTES.txt, and a subchart behind a condition.
func webChart(version string) map[string][]byte {
	return map[string][]byte{
		"Chart.yaml": []byte(`apiVersion: v2
name: web
version: ` + version + `
appVersion: "1.0"
dependencies:
  - name: cache
    version: 0.1.0
    condition: cache.enabled
`),
		"values.yaml": []byte(`replicaCount: 1
image:
  repository: ghcr.io/example/web
  tag: "1.0.0"
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
`),
		".helmignore":         []byte("*.md\nci/\n"),
		"README.md":           []byte("# web\n"),
		"ci/test-values.yaml": []byte("replicaCount: 9\n"),
		"values-prod.yaml":    []byte("replicaCount: 5\nimage:\n  tag: \"2.0.0\"\n"),
		"templates/_helpers.tpl": []byte(`{{- define "web.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end -}}
`),
		"templates/deployment.yaml": []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ include "web.fullname" . }}
  template:
    metadata:
      labels:
        app: {{ include "web.fullname" . }}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            {{- range $k, $v := .Values.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
`),
		"templates/service.yaml": []byte(`apiVersion: v1
kind: Service
metadata:
  name: {{ include "web.fullname" . }}
spec:
  ports:
    - port: {{ .Values.service.port }}
  selector:
    app: {{ include "web.fullname" . }}
`),
		"templates/hook.yaml": []byte(`apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "web.fullname" . }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`),
		"templates/tests/test-connection.yaml": []byte(`apiVersion: v1
kind: Pod
metadata:
  name: {{ include "web.fullname" . }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
    - name: wget
      image: busybox
      args: ["wget", "{{ include "web.fullname" . }}:{{ .Values.service.port }}"]
`),
		"templates/NOTES.txt": []byte("web {{ .Chart.Version }} installed as {{ .Release.Name }}\n"),
		"crds/widgets.yaml": []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`),
		"charts/cache/Chart.yaml":  []byte("apiVersion: v2\nname: cache\nversion: 0.1.0\n"),
		"charts/cache/values.yaml": []byte("port: 6379\n"),
		"charts/cache/templates/service.yaml": []byte(`apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-cache
spec:
  ports:
    - port: {{ .Values.port }}
`),
	}
}

// writeChart writes files under dir.
func writeChart(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// packageChart packages the chart directory made of files with the SDK, as `helm package` does,
// and returns the archive.
func packageChart(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	dir := t.TempDir()
	writeChart(t, filepath.Join(dir, "src"), files)
	ch, err := chartloader.LoadDir(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestChartFilesAppliesHelmignore(t *testing.T) {
	names := []string{"Chart.yaml", "README.md", "ci/test-values.yaml", "docs/keep.md", "templates/.hidden.yaml",
		"templates/deployment.yaml", "values.yaml", "tmp/a.yaml", "tmp/b.yaml"}
	got, err := ChartFiles(names, []byte("# comment\n*.md\nci/\n/tmp/a.yaml\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Chart.yaml", "templates/deployment.yaml", "values.yaml", "tmp/b.yaml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChartFiles = %q, want %q", got, want)
	}
	if _, err := ChartFiles([]string{"../x.yaml"}, nil); err == nil {
		t.Error("a path outside the chart directory was accepted")
	}
}

// The files kept for a directory are those the SDK's own directory loader loads.
func TestLoadFilesMatchesSDKDirectoryLoader(t *testing.T) {
	files := webChart("0.1.0")
	dir := t.TempDir()
	writeChart(t, dir, files)
	sdk, err := chartloader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sdkNames []string
	for _, f := range sdk.Raw {
		sdkNames = append(sdkNames, f.Name)
	}
	ch, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, f := range ch.files {
		ours = append(ours, f.Name)
	}
	if !reflect.DeepEqual(ours, sdkNames) {
		t.Errorf("LoadFiles kept %q, the SDK's directory loader %q", ours, sdkNames)
	}
	if ch.Name() != "web" || ch.Version() != "0.1.0" || ch.AppVersion() != "1.0" {
		t.Errorf("metadata = %s %s %s", ch.Name(), ch.Version(), ch.AppVersion())
	}
	if _, ok := ch.File("README.md"); ok {
		t.Error("README.md, ignored by .helmignore, was loaded")
	}
}

func TestLoadRefusesBadCharts(t *testing.T) {
	for name, files := range map[string]map[string][]byte{
		"no Chart.yaml":  {"values.yaml": []byte("a: 1\n")},
		"apiVersion v3":  {"Chart.yaml": []byte("apiVersion: v3\nname: x\nversion: 1.0.0\n")},
		"invalid values": {"Chart.yaml": []byte("apiVersion: v2\nname: x\nversion: 1.0.0\n"), "values.yaml": []byte("a: [\n")},
	} {
		if _, err := LoadFiles(files); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadArchive([]byte("not a tgz")); err == nil || !strings.Contains(err.Error(), "archive") {
		t.Errorf("LoadArchive(garbage) = %v", err)
	}
}
