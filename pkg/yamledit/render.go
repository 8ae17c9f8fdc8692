package yamledit

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// renderer writes new YAML text in the file's own style.
type renderer struct {
	indent    int
	seqIndent int
	// noBlock forbids block scalars and noKeep those with `+` chomping,
	// where the text after them would change their value.
	noBlock, noKeep bool
}

// scalarCtx is where a scalar is written; it decides which plain scalars
// read back as themselves.
type scalarCtx int

const (
	ctxBlockValue scalarCtx = iota
	ctxBlockKey
	ctxFlowValue
	ctxFlowKey
	ctxRoot
)

var errNewAnchor = errors.New("new values must not contain anchors or aliases")

// scalarText renders scalar n as single-line text. prefer is the style of
// the scalar being replaced, so a quoted string stays quoted.
func (r *renderer) scalarText(n *yaml.Node, c scalarCtx, prefer yaml.Style) (string, error) {
	v := n.Value
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("value %q is not valid UTF-8", v)
	}
	tag := n.ShortTag()
	switch tag {
	case "!!str":
		switch {
		case prefer&yaml.DoubleQuotedStyle != 0:
			return doubleQuote(v), nil
		case prefer&yaml.SingleQuotedStyle != 0 && canSingleQuote(v):
			return singleQuote(v), nil
		case plainOK(v, tag, c):
			return v, nil
		}
		return doubleQuote(v), nil
	case "!!null":
		switch v {
		case "~", "null", "Null", "NULL":
			return v, nil
		}
		return "null", nil
	case "!!bool", "!!int", "!!float":
		if plainOK(v, tag, c) {
			return v, nil
		}
		return "", fmt.Errorf("%q is not a valid %s value", v, tag)
	}
	if n.Tag == "" && plainOK(v, tag, c) {
		return v, nil
	}
	text := doubleQuote(v)
	if plainOK(v, "!!str", c) {
		text = v
	}
	return tagText(tag) + " " + text, nil
}

func tagText(tag string) string {
	if strings.HasPrefix(tag, "!") {
		return tag
	}
	return "!<" + tag + ">"
}

// plainOK reports whether s, written plain in context c, reads back as the
// same value with the given tag. It asks the parser rather than restating
// YAML's rules for plain scalars.
func plainOK(s, tag string, c scalarCtx) bool {
	if s == "" || strings.ContainsAny(s, "\r\n") || !printable(s, false) {
		return false
	}
	// YAML 1.1 readers (sigs.k8s.io/yaml, which kubectl uses) take these
	// for booleans; yaml.v3 does not.
	if tag == "!!str" && yaml11Bool(s) {
		return false
	}
	type probe struct {
		doc  string
		pick func(*yaml.Node) *yaml.Node
	}
	mapVal := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
			return n.Content[1]
		}
		return nil
	}
	mapKey := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
			return n.Content[0]
		}
		return nil
	}
	seqItem := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.SequenceNode && len(n.Content) == 1 {
			return n.Content[0]
		}
		return nil
	}
	self := func(n *yaml.Node) *yaml.Node { return n }
	var probes []probe
	switch c {
	case ctxBlockValue:
		probes = []probe{{"k: " + s + "\n", mapVal}, {"- " + s + "\n", seqItem}}
	case ctxBlockKey:
		probes = []probe{{s + ": v\n", mapKey}, {"- " + s + ": v\n", func(n *yaml.Node) *yaml.Node {
			if it := seqItem(n); it != nil {
				return mapKey(it)
			}
			return nil
		}}}
	case ctxFlowValue:
		probes = []probe{{"[" + s + "]\n", seqItem}, {"{k: " + s + "}\n", mapVal}}
	case ctxFlowKey:
		probes = []probe{{"{" + s + ": v}\n", mapKey}}
	case ctxRoot:
		probes = []probe{{"k: " + s + "\n", mapVal}, {"--- " + s + "\n", self}, {s + "\n", self}}
	}
	for _, p := range probes {
		var d yaml.Node
		if err := yaml.Unmarshal([]byte(p.doc), &d); err != nil || len(d.Content) != 1 {
			return false
		}
		n := p.pick(d.Content[0])
		if n == nil || n.Kind != yaml.ScalarNode || n.Style != 0 || n.Value != s || n.ShortTag() != tag {
			return false
		}
	}
	return true
}

