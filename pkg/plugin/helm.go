package plugin

import (
	"errors"
	"fmt"
	"os"
	"path"
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
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
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

// helmReleaseTarget is the target of the HelmRelease that made a live object (t.HelmRelease,
// found through its labels), for a command on the chart's objects: the release's own target
// when discovery found it, else one rendered from what Kustomization t applies, whose render
// the closed loop then checks too (targets gains t). Nil when no release target can be made;
// a *render.ChartUnavailableError when the chart cannot be fetched here.
func helmReleaseTarget(t *target.Target, targets []target.Target) (*target.Target, []target.Target, error) {
	rt := releaseTarget(t, t.HelmRelease, targets)
	parent := false
	if rt == nil {
		rt, parent = liveReleaseTarget(t, t.HelmRelease), true
	}
	if rt == nil {
		return nil, targets, nil
	}
	_, err := render.Render(rt.RepoDir, rt.Path, render.Options{Applied: rt.Applied})
	var unavailable *render.ChartUnavailableError
	if errors.As(err, &unavailable) {
		return nil, targets, err
	}
	if parent {
		targets = append(targets, *t)
	}
	return rt, targets, nil
}

// isRelease tells a Helm target: a Flux HelmRelease's, or an Argo CD Application's source that
// is a chart; its objects are the chart's.
func isRelease(t *target.Target) bool {
	if t.Applied == nil {
		return false
	}
	if t.Applied.Release != nil {
		return true
	}
	if !reconciler.IsArgoApplication(t.Applied.Reconciler) {
		return false
	}
	src, err := reconciler.ReadArgoSource(t.Applied.Reconciler.Obj, t.Applied.Source, os.DirFS(t.RepoDir))
	return err == nil && src.Type == reconciler.ArgoHelm
}

// releaseParent is the key of the Kustomization target that applies a HelmRelease target's
// HelmRelease: where the values are written.
func releaseParent(t *target.Target) string {
	parent := *t.Applied
	parent.Release = nil
	return render.Key(t.Path, &parent)
}

// releaseChanges makes spec's change of objects a chart renders (the render r of Helm target t)
// into changes of the values that drive them (releaseChange).
func releaseChanges(t *target.Target, targets []target.Target, spec changeSpec, names *[]string, selected *[]*render.Object, via *string) func(r *render.Result) ([]change.ObjectChange, error) {
	return func(r *render.Result) ([]change.ObjectChange, error) {
		objs, err := spec.selection.Select(r)
		if err != nil {
			return nil, err
		}
		if spec.check != nil {
			if err := spec.check(r, objs, nil); err != nil {
				return nil, err
			}
		}
		*names, *selected, *via = (*names)[:0], objs, "values"
		var out []change.ObjectChange
		for _, o := range objs {
			*names = append(*names, resourceName(o))
			desired := o.Obj().DeepCopy()
			if err := spec.mutate(desired); err != nil {
				return nil, fmt.Errorf("%s: %w", o.ID, err)
			}
			ch, how, err := releaseChange(t, targets, r, o, desired.Object)
			if err != nil {
				return nil, err
			}
			if ch != nil {
				out = append(out, *ch)
				*via = how
			}
		}
		return out, nil
	}
}

// forRelease makes req's changes of a Helm target's objects (edit, rollout undo) changes of
// the values that drive them (releaseChange); other targets' requests are left as they are.
func forRelease(req *workflow.Request) {
	t, targets := req.Target, req.Targets
	if !isRelease(t) || req.Changes == nil {
		return
	}
	inner, subject := req.Changes, req.Subject
	var own []*render.Object // the chart's objects, which the subject names
	req.Subject = func([]*render.Object) string { return subject(own) }
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		chs, err := inner(r)
		if err != nil {
			return nil, err
		}
		own = own[:0]
		var out []change.ObjectChange
		for _, ch := range chs {
			if ch.Object == nil || ch.Desired == nil {
				return nil, fmt.Errorf("target %s renders a Helm chart, whose templates make its objects: %s cannot be created or deleted here; change the chart or its values (a condition key such as enabled:)", t.Name, describeChange(ch))
			}
			own = append(own, ch.Object)
			vc, _, err := releaseChange(t, targets, r, ch.Object, ch.Desired)
			if err != nil {
				return nil, err
			}
			if vc != nil {
				out = append(out, *vc)
			}
		}
		return out, nil
	}
}

func describeChange(ch change.ObjectChange) string {
	if ch.Object != nil {
		return ch.Object.ID.String()
	}
	u := unstructured.Unstructured{Object: ch.Desired}
	return u.GetKind() + " " + u.GetName()
}

