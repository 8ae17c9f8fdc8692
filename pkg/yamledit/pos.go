package yamledit

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml.v3 nodes carry only a start (line and column, counted in runes) and
// never an end, so everything below recovers the byte extent of a node from
// the source text, following the same rules the scanner followed.

// lineTable maps yaml.v3 line/column positions to byte offsets.
type lineTable struct {
	src   []byte
	start []int // byte offset of the first byte of each line
	bom   int   // length of a leading byte order mark, which yaml.v3 does not count as a column
}

func newLineTable(src []byte) lineTable {
	t := lineTable{src: src, start: []int{0}}
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		t.bom = 3
	}
	for i := 0; i < len(src); {
		if n := breakLen(src, i); n > 0 {
			i += n
			t.start = append(t.start, i)
			continue
		}
		i++
	}
	return t
}

// breakLen is the length of the line break at i, or 0. The set of breaks is
// the one the yaml.v3 scanner counts lines with.
func breakLen(src []byte, i int) int {
	if i >= len(src) {
		return 0
	}
	switch src[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xc2:
		if i+1 < len(src) && src[i+1] == 0x85 {
			return 2
		}
	case 0xe2:
		if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9) {
			return 3
		}
	}
	return 0
}

// offset turns a 1-based yaml.v3 line and rune column into a byte offset.
func (t *lineTable) offset(line, col int) int {
	if line < 1 {
		fail("position line %d out of range", line)
	}
	if line > len(t.start) {
		return len(t.src)
	}
	off := t.start[line-1]
	if line == 1 {
		off += t.bom
	}
	for c := 1; c < col && off < len(t.src); c++ {
		_, n := utf8.DecodeRune(t.src[off:])
		off += n
	}
	return off
}

// line returns the 0-based index of the line holding off.
func (t *lineTable) line(off int) int {
	return sort.Search(len(t.start), func(i int) bool { return t.start[i] > off }) - 1
}

func (t *lineTable) lineStart(off int) int { return t.start[t.line(off)] }

// lineEnd returns the offset of the line break ending the line that holds
// off, or len(src) on the last line.
func (t *lineTable) lineEnd(off int) int {
	for i := off; i < len(t.src); i++ {
		if breakLen(t.src, i) > 0 {
			return i
		}
	}
	return len(t.src)
}

// nextLine returns the offset of the line after the one holding off, or
// len(src).
func (t *lineTable) nextLine(off int) int {
	e := t.lineEnd(off)
	return e + breakLen(t.src, e)
}

// column is the number of bytes between the line start and off; it equals
// the rune column wherever it is used (block indentation is ASCII).
func (t *lineTable) column(off int) int {
	c := off - t.lineStart(off)
	if t.line(off) == 0 {
		c -= t.bom
	}
	return c
}

// onlySpacesBefore reports whether off is the first non-blank byte of its line.
func (t *lineTable) onlySpacesBefore(off int) bool {
	for i := t.lineStart(off); i < off; i++ {
		if t.src[i] != ' ' && !(i < t.bom) {
			return false
		}
	}
	return true
}

// restIsBlank reports whether only spaces and tabs stand between off and the
// end of its line.
func (t *lineTable) restIsBlank(off int) bool {
	for i := off; i < len(t.src); i++ {
		if breakLen(t.src, i) > 0 {
			return true
		}
		if t.src[i] != ' ' && t.src[i] != '\t' {
			return false
		}
	}
	return true
}

// skipSpaces skips spaces and tabs.
func (t *lineTable) skipSpaces(off int) int {
	for off < len(t.src) && (t.src[off] == ' ' || t.src[off] == '\t') {
		off++
	}
	return off
}

// skipGap skips spaces, line breaks and comments.
func (t *lineTable) skipGap(off int) int {
	for off < len(t.src) {
		switch {
		case t.src[off] == ' ' || t.src[off] == '\t':
			off++
		case t.src[off] == '#':
			off = t.lineEnd(off)
		case breakLen(t.src, off) > 0:
			off += breakLen(t.src, off)
		case off == 0 && t.bom > 0:
			off = t.bom
		default:
			return off
		}
	}
	return off
}

// trailingComment returns the comment at the end of the line holding off,
// with the blanks before it (at least one, for text written before it),
// when only blanks stand between off and the comment.
func (t *lineTable) trailingComment(off int) string {
	p := t.skipSpaces(off)
	if p >= len(t.src) || t.src[p] != '#' {
		return ""
	}
	if p == off {
		return " " + string(t.src[p:t.lineEnd(p)])
	}
	return string(t.src[off:t.lineEnd(p)])
}

