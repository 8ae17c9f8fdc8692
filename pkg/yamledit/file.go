// Package yamledit makes byte-minimal edits to (multi-document) YAML files.
//
// A change to a GitOps repository must show up in review as the lines that
// carry the changed value and nothing else, so an edit never re-serialises
// a document: it locates nodes with yaml.v3's positions and splices the
// original bytes. Comments, key order, quoting, indentation, flow style,
// blank lines, document separators, line endings and the presence or
// absence of a final newline all stay as they were.
//
// Every edit is checked before it is kept: the edited text is parsed again
// and must hold exactly the intended change, or the edit fails with
// ErrInternal and the File is left unchanged.
package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

var (
	// ErrNotFound reports a path or document that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAliased reports an edit that would also change the value seen
	// through YAML aliases elsewhere in the document.
	ErrAliased = errors.New("value is shared through an anchor")
	// ErrUnsupported reports YAML that this package cannot edit without
	// rewriting more than the changed value (explicit `?` keys, for example).
	ErrUnsupported = errors.New("unsupported YAML construct")
	// ErrInternal reports an edit whose result failed the after-edit check;
	// the File is left unchanged.
	ErrInternal = errors.New("internal error: edit would not produce the intended document")
)

// Option changes how Set and Delete treat shared values.
type Option int

// AllowAnchor lets an edit change a node that carries an anchor used by
// aliases, knowingly changing every alias user too. Edits through an alias
// node itself are always refused.
const AllowAnchor Option = 1

// File is a YAML file: its original bytes and the documents parsed from
// them. Every edit parses the file again, so nodes returned by Doc and Get
// stay valid only until the next edit. A File is not safe for concurrent use.
type File struct {
	src       []byte
	lt        lineTable
	docs      []*yaml.Node // DocumentNodes
	indent    int
	seqIndent int // indentation of a block sequence below its mapping key
	eol       string
}

// Parse reads a YAML stream of any number of documents. Errors from an
// invalid file name the line, as yaml.v3 reports it.
func Parse(src []byte) (*File, error) {
	f, err := parse(bytes.Clone(src))
	if err != nil {
		return nil, err
	}
	return f, nil
}

