package placement

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
)

// Step is one element of a field path: a mapping key, or an item of an associative list selected
// by its merge key (containers by name, env by name, ports by containerPort, ...).
type Step struct {
	Key      string
	MergeKey string
	Value    any
}

// Path is a field path inside an object.
type Path []Step

// String renders the path in the editor's syntax: spec.template.spec.containers[name=web].image.
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		if s.MergeKey != "" {
			fmt.Fprintf(&b, "[%s=%v]", s.MergeKey, s.Value)
			continue
		}
		if strings.ContainsAny(s.Key, ".[]\"=") {
			fmt.Fprintf(&b, "[%q]", s.Key)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Key)
	}
	return b.String()
}

// FieldChange is one changed leaf (or a whole value that appeared or went away).
type FieldChange struct {
	Path   Path
	Old    any
	New    any
	Delete bool
	// Added is true when the field did not exist before.
	Added bool
}

func (c FieldChange) String() string {
	switch {
	case c.Delete:
		return fmt.Sprintf("%s: %s → (removed)", c.Path, short(c.Old))
	case c.Added:
		return fmt.Sprintf("%s: (unset) → %s", c.Path, short(c.New))
	}
	if lines := changedLines(c.Old, c.New); lines != "" {
		return fmt.Sprintf("%s: %s", c.Path, lines)
	}
	return fmt.Sprintf("%s: %s → %s", c.Path, short(c.Old), short(c.New))
}

// changedLines describes a change of a text of several lines (a file a ConfigMap holds) by the
// lines that changed, "line 3: a → b"; "" when old and new are not both such texts.
func changedLines(old, new any) string {
	a, ok1 := old.(string)
	b, ok2 := new.(string)
	if !ok1 || !ok2 || !strings.Contains(a, "\n") && !strings.Contains(b, "\n") {
		return ""
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, op := range difflib.NewMatcher(al, bl).GetOpCodes() {
		for i := 0; i < max(op.I2-op.I1, op.J2-op.J1) && op.Tag != 'e'; i++ {
			from, to := "(unset)", "(removed)"
			if op.I1+i < op.I2 {
				from = short(al[op.I1+i])
			}
			if op.J1+i < op.J2 {
				to = short(bl[op.J1+i])
			}
			line := op.J1 + i
			if op.J1+i >= op.J2 {
				line = op.I1 + i
			}
			out = append(out, fmt.Sprintf("line %d: %s → %s", line+1, from, to))
		}
	}
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("%d more lines", len(out)-3))
	}
	return strings.Join(out, "; ")
}

func short(v any) string {
	switch x := v.(type) {
	case string:
		if x == "" || strings.ContainsAny(x, "\n\r") {
			x = strconv.Quote(x)
			if len(x) > 60 {
				x = x[:57] + "..."
			}
		}
		return x
	case nil:
		return "null"
	case map[string]any, []any:
		s := flowText(x)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return s
	}
	return fmt.Sprint(v)
}

// flowText writes a map or list as YAML in flow style, {name: A, value: "1"}, as people read and
// write it (Go's map[name:A value:1] hides the types and reads as neither YAML nor JSON).
func flowText(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	n.Style = yaml.FlowStyle
	b, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

// PatchMeta returns the strategic-merge metadata (list merge keys) of a built-in kind, or nil for
// kinds the client does not know (custom resources), whose lists are then replaced whole.
func PatchMeta(gvk schema.GroupVersionKind) strategicpatch.LookupPatchMeta {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(obj)
	if err != nil {
		return nil
	}
	return meta
}

// Diff lists the field changes from before to after, with Kubernetes' list semantics. Reordering
// the items of a keyed list is a change of the whole list.
func Diff(before, after map[string]any, meta strategicpatch.LookupPatchMeta) []FieldChange {
	var out []FieldChange
	d := differ{}
	d.maps(nil, before, after, meta, &out)
	return out
}

// DiffUnordered is Diff where the order of a keyed list's items does not matter, as when the API
// server merges them: the closed loop's notion of "renders as asked".
func DiffUnordered(before, after map[string]any, meta strategicpatch.LookupPatchMeta) []FieldChange {
	var out []FieldChange
	d := differ{unordered: true}
	d.maps(nil, before, after, meta, &out)
	return out
}

type differ struct{ unordered bool }

func (d differ) maps(p Path, before, after map[string]any, meta strategicpatch.LookupPatchMeta, out *[]FieldChange) {
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p == nil && k == "status" {
			continue
		}
		bv, inB := before[k]
		av, inA := after[k]
		kp := append(append(Path{}, p...), Step{Key: k})
		switch {
		case !inA:
			*out = append(*out, FieldChange{Path: kp, Old: bv, Delete: true})
		case !inB:
			*out = append(*out, FieldChange{Path: kp, New: av, Added: true})
		default:
			d.values(kp, k, bv, av, meta, out)
		}
	}
}

