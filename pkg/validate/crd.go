package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdIndex holds the schemas of the custom kinds that known CustomResourceDefinitions define.
type crdIndex struct {
	kinds map[schema.GroupKind]*crdKind
}

// crdKind is one CustomResourceDefinition: its name, where it was found, and its versions.
type crdKind struct {
	name     string
	source   string
	versions map[string]*crdVersion
	// err says why its schemas could not be read.
	err error
}

// crdVersion is the schema of one version of a custom kind.
type crdVersion struct {
	schema    *spec.Schema
	validator *validate.SchemaValidator
	// specReplicasPath is the scale subresource's replicas path, "" without one.
	specReplicasPath string
}

func newCRDIndex(crds []*unstructured.Unstructured) *crdIndex {
	x := &crdIndex{kinds: map[schema.GroupKind]*crdKind{}}
	for _, c := range crds {
		x.add(c, "the repository")
	}
	return x
}

// add indexes a CustomResourceDefinition manifest, unless one of its kind is indexed already.
func (x *crdIndex) add(crd *unstructured.Unstructured, source string) {
	if crd.GroupVersionKind() != (schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}) {
		return
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	gk := schema.GroupKind{Group: group, Kind: kind}
	if kind == "" || x.kinds[gk] != nil {
		return
	}
	k := &crdKind{name: crd.GetName(), source: source, versions: map[string]*crdVersion{}}
	x.kinds[gk] = k
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		name, _ := vm["name"].(string)
		raw, _, _ := unstructured.NestedMap(vm, "schema", "openAPIV3Schema")
		s, err := crdSchema(raw)
		if err != nil {
			k.err = fmt.Errorf("version %s: %w", name, err)
			continue
		}
		cv := &crdVersion{schema: s, validator: validate.NewSchemaValidator(s, nil, "", strfmt.Default)}
		cv.specReplicasPath, _, _ = unstructured.NestedString(vm, "subresources", "scale", "specReplicasPath")
		k.versions[name] = cv
	}
}

// defines tells whether a known CustomResourceDefinition defines the kind gk.
func (x *crdIndex) defines(gk schema.GroupKind) bool { return x.kinds[gk] != nil }

// lookup is the schema of gvk's version of a known custom kind; nil when none is known.
func (x *crdIndex) lookup(gvk schema.GroupVersionKind) *crdVersion {
	if k := x.kinds[gvk.GroupKind()]; k != nil {
		return k.versions[gvk.Version]
	}
	return nil
}

// whyUnchecked says why no schema checks an object of kind gvk.
func (x *crdIndex) whyUnchecked(gvk schema.GroupVersionKind) string {
	k := x.kinds[gvk.GroupKind()]
	switch {
	case k == nil:
		return "no CustomResourceDefinition defines its kind"
	case k.err != nil:
		return fmt.Sprintf("the schema of CustomResourceDefinition %s (in %s) cannot be read: %v", k.name, k.source, k.err)
	}
	return fmt.Sprintf("CustomResourceDefinition %s (in %s) has no version %s", k.name, k.source, gvk.Version)
}

// addFromCluster adds the cluster's CustomResourceDefinitions of the custom kinds among objs
// that the index lacks. What keeps it from reading them is returned as notices.
func (x *crdIndex) addFromCluster(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured) ([]string, error) {
	var wanted []schema.GroupVersionKind
	seen := map[schema.GroupKind]bool{}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		gk := gvk.GroupKind()
		if gvk.Kind == "" || seen[gk] || x.kinds[gk] != nil || clientgoscheme.Scheme.Recognizes(gvk) || builtinDefinition(gvk) != "" {
			continue
		}
		seen[gk] = true
		wanted = append(wanted, gvk)
	}
	if len(wanted) == 0 {
		return nil, nil
	}
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		return []string{fmt.Sprintf("the cluster's CustomResourceDefinitions were not read: %v", err)}, nil
	}
	var notices []string
	for _, gvk := range wanted {
		mapping, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return append(notices, fmt.Sprintf("the cluster's CustomResourceDefinitions were not read: %v", err)), nil
		}
		name := mapping.Resource.Resource + "." + gvk.Group
		crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			x.add(crd, "the cluster")
		case apierrors.IsNotFound(err):
			// Served by an aggregated API, not a CustomResourceDefinition.
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case apierrors.IsForbidden(err):
			notices = append(notices, fmt.Sprintf("RBAC forbids reading CustomResourceDefinition %s, so %s objects were not checked against its schema: %v", name, gvk.Kind, err))
		default:
			return append(notices, fmt.Sprintf("the cluster's CustomResourceDefinitions were not read: %v", err)), nil
		}
	}
	return notices, nil
}

// validate checks a custom resource against its version's schema, as the API server does:
// unknown fields (strict field validation), the OpenAPI validations, and the scale
// subresource's replicas. CEL rules (x-kubernetes-validations) are the dry run's.
func (v *crdVersion) validate(u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	unknownFields(v.schema, u.Object, nil, true, &errs)
	for _, e := range v.validator.Validate(u.Object).Errors {
		errs = append(errs, openAPIError(e))
	}
	if v.specReplicasPath != "" {
		errs = append(errs, scaleReplicas(u, v.specReplicasPath)...)
	}
	return errs
}