func parse(src []byte) (*File, error) {
	if !utf8.Valid(src) {
		return nil, errors.New("parse YAML: only UTF-8 input is supported")
	}
	f := &File{src: src, lt: newLineTable(src)}
	if bytes.Contains(src[f.lt.bom:], []byte("\ufeff")) {
		// yaml.v3 starts over at a byte order mark, dropping what follows.
		return nil, errors.New("parse YAML: a byte order mark is only supported at the start of the file")
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var d yaml.Node
		err := dec.Decode(&d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
		if d.Kind != yaml.DocumentNode || len(d.Content) != 1 {
			return nil, fmt.Errorf("parse YAML: unexpected document structure at line %d", d.Line)
		}
		f.docs = append(f.docs, &d)
	}
	// New lines end the way the file's first line does.
	f.eol = "\n"
	for i := range src {
		if n := breakLen(src, i); n > 0 {
			if src[i] == '\r' {
				f.eol = string(src[i : i+n])
			}
			break
		}
	}
	f.detectIndent()
	return f, nil
}

// NumDocs is the number of documents in the file.
func (f *File) NumDocs() int { return len(f.docs) }

// Doc returns the root node of document i (a mapping for a Kubernetes
// object), for callers that find objects by kind and metadata.name. It is
// read-only: change the file through Set and Delete only.
func (f *File) Doc(i int) *yaml.Node {
	if i < 0 || i >= len(f.docs) {
		return nil
	}
	return f.docs[i].Content[0]
}

// Bytes returns the file's current text.
func (f *File) Bytes() []byte { return bytes.Clone(f.src) }

// Indent is the indentation step found in the file (2 when the file shows
// none). New nested content is written with it.
func (f *File) Indent() int { return f.indent }

// Get returns the node at p in document doc. An alias is followed to the
// node it names, and a key missing from a mapping is looked up in the
// mappings merged into it with `<<`, as a YAML decoder would.
func (f *File) Get(doc int, p Path) (*yaml.Node, bool) {
	if doc < 0 || doc >= len(f.docs) {
		return nil, false
	}
	n := f.docs[doc].Content[0]
	for _, e := range p {
		n = deref(n)
		switch e.Kind {
		case KeyElem:
			if n.Kind != yaml.MappingNode {
				return nil, false
			}
			v := lookupMerged(n, e.Key, 0)
			if v == nil {
				return nil, false
			}
			n = v
		case IndexElem:
			if n.Kind != yaml.SequenceNode || e.Index < 0 || e.Index >= len(n.Content) {
				return nil, false
			}
			n = n.Content[e.Index]
		case MatchElem:
			if n.Kind != yaml.SequenceNode {
				return nil, false
			}
			m := matchItems(n, e)
			if len(m) != 1 {
				return nil, false
			}
			n = n.Content[m[0]]
		}
	}
	return deref(n), true
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// keyIndex returns the index of the entry of mapping m whose key is the
// string k, or -1. Only string keys match: `1:` is not the key "1".
func keyIndex(m *yaml.Node, k string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		if kn.Kind == yaml.ScalarNode && kn.Value == k && kn.ShortTag() == "!!str" {
			return i / 2
		}
	}
	return -1
}

func lookupMerged(m *yaml.Node, k string, depth int) *yaml.Node {
	if i := keyIndex(m, k); i >= 0 {
		return m.Content[2*i+1]
	}
	if depth > 10 {
		return nil
	}
	for _, src := range mergeSources(m) {
		if v := lookupMerged(src, k, depth+1); v != nil {
			return v
		}
	}
	return nil
}

// mergeSources lists the mappings merged into m with `<<`.
func mergeSources(m *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			continue
		}
		v := deref(m.Content[i+1])
		switch v.Kind {
		case yaml.MappingNode:
			out = append(out, v)
		case yaml.SequenceNode:
			for _, it := range v.Content {
				if it = deref(it); it.Kind == yaml.MappingNode {
					out = append(out, it)
				}
			}
		}
	}
	return out
}

// matchItems returns the indexes of the mapping items of sequence s whose
// field e.Field is a scalar equal to e.Value.
func matchItems(s *yaml.Node, e Elem) []int {
	var out []int
	for i, it := range s.Content {
		it = deref(it)
		if it.Kind != yaml.MappingNode {
			continue
		}
		if j := keyIndex(it, e.Field); j >= 0 {
			v := deref(it.Content[2*j+1])
			if v.Kind == yaml.ScalarNode && v.Value == e.Value {
				out = append(out, i)
			}
		}
	}
	return out
}

// detectIndent finds the file's indentation step and whether block
// sequences below a mapping key are indented, by majority over the file.
func (f *File) detectIndent() {
	steps := map[int]int{}
	seqSteps := map[int]int{}
	defer func() {
		// A file whose positions cannot be followed keeps what was found.
		if r := recover(); r != nil {
			if _, ok := r.(editFailure); !ok {
				panic(r)
			}
		}
		f.indent = mode(steps, 2)
		f.seqIndent = mode(seqSteps, f.indent)
	}()
	f.indent, f.seqIndent = 2, 2
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if depth > 200 {
			return
		}
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 || hasProps(k) {
					continue
				}
				kc := f.lt.column(f.nodeStart(k))
				switch v.Kind {
				case yaml.MappingNode:
					if s := f.lt.column(f.nodeStart(v.Content[0])) - kc; s > 0 {
						steps[s]++
					}
				case yaml.SequenceNode:
					if s := f.lt.column(f.dash(v, 0)) - kc; s >= 0 {
						seqSteps[s]++
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	for _, d := range f.docs {
		walk(d.Content[0], 0)
	}
}

func mode(votes map[int]int, def int) int {
	best, n := def, 0
	for v, c := range votes {
		if c > n || (c == n && v < best) {
			best, n = v, c
		}
	}
	return best
}
