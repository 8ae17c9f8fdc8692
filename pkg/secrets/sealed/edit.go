package sealed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
)

// editEncryptedData sets (replacing or adding) and deletes entries of a SealedSecret's
// spec.encryptedData. When the entries are one line each, as kubeseal and this package write
// them, only their lines change; otherwise the document is encoded again in its indentation,
// missing spec and encryptedData maps created (a template without labels or annotations, or
// an empty encryptedData, is no reason to fail).
func editEncryptedData(doc []byte, set map[string]string, del []string) ([]byte, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("reading the SealedSecret: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the SealedSecret's document is followed by another; edit one document at a time")
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the SealedSecret is not a YAML mapping")
	}
	top := root.Content[0]
	before := map[string]string{}
	ed := value(value(top, "spec"), "encryptedData")
	if ed != nil && ed.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ed.Content); i += 2 {
			before[ed.Content[i].Value] = ed.Content[i+1].Value
		}
	}
	want := maps.Clone(before)
	for _, k := range del {
		delete(want, k)
	}
	maps.Copy(want, set)

	out, ok := editLines(doc, ed, set, del)
	if !ok {
		var err error
		if out, err = editNodes(&root, top, set, del, secrets.Indent(doc)); err != nil {
			return nil, err
		}
	}
	// Never hand back a document that does not say what was asked.
	var check struct {
		Spec struct {
			EncryptedData map[string]string `yaml:"encryptedData"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(out, &check); err != nil || !maps.Equal(check.Spec.EncryptedData, want) {
		return nil, fmt.Errorf("editing the SealedSecret's encryptedData went wrong (%v); the document is left as it was", err)
	}
	return out, nil
}

// editLines edits a block mapping whose entries are one line each, line by line: the comments
// and blank lines between them stay. It reports false when the mapping is not such, or would
// end up empty.
func editLines(doc []byte, ed *yaml.Node, set map[string]string, del []string) ([]byte, bool) {
	if ed == nil || ed.Kind != yaml.MappingNode || ed.Style&yaml.FlowStyle != 0 || len(ed.Content) == 0 || bytes.Contains(doc, []byte("\r")) {
		return nil, false
	}
	lines := strings.SplitAfter(string(doc), "\n")
	column := ed.Content[0].Column
	var keys []string
	at := map[string]int{} // key → index of its line
	isEntry := map[int]bool{}
	for i := 0; i+1 < len(ed.Content); i += 2 {
		k, v := ed.Content[i], ed.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || k.Column != column || v.Line != k.Line ||
			v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || k.Line > len(lines) {
			return nil, false
		}
		keys = append(keys, k.Value)
		at[k.Value] = k.Line - 1
		isEntry[k.Line-1] = true
	}
	// Between and after the entries only comments and blank lines may follow, down to the end
	// of the mapping; anything more indented would continue a value over several lines.
	first, last := at[keys[0]], at[keys[len(keys)-1]]
	for i := first + 1; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		content := strings.TrimSpace(trimmed)
		indent := len(lines[i]) - len(trimmed)
		if i > last && content != "" && indent < column-1 {
			break
		}
		if content != "" && !strings.HasPrefix(content, "#") && !isEntry[i] {
			return nil, false
		}
	}

	prefix := strings.Repeat(" ", column-1)
	render := func(key, value string) (string, bool) {
		out, err := yaml.Marshal(map[string]string{key: value})
		if err != nil || bytes.Count(out, []byte("\n")) != 1 {
			return "", false
		}
		return prefix + string(out), true
	}
	drop := map[int]bool{}
	for _, k := range del {
		if i, ok := at[k]; ok {
			drop[i] = true
		}
	}
	insert := map[int][]string{} // new lines, before the line of that index
	sorted := slices.IsSorted(keys)
	for _, k := range slices.Sorted(maps.Keys(set)) {
		line, ok := render(k, set[k])
		if !ok {
			return nil, false
		}
		if i, ok := at[k]; ok {
			lines[i] = line
			delete(drop, i)
			continue
		}
		before := last + 1
		if sorted {
			if j, _ := slices.BinarySearch(keys, k); j < len(keys) {
				// Before the next key and the comment lines right above it.
				for before = at[keys[j]]; before > first && strings.HasPrefix(strings.TrimSpace(lines[before-1]), "#"); before-- {
				}
			}
		}
		insert[before] = append(insert[before], line)
	}
	if len(drop) == len(keys) && len(insert) == 0 {
		return nil, false
	}
	if !strings.HasSuffix(lines[last], "\n") {
		lines[last] += "\n" // the last line of a file without a final newline
	}
	var b strings.Builder
	for i, line := range lines {
		for _, l := range insert[i] {
			b.WriteString(l)
		}
		if !drop[i] {
			b.WriteString(line)
		}
	}
	for _, l := range insert[len(lines)] {
		b.WriteString(l)
	}
	return []byte(b.String()), true
}

// editNodes edits the node tree and encodes the document again.
func editNodes(root, top *yaml.Node, set map[string]string, del []string, indent int) ([]byte, error) {
	spec := child(top, "spec")
	ed := child(spec, "encryptedData")
	for _, k := range del {
		for i := 0; i+1 < len(ed.Content); i += 2 {
			if ed.Content[i].Value == k {
				ed.Content = slices.Delete(ed.Content, i, i+2)
				break
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if v := value(ed, k); v != nil {
			*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: set[k]}
			continue
		}
		var current []string
		for i := 0; i+1 < len(ed.Content); i += 2 {
			current = append(current, ed.Content[i].Value)
		}
		at := len(current)
		if slices.IsSorted(current) {
			at, _ = slices.BinarySearch(current, k)
		}
		ed.Content = slices.Insert(ed.Content, 2*at,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: set[k]})
	}
	if len(ed.Content) == 0 {
		ed.Style = yaml.FlowStyle // encryptedData: {}
	} else {
		ed.Style &^= yaml.FlowStyle
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indent)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("writing the SealedSecret: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// value returns the value of key in a mapping node, nil when either is missing.
func value(mapping *yaml.Node, key string) *yaml.Node {
	if mapping == nil || mapping.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}

// child returns the mapping under key, making it (or replacing a null) when needed.
func child(mapping *yaml.Node, key string) *yaml.Node {
	if v := value(mapping, key); v != nil {
		if v.Kind != yaml.MappingNode {
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	mapping.Content = append(mapping.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}