func yaml11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"on", "On", "ON", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE":
		return true
	}
	return false
}

// printable reports whether s holds only characters YAML may write as they
// are; tabs only if allowTab. Line breaks other than \n are never allowed.
func printable(s string, allowTab bool) bool {
	for _, r := range s {
		switch {
		case r == '\n':
		case r == '\t':
			if !allowTab {
				return false
			}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
			r == 0xfeff || r == 0xfffe || r == 0xffff || r == utf8.RuneError:
			return false
		}
	}
	return true
}

func canSingleQuote(s string) bool {
	return !strings.ContainsAny(s, "\r\n") && printable(s, true)
}

func singleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func doubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		case 0x1b:
			b.WriteString(`\e`)
		case 0x85:
			b.WriteString(`\N`)
		case 0x2028:
			b.WriteString(`\L`)
		case 0x2029:
			b.WriteString(`\P`)
		default:
			switch {
			case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
				fmt.Fprintf(&b, `\x%02X`, r)
			case r == 0xfeff || r == 0xfffe || r == 0xffff:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// literal renders s as a literal block scalar whose content sits at column
// col, inside a block structure indented at parent (-1 at the root). ok is
// false when a literal block cannot hold s exactly, or would need `+`
// chomping and keep is false.
func literal(s string, col, parent int, keep bool) (header string, lines []string, ok bool) {
	if strings.ContainsRune(s, '\r') || !printable(s, true) {
		return "", nil, false
	}
	trimmed := strings.TrimRight(s, "\n")
	if strings.TrimLeft(trimmed, " \t\n") == "" {
		return "", nil, false
	}
	chomp := ""
	switch len(s) - len(trimmed) {
	case 0:
		chomp = "-"
	case 1:
	default:
		if !keep {
			return "", nil, false
		}
		chomp = "+"
	}
	lines = strings.Split(trimmed, "\n")
	for i := 1; i < len(s)-len(trimmed); i++ {
		lines = append(lines, "")
	}
	// The content indentation is read from the first non-blank line unless
	// the header states it.
	explicit := false
	for _, l := range lines {
		if strings.Trim(l, " ") == "" {
			if l != "" {
				explicit = true
			}
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			explicit = true
		}
		break
	}
	header = "|"
	if explicit {
		d := col - max(parent, 0)
		if d < 1 || d > 9 {
			return "", nil, false
		}
		header += fmt.Sprint(d)
	}
	header += chomp
	pad := strings.Repeat(" ", col)
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return header, lines, true
}

// wantsBlock reports whether a string is best written as a block scalar.
func wantsBlock(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" &&
		(strings.Contains(n.Value, "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0)
}

// blockScalar renders n as a literal block scalar when it should be one.
func (r *renderer) blockScalar(n *yaml.Node, col, parent int) (string, []string, bool) {
	if r.noBlock || !wantsBlock(n) || n.Style&yaml.TaggedStyle != 0 {
		return "", nil, false
	}
	return literal(n.Value, col, parent, !r.noKeep)
}

func checkNew(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return errNewAnchor
	}
	return nil
}

// isBlockCollection reports whether n is written as block lines: a
// non-empty mapping or sequence that does not ask for flow style.
func isBlockCollection(n *yaml.Node) bool {
	return (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) &&
		len(n.Content) > 0 && n.Style&yaml.FlowStyle == 0
}

// flow renders n on one line in flow style.
func (r *renderer) flow(n *yaml.Node, key bool, depth int) (string, error) {
	if depth > maxDepth {
		return "", errTooDeep
	}
	if err := checkNew(n); err != nil {
		return "", err
	}
	switch n.Kind {
	case yaml.ScalarNode:
		c := ctxFlowValue
		if key {
			c = ctxFlowKey
		}
		return r.scalarText(n, c, n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle))
	case yaml.MappingNode:
		if len(n.Content)%2 != 0 {
			return "", errors.New("mapping node has an odd number of children")
		}
		parts := make([]string, 0, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			k, err := r.flow(n.Content[i], true, depth+1)
			if err != nil {
				return "", err
			}
			v, err := r.flow(n.Content[i+1], false, depth+1)
			if err != nil {
				return "", err
			}
			if len(k) > maxKey {
				return "", errLongKey
			}
			parts = append(parts, k+": "+v)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			v, err := r.flow(it, false, depth+1)
			if err != nil {
				return "", err
			}
			parts = append(parts, v)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("cannot write a node of kind %v", n.Kind)
}

const maxDepth = 500

// maxKey keeps new keys below YAML's limit of 1024 characters for a key
// written without `?`.
const maxKey = 1000

var errLongKey = errors.New("mapping keys longer than 1000 bytes are not supported")

var errTooDeep = errors.New("value nests too deeply")

// block renders a block collection as lines starting at column col.
func (r *renderer) block(n *yaml.Node, col, depth int) ([]string, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if err := checkNew(n); err != nil {
		return nil, err
	}
	pad := strings.Repeat(" ", col)
	var out []string
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content)%2 != 0 {
			return nil, errors.New("mapping node has an odd number of children")
		}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if err := checkNew(k); err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode {
				return nil, errors.New("only scalar mapping keys can be written")
			}
			kt, err := r.scalarText(k, ctxBlockKey, k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle))
			if err != nil {
				return nil, err
			}
			if len(kt) > maxKey {
				return nil, errLongKey
			}
			lines, err := r.entry(pad+kt+":", n.Content[i+1], col, col+r.indent, col+r.seqIndent, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
		}
	case yaml.SequenceNode:
		for _, it := range n.Content {
			lines, err := r.entry(pad+"-", it, col, col+r.indent, col+2, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
		}
	default:
		return nil, fmt.Errorf("cannot write a node of kind %v as a block", n.Kind)
	}
	return out, nil
}

// entry renders the value v after prefix (`key:` or `-`). parent is the
// indentation of the structure holding the entry, mapCol where a nested
// block mapping goes, seqCol where a nested block sequence goes. Mappings
// and sequences inside a sequence item start on the dash's line.
func (r *renderer) entry(prefix string, v *yaml.Node, parent, mapCol, seqCol, depth int) ([]string, error) {
	if err := checkNew(v); err != nil {
		return nil, err
	}
	inSeq := strings.HasSuffix(prefix, "-")
	if v.Kind == yaml.ScalarNode {
		if h, lines, ok := r.blockScalar(v, parent+r.indent, parent); ok {
			return append([]string{prefix + " " + h}, lines...), nil
		}
		t, err := r.scalarText(v, ctxBlockValue, v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle))
		if err != nil {
			return nil, err
		}
		return []string{prefix + " " + t}, nil
	}
	if !isBlockCollection(v) {
		t, err := r.flow(v, false, depth+1)
		if err != nil {
			return nil, err
		}
		return []string{prefix + " " + t}, nil
	}
	col := mapCol
	if v.Kind == yaml.SequenceNode {
		col = seqCol
	}
	if inSeq {
		col = parent + 2
	}
	lines, err := r.block(v, col, depth+1)
	if err != nil {
		return nil, err
	}
	if inSeq {
		lines[0] = prefix + " " + lines[0][col:]
		return lines, nil
	}
	return append([]string{prefix}, lines...), nil
}
