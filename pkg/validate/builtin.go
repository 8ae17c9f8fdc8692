package validate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/openapi/kubernetesapi"
)

// BuiltinSchemaVersion is the Kubernetes version of the OpenAPI document kustomize carries,
// whose required fields and quantities apply to built-in kinds.
const BuiltinSchemaVersion = kubernetesapi.DefaultOpenAPI

// relaxed are the fields the built-in document requires and the Kubernetes versions after it no
// longer do (their OpenAPI document has them optional; the e2e test compares with the API
// server's): requiring them would refuse objects the API server accepts. Fields under status are
// never checked (the API server ignores an object's status on a write).
var relaxed = map[string]bool{
	"io.k8s.api.apps.v1.ControllerRevision.revision":          true,
	"io.k8s.api.apps.v1.StatefulSetSpec.serviceName":          true,
	"io.k8s.api.authentication.v1.TokenRequest.spec":          true,
	"io.k8s.api.authentication.v1.TokenRequestSpec.audiences": true,
	"io.k8s.api.discovery.v1.EndpointSlice.endpoints":         true,
	"io.k8s.api.networking.v1.NetworkPolicySpec.podSelector":  true,
	"io.k8s.api.rbac.v1.RoleRef.apiGroup":                     true,
	"io.k8s.api.scheduling.v1.PriorityClass.value":            true,
}

// quantityDefinition is the definition of resource.Quantity in the document.
const quantityDefinition = "io.k8s.apimachinery.pkg.api.resource.Quantity"

// builtinDoc is the parsed document: the definition of each kind, and each definition as the
// document encodes it, converted on first use (see def).
type builtinDoc struct {
	kinds map[schema.GroupVersionKind]string
	// kindDefs are the definitions of kinds, whose status a write does not set.
	kindDefs map[string]bool
	// encoded are the definitions as the document encodes them (an openapi_v2.Schema each).
	encoded map[string][]byte

	mu   sync.Mutex
	defs map[string]spec.Schema
}

// def is the definition name, converted as spec.Swagger.FromGnostic converts the document's
// definitions. Converting all of them took 15 ms of CPU per process, and a change's objects
// reach a few dozen of about 600.
func (b *builtinDoc) def(name string) (spec.Schema, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.defs[name]; ok {
		return s, true
	}
	raw, ok := b.encoded[name]
	if !ok {
		return spec.Schema{}, false
	}
	g := &openapi_v2.Schema{}
	if err := proto.Unmarshal(raw, g); err != nil {
		return spec.Schema{}, false
	}
	var s spec.Schema
	if _, err := s.FromGnostic(g); err != nil {
		return spec.Schema{}, false
	}
	b.defs[name] = s
	return s, true
}

// gvkExtension is the extension that names the kinds a definition is the schema of.
const gvkExtension = "x-kubernetes-group-version-kind"