// isDocMarker reports whether a `---` or `...` marker starts at off.
func (t *lineTable) isDocMarker(off int) bool {
	if off+3 > len(t.src) || t.column(off) != 0 {
		return false
	}
	m := string(t.src[off : off+3])
	if m != "---" && m != "..." {
		return false
	}
	return off+3 == len(t.src) || t.src[off+3] == ' ' || t.src[off+3] == '\t' || breakLen(t.src, off+3) > 0
}

func isFlowIndicator(c byte) bool {
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'
}

func (t *lineTable) isBlankAt(off int) bool {
	return off >= len(t.src) || t.src[off] == ' ' || t.src[off] == '\t' || breakLen(t.src, off) > 0
}

// props describes the anchor and tag written before a node's content.
type props struct {
	start, end int // [start,end) covers every property token
	tag        bool
}

// nodeStart is where a node's text begins, properties included.
func (f *File) nodeStart(n *yaml.Node) int { return f.lt.offset(n.Line, n.Column) }

// readProps scans the properties at off.
func (f *File) readProps(off int) props {
	t := &f.lt
	p := props{start: off, end: off}
	for i := off; i < len(t.src); {
		c := t.src[i]
		if c != '&' && c != '!' {
			break
		}
		if c == '!' && i+1 < len(t.src) && t.src[i+1] == '<' {
			e := bytes.IndexByte(t.src[i:], '>')
			if e < 0 {
				fail("unterminated verbatim tag")
			}
			i += e + 1
		} else {
			// yaml.v3 ends an anchor at a flow indicator, a tag only at a blank.
			for i < len(t.src) && !t.isBlankAt(i) && (c == '!' || !isFlowIndicator(t.src[i])) {
				i++
			}
		}
		p.tag = p.tag || c == '!'
		p.end = i
		// Properties are separated from what follows by blanks, comments or breaks.
		i = t.skipGap(i)
	}
	return p
}

