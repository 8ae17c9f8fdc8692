package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/helmvalues"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// releaseTarget is the target of the Flux HelmRelease hr among targets, for a live object whose
// labels led to the Kustomization target t that applies hr; nil when discovery found none.
func releaseTarget(t *target.Target, hr *target.ObjectRef, targets []target.Target) *target.Target {
	for i := range targets {
		a := targets[i].Applied
		if a == nil || a.Release == nil || targets[i].Path != t.Path || a.Release.Name() != hr.Name {
			continue
		}
		if ns := a.Release.Namespace(); ns != "" && ns != hr.Namespace {
			continue
		}
		if t.Applied != nil && a.Reconciler.Ref() != t.Applied.Reconciler.Ref() {
			continue
		}
		// What resolving t learnt (the clone, its remote and branch, the cluster) holds for
		// the release it applies.
		rt := *t
		rt.Name, rt.Applied, rt.Namespace, rt.HelmRelease = targets[i].Name, a, targets[i].Namespace, nil
		return &rt
	}
	return nil
}

// liveReleaseTarget is the target of HelmRelease hr that the Kustomization target t applies,
// when discovery did not find it (the repository defines the Kustomization under another
// name, or not at all): the render finds the HelmRelease by its name among what t applies.
func liveReleaseTarget(t *target.Target, hr *target.ObjectRef) *target.Target {
	if t.Applied == nil || !reconciler.IsFluxKustomization(t.Applied.Reconciler) {
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(hr.APIVersion)
	obj.SetKind(hr.Kind)
	obj.SetNamespace(hr.Namespace)
	obj.SetName(hr.Name)
	a := *t.Applied
	a.Release = &reconciler.Object{Doc: -1, Obj: obj}
	rt := *t
	rt.Name, rt.Applied, rt.HelmRelease = a.Release.Ref(), &a, nil
	return &rt
}

// isRelease tells a Flux HelmRelease target: its objects are the chart's.
func isRelease(t *target.Target) bool { return t.Applied != nil && t.Applied.Release != nil }

// releaseParent is the key of the Kustomization target that applies a HelmRelease target's
// HelmRelease: where the values are written.
func releaseParent(t *target.Target) string {
	parent := *t.Applied
	parent.Release = nil
	return render.Key(t.Path, &parent)
}

// releaseChanges makes spec's change of objects a HelmRelease's chart renders (the render r of
// Helm target t) into changes of the values that drive them: a values key found by rendering
// the chart (pkg/helmvalues), written in the layer that sets it last (a values file of the
// repository, a valuesFrom ConfigMap, or the HelmRelease's spec.values, whichever the
// Kustomization's render reads), else in spec.values. When no key drives the field alone, the
// change is a post-renderer patch of the HelmRelease. Each change names the objects the chart
// must render differently (change.Follow), which the closed loop checks.
func releaseChanges(t *target.Target, spec changeSpec, names *[]string, selected *[]*render.Object, via *string) func(r *render.Result) ([]change.ObjectChange, error) {
	return func(r *render.Result) ([]change.ObjectChange, error) {
		rel := r.Release
		if rel == nil {
			return nil, fmt.Errorf("target %s: its render holds no release to change", t.Name)
		}
		objs, err := spec.selection.Select(r)
		if err != nil {
			return nil, err
		}
		if spec.check != nil {
			if err := spec.check(r, objs, nil); err != nil {
				return nil, err
			}
		}
		parent := releaseParent(t)
		*names, *selected, *via = (*names)[:0], objs, "values"
		var out []change.ObjectChange
		for _, o := range objs {
			*names = append(*names, resourceName(o))
			desired := o.Obj().DeepCopy()
			if err := spec.mutate(desired); err != nil {
				return nil, fmt.Errorf("%s: %w", o.ID, err)
			}
			fields := placement.Diff(o.Obj().Object, desired.Object, placement.PatchMeta(o.Obj().GroupVersionKind()))
			if len(fields) == 0 {
				continue
			}
			follow := []change.Follow{{Target: t.Key(), ID: o.ID, Desired: desired.Object}}
			keys, err := helmvalues.Find(helmvalues.Request{Values: rel.Values, Defaults: rel.Defaults, Object: o.Obj(), Changes: fields}, rel.Render)
			var noKey *helmvalues.NoKeyError
			if errors.As(err, &noKey) {
				// The chart has no key for it: helm-controller's post-renderer patches the
				// object after the chart, in the HelmRelease.
				hr, _, perr := placement.HelmPostRenderer(rel.HelmRelease.Obj(), o.Obj(), desired)
				if perr != nil {
					return nil, fmt.Errorf("%w; and a post-renderer patch cannot express it: %v", err, perr)
				}
				out = append(out, change.ObjectChange{Target: parent, Object: rel.HelmRelease, Desired: hr.Object, Follows: follow})
				*via = "post-renderer"
				continue
			}
			if err != nil {
				return nil, err
			}
			ch, err := valuesChange(t.RepoDir, rel, keys)
			if err != nil {
				return nil, err
			}
			ch.Follows = follow
			if ch.Files != nil {
				// A values file: the change is of the chart's object, proven in this target.
				ch.Target, ch.Object, ch.Desired, ch.Follows = t.Key(), o, desired.Object, nil
			} else {
				ch.Target = parent
			}
			out = append(out, ch)
		}
		return out, nil
	}
}

// valuesChange writes keys in the last layer of the release's values that sets one of them
// (spec.values when none does: it is merged last, so it wins over every other layer).
func valuesChange(root string, rel *render.Release, keys []helmvalues.Key) (change.ObjectChange, error) {
	top := len(rel.Layers) - 1 // spec.values
	for i := len(rel.Layers) - 1; i >= 0; i-- {
		if setsAny(rel.Layers[i].Values, keys) {
			top = i
			break
		}
	}
	l := rel.Layers[top]
	switch l.Kind {
	case "valuesFile":
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(l.File)))
		if err != nil {
			return change.ObjectChange{}, err
		}
		b, err := setKeys(src, keys)
		if err != nil {
			return change.ObjectChange{}, fmt.Errorf("%s: %w", l.File, err)
		}
		return change.ObjectChange{Layer: l.File, Files: map[string][]byte{l.File: b}}, nil
	case "valuesFrom":
		obj := l.Object.Obj().DeepCopy()
		data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
		text, ok := data[l.Key]
		if !ok || obj.GetKind() != "ConfigMap" {
			break
		}
		b, err := setKeys([]byte(text), keys)
		if err != nil {
			return change.ObjectChange{}, fmt.Errorf("ConfigMap %s key %s: %w", obj.GetName(), l.Key, err)
		}
		if err := unstructured.SetNestedField(obj.Object, string(b), "data", l.Key); err != nil {
			return change.ObjectChange{}, err
		}
		return change.ObjectChange{Object: l.Object, Desired: obj.Object}, nil
	}
	hr := rel.HelmRelease.Obj().DeepCopy()
	for _, k := range keys {
		sp := stringPath(k.Path)
		if sp == nil {
			return change.ObjectChange{}, fmt.Errorf("values key %s indexes a list, which spec.values cannot set alone: set it in a values file", k)
		}
		path := append([]string{"spec", "values"}, sp...)
		if err := unstructured.SetNestedField(hr.Object, deepJSON(k.Value), path...); err != nil {
			return change.ObjectChange{}, fmt.Errorf("spec.values.%s: %w", k, err)
		}
	}
	return change.ObjectChange{Object: rel.HelmRelease, Desired: hr.Object}, nil
}