func (d differ) values(p Path, key string, bv, av any, meta strategicpatch.LookupPatchMeta, out *[]FieldChange) {
	if reflect.DeepEqual(bv, av) {
		return
	}
	switch b := bv.(type) {
	case map[string]any:
		if a, ok := av.(map[string]any); ok {
			var sub strategicpatch.LookupPatchMeta
			if meta != nil {
				if s, _, err := meta.LookupPatchMetadataForStruct(key); err == nil {
					sub = s
				}
			}
			d.maps(p, b, a, sub, out)
			return
		}
	case []any:
		if a, ok := av.([]any); ok && meta != nil {
			if sub, pm, err := meta.LookupPatchMetadataForSlice(key); err == nil && pm.GetPatchMergeKey() != "" {
				if d.keyedLists(p, pm.GetPatchMergeKey(), b, a, sub, out) {
					return
				}
			}
		}
	}
	*out = append(*out, FieldChange{Path: p, Old: bv, New: av})
}

// diffKeyedLists diffs an associative list item by item; false when the lists cannot be keyed
// (an item without its key, or reordered items), and are then compared whole.
func (d differ) keyedLists(p Path, mergeKey string, before, after []any, meta strategicpatch.LookupPatchMeta, out *[]FieldChange) bool {
	index := func(list []any) ([]string, map[string]map[string]any, bool) {
		var order []string
		m := map[string]map[string]any{}
		for _, it := range list {
			mi, ok := it.(map[string]any)
			if !ok {
				return nil, nil, false
			}
			kv, ok := mi[mergeKey]
			if !ok {
				return nil, nil, false
			}
			ks := keyString(kv)
			order = append(order, ks)
			m[ks] = mi
		}
		return order, m, true
	}
	bOrder, bItems, ok1 := index(before)
	aOrder, aItems, ok2 := index(after)
	if !ok1 || !ok2 {
		return false
	}
	// Items kept must keep their relative order; a reorder is a whole-list change.
	var keptB, keptA []string
	for _, k := range bOrder {
		if _, ok := aItems[k]; ok {
			keptB = append(keptB, k)
		}
	}
	for _, k := range aOrder {
		if _, ok := bItems[k]; ok {
			keptA = append(keptA, k)
		}
	}
	if !d.unordered && !reflect.DeepEqual(keptA, keptB) {
		return false
	}
	var local []FieldChange
	for _, k := range bOrder {
		if _, ok := aItems[k]; !ok {
			local = append(local, FieldChange{Path: itemPath(p, mergeKey, bItems[k][mergeKey]), Old: bItems[k], Delete: true})
		}
	}
	for _, k := range aOrder {
		ip := itemPath(p, mergeKey, aItems[k][mergeKey])
		b, ok := bItems[k]
		if !ok {
			local = append(local, FieldChange{Path: ip, New: aItems[k], Added: true})
			continue
		}
		d.maps(ip, b, aItems[k], meta, &local)
	}
	*out = append(*out, local...)
	return true
}

func itemPath(p Path, mergeKey string, v any) Path {
	return append(append(Path{}, p[:len(p)-1]...), p[len(p)-1], Step{MergeKey: mergeKey, Value: v})
}

func keyString(v any) string {
	switch x := v.(type) {
	case string:
		return "s:" + x
	case int64:
		return "i:" + strconv.FormatInt(x, 10)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// StrategicPatch builds the strategic-merge patch document that expresses changes on an object
// named name (and namespace, when set) of the given apiVersion and kind.
func StrategicPatch(apiVersion, kind, namespace, name string, changes []FieldChange) map[string]any {
	md := map[string]any{"name": name}
	if namespace != "" {
		md["namespace"] = namespace
	}
	doc := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	for _, c := range changes {
		setPatch(doc, c.Path, c)
	}
	return doc
}

func setPatch(doc map[string]any, p Path, c FieldChange) {
	cur := doc
	for i := 0; i < len(p); i++ {
		s := p[i]
		last := i == len(p)-1
		if i+1 < len(p) && p[i+1].MergeKey != "" {
			// s.Key is a keyed list; p[i+1] selects the item.
			sel := p[i+1]
			list, _ := cur[s.Key].([]any)
			var item map[string]any
			for _, it := range list {
				if m, ok := it.(map[string]any); ok && reflect.DeepEqual(m[sel.MergeKey], sel.Value) {
					item = m
				}
			}
			if item == nil {
				item = map[string]any{sel.MergeKey: sel.Value}
				list = append(list, item)
				cur[s.Key] = list
			}
			if i+1 == len(p)-1 {
				switch {
				case c.Delete:
					item["$patch"] = "delete"
				default:
					for k, v := range c.New.(map[string]any) {
						item[k] = v
					}
				}
				return
			}
			cur = item
			i++
			continue
		}
		if last {
			if c.Delete {
				cur[s.Key] = nil
			} else {
				cur[s.Key] = c.New
			}
			return
		}
		next, ok := cur[s.Key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[s.Key] = next
		}
		cur = next
	}
}
