package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set makes the node at p in document doc equal to value.
//
// A scalar replacing a scalar keeps its place and its quoting when the new
// value allows (a string that would read as another type, such as "true",
// "5" or "", is quoted; a multi-line string becomes a literal block in
// block context). A mapping or sequence set over one of the same kind is
// merged key by key and item by item, so unchanged entries keep their bytes
// and comments. Missing intermediate mappings are created; a missing key is
// appended at the end of its mapping in that mapping's indentation, or
// inside `{...}` for flow mappings and `[...]` for flow sequences. A
// selector (`containers[name=web]`) that matches no item appends a new item
// holding the selector's field. value is not modified; it must not contain
// anchors or aliases.
//
// A null on the path (`labels:`) becomes the mapping or sequence the path
// needs. Setting a value equal to the current one changes nothing.
//
// An edit at or below a node whose anchor is used by aliases would change
// every alias user and fails with ErrAliased, unless AllowAnchor is given;
// a path through an alias always fails. Constructs that cannot be edited
// without rewriting more than the value (explicit `?` keys, for example)
// fail with ErrUnsupported. On any error the File is unchanged.
func (f *File) Set(doc int, p Path, value *yaml.Node, opts ...Option) (err error) {
	defer catch(&err)
	if err := f.checkDoc(doc); err != nil {
		return err
	}
	if value == nil {
		return errors.New("set " + p.String() + ": nil value")
	}
	if value.Kind == yaml.DocumentNode && len(value.Content) == 1 {
		value = value.Content[0]
	}
	if err := checkNewTree(value, 0); err != nil {
		return fmt.Errorf("set %s: %w", p, err)
	}
	if len(p) > 0 && p[len(p)-1].Kind == MatchElem {
		if value, err = withSelector(value, p[len(p)-1]); err != nil {
			return fmt.Errorf("set %s: %w", p, err)
		}
	}
	g := *f
	if err := g.set(doc, p, value, hasAllow(opts)); err != nil {
		return fmt.Errorf("set %s: %w", p, err)
	}
	if err := f.verify(&g, doc, func(root *yaml.Node) (*yaml.Node, error) { return setNode(root, p, value) }); err != nil {
		return fmt.Errorf("set %s: %w", p, err)
	}
	*f = g
	return nil
}

// Append adds items at the end of the sequence at p in document doc in one edit: the bytes
// of Set of each item at the index after the last, in turn, for one parse of the file instead
// of one per item. A missing or null value at p becomes the sequence of the items; any other
// value that is not a sequence is an error. On any error the File is unchanged.
func (f *File) Append(doc int, p Path, items []*yaml.Node, opts ...Option) (err error) {
	defer catch(&err)
	if err := f.checkDoc(doc); err != nil {
		return err
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		if it == nil {
			return errors.New("append " + p.String() + ": nil item")
		}
		if it.Kind == yaml.DocumentNode && len(it.Content) == 1 {
			it = it.Content[0]
		}
		seq.Content = append(seq.Content, it)
	}
	if len(seq.Content) == 0 {
		return nil
	}
	if err := checkNewTree(seq, 0); err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	cur, ok := f.Get(doc, p)
	if !ok || isNull(cur) {
		return f.Set(doc, p, seq, opts...)
	}
	if cur.Kind != yaml.SequenceNode {
		return fmt.Errorf("append %s: %s, not a sequence", p, kindName(cur))
	}
	n := len(cur.Content)
	g := *f
	s, err := g.walk(doc, p, hasAllow(opts))
	if err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	g.appendItem(s, seq.Content...)
	model := func(root *yaml.Node) (*yaml.Node, error) {
		for i, it := range seq.Content {
			var err error
			if root, err = setNode(root, p.with(Index(n+i)), it); err != nil {
				return nil, err
			}
		}
		return root, nil
	}
	if err := f.verify(&g, doc, model); err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	*f = g
	return nil
}

// Delete removes the key or sequence item at p in document doc, with the
// lines of its value and the comments on them; the comments around it and
// blank lines stay. Removing the last key of a block mapping leaves `{}`
// (and the last item of a block sequence `[]`). A missing path is
// ErrNotFound.
func (f *File) Delete(doc int, p Path, opts ...Option) (err error) {
	defer catch(&err)
	if err := f.checkDoc(doc); err != nil {
		return err
	}
	if len(p) == 0 {
		return errors.New("delete: empty path; use DeleteDoc to remove a document")
	}
	g := *f
	if err := g.delete(doc, p, hasAllow(opts)); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if err := f.verify(&g, doc, func(root *yaml.Node) (*yaml.Node, error) { return root, deleteNode(root, p) }); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	*f = g
	return nil
}

func hasAllow(opts []Option) bool { return slices.Contains(opts, AllowAnchor) }

func (f *File) checkDoc(doc int) error {
	if doc < 0 || doc >= len(f.docs) {
		return fmt.Errorf("document %d: %w (the file has %d)", doc, ErrNotFound, len(f.docs))
	}
	return nil
}

