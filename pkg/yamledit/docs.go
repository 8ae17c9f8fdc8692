package yamledit

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// AppendDoc adds n (a document or its root node) as a new last document,
// after a `---`, written in the file's indentation. A file without a final
// newline still has none afterwards.
func (f *File) AppendDoc(n *yaml.Node) (err error) {
	defer catch(&err)
	if n == nil {
		return fmt.Errorf("append document: nil node")
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if err := checkNewTree(n, 0); err != nil {
		return fmt.Errorf("append document: %w", err)
	}
	final := len(f.src) == 0 || f.endsWithBreak()
	r := &renderer{indent: f.indent, seqIndent: f.seqIndent, noBlock: !final}
	var lines []string
	switch {
	case isBlockCollection(n):
		if lines, err = r.block(n, 0, 0); err != nil {
			return fmt.Errorf("append document: %w", err)
		}
		if len(f.docs) > 0 {
			lines = append([]string{"---"}, lines...)
		}
	case n.Kind == yaml.ScalarNode:
		if h, ls, ok := r.blockScalar(n, f.indent, -1); ok {
			lines = append([]string{"--- " + h}, ls...)
			break
		}
		t, err := r.scalarText(n, ctxRoot, n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle))
		if err != nil {
			return fmt.Errorf("append document: %w", err)
		}
		lines = []string{"--- " + t}
	default:
		t, err := r.flow(n, false, 0)
		if err != nil {
			return fmt.Errorf("append document: %w", err)
		}
		lines = []string{"--- " + t}
	}
	text := strings.Join(lines, f.eol)
	if final {
		text += f.eol
	} else {
		text = f.eol + text
	}
	g := *f
	g.splice(len(f.src), len(f.src), text)
	if len(g.docs) != len(f.docs)+1 || !equalNodes(g.docs[len(f.docs)].Content[0], n, 0) {
		return fmt.Errorf("append document: %w", ErrInternal)
	}
	for i := range f.docs {
		if !equalNodes(f.docs[i].Content[0], g.docs[i].Content[0], 0) {
			return fmt.Errorf("append document: %w: document %d would change", ErrInternal, i)
		}
	}
	*f = g
	return nil
}

// DeleteDoc removes document i and one `---` separator: its own, or for a
// first document without one, the next document's. Comments before the
// first document stay.
func (f *File) DeleteDoc(i int) (err error) {
	defer catch(&err)
	if err := f.checkDoc(i); err != nil {
		return err
	}
	t := &f.lt
	start := t.lineStart(f.docStart(i))
	end := len(f.src)
	if i+1 < len(f.docs) {
		end = t.lineStart(f.docStart(i + 1))
		if f.rootSep(i) < 0 {
			// The next document's bare `---` line becomes unnecessary.
			if le := t.lineEnd(end); strings.TrimRight(string(t.src[end:le]), " \t") == "---" {
				end = le + breakLen(t.src, le)
			}
		}
	} else if start > 0 && !f.endsWithBreak() && (i == 0 || lastBlockScalar(f.docs[i-1].Content[0]) == nil) {
		// Keep the file without a final newline.
		start = t.lineEnd(t.start[t.line(start)-1])
	}
	g := *f
	g.splice(start, end, "")
	if len(g.docs) != len(f.docs)-1 {
		return fmt.Errorf("delete document %d: %w", i, ErrInternal)
	}
	for j := range g.docs {
		k := j
		if j >= i {
			k++
		}
		if !equalNodes(f.docs[k].Content[0], g.docs[j].Content[0], 0) {
			return fmt.Errorf("delete document %d: %w: document %d would change", i, ErrInternal, k)
		}
	}
	*f = g
	return nil
}

// docStart is where document i begins: its `---`, or its first content.
func (f *File) docStart(i int) int {
	d := f.docs[i]
	return f.lt.offset(d.Line, d.Column)
}
