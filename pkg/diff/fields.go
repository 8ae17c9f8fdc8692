package diff

import (
	"errors"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// quantityType is the OpenAPI name of resource.Quantity, which structured-merge-diff sees as
// an untyped scalar: "500m", "0.5" and 0.5 are one value to the API server.
const quantityType = "io.k8s.apimachinery.pkg.api.resource.Quantity"

// ignoredFields are fields a manifest may write that the API server sets or ignores on write:
// never drift. Status belongs to the controllers, not to Git.
var ignoredFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("status"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "deletionTimestamp"),
	fieldpath.MakePathOrDie("metadata", "deletionGracePeriodSeconds"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
)

// manifestFields returns the manifest's field set: what it sets, without the fields the server
// owns and without empty granular maps (an empty map owns none of its keys when applied).
func manifestFields(tv *typed.TypedValue) (*fieldpath.Set, error) {
	set, err := tv.ToFieldSet()
	if err != nil {
		return nil, err
	}
	// Only leaves: structured-merge-diff extracts a map that is itself a member of the set
	// (as deduced schemas make every map) without its content.
	set = set.Leaves().RecursiveDifference(ignoredFields)
	empty := fieldpath.NewSet()
	root := tv.AsValue().Unstructured()
	set.Iterate(func(p fieldpath.Path) {
		v, found, tr := lookup(tv.Schema(), tv.TypeRef(), root, p)
		if !found {
			return
		}
		if m, ok := v.(map[string]any); ok && len(m) == 0 && !isAtomic(tv.Schema(), tr) {
			empty.Insert(p)
		}
	})
	return set.Difference(empty), nil
}

// fieldDiff compares want and live on set, with Kubernetes' semantics: associative lists by
// their keys (a reorder is no change), quantities by value, null and (for built-in kinds) empty
// lists and maps as absent. It returns the outermost differing paths, sorted.
func fieldDiff(set *fieldpath.Set, want, live *typed.TypedValue, builtin bool) ([]Field, error) {
	w := want.ExtractItems(set)
	l := live.ExtractItems(set)
	cmp, err := l.Compare(w)
	if err != nil {
		return nil, err
	}
	all := cmp.Added.Union(cmp.Removed).Union(cmp.Modified)
	var paths []fieldpath.Path
	all.Iterate(func(p fieldpath.Path) {
		for i := 1; i < len(p); i++ {
			if all.Has(p[:i]) {
				return // an ancestor is reported
			}
		}
		paths = append(paths, p.Copy())
	})
	sort.Slice(paths, func(i, j int) bool { return paths[i].Compare(paths[j]) < 0 })

	s := want.Schema()
	wv, lv := w.AsValue().Unstructured(), l.AsValue().Unstructured()
	var out []Field
	for _, p := range paths {
		wantV, inWant, tr := lookup(s, want.TypeRef(), wv, p)
		liveV, inLive, _ := lookup(s, want.TypeRef(), lv, p)
		if sameValue(wantV, inWant, liveV, inLive, tr, builtin) {
			continue
		}
		f := Field{Path: p.String()}
		if inWant {
			f.Want = wantV
		}
		if inLive {
			f.Live = liveV
		}
		f.wantAbsent, f.liveAbsent = !inWant, !inLive
		out = append(out, f)
	}
	return out, nil
}

// sameValue tells the differences structured-merge-diff reports that Kubernetes does not make.
func sameValue(a any, inA bool, b any, inB bool, tr schema.TypeRef, builtin bool) bool {
	if !inA || !inB {
		v := a
		if !inA {
			v = b
		}
		return v == nil || (builtin && isEmpty(v))
	}
	if isNamed(tr, quantityType) {
		qa, errA := toQuantity(a)
		qb, errB := toQuantity(b)
		return errA == nil && errB == nil && qa.Cmp(qb) == 0
	}
	return value.Equals(value.NewValueInterface(a), value.NewValueInterface(b))
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

func toQuantity(v any) (resource.Quantity, error) {
	switch t := v.(type) {
	case string:
		return resource.ParseQuantity(t)
	case int64:
		return *resource.NewQuantity(t, resource.DecimalSI), nil
	case float64:
		return resource.ParseQuantity(value.ToString(value.NewValueInterface(t)))
	}
	return resource.Quantity{}, errors.New("not a quantity")
}

func isNamed(tr schema.TypeRef, name string) bool {
	return tr.NamedType != nil && *tr.NamedType == name
}

func isAtomic(s *schema.Schema, tr schema.TypeRef) bool {
	a, ok := s.Resolve(tr)
	if !ok {
		return false
	}
	switch {
	case a.Map != nil:
		return a.Map.ElementRelationship == schema.Atomic
	case a.List != nil:
		return a.List.ElementRelationship == schema.Atomic
	}
	return true
}

// lookup finds the value at p in v (an unstructured value of type tr) and its type.
func lookup(s *schema.Schema, tr schema.TypeRef, v any, p fieldpath.Path) (any, bool, schema.TypeRef) {
	for _, pe := range p {
		atom, ok := s.Resolve(tr)
		if !ok {
			return nil, false, tr
		}
		switch {
		case pe.FieldName != nil:
			m, ok := v.(map[string]any)
			if !ok || atom.Map == nil {
				return nil, false, tr
			}
			if v, ok = m[*pe.FieldName]; !ok {
				return nil, false, tr
			}
			if f, ok := atom.Map.FindField(*pe.FieldName); ok {
				tr = f.Type
			} else {
				tr = atom.Map.ElementType
			}
		default:
			l, ok := v.([]any)
			if !ok || atom.List == nil {
				return nil, false, tr
			}
			found := false
			for i, item := range l {
				if itemMatches(s, atom.List, item, i, pe) {
					v, found = item, true
					break
				}
			}
			if !found {
				return nil, false, tr
			}
			tr = atom.List.ElementType
		}
	}
	return v, true, tr
}

// itemMatches tells whether a list item is the one pe names, the way structured-merge-diff
// names items: by key fields (their schema defaults when absent), by value, or by index.
func itemMatches(s *schema.Schema, l *schema.List, item any, i int, pe fieldpath.PathElement) bool {
	switch {
	case pe.Index != nil:
		return *pe.Index == i
	case pe.Value != nil:
		return value.Equals(*pe.Value, value.NewValueInterface(item))
	case pe.Key != nil:
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		var elem *schema.Map
		if a, ok := s.Resolve(l.ElementType); ok {
			elem = a.Map
		}
		keys := value.FieldList{}
		for _, k := range l.Keys {
			if kv, ok := m[k]; ok {
				keys = append(keys, value.Field{Name: k, Value: value.NewValueInterface(kv)})
			} else if elem != nil {
				if f, ok := elem.FindField(k); ok && f.Default != nil {
					keys = append(keys, value.Field{Name: k, Value: value.NewValueInterface(f.Default)})
				}
			}
		}
		keys.Sort()
		return keys.Equals(*pe.Key)
	}
	return false
}