func checkNewTree(n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	if err := checkNew(n); err != nil {
		return err
	}
	if n.Kind == yaml.MappingNode {
		if len(n.Content)%2 != 0 {
			return errors.New("mapping node has an odd number of children")
		}
		seen := map[string]bool{}
		for i := 0; i < len(n.Content); i += 2 {
			// yaml.v3 takes keys with the same text for the same key.
			if k := n.Content[i]; k.Kind == yaml.ScalarNode {
				if seen[k.Value] {
					return fmt.Errorf("duplicate key %q", k.Value)
				}
				seen[k.Value] = true
			}
		}
	}
	if n.Kind == yaml.DocumentNode {
		return errors.New("a document node cannot be a value")
	}
	for _, c := range n.Content {
		if err := checkNewTree(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// withSelector makes an item set through a selector keep the selector's
// field, so that it is still the item the path names.
func withSelector(v *yaml.Node, e Elem) (*yaml.Node, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the item selected by [%s=%s] must be a mapping", e.Field, e.Value)
	}
	if i := keyIndex(v, e.Field); i >= 0 {
		fv := v.Content[2*i+1]
		if fv.Kind != yaml.ScalarNode || fv.Value != e.Value {
			return nil, fmt.Errorf("the value's %s does not match the selector [%s=%s]", e.Field, e.Field, e.Value)
		}
		return v, nil
	}
	out := *v
	out.Content = append([]*yaml.Node{strNode(e.Field), selectorValue(e.Value)}, v.Content...)
	return &out, nil
}

// selectorValue is the field value of an item created for a selector: an
// integer when it reads as one (ports), else a string (names).
func selectorValue(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	if n.ShortTag() != "!!int" {
		n.Tag = "!!str"
	}
	return n
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// slot is the place of a value: entry idx of a mapping, item idx of a
// sequence, or the root of a document (parent nil). Slots hold parsed
// nodes, so they are only good until the next splice.
type slot struct {
	doc    int
	parent *yaml.Node
	idx    int
}

func (f *File) node(s slot) *yaml.Node {
	switch {
	case s.parent == nil:
		return f.docs[s.doc].Content[0]
	case s.parent.Kind == yaml.MappingNode:
		return s.parent.Content[2*s.idx+1]
	}
	return s.parent.Content[s.idx]
}

func (s slot) inFlow() bool { return s.parent != nil && s.parent.Style&yaml.FlowStyle != 0 }

// geom is where a slot's value sits and how new content there is indented.
type geom struct {
	sep       int // after `:`, `-` or `---`; -1 for a document without `---`
	indent    int // indentation of the structure holding the value, -1 at the root
	vs, ve    int // the value's bytes; both sep for an empty value
	empty     bool
	colon     bool // a mapping entry written with its `:`
	mapCol    int  // column of a new block mapping value
	seqCol    int  // column of a new block sequence value
	scalarCol int  // column of a new block scalar's content
	inSeq     bool
}

func (f *File) geometry(s slot) geom {
	t := &f.lt
	var g geom
	switch {
	case s.parent == nil:
		g.sep = f.rootSep(s.doc)
		g.indent = -1
		g.scalarCol = f.indent
	case s.parent.Kind == yaml.MappingNode:
		ks := f.nodeStart(s.parent.Content[2*s.idx])
		ke := f.nodeEnd(s.parent.Content[2*s.idx], -1)
		g.sep = ke
		if c := f.colonAfter(ke); c >= 0 {
			g.sep, g.colon = c+1, true
		}
		g.indent = f.keyColumn(ks)
		if g.indent != t.column(ks) {
			fail("explicit `?` key at line %d", t.line(ks)+1)
		}
		g.mapCol, g.seqCol, g.scalarCol = g.indent+f.indent, g.indent+f.seqIndent, g.indent+f.indent
	default:
		if s.inFlow() {
			g.sep = -1
			g.indent = -1
			break
		}
		d := f.dash(s.parent, s.idx)
		g.sep = d + 1
		g.indent = t.column(d)
		g.mapCol, g.seqCol, g.scalarCol = g.indent+2, g.indent+2, g.indent+f.indent
		g.inSeq = true
	}
	v := f.node(s)
	if isEmptyPlain(v) && !hasProps(v) {
		if g.sep < 0 {
			fail("empty value at line %d has no position", v.Line)
		}
		g.empty, g.vs, g.ve = true, f.emptyAt(g.sep, g.indent), g.sep
		return g
	}
	g.vs, g.ve = f.nodeStart(v), f.nodeEnd(v, g.indent)
	return g
}

// rootSep is the offset after the `---` opening document doc, or -1.
func (f *File) rootSep(doc int) int {
	d := f.docs[doc]
	off := f.lt.offset(d.Line, d.Column)
	if f.lt.isDocMarker(off) && f.lt.src[off] == '-' {
		return off + 3
	}
	return -1
}

// renderer returns a renderer for text that ends on the line holding at,
// inside a structure indented at col. Block scalars are not used where the
// lines after them would be read as their content: at the end of a file
// without a final newline, above lines of spaces or comments indented
// deeper than col, and (for `|+`) above blank lines.
func (f *File) renderer(at, col int) *renderer {
	t := &f.lt
	r := &renderer{indent: f.indent, seqIndent: f.seqIndent, noBlock: t.lineEnd(at) == len(f.src) && !f.endsWithBreak()}
	for line := t.nextLine(at); line < len(t.src); line = t.nextLine(line) {
		p := t.skipSpaces(line)
		if p == t.lineEnd(line) {
			if p-line > col {
				r.noBlock = true
			}
			r.noKeep = true
			continue
		}
		if t.src[p] == '#' && p-line > col {
			r.noBlock = true
		}
		break
	}
	return r
}

func (f *File) endsWithBreak() bool {
	n := len(f.src)
	return n > 0 && (f.src[n-1] == '\n' || f.src[n-1] == '\r' || bytes.HasSuffix(f.src, []byte("\u0085")) ||
		bytes.HasSuffix(f.src, []byte("\u2028")) || bytes.HasSuffix(f.src, []byte("\u2029")))
}

// splice replaces src[start:end] with text and parses the result again.
// The indentation style found in the original file is kept for later steps.
func (f *File) splice(start, end int, text string) {
	if start < 0 || end < start || end > len(f.src) {
		fail("splice [%d,%d) out of range", start, end)
	}
	src := make([]byte, 0, len(f.src)-(end-start)+len(text))
	src = append(src, f.src[:start]...)
	src = append(src, text...)
	src = append(src, f.src[end:]...)
	nf, err := parse(src)
	if err != nil {
		failErr(fmt.Errorf("%w: the edited text does not parse: %v", ErrInternal, err))
	}
	nf.indent, nf.seqIndent, nf.eol = f.indent, f.seqIndent, f.eol
	*f = *nf
}

// walk follows p from the root of document doc, refusing shared values on
// the way, and returns the slot of the value at p.
func (f *File) walk(doc int, p Path, allow bool) (slot, error) {
	s := slot{doc: doc}
	for i, e := range p {
		n := f.node(s)
		if err := f.checkShared(doc, n, allow); err != nil {
			return s, err
		}
		idx, err := f.find(n, e, p[:i+1])
		if err != nil {
			return s, err
		}
		if idx < 0 {
			return s, fmt.Errorf("%s: %w", p[:i+1], ErrNotFound)
		}
		s = slot{doc: doc, parent: n, idx: idx}
	}
	if err := f.checkShared(doc, f.node(s), allow); err != nil {
		return s, err
	}
	return s, nil
}

// find returns the index in n of the entry e selects, or -1.
func (f *File) find(n *yaml.Node, e Elem, at Path) (int, error) {
	switch e.Kind {
	case KeyElem:
		if n.Kind != yaml.MappingNode {
			return -1, f.kindError(at, n, "a mapping")
		}
		return keyIndex(n, e.Key), nil
	case IndexElem:
		if n.Kind != yaml.SequenceNode {
			return -1, f.kindError(at, n, "a sequence")
		}
		if e.Index >= len(n.Content) {
			return -1, nil
		}
		return e.Index, nil
	case MatchElem:
		if n.Kind != yaml.SequenceNode {
			return -1, f.kindError(at, n, "a sequence")
		}
		m := matchItems(n, e)
		if len(m) > 1 {
			return -1, fmt.Errorf("%s matches %d items (lines %d and %d)", at, len(m), n.Content[m[0]].Line, n.Content[m[1]].Line)
		}
		if len(m) == 0 {
			return -1, nil
		}
		return m[0], nil
	}
	return -1, fmt.Errorf("unknown path element kind %d", e.Kind)
}

func (f *File) kindError(at Path, n *yaml.Node, want string) error {
	return fmt.Errorf("%s: cannot descend into %s at line %d: not %s", at, kindName(n), n.Line, want)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar (" + n.ShortTag() + ")"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func (f *File) set(doc int, p Path, v *yaml.Node, allow bool) error {
	s := slot{doc: doc}
	for i, e := range p {
		n := f.node(s)
		if err := f.checkShared(doc, n, allow); err != nil {
			return err
		}
		rest := p[i+1:]
		if isNull(n) {
			// A null (`labels:`) becomes the collection the path needs.
			nv, err := setNode(nil, p[i:], v)
			if err != nil {
				return err
			}
			f.replaceSlot(s, nv)
			return nil
		}
		idx, err := f.find(n, e, p[:i+1])
		if err != nil {
			return err
		}
		if idx >= 0 {
			s = slot{doc: doc, parent: n, idx: idx}
			continue
		}
		switch e.Kind {
		case KeyElem:
			if k := sameTextKey(n, e.Key); k != nil {
				// yaml.v3 (and so kustomize) would take both for the same key.
				return fmt.Errorf("%s: the mapping at line %d has a %s key %s (line %d), not the string %q",
					p[:i+1], n.Line, k.ShortTag(), k.Value, k.Line, e.Key)
			}
			if len(rest) > 0 && lookupMerged(n, e.Key, 0) != nil {
				return aliasedf("%s comes from a `<<` merge at line %d: value is shared with the merged mapping's other users; edit them explicitly", p[:i+1], n.Line)
			}
			nv, err := setNode(nil, rest, v)
			if err != nil {
				return err
			}
			f.insertEntry(s, strNode(e.Key), nv)
		case IndexElem:
			if e.Index > len(n.Content) {
				return fmt.Errorf("%s: %w (the sequence at line %d has %d items)", p[:i+1], ErrNotFound, n.Line, len(n.Content))
			}
			nv, err := setNode(nil, rest, v)
			if err != nil {
				return err
			}
			f.appendItem(s, nv)
		case MatchElem:
			item := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode(e.Field), selectorValue(e.Value)}}
			if len(rest) == 0 {
				item = v
			} else if item, err = setNode(item, rest, v); err != nil {
				return err
			}
			f.appendItem(s, item)
		}
		return nil
	}
	return f.reconcile(doc, p, v, allow)
}

// reconcile makes the existing value at p equal v, touching only what
// differs when both are mappings or both are sequences.
func (f *File) reconcile(doc int, p Path, v *yaml.Node, allow bool) error {
	s, err := f.walk(doc, p, allow)
	if err != nil {
		return err
	}
	old := f.node(s)
	if equalNodes(old, v, 0) && old.Kind != yaml.AliasNode {
		return nil
	}
	switch {
	case old.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode && len(old.Content) > 0 && len(v.Content) > 0 &&
		stringKeys(old) && stringKeys(v):
		var gone []string
		for i := 0; i < len(old.Content); i += 2 {
			if keyIndex(v, old.Content[i].Value) < 0 {
				gone = append(gone, old.Content[i].Value)
			}
		}
		for i := 0; i < len(v.Content); i += 2 {
			if err := f.set(doc, p.with(Key(v.Content[i].Value)), v.Content[i+1], allow); err != nil {
				return err
			}
		}
		for _, k := range gone {
			if err := f.delete(doc, p.with(Key(k)), allow); err != nil {
				return err
			}
		}
		return nil
	case old.Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode && len(old.Content) > 0 && len(v.Content) > 0:
		if drop, ok := removedItems(old, v); ok {
			for i := len(drop) - 1; i >= 0; i-- {
				if err := f.delete(doc, p.with(Index(drop[i])), allow); err != nil {
					return err
				}
			}
			return nil
		}
		n := len(old.Content)
		for i, it := range v.Content {
			if err := f.set(doc, p.with(Index(i)), it, allow); err != nil {
				return err
			}
		}
		for i := n - 1; i >= len(v.Content); i-- {
			if err := f.delete(doc, p.with(Index(i)), allow); err != nil {
				return err
			}
		}
		return nil
	}
	if old.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode && !(isEmptyPlain(old) && !hasProps(old)) {
		f.replaceScalar(s, v)
		return nil
	}
	f.replaceSlot(s, v)
	return nil
}

// sameTextKey returns a non-string scalar key of m written as k.
func sameTextKey(m *yaml.Node, k string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if kn := m.Content[i]; kn.Kind == yaml.ScalarNode && kn.Value == k {
			return kn
		}
	}
	return nil
}