// The field numbers of the messages the document is encoded as, through which readBuiltin
// reaches the definitions.
var (
	documentDefinitions = fieldNumber(&openapi_v2.Document{}, "definitions")
	definitionsEntries  = fieldNumber(&openapi_v2.Definitions{}, "additional_properties")
	namedSchemaName     = fieldNumber(&openapi_v2.NamedSchema{}, "name")
	namedSchemaValue    = fieldNumber(&openapi_v2.NamedSchema{}, "value")
	schemaExtension     = fieldNumber(&openapi_v2.Schema{}, "vendor_extension")
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// loadBuiltin parses kustomize's built-in document, once, on first use. It reads the document
// itself rather than through kyaml's global schema, which a kustomization's openapi: field
// replaces for the rest of the process.
var loadBuiltin = sync.OnceValues(func() (*builtinDoc, error) {
	asset := kubernetesapi.OpenAPIMustAsset[BuiltinSchemaVersion]
	if asset == nil {
		return nil, fmt.Errorf("kustomize carries no OpenAPI document %s", BuiltinSchemaVersion)
	}
	name := path.Join("kubernetesapi", strings.ReplaceAll(BuiltinSchemaVersion, ".", "_"), "swagger.pb")
	b, err := readBuiltin(asset(name))
	if err != nil {
		return nil, fmt.Errorf("failed to read the OpenAPI document %s: %w", BuiltinSchemaVersion, err)
	}
	return b, nil
})

// readBuiltin indexes the encoded document doc: each definition's bytes by name, and the kinds
// from the definitions that name them. Only those few are decoded, and of them only the
// extension: decoding the whole document took 6 ms of CPU, and its paths and most definitions
// are never read.
func readBuiltin(doc []byte) (*builtinDoc, error) {
	b := &builtinDoc{kinds: map[schema.GroupVersionKind]string{}, kindDefs: map[string]bool{},
		encoded: map[string][]byte{}, defs: map[string]spec.Schema{}}
	var order []string
	err := eachField(doc, documentDefinitions, func(defs []byte) error {
		return eachField(defs, definitionsEntries, func(entry []byte) error {
			var name string
			var value []byte
			if err := eachField(entry, namedSchemaName, func(v []byte) error { name = string(v); return nil }); err != nil {
				return err
			}
			// A message given twice is the two merged, as their encodings concatenated are.
			if err := eachField(entry, namedSchemaValue, func(v []byte) error { value = append(value, v...); return nil }); err != nil {
				return err
			}
			if _, seen := b.encoded[name]; !seen {
				order = append(order, name)
			}
			b.encoded[name] = value
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		raw := b.encoded[name]
		if !bytes.Contains(raw, []byte(gvkExtension)) {
			continue
		}
		var ext spec.VendorExtensible
		err := eachField(raw, schemaExtension, func(v []byte) error {
			e := &openapi_v2.NamedAny{}
			if err := proto.Unmarshal(v, e); err != nil {
				return err
			}
			if e.GetName() != gvkExtension {
				return nil
			}
			return ext.FromGnostic([]*openapi_v2.NamedAny{e})
		})
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		gvks, _ := ext.Extensions[gvkExtension].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			b.kinds[schema.GroupVersionKind{Group: group, Version: version, Kind: kind}] = name
			b.kindDefs[name] = true
		}
	}
	return b, nil
}

// eachField calls fn with the bytes of each field numbered num of the encoded message msg, in
// their order, and checks that msg is well formed.
func eachField(msg []byte, num protowire.Number, fn func([]byte) error) error {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return protowire.ParseError(l)
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := fn(v); err != nil {
				return err
			}
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(n, typ, msg)
		if m < 0 {
			return protowire.ParseError(m)
		}
		msg = msg[m:]
	}
	return nil
}

// builtinDefinition is the name of gvk's definition in the built-in document; "" when it has
// none (a custom kind, a kind newer than the document) or the document cannot be read.
func builtinDefinition(gvk schema.GroupVersionKind) string {
	b, err := loadBuiltin()
	if err != nil {
		return ""
	}
	return b.kinds[gvk]
}

// workloads are the kinds whose spec the API server requires: a null or missing spec is refused
// for the selector and template it lacks.
var workloads = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "batch", Kind: "Job"}:        true,
	{Group: "batch", Kind: "CronJob"}:    true,
}

// schemaWalk is what the built-in document says of an object: its missing required fields, and
// its invalid quantities and base64 data, which the typed decoder refuses without saying where.
type schemaWalk struct {
	errs field.ErrorList
	// unplaced are the paths of the invalid values the typed decoder would not place.
	unplaced [][]any
}

// mapKey is a key of a map in a path (labels[app]), as opposed to a field (spec.replicas).
type mapKey string

