package verify

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

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

// schemaProblems checks a render's objects without a cluster (validate.Objects), the render's
// own CustomResourceDefinitions giving the schemas of its custom resources. It returns the
// problems of each object, by its identity.
func schemaProblems(ctx context.Context, objs []*unstructured.Unstructured) (map[diff.ObjectID][]string, error) {
	var crds []*unstructured.Unstructured
	for _, u := range objs {
		if gvk := u.GroupVersionKind(); gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
			crds = append(crds, u)
		}
	}
	rep, err := validate.Objects(ctx, objs, validate.Options{CRDs: crds})
	if err != nil {
		return nil, err
	}
	out := map[diff.ObjectID][]string{}
	for _, p := range rep.Problems {
		out[p.Object] = append(out[p.Object], p.Message)
	}
	return out, nil
}