// stringKeys reports whether every key of m is a distinct string.
func stringKeys(m *yaml.Node) bool {
	seen := map[string]bool{}
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" || seen[k.Value] {
			return false
		}
		seen[k.Value] = true
	}
	return true
}

// removedItems reports the indexes to delete from old when v is old with
// some items taken out.
func removedItems(old, v *yaml.Node) ([]int, bool) {
	if len(v.Content) >= len(old.Content) {
		return nil, false
	}
	var drop []int
	j := 0
	for i, it := range old.Content {
		if j < len(v.Content) && equalNodes(it, v.Content[j], 0) {
			j++
			continue
		}
		drop = append(drop, i)
	}
	return drop, j == len(v.Content)
}

func (f *File) delete(doc int, p Path, allow bool) error {
	ps, err := f.walk(doc, p.parent(), allow)
	if err != nil {
		return err
	}
	n := f.node(ps)
	idx, err := f.find(n, p[len(p)-1], p)
	if err != nil {
		return err
	}
	if idx < 0 {
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	s := slot{doc: doc, parent: n, idx: idx}
	if err := f.checkShared(doc, f.node(s), allow); err != nil {
		return err
	}
	f.deleteEntry(ps, s)
	return nil
}

// replaceScalar writes scalar v over the existing scalar at s, in place:
// the anchor, the surrounding spacing and any comment stay, and so does the
// quoting style when v can be written in it.
func (f *File) replaceScalar(s slot, v *yaml.Node) {
	t := &f.lt
	old := f.node(s)
	g := f.geometry(s)
	cs := f.contentStart(old)
	if g.sep >= 0 && t.line(cs) != t.line(g.sep) && t.column(cs) <= g.indent {
		// Only a block scalar may start below its key without indentation;
		// what replaces it is written after the key.
		f.replaceSlot(s, v)
		return
	}
	start := cs
	prefix := ""
	if f.propsAt(old) {
		p := f.readProps(g.vs)
		if p.tag && old.ShortTag() != v.ShortTag() {
			start = p.start
			if old.Anchor != "" {
				prefix = "&" + old.Anchor + " "
			}
		} else if isEmptyPlain(old) {
			start = p.end
			prefix = " "
		}
	}
	c := ctxBlockValue
	switch {
	case s.inFlow():
		c = ctxFlowValue
	case s.parent == nil:
		c = ctxRoot
	}
	oldBlock := old.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	end := g.ve
	rest := ""
	col := g.scalarCol
	if oldBlock {
		b := f.blockScalar(cs, g.indent)
		rest = t.trailingComment(b.hdrEnd)
		end = max(end, t.lineEnd(cs))
		if b.contentIndent > g.indent && b.contentIndent >= 0 {
			col = b.contentIndent
		}
	}
	r := f.renderer(end, col-1)
	if !s.inFlow() && (wantsBlock(v) || (oldBlock && v.ShortTag() == "!!str" && v.Style&yaml.TaggedStyle == 0)) && !r.noBlock {
		h, lines, ok := literal(v.Value, col, g.indent, !r.noKeep)
		if ok && oldBlock {
			if old.Style&yaml.FoldedStyle != 0 && !strings.Contains(v.Value, "\n") {
				// One line folds to itself: keep the `>` the file used.
				h = ">" + h[1:]
			}
			f.splice(start, end, prefix+h+rest+f.eol+strings.Join(lines, f.eol))
			return
		}
		if ok {
			f.replaceSlot(s, v)
			return
		}
	}
	prefer := old.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
	if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		prefer = v.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
	}
	text, err := r.scalarText(v, c, prefer)
	if err != nil {
		failErr(err)
	}
	f.splice(start, end, prefix+f.beforeHash(end, text)+rest)
}

