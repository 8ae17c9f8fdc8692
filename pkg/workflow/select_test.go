package workflow

import (
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// A name the target does not render is answered with the names of that type it does render: a
// namePrefix (argocd-example-apps' kustomize-guestbook) renames every object.
func TestNotFoundNamesObjectsOfThatType(t *testing.T) {
	obj := func(kind, ns, name string) *render.Object {
		return &render.Object{ID: render.ObjectID{Group: "apps", Kind: kind, Namespace: ns, Name: name}}
	}
	if got, want := sameType(nil), ""; got != want {
		t.Errorf("no object of the type: %q, want %q", got, want)
	}
	if got, want := sameType([]*render.Object{obj("Deployment", "", "kustomize-guestbook-ui")}), "; of that type: kustomize-guestbook-ui"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var many []*render.Object
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		many = append(many, obj("Deployment", "shop", n))
	}
	if got, want := sameType(many), "; of that type: shop/a, shop/b, shop/c, shop/d, shop/e, 2 more"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