// releaseChange makes the change of object o of a chart's render r (Helm target t) into desired
// a change of the values that drive it: a values key found by rendering the chart
// (pkg/helmvalues), written where valuesChange says. When no key drives the field alone, a Flux
// release gets a post-renderer patch in its HelmRelease (how is then "post-renderer"); an Argo
// CD one is refused. The change names what the chart must render differently (change.Follow,
// or the chart's object itself for a file), which the closed loop checks. Nil: no change.
func releaseChange(t *target.Target, targets []target.Target, r *render.Result, o *render.Object, desired map[string]any) (*change.ObjectChange, string, error) {
	rel := r.Release
	if rel == nil {
		return nil, "", fmt.Errorf("target %s: its render holds no release to change", t.Name)
	}
	fields := placement.Diff(o.Obj().Object, desired, placement.PatchMeta(o.Obj().GroupVersionKind()))
	if len(fields) == 0 {
		return nil, "", nil
	}
	want := &unstructured.Unstructured{Object: desired}
	follow := []change.Follow{{Target: t.Key(), ID: o.ID, Desired: desired}}
	rendered := make([]*unstructured.Unstructured, len(r.Objects))
	for i, ro := range r.Objects {
		rendered[i] = ro.Obj()
	}
	keys, err := helmvalues.Find(helmvalues.Request{Values: rel.Values, Defaults: rel.Defaults, Object: o.Obj(), Changes: fields, Rendered: rendered}, rel.Render)
	var noKey *helmvalues.NoKeyError
	if errors.As(err, &noKey) && rel.HelmRelease == nil {
		return nil, "", fmt.Errorf("%w\nArgo CD applies the chart's render as it is (%s): change the template, or give the chart a values key for this field", err, o.Origin.Layer)
	}
	if errors.As(err, &noKey) {
		// The chart has no key for it: helm-controller's post-renderer patches the object
		// after the chart, in the HelmRelease.
		hr, _, perr := placement.HelmPostRenderer(rel.HelmRelease.Obj(), o.Obj(), want)
		if perr != nil {
			return nil, "", fmt.Errorf("%w; and a post-renderer patch cannot express it: %v", err, perr)
		}
		return &change.ObjectChange{Target: releaseParent(t), Object: rel.HelmRelease, Desired: hr.Object, Follows: follow}, "post-renderer", nil
	}
	if err != nil {
		return nil, "", err
	}
	ch, err := valuesChange(t.RepoDir, rel, keys, func(file string) bool { return valueFileShared(t, targets, file) })
	if err != nil {
		return nil, "", err
	}
	if ch.Files != nil {
		// A file of values (or the Application's): the change is of the chart's object,
		// proven in this target.
		ch.Target, ch.Object, ch.Desired = t.Key(), o, desired
	} else {
		ch.Target, ch.Follows = releaseParent(t), follow
	}
	return &ch, "values", nil
}

// valuesChange writes keys in the last layer of the release's values that sets one of them
// (spec.values when none does: it is merged last, so it wins over every other layer).
func valuesChange(root string, rel *render.Release, keys []helmvalues.Key, shared func(file string) bool) (change.ObjectChange, error) {
	if rel.Application != nil {
		return argoValuesChange(root, rel, keys, shared)
	}
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
	if err := setKeysAt(f, 0, nil, keys); err != nil {
		return nil, err
	}
	return f.Bytes(), nil
}

// setKeysAt sets keys below the path base of document doc of f.
func setKeysAt(f *yamledit.File, doc int, base yamledit.Path, keys []helmvalues.Key) error {
	for _, k := range keys {
		p := append(yamledit.Path{}, base...)
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
			return err
		}
		if err := f.Set(doc, p, &n); err != nil {
			return err
		}
	}
	return nil
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
		if t.Applied.Release == nil {
			return fmt.Sprintf("%s via Application %s/%s values", spec.subject(*selected), t.Applied.Reconciler.Namespace(), t.Applied.Reconciler.Name())
		}
		return fmt.Sprintf("%s via HelmRelease %s %s", spec.subject(*selected), strings.TrimPrefix(t.Applied.Release.Ref(), "helmrelease/"), *via)
	}
}