// replaceSlot writes v in place of whatever the slot holds. The anchor of
// the old value and a comment on its first line are kept.
func (f *File) replaceSlot(s slot, v *yaml.Node) {
	t := &f.lt
	old := f.node(s)
	f.checkAnchorsInside(s.doc, old, true)
	g := f.geometry(s)
	anchor := ""
	if old.Anchor != "" {
		anchor = "&" + old.Anchor
	}
	if s.inFlow() {
		r := f.renderer(g.ve, g.indent)
		text, err := r.flow(v, false, 0)
		if err != nil {
			failErr(err)
		}
		if g.empty {
			if g.colon {
				if q := g.sep; q+1 < len(t.src) && t.src[q] == ' ' && t.src[q+1] != '#' {
					f.splice(q+1, q+1, text)
					return
				}
				f.splice(g.sep, g.sep, " "+text)
			} else {
				if ks := f.nodeStart(s.parent.Content[2*s.idx]); t.line(ks) != t.line(g.sep) {
					fail("a key spanning lines (line %d) cannot take a `:`", t.line(ks)+1)
				}
				f.splice(g.sep, g.sep, ": "+text)
			}
			return
		}
		if anchor != "" {
			text = anchor + " " + text
		}
		f.splice(g.vs, g.ve, f.beforeHash(g.ve, text))
		return
	}
	r := f.renderer(g.ve, g.indent)

	// A document whose value starts on a line of its own is rewritten from
	// that line, so comments between `---` and the value stay.
	lead, start := " ", g.sep
	if g.sep < 0 || (!g.empty && s.parent == nil && t.line(g.vs) != t.line(g.sep) && t.onlySpacesBefore(g.vs)) {
		lead, start = "", t.lineStart(g.vs)
	}

	// A comment after `key:` (or after a block scalar's header) when the
	// value starts on a later line.
	hdrComment := ""
	if lead != "" {
		p := t.skipSpaces(g.sep)
		if !g.empty && p == g.vs && f.propsAt(old) {
			pe := f.readProps(g.vs)
			p = t.skipSpaces(pe.end)
		}
		if !g.empty && old.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && p == f.contentStart(old) {
			p = t.skipSpaces(f.blockScalar(p, g.indent).hdrEnd)
		}
		if p < len(t.src) && t.src[p] == '#' {
			hdrComment = string(t.src[t.skipSpacesBack(p, g.sep):t.lineEnd(p)])
		}
	}
	oldMulti := t.line(g.ve) != t.line(start) || (lead == "" && t.line(g.ve) != t.line(g.vs))
	end := t.lineEnd(g.ve)
	rest := string(t.src[g.ve:end])
	comment := hdrComment
	if comment == "" {
		comment = strings.TrimRight(rest, " \t")
	}
	if comment != "" && comment[0] != ' ' && comment[0] != '\t' {
		// It touched a quoted value; after other text it needs a blank.
		comment = " " + comment
	}

	var text, header string
	var lines []string
	compact := false
	switch {
	case v.Kind == yaml.ScalarNode:
		if h, ls, ok := r.blockScalar(v, g.scalarCol, g.indent); ok {
			header, lines = h, ls
			break
		}
		c := ctxBlockValue
		if s.parent == nil {
			c = ctxRoot
		}
		var err error
		if text, err = r.scalarText(v, c, v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle)); err != nil {
			failErr(err)
		}
	case isBlockCollection(v):
		col := g.mapCol
		if v.Kind == yaml.SequenceNode {
			col = g.seqCol
		}
		var err error
		if lines, err = r.block(v, col, 0); err != nil {
			failErr(err)
		}
		if g.inSeq && anchor == "" && comment == "" {
			// `- key: value` rather than `-` and the mapping below it.
			lines[0] = lines[0][col:]
			compact = true
		}
	default:
		var err error
		if text, err = r.flow(v, false, 0); err != nil {
			failErr(err)
		}
	}

	if lines == nil && !oldMulti {
		if g.empty {
			f.splice(g.sep, g.sep, " "+text)
			return
		}
		if anchor != "" {
			text = anchor + " " + text
		}
		f.splice(g.vs, g.ve, f.beforeHash(g.ve, text))
		return
	}

	if tr := strings.TrimLeft(rest, " \t"); tr != "" && tr[0] != '#' {
		fail("unexpected text after the value at line %d", t.line(g.ve)+1)
	}
	head := anchor
	var b strings.Builder
	switch {
	case compact:
		b.WriteString(lead + strings.Join(lines, f.eol))
	case lines == nil:
		if head != "" {
			head += " "
		}
		b.WriteString(lead + head + text + comment)
	case header != "":
		if head != "" {
			head += " "
		}
		b.WriteString(lead + head + header + comment + f.eol + strings.Join(lines, f.eol))
	default:
		switch {
		case head != "":
			b.WriteString(lead + head + comment + f.eol)
		case lead != "":
			b.WriteString(comment + f.eol)
		case comment != "":
			b.WriteString(strings.TrimLeft(comment, " \t") + f.eol)
		}
		b.WriteString(strings.Join(lines, f.eol))
	}
	f.splice(start, end, b.String())
}