// walkBuiltin checks u against its definition def (see builtinDefinition); nothing when def
// is "".
func walkBuiltin(u *unstructured.Unstructured, def string) *schemaWalk {
	w := &schemaWalk{}
	b, err := loadBuiltin()
	if def == "" || err != nil {
		return w
	}
	obj := u.Object
	if workloads[u.GroupVersionKind().GroupKind()] && u.Object["spec"] == nil {
		// Walk an empty spec: its required fields are what the API server says is missing.
		obj = map[string]any{}
		for k, v := range u.Object {
			obj[k] = v
		}
		obj["spec"] = map[string]any{}
	}
	w.value(b, spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/definitions/" + def)}}, obj, nil)
	return w
}

// walk checks the value v of key k of an object of schema s below path p.
func (w *schemaWalk) walk(b *builtinDoc, s spec.Schema, k string, v any, p []any) {
	if ps, ok := s.Properties[k]; ok {
		w.value(b, ps, v, append(p[:len(p):len(p)], k))
		return
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		w.value(b, *s.AdditionalProperties.Schema, v, append(p[:len(p):len(p)], mapKey(k)))
	}
}

// value checks v against schema s at path p.
func (w *schemaWalk) value(b *builtinDoc, s spec.Schema, v any, p []any) {
	name := ""
	for s.Ref.String() != "" {
		name = strings.TrimPrefix(s.Ref.String(), "#/definitions/")
		d, ok := b.def(name)
		if !ok {
			return
		}
		s = d
	}
	if name == quantityDefinition {
		if str, ok := v.(string); ok {
			if _, err := resource.ParseQuantity(str); err != nil {
				w.errs = append(w.errs, field.Invalid(toFieldPath(p), str, err.Error()))
				w.unplaced = append(w.unplaced, p)
			}
		}
		return
	}
	if str, ok := v.(string); ok && s.Format == "byte" {
		if _, err := base64.StdEncoding.DecodeString(str); err != nil {
			w.errs = append(w.errs, field.Invalid(toFieldPath(p), str, "must be base64-encoded: "+err.Error()))
			w.unplaced = append(w.unplaced, p)
		}
		return
	}
	switch v := v.(type) {
	case map[string]any:
		w.required(name, s, v, p)
		for k, val := range v {
			if k == "status" && b.kindDefs[name] {
				continue
			}
			w.walk(b, s, k, val, p)
		}
	case []any:
		if s.Items == nil || s.Items.Schema == nil {
			return
		}
		for i, val := range v {
			w.value(b, *s.Items.Schema, val, append(p[:len(p):len(p)], i))
		}
	}
}

// required reports the required properties of s (definition def) that obj lacks or sets to
// null, as the API server reports them.
func (w *schemaWalk) required(def string, s spec.Schema, obj map[string]any, p []any) {
	for _, r := range s.Required {
		if relaxed[def+"."+r] {
			continue
		}
		if obj[r] == nil {
			w.errs = append(w.errs, field.Required(toFieldPath(append(p[:len(p):len(p)], r)), ""))
		}
	}
}

// objectMetaDefinition is the definition of metadata in the document.
const objectMetaDefinition = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

// withMapKeys marks the keys of a path (below definition def) that are map keys rather than
// fields, as the document says, so that the path reads as the API server writes it:
// data[password], not data.password. Keys the document does not know stay fields.
func withMapKeys(def string, path []any) []any {
	b, err := loadBuiltin()
	if def == "" || err != nil {
		return path
	}
	out := make([]any, len(path))
	copy(out, path)
	s, ok := b.def(def)
	for i, seg := range path {
		for ok && s.Ref.String() != "" {
			s, ok = b.def(strings.TrimPrefix(s.Ref.String(), "#/definitions/"))
		}
		if !ok {
			break
		}
		switch seg := seg.(type) {
		case string:
			if p, found := s.Properties[seg]; found {
				s = p
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				out[i] = mapKey(seg)
				s = *s.AdditionalProperties.Schema
			} else {
				ok = false
			}
		case int:
			if s.Items != nil && s.Items.Schema != nil {
				s = *s.Items.Schema
			} else {
				ok = false
			}
		}
	}
	return out
}

// Warm starts parsing the built-in document on another core, so that the first validation of
// a command that will surely validate does not wait for it.
func Warm() { go func() { _, _ = loadBuiltin() }() }
