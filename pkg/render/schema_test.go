package render

import (
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/openapi/kubernetesapi"
	"sigs.k8s.io/kustomize/kyaml/openapi/kubernetesapi/v1_21_2"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// builtinDocument is kyaml's built-in OpenAPI document as kyaml ships it.
func builtinDocument(t *testing.T) *openapi_v2.Document {
	t.Helper()
	if kubernetesapi.DefaultOpenAPI != "v1.21.2" {
		t.Fatalf("kyaml's built-in schema is now %s: read it from its package here", kubernetesapi.DefaultOpenAPI)
	}
	doc := &openapi_v2.Document{}
	if err := proto.Unmarshal(v1_21_2.MustAsset("kubernetesapi/v1_21_2/swagger.pb"), doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The document kyaml parses is the built-in one less its paths, and nothing else.
func TestSchemaWithoutPathsKeepsEverythingElse(t *testing.T) {
	full := builtinDocument(t)
	if full.Paths == nil || len(full.Paths.Path) == 0 || full.Definitions == nil {
		t.Fatal("the built-in document has no paths or no definitions: the test reads the wrong asset")
	}
	given := kubernetesapi.OpenAPIMustAsset[kubernetesapi.DefaultOpenAPI]("kubernetesapi/v1_21_2/swagger.pb")
	stripped := &openapi_v2.Document{}
	if err := proto.Unmarshal(given, stripped); err != nil {
		t.Fatal(err)
	}
	if stripped.Paths != nil {
		t.Errorf("the document kyaml is given still has %d paths", len(stripped.Paths.Path))
	}
	full.Paths = nil
	if !proto.Equal(full, stripped) {
		t.Error("the document kyaml is given differs from the built-in one in more than its paths")
	}
}

// Without the paths, kyaml still tells every built-in kind's scope as the paths would: the one
// thing it read them for.
func TestSchemaWithoutPathsKeepsNamespaceScopes(t *testing.T) {
	openapi.Schema() // parse what kyaml is given, as a strategic-merge patch does
	checked := 0
	for _, p := range builtinDocument(t).Paths.Path {
		get := p.GetValue().GetGet()
		if get == nil {
			continue
		}
		for _, ext := range get.GetVendorExtension() {
			if ext.GetName() != "x-kubernetes-group-version-kind" {
				continue
			}
			var gvk struct{ Group, Version, Kind string }
			if err := yaml.Unmarshal([]byte(ext.GetValue().GetYaml()), &gvk); err != nil {
				t.Fatal(err)
			}
			apiVersion := gvk.Version
			if gvk.Group != "" {
				apiVersion = gvk.Group + "/" + gvk.Version
			}
			tm := yaml.TypeMeta{APIVersion: apiVersion, Kind: gvk.Kind}
			namespaced, found := openapi.IsNamespaceScoped(tm)
			if !found {
				t.Errorf("%s %s: scope unknown without the paths", apiVersion, gvk.Kind)
				continue
			}
			// A kind is namespaced when any of its paths is.
			if strings.Contains(p.GetName(), "namespaces/{namespace}") && !namespaced {
				t.Errorf("%s %s: cluster-wide without the paths, namespaced by %s", apiVersion, gvk.Kind, p.GetName())
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d paths: the test did not read the document's kinds", checked)
	}
}

func TestWithoutPathsLeavesUnreadableInputAlone(t *testing.T) {
	for _, in := range [][]byte{{0xff}, {0x42, 0x05, 'a'}} {
		if got := withoutPaths(in); string(got) != string(in) {
			t.Errorf("withoutPaths(%x) = %x, want the input back", in, got)
		}
	}
}

func TestMayPatch(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"resources:\n  - a.yaml\npatches:\n  - path: p.yaml\n", true},
		{"patchesStrategicMerge:\n- p.yaml\n", true},
		{"patches: [{path: p.yaml}]\n", true},
		{"resources:\n  - a.yaml\npatches: []\n", false},
		{"resources:\n  - a.yaml\n# patches:\n#  - path: p.yaml\n", false},
		{"replicas:\n  - name: web\n    count: 2\n", false},
		{"openapi:\n  path: schema.json\npatches:\n  - path: p.yaml\n", false},
	} {
		if got := mayPatch([]byte(c.src)); got != c.want {
			t.Errorf("mayPatch(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}
