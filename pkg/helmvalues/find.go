// Package helmvalues finds the Helm values key that drives a field of an object a chart renders:
// the keys whose value equals the field's current value (or the repository and tag an image is
// made of) are candidates, and a candidate is kept only when rendering the chart with it changed
// moves exactly the requested fields of the requested object and nothing else. It renders
// nothing itself (the caller's Render does) and writes nothing (the caller places the key).
package helmvalues

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
)

// Render renders the chart with the given values: the objects it makes.
type Render func(values map[string]any) ([]*unstructured.Unstructured, error)

// Key is one values key and the value it must take: Path holds mapping keys (string) and list
// indexes (int).
type Key struct {
	Path  []any
	Value any
}

// String names the key as helm --set does: image.tag, env[0].value.
func (k Key) String() string {
	var b strings.Builder
	for _, p := range k.Path {
		switch v := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			s := fmt.Sprint(v)
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if strings.ContainsAny(s, ".[]=,") {
				s = strings.NewReplacer(".", `\.`, ",", `\,`, "=", `\=`, "[", `\[`, "]", `\]`).Replace(s)
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// Request is a change to one rendered object: Object as the chart renders it with Values now,
// Changes the fields that must move (placement.Diff of the live object and the desired one).
type Request struct {
	// Values are the release's values (what a key is written into); Defaults the chart's own,
	// which the candidates are searched in too (a key the release does not set yet).
	Values   map[string]any
	Defaults map[string]any
	// Rendered, when set, is the chart's render with Values (which Render would give).
	Rendered []*unstructured.Unstructured
	Object   *unstructured.Unstructured
	Changes  []placement.FieldChange
}

// NoKeyError says no values key drives the requested fields alone; Reasons say what was tried.
type NoKeyError struct {
	Object  string
	Reasons []string
}

func (e *NoKeyError) Error() string {
	msg := fmt.Sprintf("no values key of the chart drives %s alone", e.Object)
	if len(e.Reasons) > 0 {
		msg += ":\n  " + strings.Join(e.Reasons, "\n  ")
	}
	return msg
}

// Find returns the values keys that, set together, move exactly the requested fields of the
// requested object and nothing else in the chart's render. Candidates for a field are tried
// from the field itself up to its parents (a whole resources: or env: block a template copies
// with toYaml), and for an image also its repository and tag; the first that the render
// confirms is kept.
func Find(req Request, render Render) ([]Key, error) {
	base := req.Rendered
	if base == nil {
		var err error
		if base, err = render(req.Values); err != nil {
			return nil, fmt.Errorf("rendering the chart with its values: %w", err)
		}
	}
	self := find(base, req.Object)
	if self == nil {
		return nil, fmt.Errorf("the chart does not render %s", describe(req.Object))
	}
	want := self.DeepCopy()
	for _, c := range req.Changes {
		if err := apply(want.Object, c); err != nil {
			return nil, err
		}
	}
	meta := placement.PatchMeta(self.GroupVersionKind())
	requested := placement.Diff(self.Object, want.Object, meta)
	if len(requested) == 0 {
		return nil, nil
	}
	noKey := &NoKeyError{Object: describe(req.Object)}
	values := req.Values
	// rendered is the render of values once a key is chosen: the render that confirmed it, which
	// the checks after it read instead of rendering the same values again.
	var rendered []*unstructured.Unstructured
	var keys []Key
	for _, c := range requested {
		if covered(keys, rendered, self, c, meta) {
			continue
		}
		found := false
		cands := candidates(coalesce(req.Defaults, values), self.Object, want.Object, c)
		for _, cand := range cands {
			trial, err := withKey(values, cand)
			if err != nil {
				continue
			}
			objs, err := render(trial)
			if err != nil {
				noKey.Reasons = append(noKey.Reasons, fmt.Sprintf("%s=%s: the chart no longer renders: %v", cand, short(cand.Value), firstLine(err)))
				continue
			}
			moved, why := movesOnly(base, objs, self, want, meta)
			if why != "" || !contains(moved, c) {
				if why != "" {
					noKey.Reasons = append(noKey.Reasons, fmt.Sprintf("%s=%s %s", cand, short(cand.Value), why))
				}
				continue
			}
			keys, values, rendered, found = append(keys, cand), trial, objs, true
			break
		}
		if !found {
			if len(cands) == 0 {
				noKey.Reasons = append(noKey.Reasons, fmt.Sprintf("%s: no values key holds its value %s", c.Path, short(c.Old)))
			} else {
				noKey.Reasons = append(noKey.Reasons, fmt.Sprintf("%s: none of the %d keys holding its value %s moves it alone", c.Path, len(cands), short(c.Old)))
			}
			return nil, noKey
		}
	}
	got := find(rendered, self)
	if got == nil || !sameChanges(placement.Diff(self.Object, got.Object, meta), requested) {
		return nil, noKey
	}
	return keys, nil
}

// covered tells whether the keys already chosen (rendered: the chart's render with them) move
// change c as requested.
func covered(keys []Key, rendered []*unstructured.Unstructured, self *unstructured.Unstructured, c placement.FieldChange, meta strategicpatch.LookupPatchMeta) bool {
	if len(keys) == 0 {
		return false
	}
	got := find(rendered, self)
	if got == nil {
		return false
	}
	return contains(placement.Diff(self.Object, got.Object, meta), c)
}

// movesOnly compares a render with a candidate key against the base: every other object must be
// unchanged and the object's changes must be among the requested ones (want). It returns the
// object's changes, or a reason.
func movesOnly(base, objs []*unstructured.Unstructured, self, want *unstructured.Unstructured, meta strategicpatch.LookupPatchMeta) ([]placement.FieldChange, string) {
	if len(objs) != len(base) {
		return nil, fmt.Sprintf("changes which objects the chart renders (%d, not %d)", len(objs), len(base))
	}
	for _, b := range base {
		o := find(objs, b)
		if o == nil {
			return nil, "removes " + describe(b)
		}
		if sameObject(b, self) {
			continue
		}
		if !reflect.DeepEqual(normalize(b.Object), normalize(o.Object)) {
			return nil, "also changes " + describe(b)
		}
	}
	got := find(objs, self)
	moved := placement.Diff(self.Object, got.Object, meta)
	requested := placement.Diff(self.Object, want.Object, meta)
	for _, m := range moved {
		if !contains(requested, m) {
			return nil, fmt.Sprintf("also changes %s of %s", m.Path, describe(self))
		}
	}
	return moved, ""
}

func contains(list []placement.FieldChange, c placement.FieldChange) bool {
	for _, m := range list {
		if m.Path.String() == c.Path.String() && m.Delete == c.Delete && reflect.DeepEqual(normalize(m.New), normalize(c.New)) {
			return true
		}
	}
	return false
}

func sameChanges(a, b []placement.FieldChange) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		if !contains(b, c) {
			return false
		}
	}
	return true
}

// candidates are the keys that may drive change c, most specific first: keys holding the
// field's value, then its image's tag and repository, then keys holding a parent's value whole.
func candidates(values map[string]any, self, want map[string]any, c placement.FieldChange) []Key {
	var out []Key
	seen := map[string]bool{}
	add := func(k Key) {
		if s := k.String(); !seen[s] {
			seen[s] = true
			out = append(out, k)
		}
	}
	if !c.Added && !c.Delete && isScalar(c.Old) {
		for _, p := range holding(values, c.Old) {
			add(Key{Path: p, Value: like(lookup(values, p), c.New)})
		}
		if old, okOld := c.Old.(string); okOld && isImageField(c.Path) {
			if nw, ok := c.New.(string); ok {
				for _, k := range imageKeys(values, old, nw) {
					add(k)
				}
			}
		}
	}
	// A block (resources:, env:) is copied whole from a key holding it, or an empty one.
	start := len(c.Path) - 1
	if !isScalar(c.Old) || !isScalar(c.New) {
		start = len(c.Path)
	}
	for n := start; n >= 1; n-- {
		parent := c.Path[:n]
		if parent[len(parent)-1].MergeKey != "" {
			// A list item is not a block a template copies on its own.
			continue
		}
		cur, desired := get(self, parent), get(want, parent)
		for _, p := range holding(values, cur) {
			add(Key{Path: p, Value: desired})
		}
	}
	return out
}

// holding are the paths of values whose value equals v (an empty map or list stands for a
// field the object does not have).
func holding(values map[string]any, v any) [][]any {
	var out [][]any
	nv := normalize(v)
	var walk func(cur any, path []any)
	walk = func(cur any, path []any) {
		if len(path) > 0 && equalValue(normalize(cur), nv) {
			out = append(out, append([]any(nil), path...))
		}
		switch t := cur.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(t[k], append(path, k))
			}
		case []any:
			for i, e := range t {
				walk(e, append(path, i))
			}
		}
	}
	walk(values, nil)
	return out
}

