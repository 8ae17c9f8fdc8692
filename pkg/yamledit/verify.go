package yamledit

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// verify checks an edited copy g of f before it replaces f: g must hold
// the same documents as f, except document doc, which must equal what
// model makes of a copy of f's tree. Splicing bytes is only trusted after
// the parser agrees.
func (f *File) verify(g *File, doc int, model func(root *yaml.Node) (*yaml.Node, error)) error {
	if len(g.docs) != len(f.docs) {
		return fmt.Errorf("%w: the file has %d documents after the edit instead of %d", ErrInternal, len(g.docs), len(f.docs))
	}
	for i := range f.docs {
		if i == doc {
			continue
		}
		if !equalNodes(f.docs[i].Content[0], g.docs[i].Content[0], 0) {
			return fmt.Errorf("%w: document %d would change", ErrInternal, i)
		}
	}
	if decodes(f.docs[doc]) && !decodes(g.docs[doc]) {
		return fmt.Errorf("%w: document %d would no longer decode", ErrInternal, doc)
	}
	want, err := model(cloneTree(f.docs[doc].Content[0]))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInternal, err)
	}
	if !equalNodes(want, g.docs[doc].Content[0], 0) {
		return fmt.Errorf("%w: document %d would differ from the intended result", ErrInternal, doc)
	}
	return nil
}

// decodes reports whether a YAML decoder accepts the document; it refuses
// some trees the parser builds, such as duplicate keys.
func decodes(d *yaml.Node) bool {
	var v any
	return d.Decode(&v) == nil
}

// cloneTree deep-copies n; aliases in the copy point into the copy.
func cloneTree(n *yaml.Node) *yaml.Node {
	memo := map[*yaml.Node]*yaml.Node{}
	var cp func(n *yaml.Node) *yaml.Node
	cp = func(n *yaml.Node) *yaml.Node {
		if n == nil {
			return nil
		}
		if c, ok := memo[n]; ok {
			return c
		}
		c := *n
		memo[n] = &c
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = cp(k)
		}
		c.Alias = cp(n.Alias)
		return &c
	}
	return cp(n)
}

// equalNodes compares two trees as YAML data: kinds, resolved tags and
// values, mapping entries in any order, aliases by what they refer to.
// Styles, comments, anchors and positions do not count.
func equalNodes(a, b *yaml.Node, depth int) bool {
	c := comparer{memo: map[[2]*yaml.Node]bool{}}
	return c.equal(a, b, depth)
}

type comparer struct {
	memo map[[2]*yaml.Node]bool
}

func (c *comparer) equal(a, b *yaml.Node, depth int) bool {
	a, b = deref(a), deref(b)
	if depth > maxDepth || a.Kind != b.Kind || a.Kind == yaml.AliasNode {
		return false
	}
	key := [2]*yaml.Node{a, b}
	if r, ok := c.memo[key]; ok {
		return r
	}
	// An alias cycle compares equal while it is being compared.
	c.memo[key] = true
	r := c.compare(a, b, depth)
	c.memo[key] = r
	return r
}

func (c *comparer) compare(a, b *yaml.Node, depth int) bool {
	switch a.Kind {
	case yaml.ScalarNode:
		if a.ShortTag() != b.ShortTag() {
			return false
		}
		return a.ShortTag() == "!!null" || a.Value == b.Value
	case yaml.SequenceNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !c.equal(a.Content[i], b.Content[i], depth+1) {
				return false
			}
		}
		return true
	case yaml.MappingNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		used := make([]bool, len(b.Content)/2)
	outer:
		for i := 0; i+1 < len(a.Content); i += 2 {
			for j := 0; j+1 < len(b.Content); j += 2 {
				if !used[j/2] && c.equal(a.Content[i], b.Content[j], depth+1) && c.equal(a.Content[i+1], b.Content[j+1], depth+1) {
					used[j/2] = true
					continue outer
				}
			}
			return false
		}
		return true
	}
	return false
}

// setNode is the meaning of Set on a plain node tree: it sets p below n to
// a copy of v and returns the (possibly new) root. A value is replaced in
// place, keeping its anchor, so aliases to it see the new value.
func setNode(n *yaml.Node, p Path, v *yaml.Node) (*yaml.Node, error) {
	if len(p) == 0 {
		c := cloneTree(v)
		if n == nil {
			return c, nil
		}
		c.Anchor = n.Anchor
		*n = *c
		return n, nil
	}
	if n == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	e := p[0]
	if isNull(n) {
		kind := yaml.MappingNode
		if e.Kind != KeyElem {
			kind = yaml.SequenceNode
		}
		*n = yaml.Node{Kind: kind, Anchor: n.Anchor}
	}
	switch e.Kind {
	case KeyElem:
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s is %s, not a mapping", e.Key, kindName(n))
		}
		if i := keyIndex(n, e.Key); i >= 0 {
			c, err := setNode(n.Content[2*i+1], p[1:], v)
			if err != nil {
				return nil, err
			}
			n.Content[2*i+1] = c
			return n, nil
		}
		c, err := setNode(nil, p[1:], v)
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, strNode(e.Key), c)
	case IndexElem:
		if n.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("[%d] into %s", e.Index, kindName(n))
		}
		switch {
		case e.Index < len(n.Content):
			c, err := setNode(n.Content[e.Index], p[1:], v)
			if err != nil {
				return nil, err
			}
			n.Content[e.Index] = c
		case e.Index == len(n.Content):
			c, err := setNode(nil, p[1:], v)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		default:
			return nil, fmt.Errorf("[%d]: %w (the sequence has %d items)", e.Index, ErrNotFound, len(n.Content))
		}
	case MatchElem:
		if n.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("[%s=%s] into %s", e.Field, e.Value, kindName(n))
		}
		m := matchItems(n, e)
		switch {
		case len(m) == 1:
			c, err := setNode(n.Content[m[0]], p[1:], v)
			if err != nil {
				return nil, err
			}
			n.Content[m[0]] = c
		case len(m) == 0:
			item := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode(e.Field), selectorValue(e.Value)}}
			c, err := setNode(item, p[1:], v)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		default:
			return nil, fmt.Errorf("[%s=%s] matches %d items", e.Field, e.Value, len(m))
		}
	}
	return n, nil
}

