package validate

import (
	"path"
	"reflect"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/openapi/kubernetesapi"
)

func builtinAsset(t *testing.T) []byte {
	t.Helper()
	asset := kubernetesapi.OpenAPIMustAsset[BuiltinSchemaVersion]
	if asset == nil {
		t.Fatalf("kustomize carries no OpenAPI document %s", BuiltinSchemaVersion)
	}
	return asset(path.Join("kubernetesapi", strings.ReplaceAll(BuiltinSchemaVersion, ".", "_"), "swagger.pb"))
}

// The document read lazily gives every definition and kind exactly as the whole document
// decoded by protobuf and converted by kube-openapi does.
func TestBuiltinReadLazilyEqualsWholeConversion(t *testing.T) {
	raw := builtinAsset(t)
	var doc openapi_v2.Document
	if err := proto.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var sw spec.Swagger
	if _, err := sw.FromGnostic(&doc); err != nil {
		t.Fatal(err)
	}
	kinds := map[schema.GroupVersionKind][]string{}
	for name, d := range sw.Definitions {
		gvks, _ := d.Extensions[gvkExtension].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			gvk := schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
			kinds[gvk] = append(kinds[gvk], name)
		}
	}
	if len(sw.Definitions) < 500 || len(kinds) < 200 {
		t.Fatalf("the document has %d definitions and %d kinds: the test reads the wrong asset", len(sw.Definitions), len(kinds))
	}

	b, err := readBuiltin(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.encoded) != len(sw.Definitions) {
		t.Errorf("%d definitions read, want %d", len(b.encoded), len(sw.Definitions))
	}
	for name, want := range sw.Definitions {
		got, ok := b.def(name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("definition %s differs from kube-openapi's conversion (found %v)", name, ok)
		}
		// The second look is the converted copy.
		if again, _ := b.def(name); !reflect.DeepEqual(again, want) {
			t.Errorf("definition %s differs when looked up again", name)
		}
	}
	if _, ok := b.def("io.k8s.api.apps.v1.NoSuchThing"); ok {
		t.Error("a definition the document lacks was found")
	}
	if len(b.kinds) != len(kinds) {
		t.Errorf("%d kinds read, want %d", len(b.kinds), len(kinds))
	}
	kindDefs := map[string]bool{}
	for gvk, names := range kinds {
		if len(names) != 1 {
			t.Errorf("%v has %d definitions %v: which one a kind takes is not decided", gvk, len(names), names)
		}
		if b.kinds[gvk] != names[0] {
			t.Errorf("%v: definition %q, want %q", gvk, b.kinds[gvk], names[0])
		}
		kindDefs[names[0]] = true
	}
	if !reflect.DeepEqual(b.kindDefs, kindDefs) {
		t.Errorf("kinds' definitions differ: %d, want %d", len(b.kindDefs), len(kindDefs))
	}
}

// A document cut short is refused, not read in part.
func TestBuiltinReadRefusesTruncatedDocument(t *testing.T) {
	raw := builtinAsset(t)
	var doc openapi_v2.Document
	if err := proto.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// The definitions alone, cut in the middle of one of them.
	defs, err := proto.Marshal(&openapi_v2.Document{Definitions: doc.Definitions})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readBuiltin(defs[:len(defs)/2]); err == nil {
		t.Error("a truncated document was read without an error")
	}
}