// beforeHash adds a blank after text when a `#` follows at end: a quoted
// value may touch it, but after plain text it would not start a comment.
func (f *File) beforeHash(end int, text string) string {
	if end < len(f.src) && f.src[end] == '#' && !strings.ContainsAny(text[len(text)-1:], `"'}]`) {
		return text + " "
	}
	return text
}

// insertEntry appends key: v to the mapping held by slot ms.
func (f *File) insertEntry(ms slot, key, v *yaml.Node) {
	m := f.node(ms)
	entry := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{key, v}}
	if len(m.Content) == 0 {
		f.addToEmpty(ms, entry)
		return
	}
	if m.Style&yaml.FlowStyle != 0 {
		f.needBrackets(m)
		_, e := f.entrySpan(m, len(m.Content)/2-1)
		r := f.renderer(e, 0)
		text, err := r.flow(entry, false, 0)
		if err != nil {
			failErr(err)
		}
		e, sep := f.flowSep(e, m)
		f.splice(e, e, sep+text[1:len(text)-1])
		return
	}
	last := len(m.Content)/2 - 1
	_, e := f.entrySpan(m, last)
	col := f.keyColumn(f.nodeStart(m.Content[0]))
	e = f.commentedItems(m.Content[2*last+1], e, col)
	f.appendLinesSep(e, col, entry, f.blankSeparated(m))
}

