package render

import (
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// currentReconciler is the reconciler object o as its file says now: read again through the
// overlay, so that a change to the reconciler's own file (a patch in a Flux Kustomization, an
// image override in an Application) is what the render after the change applies, and recorded as
// an input of the render. o is taken as Applied holds it when it comes from no file of this
// repository (read from a cluster, or another repository's), and when its file holds no object
// of its kind and name because a generator made it (an ApplicationSet's Application).
func currentReconciler(fsys *overlayFS, root string, o reconciler.Object, is func(reconciler.Object) bool, kind string) (*unstructured.Unstructured, error) {
	file := filepath.Join(root, filepath.FromSlash(o.File))
	if _, overlaid := fsys.lookup(file); o.File == "" || (!overlaid && !fsys.Exists(file)) {
		return o.Obj.DeepCopy(), nil
	}
	b, err := fsys.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, o.Ref(), err)
	}
	objs, err := reconciler.DecodeObjects(o.File, b)
	if err != nil {
		return nil, err
	}
	var found *unstructured.Unstructured
	generated := false
	for _, d := range objs {
		if d.Doc == o.Doc {
			generated = !is(d)
		}
		if !is(d) || d.Name() != o.Name() || (d.Namespace() != "" && d.Namespace() != o.Namespace()) {
			continue
		}
		if found == nil || d.Doc == o.Doc {
			found = d.Obj
		}
	}
	switch {
	case found != nil:
		return found, nil
	case generated:
		return o.Obj.DeepCopy(), nil
	}
	return nil, fmt.Errorf("%s no longer defines %s %s", o.File, kind, o.Ref())
}
