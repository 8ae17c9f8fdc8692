package revdiff

import (
	"bytes"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// diffObjects compares two renders of target name (either may be nil: the target is new or
// gone) object by object, and returns the unified diff of each object that differs, Secret
// values masked, sorted by object.
func diffObjects(name string, before, after *render.Result) ([]ObjectDiff, error) {
	type pair struct{ a, b *render.Object }
	pairs := map[render.ObjectID]*pair{}
	if before != nil {
		for _, o := range before.Objects {
			pairs[o.ID] = &pair{a: o}
		}
	}
	if after != nil {
		for _, o := range after.Objects {
			if p := pairs[o.ID]; p != nil {
				p.b = o
			} else {
				pairs[o.ID] = &pair{b: o}
			}
		}
	}
	var out []ObjectDiff
	for id, p := range pairs {
		// Objects the fast path did not render again are the very same; others are compared
		// by their JSON, as rendered.
		if p.a == p.b {
			continue
		}
		if p.a != nil && p.b != nil {
			ja, err := p.a.JSON()
			if err != nil {
				return nil, err
			}
			jb, err := p.b.JSON()
			if err != nil {
				return nil, err
			}
			if bytes.Equal(ja, jb) {
				continue
			}
		}
		d, err := objectDiff(name, id, p.a, p.b)
		if err != nil {
			return nil, err
		}
		if d.Diff != "" {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out, nil
}

// objectDiff is the unified diff of one object's YAML between two renders (a nil side: the
// object is absent there).
func objectDiff(target string, id render.ObjectID, a, b *render.Object) (ObjectDiff, error) {
	var ua, ub *unstructured.Unstructured
	if a != nil {
		ua = a.Obj().DeepCopy()
	}
	if b != nil {
		ub = b.Obj().DeepCopy()
	}
	diff.MaskSecret(ua, ub)
	ya, err := objectYAML(ua)
	if err != nil {
		return ObjectDiff{}, err
	}
	yb, err := objectYAML(ub)
	if err != nil {
		return ObjectDiff{}, err
	}
	name := target + "/" + objectPath(id)
	ud := difflib.UnifiedDiff{A: lines(ya), B: lines(yb), FromFile: "a/" + name, ToFile: "b/" + name, Context: 3}
	d := ObjectDiff{Object: id.String(), Change: ObjectChanged}
	switch {
	case a == nil:
		d.Change, ud.FromFile = ObjectAdded, "/dev/null"
	case b == nil:
		d.Change, ud.ToFile = ObjectRemoved, "/dev/null"
	}
	text, err := difflib.GetUnifiedDiffString(ud)
	if err != nil {
		return ObjectDiff{}, err
	}
	d.Diff = text
	return d, nil
}

// objectPath names an object in a diff header: KIND[.GROUP]/[NAMESPACE/]NAME.
func objectPath(id render.ObjectID) string {
	gk := id.Kind
	if id.Group != "" {
		gk += "." + id.Group
	}
	if id.Namespace == "" {
		return gk + "/" + id.Name
	}
	return gk + "/" + id.Namespace + "/" + id.Name
}

func objectYAML(u *unstructured.Unstructured) ([]byte, error) {
	if u == nil {
		return nil, nil
	}
	return yaml.Marshal(u.Object)
}

// lines splits YAML into lines as the diff sees them.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(b), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	} else {
		out[len(out)-1] += "\n"
	}
	return out
}