// commentedItems extends end, the end of value v of an entry at column col,
// over the commented-out items (`# - x`) right below it when v is a block
// sequence written at the key's column: they are the end of that list, and
// a new key must not come between them and it.
func (f *File) commentedItems(v *yaml.Node, end, col int) int {
	t := &f.lt
	if v.Kind != yaml.SequenceNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 || t.column(f.dash(v, 0)) != col {
		return end
	}
	for next := end + breakLen(t.src, end); next < len(t.src); {
		p := t.skipSpaces(next)
		if p-next != col || p >= len(t.src) || t.src[p] != '#' {
			break
		}
		le := t.lineEnd(p)
		if rest := strings.TrimLeft(string(t.src[p+1:le]), " \t"); rest != "-" && !strings.HasPrefix(rest, "- ") {
			break
		}
		end = le
		next = end + breakLen(t.src, end)
	}
	return end
}

// blankSeparated tells whether block mapping m separates its entries with
// blank lines (in most of its gaps): a new entry then gets one too.
func (f *File) blankSeparated(m *yaml.Node) bool {
	t := &f.lt
	n := len(m.Content) / 2
	if n < 2 {
		return false
	}
	blank := 0
	for i := 0; i+1 < n; i++ {
		_, e := f.entrySpan(m, i)
		e = f.deeperComments(t.lineEnd(e), f.keyColumn(f.nodeStart(m.Content[2*i])))
		next := t.lineStart(f.nodeStart(m.Content[2*i+2]))
		for off := e + breakLen(t.src, e); off < next; {
			le := t.lineEnd(off)
			if t.skipSpaces(off) == le {
				blank++
				break
			}
			off = le + breakLen(t.src, le)
		}
	}
	return 2*blank >= n-1
}

