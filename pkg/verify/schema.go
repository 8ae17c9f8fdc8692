package verify

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// strictDecoder decodes built-in kinds into their typed structs and refuses unknown and
// duplicate fields, as the API server's strict field validation does.
var strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, clientgoscheme.Scheme, clientgoscheme.Scheme,
	json.SerializerOptions{Strict: true})

// identityProblems says what an object lacks to be applied at all: apiVersion, kind and
// metadata.name.
func identityProblems(u *unstructured.Unstructured) []string {
	var out []string
	if u.GetAPIVersion() == "" {
		out = append(out, "no apiVersion")
	}
	if u.GetKind() == "" {
		out = append(out, "no kind")
	}
	if u.GetName() == "" {
		out = append(out, "no metadata.name")
	}
	return out
}

// SchemaProblem checks an object without a cluster: a built-in kind (one client-go knows) must
// decode strictly into its typed struct, which finds unknown fields and values of the wrong type.
// Custom kinds are not checked: their schema is the cluster's. "" when nothing is wrong.
func SchemaProblem(u *unstructured.Unstructured) string {
	if p := identityProblems(u); len(p) > 0 {
		return strings.Join(p, ", ")
	}
	gvk := u.GroupVersionKind()
	if !clientgoscheme.Scheme.Recognizes(gvk) {
		return ""
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err.Error()
	}
	if _, _, err := strictDecoder.Decode(data, &gvk, nil); err != nil {
		return err.Error()
	}
	return ""
}
