package render

import (
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// docName is how a document or a generator names an object: its name and namespace there, and
// the document's index (-1 for a generator).
type docName struct {
	name, namespace string
	doc             int
}

// nameObjects sets, for the objects of one kind from one file (or from one kustomization's
// generators), the name and namespace their document or generator gives them, and the
// document's index. kustomize keeps the names an object had before its transformers only while
// it builds, and the layers above add the same prefix and suffix (and a generator its hash) to
// every object of a kind from one file: the smallest affix under which each object has exactly
// one name of names is taken. Objects keep their rendered names when no affix fits (a patch
// renamed one), and then only an exact name locates a document.
func nameObjects(objs []*Object, names []docName, hashed bool) {
	if len(names) == 0 {
		return
	}
	first := objs[0].ID.Name
	type affix struct{ prefix, suffix string }
	var affixes []affix
	seen := map[affix]bool{}
	for _, n := range names {
		for i := 0; n.name != "" && i+len(n.name) <= len(first); i++ {
			if first[i:i+len(n.name)] != n.name {
				continue
			}
			rest := first[i+len(n.name):]
			cands := []affix{{first[:i], rest}}
			if hashed {
				if h := strings.LastIndexByte(rest, '-'); h >= 0 && isNameHash(rest[h+1:]) {
					cands = append(cands, affix{first[:i], rest[:h]})
				}
			}
			for _, a := range cands {
				if !seen[a] {
					seen[a] = true
					affixes = append(affixes, a)
				}
			}
		}
	}
	// Smallest first: an object named exactly as its document wins over a lucky substring.
	sort.SliceStable(affixes, func(i, j int) bool {
		return len(affixes[i].prefix)+len(affixes[i].suffix) < len(affixes[j].prefix)+len(affixes[j].suffix)
	})
	for _, a := range affixes {
		if assigned, ok := matchNames(objs, names, a.prefix, a.suffix, hashed); ok {
			for i, o := range objs {
				o.Origin.Name, o.Origin.Namespace, o.Origin.Doc = assigned[i].name, assigned[i].namespace, assigned[i].doc
			}
			return
		}
	}
	for _, o := range objs {
		for _, n := range names {
			if n.name == o.Origin.Name {
				o.Origin.Doc = n.doc
				break
			}
		}
	}
}

// matchNames gives each object the one name that prefix+name+suffix (and a hash) renders as;
// false when an object has none, or several, or two objects the same.
func matchNames(objs []*Object, names []docName, prefix, suffix string, hashed bool) ([]docName, bool) {
	out := make([]docName, len(objs))
	used := map[int]bool{}
	for i, o := range objs {
		found := -1
		for j, n := range names {
			full := prefix + n.name + suffix
			rest, ok := strings.CutPrefix(o.ID.Name, full)
			if !ok || rest != "" && !(hashed && strings.HasPrefix(rest, "-") && isNameHash(rest[1:])) {
				continue
			}
			// Two documents of one name in different namespaces: the object's namespace
			// tells them apart unless a namespace transformer set it on both.
			if found >= 0 {
				if names[found].namespace == o.ID.Namespace || n.namespace != o.ID.Namespace {
					continue
				}
			}
			found = j
		}
		if found < 0 || used[found] {
			return nil, false
		}
		used[found] = true
		out[i] = names[found]
	}
	return out, true
}

// isNameHash tells whether s can be the content hash kustomize appends to a generated name.
func isNameHash(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// generatorNames are the names and namespaces the generators of a kustomization of this kind
// (ConfigMap or Secret) give their objects.
func generatorNames(src []byte, kind string) []docName {
	var k types.Kustomization
	if err := yaml.Unmarshal(src, &k); err != nil {
		return nil
	}
	var out []docName
	switch kind {
	case "ConfigMap":
		for _, g := range k.ConfigMapGenerator {
			out = append(out, docName{g.Name, g.Namespace, -1})
		}
	case "Secret":
		for _, g := range k.SecretGenerator {
			out = append(out, docName{g.Name, g.Namespace, -1})
		}
	}
	return out
}