// appendItem appends items to the sequence held by slot ss.
func (f *File) appendItem(ss slot, items ...*yaml.Node) {
	s := f.node(ss)
	seq := &yaml.Node{Kind: yaml.SequenceNode, Content: items}
	if len(s.Content) == 0 {
		f.addToEmpty(ss, seq)
		return
	}
	_, e := f.itemSpan(s, len(s.Content)-1)
	if s.Style&yaml.FlowStyle != 0 {
		text, err := f.renderer(e, 0).flow(seq, false, 0)
		if err != nil {
			failErr(err)
		}
		e, sep := f.flowSep(e, s.Content[len(s.Content)-1])
		f.splice(e, e, sep+text[1:len(text)-1])
		return
	}
	f.appendLines(e, f.lt.column(f.dash(s, 0)), seq)
}

// needBrackets refuses to edit a flow mapping written without braces, a
// single pair inside a flow sequence (`[a: 1]`): a comma there would start
// a new sequence item.
func (f *File) needBrackets(n *yaml.Node) {
	if cs := f.contentStart(n); cs >= len(f.src) || (f.src[cs] != '{' && f.src[cs] != '[') {
		fail("flow mapping without braces at line %d", n.Line)
	}
}

// flowSep returns where a new flow entry goes after the entry before,
// which ends at e, and the separator to write.
func (f *File) flowSep(e int, before *yaml.Node) (int, string) {
	if f.emptyAfterColon(before) {
		if q := f.lt.skipSpaces(e); q > e {
			return q, ", "
		}
		return e, " , "
	}
	return e, ", "
}

// emptyAfterColon reports whether n is a mapping whose text ends with the
// `:` of an empty value (`{a: }`). Such a `:` must not touch a following
// comma or bracket, or it would become part of the key.
func (f *File) emptyAfterColon(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return false
	}
	i := len(n.Content)/2 - 1
	v := n.Content[2*i+1]
	return isEmptyPlain(v) && !hasProps(v) && f.colonAfter(f.nodeEnd(n.Content[2*i], -1)) >= 0
}

// appendLines writes block collection n as new lines at column col after
// the line holding offset e.
func (f *File) appendLines(e, col int, n *yaml.Node) { f.appendLinesSep(e, col, n, false) }

// appendLinesSep is appendLines with a blank line before the new lines when
// blank is set.
func (f *File) appendLinesSep(e, col int, n *yaml.Node, blank bool) {
	t := &f.lt
	pos := t.lineEnd(e)
	if tr := strings.TrimLeft(string(t.src[e:pos]), " \t"); tr != "" && tr[0] != '#' {
		fail("unexpected text after the value at line %d", t.line(e)+1)
	}
	pos = f.deeperComments(pos, col)
	if pos == len(t.src) && !f.endsWithBreak() && lastBlockScalar(f.docs[len(f.docs)-1].Content[0]) != nil {
		fail("cannot add lines after the block scalar that ends this file without a final newline")
	}
	lines, err := f.renderer(pos, col).block(n, col, 0)
	if err != nil {
		failErr(err)
	}
	sep := f.eol
	if blank {
		sep += f.eol
	}
	f.splice(pos, pos, sep+strings.Join(lines, f.eol))
}

// addToEmpty puts the single entry of coll into the empty flow collection
// at slot s: inside the brackets in flow context, as block lines otherwise.
func (f *File) addToEmpty(s slot, coll *yaml.Node) {
	if !s.inFlow() {
		f.replaceSlot(s, coll)
		return
	}
	n := f.node(s)
	cs := f.contentStart(n)
	close := f.flowClose(n, cs)
	text, err := f.renderer(close, 0).flow(coll, false, 0)
	if err != nil {
		failErr(err)
	}
	f.splice(cs+1, close, text[1:len(text)-1])
}