func equalValue(a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		// nil only matches an empty block, never an unset scalar.
		_, am := a.(map[string]any)
		_, al := a.([]any)
		return am || al
	}
	if isScalar(a) && isScalar(b) {
		return scalarString(a) == scalarString(b) && a != nil && b != nil
	}
	return reflect.DeepEqual(a, b)
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

func scalarString(v any) string {
	switch t := v.(type) {
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case string:
		return t
	}
	return fmt.Sprint(v)
}

// like is v in the type of old: a value written as a string stays one.
func like(old, v any) any {
	if _, ok := old.(string); ok {
		if _, ok := v.(string); !ok {
			return scalarString(normalize(v))
		}
	}
	return v
}

func isImageField(p placement.Path) bool {
	return len(p) > 0 && p[len(p)-1].Key == "image" && p[len(p)-1].MergeKey == ""
}

// imageKeys are the keys an image reference may be assembled from: a map holding the old tag
// (or digest) beside the repository, the repository possibly split into registry and name.
func imageKeys(values map[string]any, old, nw string) []Key {
	oRepo, oTag, oSep := splitImage(old)
	nRepo, nTag, nSep := splitImage(nw)
	if oTag == "" || nTag == "" || oSep != nSep {
		return nil
	}
	var out []Key
	var walk func(cur any, path []any)
	walk = func(cur any, path []any) {
		switch t := cur.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var tagKey, repoKey string
			for _, k := range keys {
				s, ok := t[k].(string)
				if !ok {
					continue
				}
				switch {
				case s == oTag || (oSep == "@" && "sha256:"+strings.TrimPrefix(s, "sha256:") == oTag):
					tagKey = k
				case s == oRepo || strings.HasSuffix(oRepo, "/"+s):
					repoKey = k
				}
			}
			// A new repository can only be written where the repository is written whole; the
			// tag key comes first, the repository's is tried with it by Find's next round.
			if tagKey != "" && repoKey != "" {
				out = append(out, Key{Path: append(append([]any(nil), path...), tagKey), Value: nTag})
				if s := t[repoKey].(string); nRepo != oRepo && s == oRepo {
					out = append(out, Key{Path: append(append([]any(nil), path...), repoKey), Value: nRepo})
				}
			}
			for _, k := range keys {
				walk(t[k], append(path, k))
			}
		case []any:
			for i, e := range t {
				walk(e, append(path, i))
			}
		}
	}
	walk(values, nil)
	return out
}