// argoValuesChange writes keys for an Argo CD Helm source: in the last layer that sets one of
// them when only this Application reads it (a value file, the Application's valuesObject,
// values or a parameter), else in the most specific layer above it that only this Application
// reads: a later value file, else the Application's own values (valuesObject, made when the
// source has none).
func argoValuesChange(root string, rel *render.Release, keys []helmvalues.Key, shared func(file string) bool) (change.ObjectChange, error) {
	top := -1
	for i := len(rel.Layers) - 1; i >= 0; i-- {
		if rel.Layers[i].Kind == "parameters" || setsAny(rel.Layers[i].Values, keys) {
			top = i
			break
		}
	}
	if top >= 0 && rel.Layers[top].Kind == "parameters" {
		return change.ObjectChange{}, fmt.Errorf("%s sets Helm parameters, which win over every values layer: change the parameter with `kubectl gitops edit application/%s -n %s`", rel.Field, rel.Application.Name(), rel.Application.Namespace())
	}
	start := top
	if start < 0 {
		start = 0
	}
	for i := start; i < len(rel.Layers); i++ {
		l := rel.Layers[i]
		if l.Kind != "valuesFile" || (i < top) || shared(l.File) {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(l.File)))
		if err != nil {
			return change.ObjectChange{}, err
		}
		b, err := setKeys(src, keys)
		if err != nil {
			return change.ObjectChange{}, fmt.Errorf("%s: %w", l.File, err)
		}
		return change.ObjectChange{Layer: l.File, Files: map[string][]byte{l.File: b}}, nil
	}
	// The Application's own values: its valuesObject (or values text), which win over files.
	app := rel.Application
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(app.File)))
	if err != nil {
		return change.ObjectChange{}, err
	}
	f, err := yamledit.Parse(src)
	if err != nil {
		return change.ObjectChange{}, fmt.Errorf("%s: %w", app.File, err)
	}
	base, err := yamledit.ParsePath(rel.Field + ".helm")
	if err != nil {
		return change.ObjectChange{}, err
	}
	if text, ok := mapPath(app.Obj.Object, rel.Field, "helm", "values").(string); ok && mapPath(app.Obj.Object, rel.Field, "helm", "valuesObject") == nil {
		b, err := setKeys([]byte(text), keys)
		if err != nil {
			return change.ObjectChange{}, fmt.Errorf("%s %s.helm.values: %w", app.File, rel.Field, err)
		}
		if err := f.Set(app.Doc, append(base, yamledit.Key("values")), yamledit.ScalarNode(string(b))); err != nil {
			return change.ObjectChange{}, fmt.Errorf("%s: %w", app.File, err)
		}
		return change.ObjectChange{Layer: app.File + " (" + rel.Field + ".helm.values)", Files: map[string][]byte{app.File: f.Bytes()}}, nil
	}
	if err := setKeysAt(f, app.Doc, append(base, yamledit.Key("valuesObject")), keys); err != nil {
		return change.ObjectChange{}, fmt.Errorf("%s: %w", app.File, err)
	}
	return change.ObjectChange{Layer: app.File + " (" + rel.Field + ".helm.valuesObject)", Files: map[string][]byte{app.File: f.Bytes()}}, nil
}

// mapPath is the value at an Application field path (spec.source, spec.sources[1]) and keys.
func mapPath(obj map[string]any, field string, keys ...string) any {
	var cur any = obj
	for _, part := range strings.Split(field, ".") {
		name, idx, indexed := strings.Cut(part, "[")
		cur = asMap(cur)[name]
		if indexed {
			var i int
			if _, err := fmt.Sscanf(idx, "%d]", &i); err != nil {
				return nil
			}
			l, _ := cur.([]any)
			if i >= len(l) {
				return nil
			}
			cur = l[i]
		}
	}
	for _, k := range keys {
		cur = asMap(cur)[k]
	}
	return cur
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// valueFileShared tells whether another Argo CD Helm source among targets lists file among its
// value files: a change there changes that Application's release too.
func valueFileShared(t *target.Target, targets []target.Target, file string) bool {
	for _, o := range targets {
		if o.Key() == t.Key() || o.Applied == nil || !reconciler.IsArgoApplication(o.Applied.Reconciler) {
			continue
		}
		src, err := reconciler.ReadArgoSource(o.Applied.Reconciler.Obj, o.Applied.Source, os.DirFS(o.RepoDir))
		if err != nil || src.Type != reconciler.ArgoHelm {
			continue
		}
		files, _ := asMap(src.Spec["helm"])["valueFiles"].([]any)
		for _, f := range files {
			name, _ := f.(string)
			if strings.HasPrefix(name, "$") {
				_, rest, _ := strings.Cut(name, "/")
				name = rest
			} else {
				name = path.Join(src.Path, name)
			}
			if path.Clean(name) == file {
				return true
			}
		}
	}
	return false
}