// setsAny tells whether values set one of keys (or a map above one).
func setsAny(values map[string]any, keys []helmvalues.Key) bool {
	for _, k := range keys {
		var cur any = values
		found := true
		for _, p := range k.Path {
			switch key := p.(type) {
			case string:
				m, ok := cur.(map[string]any)
				if !ok {
					found = false
					break
				}
				if cur, ok = m[key]; !ok {
					found = false
				}
			case int:
				l, ok := cur.([]any)
				if !ok || key >= len(l) {
					found = false
					break
				}
				cur = l[key]
			}
			if !found {
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}

// setKeys sets keys in a values document's text, changing only their lines.
func setKeys(src []byte, keys []helmvalues.Key) ([]byte, error) {
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		var p yamledit.Path
		for _, e := range k.Path {
			switch v := e.(type) {
			case string:
				p = append(p, yamledit.Key(v))
			case int:
				p = append(p, yamledit.Index(v))
			}
		}
		var n yaml.Node
		if err := n.Encode(k.Value); err != nil {
			return nil, err
		}
		if err := f.Set(0, p, &n); err != nil {
			return nil, err
		}
	}
	return f.Bytes(), nil
}

// stringPath is a values path of mapping keys only (nil when it indexes a list).
func stringPath(p []any) []string {
	out := make([]string, 0, len(p))
	for _, e := range p {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// deepJSON is v with the types unstructured objects hold (int64, float64, map[string]any, []any).
func deepJSON(v any) any {
	switch t := v.(type) {
	case int:
		return int64(t)
	case int32:
		return int64(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepJSON(e)
		}
		return out
	}
	return v
}

// releaseSubject names a change of a chart's objects (selected) for the commit subject.
func releaseSubject(t *target.Target, spec changeSpec, selected *[]*render.Object, via *string) func(objs []*render.Object) string {
	return func([]*render.Object) string {
		return fmt.Sprintf("%s via HelmRelease %s %s", spec.subject(*selected), strings.TrimPrefix(t.Applied.Release.Ref(), "helmrelease/"), *via)
	}
}