// splitImage splits an image reference into repository and tag (sep ":") or digest (sep "@").
func splitImage(ref string) (repo, tag, sep string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:], "@"
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:], ":"
	}
	return ref, "", ""
}

// coalesce is values over defaults, merged map by map as Helm merges them.
func coalesce(defaults, values map[string]any) map[string]any {
	out, _ := deepCopy(defaults).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range values {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = coalesce(dm, vm)
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

// withKey is a deep copy of values with key k set.
func withKey(values map[string]any, k Key) (map[string]any, error) {
	out, _ := deepCopy(values).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	var cur any = out
	for i, p := range k.Path {
		last := i == len(k.Path)-1
		switch key := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is not a map", Key{Path: k.Path[:i]})
			}
			if last {
				m[key] = deepCopy(k.Value)
				return out, nil
			}
			if m[key] == nil {
				m[key] = map[string]any{}
			}
			cur = m[key]
		case int:
			l, ok := cur.([]any)
			if !ok || key >= len(l) {
				return nil, fmt.Errorf("%s has no item %d", Key{Path: k.Path[:i]}, key)
			}
			if last {
				l[key] = deepCopy(k.Value)
				return out, nil
			}
			cur = l[key]
		}
	}
	return nil, errors.New("empty values key")
}

func lookup(values map[string]any, path []any) any {
	var cur any = values
	for _, p := range path {
		switch key := p.(type) {
		case string:
			m, _ := cur.(map[string]any)
			cur = m[key]
		case int:
			l, _ := cur.([]any)
			if key >= len(l) {
				return nil
			}
			cur = l[key]
		}
	}
	return cur
}