// isEmptyPlain reports a plain scalar without text: an implicit null such as
// the value of `key:`, whose position yaml.v3 reports unreliably.
func isEmptyPlain(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// hasProps reports whether yaml.v3 saw an anchor or explicit tag on n.
func hasProps(n *yaml.Node) bool { return n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 }

// propsAt reports whether a non-empty node's text starts with properties.
// It reads the text: yaml.v3 records neither style nor tag for a bare `!`.
func (f *File) propsAt(n *yaml.Node) bool {
	if isEmptyPlain(n) {
		return hasProps(n)
	}
	s := f.nodeStart(n)
	return s < len(f.src) && (f.src[s] == '!' || f.src[s] == '&')
}

// contentStart is where the node's own text begins, after its properties.
func (f *File) contentStart(n *yaml.Node) int {
	s := f.nodeStart(n)
	if !f.propsAt(n) {
		return s
	}
	p := f.readProps(s)
	if isEmptyPlain(n) {
		return p.end
	}
	return f.lt.skipGap(p.end)
}

// nodeEnd returns the offset just after the last byte of n. indent is the
// indentation of the block structure holding n (the key's or the dash's
// column, -1 at the document root); block scalars need it.
func (f *File) nodeEnd(n *yaml.Node, indent int) int {
	t := &f.lt
	switch n.Kind {
	case yaml.AliasNode:
		s := f.nodeStart(n)
		if s >= len(t.src) || t.src[s] != '*' {
			fail("alias *%s not found at line %d", n.Value, n.Line)
		}
		return s + 1 + len(n.Value)
	case yaml.ScalarNode:
		if isEmptyPlain(n) {
			if !hasProps(n) {
				fail("empty value at line %d has no position", n.Line)
			}
			return f.readProps(f.nodeStart(n)).end
		}
		cs := f.contentStart(n)
		switch {
		case n.Style&yaml.DoubleQuotedStyle != 0:
			return f.quotedEnd(cs, '"')
		case n.Style&yaml.SingleQuotedStyle != 0:
			return f.quotedEnd(cs, '\'')
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			return f.blockScalar(cs, indent).end
		default:
			return f.plainEnd(cs, n)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		cs := f.contentStart(n)
		if cs < len(t.src) && (t.src[cs] == '{' || t.src[cs] == '[') && n.Style&yaml.FlowStyle != 0 {
			return f.flowClose(n, cs) + 1
		}
		if len(n.Content) == 0 {
			fail("empty block collection at line %d", n.Line)
		}
		if n.Kind == yaml.MappingNode {
			_, e := f.entrySpan(n, len(n.Content)/2-1)
			return e
		}
		_, e := f.itemSpan(n, len(n.Content)-1)
		return e
	}
	fail("unexpected node kind %v at line %d", n.Kind, n.Line)
	return 0
}

func (f *File) quotedEnd(p int, q byte) int {
	src := f.lt.src
	if p >= len(src) || src[p] != q {
		fail("quoted scalar not found at offset %d", p)
	}
	for i := p + 1; i < len(src); i++ {
		switch {
		case q == '"' && src[i] == '\\':
			i++
		case src[i] == q:
			if q == '\'' && i+1 < len(src) && src[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	fail("unterminated quoted scalar at offset %d", p)
	return 0
}

// plainEnd walks the source of a plain scalar along its value: folded line
// breaks in the source are a single space, or n newlines for n blank lines,
// in the value.
func (f *File) plainEnd(p int, n *yaml.Node) int {
	t := &f.lt
	v := n.Value
	i := 0
	for i < len(v) {
		if p >= len(t.src) {
			fail("plain scalar %q at line %d runs past the end", v, n.Line)
		}
		if breakLen(t.src, p) > 0 || ((t.src[p] == ' ' || t.src[p] == '\t') && t.restIsBlank(p)) {
			p = t.nextLine(p)
			blank := 0
			for {
				q := t.skipSpaces(p)
				if bl := breakLen(t.src, q); bl > 0 {
					blank++
					p = q + bl
					continue
				}
				p = q
				break
			}
			switch {
			case blank == 0 && v[i] == ' ':
				i++
			case blank > 0 && i+blank <= len(v) && allNewlines(v[i:i+blank]):
				i += blank
			default:
				fail("plain scalar %q at line %d does not match its source", v, n.Line)
			}
			continue
		}
		if t.src[p] != v[i] {
			fail("plain scalar %q at line %d does not match its source", v, n.Line)
		}
		p++
		i++
	}
	return p
}

func allNewlines(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' {
			return false
		}
	}
	return true
}

// blockInfo describes a literal or folded scalar in the source.
type blockInfo struct {
	hdrEnd        int  // after the indicator characters of the header
	contentIndent int  // -1 when there is no content line
	end           int  // after the last content line (before its break)
	keep          bool // `+` chomping: trailing blank lines are content
}

func (f *File) blockScalar(cs, indent int) blockInfo {
	t := &f.lt
	if cs >= len(t.src) || (t.src[cs] != '|' && t.src[cs] != '>') {
		fail("block scalar header not found at offset %d", cs)
	}
	b := blockInfo{contentIndent: -1}
	p := cs + 1
	explicit := 0
	for p < len(t.src) {
		c := t.src[p]
		if c >= '1' && c <= '9' {
			explicit = int(c - '0')
		} else if c == '+' {
			b.keep = true
		} else if c != '-' {
			break
		}
		p++
	}
	b.hdrEnd = p
	b.end = p
	if explicit > 0 {
		// yaml.v3 counts the indicator from the enclosing indentation, or
		// from column 0 at the document root.
		b.contentIndent = max(indent, 0) + explicit
	}
	lastContent := p
	for line := t.nextLine(p); line < len(t.src); line = t.nextLine(line) {
		if t.isDocMarker(line) {
			break
		}
		le := t.lineEnd(line)
		ind := 0
		for line+ind < le && t.src[line+ind] == ' ' {
			ind++
		}
		// A line of spaces is empty unless it reaches past the content's
		// indentation: then the extra spaces are content.
		if line+ind == le && (b.contentIndent < 0 || ind <= b.contentIndent) {
			if b.keep {
				b.end = le
			}
			continue
		}
		if b.contentIndent < 0 {
			if ind < max(indent+1, 1) {
				break
			}
			b.contentIndent = ind
		}
		if ind < b.contentIndent {
			break
		}
		b.end = le
		lastContent = le
	}
	if !b.keep {
		b.end = lastContent
	}
	return b
}

// flowClose finds the bracket closing the flow collection n that opens at cs.
func (f *File) flowClose(n *yaml.Node, cs int) int {
	t := &f.lt
	p := cs + 1
	if len(n.Content) > 0 {
		if n.Kind == yaml.MappingNode {
			_, p = f.entrySpan(n, len(n.Content)/2-1)
		} else {
			_, p = f.itemSpan(n, len(n.Content)-1)
		}
	}
	want := byte(']')
	if t.src[cs] == '{' {
		want = '}'
	}
	for {
		p = t.skipGap(p)
		if p >= len(t.src) {
			fail("unterminated flow collection at line %d", n.Line)
		}
		switch t.src[p] {
		case want:
			return p
		case ',':
			p++
		default:
			fail("unexpected %q in flow collection at line %d", t.src[p], n.Line)
		}
	}
}

// colonAfter finds the `:` after a mapping key, or -1 for a flow entry
// without one (`{a}`).
func (f *File) colonAfter(keyEnd int) int {
	t := &f.lt
	p := t.skipGap(keyEnd)
	if p < len(t.src) && t.src[p] == ':' {
		return p
	}
	return -1
}

// entrySpan returns where entry i of mapping m starts (its key) and where
// its value ends.
func (f *File) entrySpan(m *yaml.Node, i int) (int, int) {
	k, v := m.Content[2*i], m.Content[2*i+1]
	if isEmptyPlain(k) && !hasProps(k) {
		fail("empty mapping key at line %d is not supported", k.Line)
	}
	ks := f.nodeStart(k)
	sep := f.valueSep(m, i)
	if isEmptyPlain(v) && !hasProps(v) {
		return ks, f.emptyAt(sep, f.keyColumn(ks))
	}
	return ks, f.nodeEnd(v, f.keyColumn(ks))
}

// keyColumn is the indentation of the mapping entry whose key starts at
// ks: the key's column, or that of the `?` before an explicit key, which
// may stand on an earlier line.
func (f *File) keyColumn(ks int) int {
	t := &f.lt
	q := ks
	for q > 0 && (t.src[q-1] == ' ' || t.src[q-1] == '\t' || t.src[q-1] == '\n' || t.src[q-1] == '\r') {
		q--
	}
	if q > 0 && t.src[q-1] == '?' {
		// An indicator, not text, when nothing but other indicators
		// (`- `, `: `, `? `) stands before it on its line.
		ls := t.lineStart(q - 1)
		p := q - 1
		for p > ls && (t.src[p-1] == ' ' || ((t.src[p-1] == '-' || t.src[p-1] == ':' || t.src[p-1] == '?') && t.src[p] == ' ')) {
			p--
		}
		if p == ls || (p == t.bom && ls == 0) {
			return t.column(q - 1)
		}
	}
	return t.column(ks)
}

// valueSep is the offset right after the `:` of entry i, or after its key
// when the entry has no colon.
func (f *File) valueSep(m *yaml.Node, i int) int {
	k := m.Content[2*i]
	ke := f.nodeEnd(k, -1)
	if c := f.colonAfter(ke); c >= 0 {
		return c + 1
	}
	return ke
}

// dash returns the offset of the `-` of block sequence item i.
func (f *File) dash(s *yaml.Node, i int) int {
	t := &f.lt
	var p int
	if i == 0 {
		p = f.nodeStart(s)
		if f.propsAt(s) {
			p = t.skipGap(f.readProps(p).end)
		}
	} else {
		_, p = f.itemSpan(s, i-1)
		p = t.skipGap(p)
	}
	if p >= len(t.src) || t.src[p] != '-' {
		fail("sequence item %d of the sequence at line %d not found", i, s.Line)
	}
	return p
}

// itemSpan returns where item i of sequence s starts (its dash in block
// style) and ends.
func (f *File) itemSpan(s *yaml.Node, i int) (int, int) {
	it := s.Content[i]
	if s.Style&yaml.FlowStyle != 0 {
		if isEmptyPlain(it) && !hasProps(it) {
			fail("empty flow sequence item at line %d", it.Line)
		}
		return f.nodeStart(it), f.nodeEnd(it, -1)
	}
	d := f.dash(s, i)
	if isEmptyPlain(it) && !hasProps(it) {
		return d, f.emptyAt(d+1, f.lt.column(d))
	}
	return d, f.nodeEnd(it, f.lt.column(d))
}

// emptyAt checks that an empty value really has no text at off, where the
// value would begin, and returns off. yaml.v3 reports neither the position
// nor the style of a bare `!` tag, which may also stand on a later line,
// indented deeper than the key or dash at column indent.
func (f *File) emptyAt(off, indent int) int {
	t := &f.lt
	p := t.skipSpaces(off)
	if p < len(t.src) && breakLen(t.src, p) == 0 && !strings.ContainsRune("#,]}", rune(t.src[p])) {
		fail("value at line %d is not empty but has no position", t.line(off)+1)
	}
	if q := t.skipGap(p); q < len(t.src) && t.src[q] == '!' && t.column(q) > indent {
		fail("value at line %d is not empty but has no position", t.line(q)+1)
	}
	return off
}

// editFailure carries an error out of the deep position helpers; the public
// methods recover it.
type editFailure struct{ err error }

func fail(format string, args ...any) {
	panic(editFailure{fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)})
}

func failErr(err error) { panic(editFailure{err}) }

// catch turns a failure raised by fail into *err.
func catch(err *error) {
	if r := recover(); r != nil {
		ef, ok := r.(editFailure)
		if !ok {
			panic(r)
		}
		*err = ef.err
	}
}
