package helm

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func mustYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFluxValuesFilesReplaceChartDefaults(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	// Without values.yaml in the list, source-controller's merge replaces the defaults.
	only, _, err := FluxValues(ch, FluxInput{ValuesFiles: []ValuesFile{ch.ValuesFile("values-prod.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(only, nil, Options{ReleaseName: "r"}); err == nil {
		t.Error("render without the chart defaults (image.repository unset) succeeded; values.yaml was merged although not listed")
	}
	both, vals, err := FluxValues(ch, FluxInput{ValuesFiles: []ValuesFile{ch.ValuesFile("values.yaml"), ch.ValuesFile("values-prod.yaml"), ch.ValuesFile("values-missing.yaml")}, IgnoreMissingValuesFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 0 {
		t.Errorf("release values = %v, want none", vals)
	}
	res, err := Render(both, vals, Options{ReleaseName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	dep := object(t, res, "web/templates/deployment.yaml")
	if r, img := field(dep, "spec", "replicas"), field(dep, "spec", "template", "spec", "containers", 0, "image"); r != float64(5) || img != "ghcr.io/example/web:2.0.0" {
		t.Errorf("replicas %v image %v, want 5 and the prod tag over the default repository", r, img)
	}
	// The chart given is left as it was.
	res, err = Render(ch, nil, Options{ReleaseName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if r := field(object(t, res, "web/templates/deployment.yaml"), "spec", "replicas"); r != float64(1) {
		t.Errorf("original chart now renders replicas %v", r)
	}
	if _, _, err := FluxValues(ch, FluxInput{ValuesFiles: []ValuesFile{ch.ValuesFile("values-missing.yaml")}}); err == nil || !strings.Contains(err.Error(), "values-missing.yaml") {
		t.Errorf("missing values file: %v", err)
	}
	// source-controller looks among the chart's plain files: a template or a subchart's file is
	// not a values file, and a path is cleaned first.
	for _, name := range []string{"templates/service.yaml", "charts/cache/values.yaml", "Chart.yaml"} {
		if f := ch.ValuesFile(name); !f.Missing {
			t.Errorf("ValuesFile(%s) found", name)
		}
	}
	if f := ch.ValuesFile("./values-prod.yaml"); f.Missing || f.Path != "values-prod.yaml" {
		t.Errorf("ValuesFile(./values-prod.yaml) = %+v", f)
	}
}

func TestFluxValuesFromOrder(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	spec := mustYAML(t, "image:\n  tag: spec\nenv:\n  FROM: spec\n")
	in := FluxInput{
		ValuesFrom: []ValuesReference{
			{Kind: "ConfigMap", Name: "base", Data: []byte("replicaCount: 2\nimage:\n  tag: cm\nenv:\n  A: cm\n")},
			{Kind: "Secret", Name: "creds", ValuesKey: "override.yaml", Data: []byte("replicaCount: 4\nenv:\n  B: secret\n")},
			{Kind: "ConfigMap", Name: "absent", Optional: true, Missing: true},
			{Kind: "ConfigMap", Name: "tag", ValuesKey: "tag", TargetPath: "service.port", Data: []byte("8080")},
			{Kind: "ConfigMap", Name: "quoted", ValuesKey: "v", TargetPath: "env.QUOTED", Data: []byte(`"true"`)},
		},
		Values: spec,
	}
	_, vals, err := FluxValues(ch, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicaCount": float64(4),
		"image":        map[string]any{"tag": "spec"},
		"env":          map[string]any{"A": "cm", "B": "secret", "FROM": "spec", "QUOTED": "true"},
		"service":      map[string]any{"port": int64(8080)},
	}
	if !reflect.DeepEqual(vals, want) {
		t.Errorf("values = %#v\nwant %#v", vals, want)
	}
	if !reflect.DeepEqual(spec, mustYAML(t, "image:\n  tag: spec\nenv:\n  FROM: spec\n")) {
		t.Errorf("spec.values modified: %v", spec)
	}
}

// helm-controller merges spec.values into the result before each targetPath entry and once more
// at the end, with a merge that shares nested maps: a targetPath inside a map that only spec.values
// has so far writes into spec.values' own map and stays; once the result has that map, spec.values
// wins again; at the top level spec.values always wins. The test pins these outcomes of
// ChartValuesFromReferences, whose steps FluxValues repeats.
func TestFluxValuesTargetPathAgainstSpecValues(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	spec := "replicaCount: 2\nimage:\n  tag: from-spec\n"
	tagRef := ValuesReference{Kind: "ConfigMap", Name: "b", TargetPath: "image.tag", Data: []byte("from-ref")}
	countRef := ValuesReference{Kind: "ConfigMap", Name: "a", TargetPath: "replicaCount", Data: []byte("7")}
	for name, c := range map[string]struct {
		refs      []ValuesReference
		wantTag   string
		wantCount float64
	}{
		"nested first":       {[]ValuesReference{tagRef}, "from-ref", 2},
		"nested after other": {[]ValuesReference{countRef, tagRef}, "from-spec", 2},
	} {
		_, vals, err := FluxValues(ch, FluxInput{ValuesFrom: c.refs, Values: mustYAML(t, spec)})
		if err != nil {
			t.Fatal(err)
		}
		if vals["replicaCount"] != c.wantCount || field(vals, "image", "tag") != c.wantTag {
			t.Errorf("%s: values = %v, want replicaCount %v, image.tag %s", name, vals, c.wantCount, c.wantTag)
		}
	}
}

func TestFluxValuesErrors(t *testing.T) {
	ch, err := LoadFiles(webChart("0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		ref      ValuesReference
		want     string
		mustHide string
	}{
		"missing":        {ValuesReference{Kind: "ConfigMap", Name: "gone", Missing: true}, "ConfigMap gone, key values.yaml", ""},
		"kind":           {ValuesReference{Kind: "Deployment", Name: "x"}, `kind "Deployment"`, ""},
		"secret yaml":    {ValuesReference{Kind: "Secret", Name: "s", Data: []byte("password: [hunter2-secret\n")}, "Secret s", "hunter2"},
		"secret set":     {ValuesReference{Kind: "Secret", Name: "s", TargetPath: "a", Data: []byte("x,hunter2-secret")}, "targetPath a", "hunter2"},
		"configmap yaml": {ValuesReference{Kind: "ConfigMap", Name: "c", Data: []byte("a: [b\n")}, "ConfigMap c", ""},
	} {
		_, _, err := FluxValues(ch, FluxInput{ValuesFrom: []ValuesReference{c.ref}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to name %q", name, err, c.want)
			continue
		}
		if c.mustHide != "" && strings.Contains(err.Error(), c.mustHide) {
			t.Errorf("%s: error shows the Secret's data: %v", name, err)
		}
	}
}

func TestArgoValues(t *testing.T) {
	base := ValuesFile{Path: "values.yaml", Data: []byte("replicaCount: 2\nimage:\n  tag: base\nlist: [a, b]\n")}
	prod := ValuesFile{Path: "envs/prod.yaml", Data: []byte("replicaCount: 3\nimage:\n  repository: prod\n")}
	for name, c := range map[string]struct {
		in   ArgoInput
		want string
	}{
		"files in order": {ArgoInput{ValueFiles: []ValuesFile{base, prod}},
			"replicaCount: 3\nimage: {tag: base, repository: prod}\nlist: [a, b]\n"},
		"values over files": {ArgoInput{ValueFiles: []ValuesFile{base, prod}, Values: "replicaCount: 4\n"},
			"replicaCount: 4\nimage: {tag: base, repository: prod}\nlist: [a, b]\n"},
		"valuesObject replaces values": {ArgoInput{ValueFiles: []ValuesFile{base}, Values: "replicaCount: 4\nimage: {tag: v}\n", ValuesObject: map[string]any{"image": map[string]any{"tag": "obj"}}},
			"replicaCount: 2\nimage: {tag: obj}\nlist: [a, b]\n"},
		"parameters last, forceString, commas, list": {ArgoInput{ValueFiles: []ValuesFile{base}, ValuesObject: map[string]any{"replicaCount": 5},
			Parameters: []ArgoParameter{{Name: "replicaCount", Value: "6"}, {Name: "image.tag", Value: "123", ForceString: true},
				{Name: "note", Value: "a,b"}, {Name: "list", Value: "{x,y}"}, {Name: "flag", Value: "true"}, {Name: "flag", Value: "false"}}},
			"replicaCount: 6\nimage: {tag: \"123\"}\nlist: [x, \"y\"]\nnote: a,b\nflag: false\n"},
		"file parameters": {ArgoInput{FileParameters: []ArgoFileParameter{{Name: "config.file", Path: "files/app.conf", Data: []byte("k=v,w\n")}}},
			"config: {file: \"k=v,w\\n\"}\n"},
		"missing ignored": {ArgoInput{ValueFiles: []ValuesFile{{Path: "envs/none.yaml", Missing: true}, base}, IgnoreMissingValueFiles: true},
			"replicaCount: 2\nimage: {tag: base}\nlist: [a, b]\n"},
	} {
		got, err := ArgoValues(c.in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := mustYAML(t, c.want)
		// The SDK's parser yields int64 for --set numbers and float64 from YAML; compare as YAML.
		gotY, _ := yaml.Marshal(got)
		wantY, _ := yaml.Marshal(want)
		if string(gotY) != string(wantY) {
			t.Errorf("%s:\n%s\nwant\n%s", name, gotY, wantY)
		}
	}
	got, err := ArgoValues(ArgoInput{Parameters: []ArgoParameter{{Name: "n", Value: "123"}, {Name: "s", Value: "123", ForceString: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if got["n"] != int64(123) || got["s"] != "123" {
		t.Errorf("--set vs --set-string: %#v", got)
	}
	if _, err := ArgoValues(ArgoInput{ValueFiles: []ValuesFile{{Path: "envs/none.yaml", Missing: true}}}); err == nil || !strings.Contains(err.Error(), "envs/none.yaml") {
		t.Errorf("missing value file: %v", err)
	}
	if _, err := ArgoValues(ArgoInput{ValueFiles: []ValuesFile{{Path: "envs/bad.yaml", Data: []byte("a: [\n")}}}); err == nil || !strings.Contains(err.Error(), "envs/bad.yaml") {
		t.Errorf("bad value file: %v", err)
	}
}