// deleteNode is the meaning of Delete on a plain node tree.
func deleteNode(root *yaml.Node, p Path) error {
	n := root
	for i, e := range p {
		n = deref(n)
		var idx int
		switch e.Kind {
		case KeyElem:
			if n.Kind != yaml.MappingNode {
				return fmt.Errorf("%s: not a mapping", p[:i+1])
			}
			idx = keyIndex(n, e.Key)
		case IndexElem:
			idx = -1
			if n.Kind == yaml.SequenceNode && e.Index < len(n.Content) {
				idx = e.Index
			}
		case MatchElem:
			idx = -1
			if n.Kind == yaml.SequenceNode {
				if m := matchItems(n, e); len(m) == 1 {
					idx = m[0]
				}
			}
		}
		if idx < 0 {
			return fmt.Errorf("%s: %w", p[:i+1], ErrNotFound)
		}
		if i < len(p)-1 {
			if n.Kind == yaml.MappingNode {
				n = n.Content[2*idx+1]
			} else {
				n = n.Content[idx]
			}
			continue
		}
		if n.Kind == yaml.MappingNode {
			n.Content = append(n.Content[:2*idx:2*idx], n.Content[2*idx+2:]...)
		} else {
			n.Content = append(n.Content[:idx:idx], n.Content[idx+1:]...)
		}
	}
	return nil
}

// aliasUsers counts, for each anchored node of document doc, the aliases
// that refer to it.
func (f *File) aliasUsers(doc int) map[*yaml.Node][]*yaml.Node {
	users := map[*yaml.Node][]*yaml.Node{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if depth > maxDepth {
			return
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			users[n.Alias] = append(users[n.Alias], n)
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(f.docs[doc].Content[0], 0)
	return users
}

// checkShared refuses to edit at or below n when n is an alias, or carries
// an anchor that aliases use (unless allow).
func (f *File) checkShared(doc int, n *yaml.Node, allow bool) error {
	if n.Kind == yaml.AliasNode {
		target := n.Alias
		if target == nil {
			return aliasedf("alias *%s at line %d has no anchor", n.Value, n.Line)
		}
		users := f.aliasUsers(doc)[target]
		return aliasedf("the path goes through alias *%s at line %d: value is shared through anchor &%s (line %d) used by %d aliases; edit the anchor's users explicitly",
			n.Value, n.Line, target.Anchor, target.Line, len(users))
	}
	if n.Anchor == "" || allow {
		return nil
	}
	if users := f.aliasUsers(doc)[n]; len(users) > 0 {
		return aliasedf("value is shared through anchor &%s (line %d) used by %d aliases; edit the anchor's users explicitly",
			n.Anchor, n.Line, len(users))
	}
	return nil
}

// checkAnchorsInside fails when removing the subtree n would leave an
// alias outside it without its anchor. keepRoot says n's own anchor stays.
func (f *File) checkAnchorsInside(doc int, n *yaml.Node, keepRoot bool) {
	users := f.aliasUsers(doc)
	inside := map[*yaml.Node]bool{}
	var anchored []*yaml.Node
	var walk func(x *yaml.Node, depth int)
	walk = func(x *yaml.Node, depth int) {
		if depth > maxDepth {
			return
		}
		inside[x] = true
		if x.Anchor != "" && !(keepRoot && x == n) {
			anchored = append(anchored, x)
		}
		for _, c := range x.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	for _, a := range anchored {
		outside := 0
		for _, u := range users[a] {
			if !inside[u] {
				outside++
			}
		}
		if outside > 0 {
			failErr(aliasedf("value is shared through anchor &%s (line %d) used by %d aliases; edit the anchor's users explicitly",
				a.Anchor, a.Line, outside))
		}
	}
}

// aliasedError is an ErrAliased whose message says which anchor and where.
type aliasedError struct{ msg string }

func (e *aliasedError) Error() string        { return e.msg }
func (e *aliasedError) Is(target error) bool { return target == ErrAliased }

func aliasedf(format string, args ...any) error {
	return &aliasedError{fmt.Sprintf(format, args...)}
}
