package capture

import (
	"encoding/json"
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// LiveValues returns a copy of a rendered object whose leaves hold the live object's values:
// the fields Git manages, as the cluster has them. Fields the live object lacks keep the
// rendered value, and fields only the live object has (defaults, other managers') stay out.
// Keyed lists (containers by name) are matched by their merge key, other lists by position
// when both have the same length, else taken whole.
func LiveValues(rendered, live *unstructured.Unstructured, meta strategicpatch.LookupPatchMeta) *unstructured.Unstructured {
	out := rendered.DeepCopy()
	for k, v := range out.Object {
		switch k {
		case "apiVersion", "kind", "status":
			continue
		case "metadata":
			md, _ := v.(map[string]any)
			lmd, _ := live.Object["metadata"].(map[string]any)
			for _, f := range []string{"labels", "annotations"} {
				if rv, ok := md[f].(map[string]any); ok {
					if lv, ok := lmd[f].(map[string]any); ok {
						md[f] = liveMap(rv, lv, nil)
					}
				}
			}
			continue
		}
		lv, ok := live.Object[k]
		if !ok {
			continue
		}
		out.Object[k] = liveValue(v, lv, sub(meta, k))
	}
	return out
}

func sub(meta strategicpatch.LookupPatchMeta, key string) strategicpatch.LookupPatchMeta {
	if meta == nil {
		return nil
	}
	if m, _, err := meta.LookupPatchMetadataForStruct(key); err == nil {
		return m
	}
	if s, _, err := meta.LookupPatchMetadataForSlice(key); err == nil {
		return s
	}
	return nil
}

func mergeKey(meta strategicpatch.LookupPatchMeta, key string) string {
	if meta == nil {
		return ""
	}
	_, pm, err := meta.LookupPatchMetadataForSlice(key)
	if err != nil {
		return ""
	}
	return pm.GetPatchMergeKey()
}

func liveValue(rv, lv any, meta strategicpatch.LookupPatchMeta) any {
	switch r := rv.(type) {
	case map[string]any:
		l, ok := lv.(map[string]any)
		if !ok {
			return lv
		}
		return liveMap(r, l, meta)
	case []any:
		l, ok := lv.([]any)
		if !ok {
			return lv
		}
		return liveList(r, l, "", meta)
	default:
		if sameScalar(rv, lv) {
			return rv
		}
		return lv
	}
}

func liveMap(r, l map[string]any, meta strategicpatch.LookupPatchMeta) map[string]any {
	out := make(map[string]any, len(r))
	for k, v := range r {
		lv, ok := l[k]
		if !ok || lv == nil {
			out[k] = v
			continue
		}
		if rl, isList := v.([]any); isList {
			if ll, ok := lv.([]any); ok {
				out[k] = liveList(rl, ll, mergeKey(meta, k), sub(meta, k))
				continue
			}
		}
		out[k] = liveValue(v, lv, sub(meta, k))
	}
	return out
}

func liveList(r, l []any, key string, meta strategicpatch.LookupPatchMeta) []any {
	if key != "" {
		byKey := map[string]map[string]any{}
		for _, it := range l {
			if m, ok := it.(map[string]any); ok {
				byKey[jsonKey(m[key])] = m
			}
		}
		out := make([]any, len(r))
		for i, it := range r {
			m, ok := it.(map[string]any)
			lm, found := byKey[jsonKey(m[key])]
			if !ok || !found {
				out[i] = it
				continue
			}
			out[i] = liveMap(m, lm, meta)
		}
		return out
	}
	if len(r) != len(l) {
		return l
	}
	out := make([]any, len(r))
	for i := range r {
		if rm, ok := r[i].(map[string]any); ok {
			if lm, ok := l[i].(map[string]any); ok {
				out[i] = liveMap(rm, lm, meta)
				continue
			}
		}
		out[i] = liveValue(r[i], l[i], meta)
	}
	return out
}

func jsonKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameScalar compares values as the API server would store them: numbers by value, and
// quantities ("1000m" and "1") by amount.
func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) || jsonKey(a) == jsonKey(b) {
		return true
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb
		}
	}
	sa, okA := a.(string)
	sb, okB := b.(string)
	if okA && okB {
		qa, errA := resource.ParseQuantity(sa)
		qb, errB := resource.ParseQuantity(sb)
		return errA == nil && errB == nil && qa.Cmp(qb) == 0
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case int32:
		return float64(n), true
	}
	return 0, false
}
