package reach

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
)

// Every field kustomize's Kustomization type has is either classed or known to be Whole: a
// kustomize upgrade that adds one fails here until someone decides how far it reaches.
func TestEveryFieldIsDecided(t *testing.T) {
	whole := map[string]bool{"openapi": true, "helmGlobals": true, "helmCharts": true,
		"helmChartInflationGenerator": true, "generators": true, "transformers": true, "validators": true}
	var fields []string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
	}
	walk(reflect.TypeOf(types.Kustomization{}))
	sort.Strings(fields)
	for _, f := range fields {
		_, classed := classes[f]
		switch {
		case f == "buildMetadata":
		case classed && whole[f]:
			t.Errorf("%s is both classed and Whole", f)
		case !classed && !whole[f]:
			t.Errorf("kustomize's field %s is not decided: class it in pkg/reach, or add it to the Whole ones here", f)
		}
	}
	if len(fields) < 30 {
		t.Fatalf("only %d fields found: %v", len(fields), fields)
	}
}

func TestClasses(t *testing.T) {
	for _, c := range []struct {
		yaml                               string
		gathers, unchanged, perObject, all bool
	}{
		{"resources: [a.yaml, b]\n", true, true, true, true},
		{"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata: {name: x}\nbases: [../base]\n", true, true, true, true},
		{"resources: [a.yaml]\nbuildMetadata: [originAnnotations]\n", true, true, true, true},
		{"resources: [a.yaml]\nbuildMetadata: [managedByLabel]\n", false, false, true, true},
		{"resources: [a.yaml]\nsortOptions: {order: fifo}\n", false, true, true, true},
		{"resources: [a.yaml]\nnamePrefix: p-\nimages: [{name: a, newTag: b}]\n", false, false, true, true},
		{"resources: [a.yaml]\nreplacements: [{path: r.yaml}]\n", false, false, false, true},
		{"resources: [a.yaml]\nhelmCharts: [{name: x}]\n", false, false, false, false},
		{"resources: [a.yaml]\nsomethingNew: true\n", false, false, false, false},
	} {
		k, err := Parse([]byte(c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		got := []bool{k.Within(Inert, Gathers), k.Within(Inert, Gathers, Orders), k.Within(Inert, Gathers, Orders, PerObject),
			k.Within(Inert, Gathers, Orders, PerObject, Links)}
		want := []bool{c.gathers, c.unchanged, c.perObject, c.all}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: within gathers, unchanged, per object, followed: %v, want %v", c.yaml, got, want)
		}
	}
}

func TestRefs(t *testing.T) {
	k, err := Parse([]byte(`resources: [a.yaml, ../base, https://github.com/x/y]
bases: [../old]
components: [../c]
patches: [{path: p.yaml}, {patch: "inline"}]
patchesStrategicMerge: [s.yaml, "apiVersion: v1\nkind: ConfigMap\n"]
configMapGenerator: [{name: c, files: [k=f.txt, g.txt], envs: [e.env]}]
helmCharts: [{name: h, valuesFile: v.yaml}]
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range k.Refs() {
		got = append(got, map[Role]string{Resource: "resource", Component: "component", Other: "other"}[r.Role]+" "+r.Path)
	}
	want := []string{"resource a.yaml", "resource ../base", "resource https://github.com/x/y", "resource ../old",
		"component ../c", "other p.yaml", "other s.yaml", "other f.txt", "other g.txt", "other e.env", "other v.yaml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("refs\n got  %v\n want %v", got, want)
	}
	for ref, want := range map[string]bool{"https://github.com/x/y": true, "git@github.com:x/y": true, "github.com/x/y": true, "../base": false, "a.yaml": false} {
		if IsRemote(ref) != want {
			t.Errorf("IsRemote(%q) = %v", ref, !want)
		}
	}
	for _, c := range []struct{ dir, ref, want string }{{"apps", "../base", "base"}, {".", "a.yaml", "a.yaml"}, {"apps", "../../x", ""}} {
		if got, ok := Join(c.dir, c.ref); got != c.want || ok != (c.want != "") {
			t.Errorf("Join(%q, %q) = %q, %v", c.dir, c.ref, got, ok)
		}
	}
}

func TestChanged(t *testing.T) {
	before := []types.Patch{{Path: "a.yaml", Target: &types.Selector{}}, {Path: "b.yaml"}}
	after := []types.Patch{{Path: "b.yaml"}, {Path: "a.yaml", Target: &types.Selector{}}, {Path: "c.yaml"}}
	// Equal entries in another order, and behind other pointers, are not changes.
	if got := Changed(before, after); !reflect.DeepEqual(got, []types.Patch{{Path: "c.yaml"}}) {
		t.Errorf("Changed = %v, want only c.yaml", got)
	}
	if got := Changed([]string{"x", "y"}, []string{"y", "z"}); !reflect.DeepEqual(got, []string{"x", "z"}) {
		t.Errorf("Changed = %v, want [x z]", got)
	}
}