// deleteEntry removes the entry at s from the collection held by ps.
func (f *File) deleteEntry(ps, s slot) {
	t := &f.lt
	c := s.parent
	f.checkAnchorsInside(s.doc, f.node(s), false)
	if c.Kind == yaml.MappingNode {
		f.checkAnchorsInside(s.doc, c.Content[2*s.idx], false)
	}
	count := len(c.Content)
	start := func(i int) int {
		if c.Kind == yaml.MappingNode {
			st, _ := f.entrySpan(c, i)
			return st
		}
		st, _ := f.itemSpan(c, i)
		return st
	}
	end := func(i int) int {
		if c.Kind == yaml.MappingNode {
			_, e := f.entrySpan(c, i)
			return e
		}
		_, e := f.itemSpan(c, i)
		return e
	}
	if c.Kind == yaml.MappingNode {
		count /= 2
		ks := start(s.idx)
		if q := t.skipSpacesBack(ks, t.lineStart(ks)); q > t.lineStart(ks) && t.src[q-1] == '?' {
			fail("explicit `?` key at line %d", t.line(ks)+1)
		}
	}
	if c.Style&yaml.FlowStyle != 0 {
		f.needBrackets(c)
	}
	if count == 1 {
		empty := &yaml.Node{Kind: c.Kind, Style: yaml.FlowStyle}
		if c.Style&yaml.FlowStyle != 0 {
			cs := f.contentStart(c)
			f.splice(cs+1, f.flowClose(c, cs), "")
			return
		}
		f.replaceSlot(ps, empty)
		return
	}
	if c.Style&yaml.FlowStyle != 0 {
		if s.idx < count-1 {
			f.splice(start(s.idx), start(s.idx+1), "")
			return
		}
		// The entry before keeps a blank after an empty value's `:`.
		var before *yaml.Node
		if c.Kind == yaml.MappingNode {
			before = &yaml.Node{Kind: yaml.MappingNode, Content: c.Content[2*s.idx-2 : 2*s.idx]}
		} else {
			before = c.Content[s.idx-1]
		}
		gap := ""
		if f.emptyAfterColon(before) {
			gap = " "
		}
		f.splice(end(s.idx-1), end(s.idx), gap)
		return
	}
	es, ee := start(s.idx), end(s.idx)
	if !t.onlySpacesBefore(es) {
		// The first entry shares its line with `- ` or another dash.
		if s.idx == count-1 {
			fail("cannot delete the entry at line %d", t.line(es)+1)
		}
		f.splice(es, start(s.idx+1), "")
		return
	}
	ls := t.lineStart(es)
	le := t.lineEnd(ee)
	if tr := strings.TrimLeft(string(t.src[ee:le]), " \t"); tr != "" && tr[0] != '#' {
		fail("unexpected text after the value at line %d", t.line(ee)+1)
	}
	le = f.deeperComments(le, t.column(es))
	prev := s.idx - 1
	if c.Kind == yaml.MappingNode {
		prev = 2*prev + 1
	}
	var last *yaml.Node
	if prev >= 0 {
		last = lastBlockScalar(c.Content[prev])
	}
	if last != nil {
		// The lines after the entry will follow a block scalar: blank lines
		// would join a `|+` scalar, lines of spaces any block scalar.
		eat, blankEnd := f.keepChomping(last), le
		for next := le + breakLen(t.src, le); next < len(t.src); {
			e := t.lineEnd(next)
			if t.skipSpaces(next) != e {
				break
			}
			eat = eat || e > next
			blankEnd = e
			next = e + breakLen(t.src, e)
		}
		if eat {
			le = blankEnd
		}
	}
	if bl := breakLen(t.src, le); bl > 0 {
		f.splice(ls, le+bl, "")
		return
	}
	if ls == 0 || last != nil {
		// A block scalar keeps the line break that ends its last line.
		f.splice(ls, le, "")
		return
	}
	// The last line of a file without a final newline: drop the break before.
	f.splice(t.lineEnd(t.start[t.line(ls)-1]), le, "")
}

// deeperComments extends end, the end of an entry's last line, over the
// comment lines right below it that are indented deeper than the entry's
// column col: they belong to the entry.
func (f *File) deeperComments(end, col int) int {
	t := &f.lt
	for next := end + breakLen(t.src, end); next < len(t.src); {
		p := t.skipSpaces(next)
		if p-next <= col || p >= len(t.src) || t.src[p] != '#' {
			break
		}
		end = t.lineEnd(p)
		next = end + breakLen(t.src, end)
	}
	return end
}

// keepChomping reports whether block scalar n has the `+` indicator.
func (f *File) keepChomping(n *yaml.Node) bool {
	src := f.lt.src
	for p := f.contentStart(n) + 1; p < len(src); p++ {
		switch c := src[p]; {
		case c == '+':
			return true
		case c != '-' && (c < '1' || c > '9'):
			return false
		}
	}
	return false
}

// lastBlockScalar returns the literal or folded scalar that ends the text
// of n, if any: its value depends on the line break after it.
func lastBlockScalar(n *yaml.Node) *yaml.Node {
	for depth := 0; depth < maxDepth; depth++ {
		switch {
		case n.Kind == yaml.ScalarNode:
			if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				return n
			}
			return nil
		case n.Style&yaml.FlowStyle != 0 || len(n.Content) == 0:
			return nil
		}
		n = n.Content[len(n.Content)-1]
	}
	return nil
}

// skipSpacesBack moves left from off over spaces and tabs, not past limit.
func (t *lineTable) skipSpacesBack(off, limit int) int {
	for off > limit && (t.src[off-1] == ' ' || t.src[off-1] == '\t') {
		off--
	}
	return off
}