// openAPIError turns a kube-openapi validation error into a field error as the API server
// words it.
func openAPIError(err error) *field.Error {
	var ve *openapierrors.Validation
	if !errors.As(err, &ve) {
		return field.Invalid(nil, field.OmitValueType{}, err.Error())
	}
	var p *field.Path
	if name := strings.TrimPrefix(ve.Name, "."); name != "" {
		p = field.NewPath(name)
	}
	value := ve.Value
	if value == nil {
		value = ""
	}
	switch ve.Code() {
	case openapierrors.RequiredFailCode:
		return field.Required(p, "")
	case openapierrors.EnumFailCode:
		var allowed []string
		for _, a := range ve.Values {
			b, _ := json.Marshal(a)
			allowed = append(allowed, strings.Trim(string(b), `"`))
		}
		return field.NotSupported(p, value, allowed)
	case openapierrors.InvalidTypeCode:
		return field.TypeInvalid(p, value, ve.Error())
	}
	return field.Invalid(p, value, ve.Error())
}

// scaleReplicas checks the replicas of a custom resource's scale subresource, as the API server
// does: a non-negative int32.
func scaleReplicas(u *unstructured.Unstructured, specReplicasPath string) field.ErrorList {
	p := strings.TrimPrefix(specReplicasPath, ".")
	fp := field.NewPath(p)
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, strings.Split(p, ".")...)
	if err != nil || !found || v == nil {
		return nil
	}
	n, ok := v.(int64)
	switch {
	case !ok:
		return field.ErrorList{field.Invalid(fp, v, "should be a non-negative integer")}
	case n < 0:
		return field.ErrorList{field.Invalid(fp, n, "should be a non-negative integer")}
	case n > math.MaxInt32:
		return field.ErrorList{field.Invalid(fp, n, fmt.Sprintf("should be less than or equal to %d", math.MaxInt32))}
	}
	return nil
}

// unknownFields reports the fields of v its structural schema s does not declare, where the
// API server's strict field validation would refuse them: objects with properties, no
// additionalProperties and no x-kubernetes-preserve-unknown-fields. apiVersion, kind and
// metadata are implicit at the root and in embedded resources; metadata is checked as
// ObjectMeta elsewhere.
func unknownFields(s *spec.Schema, v any, p []any, root bool, errs *field.ErrorList) {
	if s == nil {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		embedded := root || extensionTrue(s, "x-kubernetes-embedded-resource")
		preserve := extensionTrue(s, "x-kubernetes-preserve-unknown-fields")
		for k, val := range v {
			kp := append(p[:len(p):len(p)], k)
			if embedded && (k == "apiVersion" || k == "kind" || k == "metadata") {
				continue
			}
			if ps, ok := s.Properties[k]; ok {
				unknownFields(&ps, val, kp, false, errs)
				continue
			}
			if s.AdditionalProperties != nil {
				if s.AdditionalProperties.Schema != nil {
					unknownFields(s.AdditionalProperties.Schema, val, kp, false, errs)
				}
				continue
			}
			if !preserve {
				*errs = append(*errs, unknownField(toFieldPath(kp).String()))
			}
		}
	case []any:
		if s.Items == nil || s.Items.Schema == nil {
			return
		}
		for i, val := range v {
			unknownFields(s.Items.Schema, val, append(p[:len(p):len(p)], i), false, errs)
		}
	}
}

// unknownField is a field no schema declares, in the words of the API server's strict field
// validation.
func unknownField(path string) *field.Error {
	return strictError(fmt.Errorf("unknown field %q", path))
}

func extensionTrue(s *spec.Schema, name string) bool {
	b, _ := s.Extensions.GetBool(name)
	return b
}

// crdFormats are the string formats the API server validates in CRD schemas (since 1.0);
// others it ignores, so they are left out here too.
var crdFormats = sets.New("bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac",
	"uuid", "uuid3", "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor",
	"rgbcolor", "byte", "password", "date", "duration", "datetime")

// crdSchema reads a CRD version's openAPIV3Schema as the API server's validator sees it:
// x-kubernetes-int-or-string takes an integer or a string, unsupported formats are ignored,
// and a required property with a default is not missing (the API server defaults it first).
func crdSchema(raw map[string]any) (*spec.Schema, error) {
	s := &spec.Schema{}
	if raw == nil {
		return s, nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, err
	}
	asValidated(s)
	return s, nil
}

func asValidated(s *spec.Schema) {
	if s == nil {
		return
	}
	if extensionTrue(s, "x-kubernetes-int-or-string") {
		s.Type = spec.StringOrArray{"integer", "string"}
	}
	if s.Format != "" {
		t := ""
		if len(s.Type) == 1 {
			t = s.Type[0]
		}
		switch t {
		case "", "string":
			if !crdFormats.Has(strings.ReplaceAll(s.Format, "-", "")) {
				s.Format = ""
			}
		case "integer":
			if s.Format != "int32" && s.Format != "int64" {
				s.Format = ""
			}
		case "number":
			if s.Format != "float" && s.Format != "double" {
				s.Format = ""
			}
		default:
			s.Format = ""
		}
	}
	var required []string
	for _, r := range s.Required {
		if p, ok := s.Properties[r]; !ok || p.Default == nil {
			required = append(required, r)
		}
	}
	s.Required = required
	for k, p := range s.Properties {
		asValidated(&p)
		s.Properties[k] = p
	}
	for k, p := range s.PatternProperties {
		asValidated(&p)
		s.PatternProperties[k] = p
	}
	if s.AdditionalProperties != nil {
		asValidated(s.AdditionalProperties.Schema)
	}
	if s.Items != nil {
		asValidated(s.Items.Schema)
		for i := range s.Items.Schemas {
			asValidated(&s.Items.Schemas[i])
		}
	}
	for _, list := range [][]spec.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range list {
			asValidated(&list[i])
		}
	}
	asValidated(s.Not)
}