// get is the value at p in obj (nil when absent).
func get(obj map[string]any, p placement.Path) any {
	var cur any = obj
	for _, s := range p {
		if s.MergeKey != "" {
			l, _ := cur.([]any)
			cur = nil
			for _, e := range l {
				if m, ok := e.(map[string]any); ok && scalarString(m[s.MergeKey]) == scalarString(s.Value) {
					cur = m
					break
				}
			}
			continue
		}
		m, _ := cur.(map[string]any)
		cur = m[s.Key]
	}
	return cur
}

// apply makes change c in obj: maps and merge-keyed list items are made as needed.
func apply(obj map[string]any, c placement.FieldChange) error {
	return applyAt(obj, c, c.Path)
}

func applyAt(m map[string]any, c placement.FieldChange, p placement.Path) error {
	s := p[0]
	if s.MergeKey != "" {
		return fmt.Errorf("%s: a list item must follow a field", c.Path)
	}
	if len(p) == 1 {
		if c.Delete {
			delete(m, s.Key)
		} else {
			m[s.Key] = deepCopy(c.New)
		}
		return nil
	}
	next := p[1]
	if next.MergeKey == "" {
		child, ok := m[s.Key].(map[string]any)
		if !ok {
			if m[s.Key] != nil {
				return fmt.Errorf("%s: %s is not a map", c.Path, s.Key)
			}
			child = map[string]any{}
			m[s.Key] = child
		}
		return applyAt(child, c, p[1:])
	}
	l, _ := m[s.Key].([]any)
	at := -1
	for i, e := range l {
		if em, ok := e.(map[string]any); ok && scalarString(em[next.MergeKey]) == scalarString(next.Value) {
			at = i
			break
		}
	}
	if len(p) == 2 {
		switch {
		case c.Delete && at >= 0:
			m[s.Key] = append(l[:at:at], l[at+1:]...)
		case c.Delete:
		case at >= 0:
			l[at] = deepCopy(c.New)
		default:
			m[s.Key] = append(l, deepCopy(c.New))
		}
		return nil
	}
	if at < 0 {
		l = append(l, map[string]any{next.MergeKey: next.Value})
		m[s.Key], at = l, len(l)-1
	}
	item, _ := l[at].(map[string]any)
	return applyAt(item, c, p[2:])
}

func find(objs []*unstructured.Unstructured, like *unstructured.Unstructured) *unstructured.Unstructured {
	for _, o := range objs {
		if sameObject(o, like) {
			return o
		}
	}
	return nil
}

func sameObject(a, b *unstructured.Unstructured) bool {
	return a.GroupVersionKind().GroupKind() == b.GroupVersionKind().GroupKind() && a.GetName() == b.GetName() &&
		(a.GetNamespace() == "" || b.GetNamespace() == "" || a.GetNamespace() == b.GetNamespace())
}

func describe(o *unstructured.Unstructured) string {
	return strings.ToLower(o.GetKind()) + "/" + o.GetName()
}

// normalize makes numbers comparable whatever decoded them.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case int:
		return float64(t)
	case int32:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	}
	return v
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
