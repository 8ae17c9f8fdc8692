package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Combine joins renders of parts of the target dir into the render of the whole target, as one
// kustomize run would have made it. Each part is a render of the target with resources: entries
// dropped (Options.Drop), so that together they hold every object; keep(i, o) says whether part
// i's object o goes into the whole (an object several parts hold is kept from one of them). The
// objects are put in kustomize's legacy order, the order of a kustomization without sortOptions.
// Two kept objects with one ID are an error: one kustomize run refuses them, and the caller
// renders the target whole to say so.
func Combine(dir string, parts []*Result, keep func(part int, o *Object) bool) (*Result, error) {
	out := &Result{Path: dir, Key: dir, sums: map[string][sha256.Size]byte{}, dirSums: map[string][sha256.Size]byte{}}
	seen := map[ObjectID]bool{}
	inputs, dirs := map[string]bool{}, map[string]bool{}
	for i, p := range parts {
		if p.resmap == nil {
			return nil, fmt.Errorf("combine %s: part %d is not a fresh render", dir, i)
		}
		for _, o := range p.Objects {
			if !keep(i, o) {
				continue
			}
			if seen[o.ID] {
				return nil, fmt.Errorf("combine %s: %s is in two parts", dir, o.ID)
			}
			seen[o.ID] = true
			out.Objects = append(out.Objects, o)
		}
		for _, f := range p.Inputs {
			inputs[f] = true
		}
		for _, d := range p.Dirs {
			dirs[d] = true
		}
		maps.Copy(out.sums, p.sums)
		maps.Copy(out.dirSums, p.dirSums)
		out.outside = out.outside || p.outside
	}
	if err := sortLegacy(out.Objects); err != nil {
		return nil, fmt.Errorf("combine %s: %w", dir, err)
	}
	out.Inputs = slices.Sorted(maps.Keys(inputs))
	out.Dirs = slices.Sorted(maps.Keys(dirs))
	if len(out.Dirs) == 0 {
		out.Dirs = nil
	}
	out.Cacheable = !out.outside
	return out, nil
}

// SameAs reports whether o and other are the same object with the same content.
func (o *Object) SameAs(other *Object) bool {
	if o.ID != other.ID || o.version != other.version {
		return false
	}
	a, errA := o.json()
	b, errB := other.json()
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// JSON is the object's JSON encoding, as the render or the cache holds it. Callers do not change it.
func (o *Object) JSON() ([]byte, error) { return o.json() }

// gvk is an object's group, version and kind.
type gvk struct{ group, version, kind string }

func (g gvk) apiVersion() string {
	if g.group == "" {
		return g.version
	}
	return g.group + "/" + g.version
}

// sortLegacy orders objects as kustomize's legacy order does: by kind, in the ranking kustomize
// gives the kinds present (asked of kustomize itself, with one stand-in object per kind), then
// by namespace and name as kustomize compares them.
func sortLegacy(objs []*Object) error {
	var kinds []gvk
	have := map[gvk]bool{}
	for _, o := range objs {
		g := gvk{o.ID.Group, o.version, o.ID.Kind}
		if !have[g] {
			have[g] = true
			kinds = append(kinds, g)
		}
	}
	rank, err := kindRanks(kinds)
	if err != nil {
		return err
	}
	keys := make(map[*Object]string, len(objs))
	for _, o := range objs {
		keys[o] = legacyKey(o.ID.Namespace, o.ID.Name)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		ra, rb := rank[gvk{a.ID.Group, a.version, a.ID.Kind}], rank[gvk{b.ID.Group, b.version, b.ID.Kind}]
		if ra != rb {
			return ra < rb
		}
		return keys[a] < keys[b]
	})
	return nil
}

// legacyKey orders the objects of one kind as kustomize's legacy order compares them: namespace
// and name joined by "|", an empty one written as kustomize writes it.
func legacyKey(ns, name string) string {
	if ns == "" {
		ns = "~X"
	}
	if name == "" {
		name = "~N"
	}
	return ns + "|" + name
}

// kindRanks is the position kustomize's legacy order gives each kind: a render, in memory, of
// one object of each.
func kindRanks(kinds []gvk) (map[gvk]int, error) {
	var b strings.Builder
	for i, g := range kinds {
		doc, err := json.Marshal(map[string]any{"apiVersion": g.apiVersion(), "kind": g.kind,
			"metadata": map[string]any{"name": fmt.Sprintf("kind-%d", i)}})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "---\n%s\n", doc)
	}
	fsys := filesys.MakeFsInMemory()
	if err := fsys.WriteFile("/kinds/objects.yaml", []byte(b.String())); err != nil {
		return nil, err
	}
	if err := fsys.WriteFile("/kinds/kustomization.yaml", []byte("resources:\n- objects.yaml\n")); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(fsys, "/kinds")
	if err != nil {
		return nil, fmt.Errorf("ranking kinds: %w", err)
	}
	rank := make(map[gvk]int, len(kinds))
	for i, r := range m.Resources() {
		g := r.GetGvk()
		rank[gvk{g.Group, g.Version, g.Kind}] = i
	}
	if len(rank) != len(kinds) {
		return nil, fmt.Errorf("ranking kinds: %d kinds, %d ranked", len(kinds), len(rank))
	}
	return rank, nil
}
