package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxDepth bounds the walk of a document, so a hostile file cannot exhaust the stack.
const maxDepth = 100

// document is one YAML or JSON document of a file.
type document struct {
	index int        // 1-based
	root  *yaml.Node // the content node; nil for an empty document
}

// parseDocuments parses every document of a YAML file, a JSON file, or a stream of JSON values.
// On a syntax error it returns the documents before it with the error. Text that starts like
// JSON is read as JSON first: encoding/json reads a large one-line file many times faster than
// a YAML parser, which matters for a hostile 16 MB line.
func parseDocuments(data []byte) ([]*document, error) {
	t := bytes.TrimSpace(data)
	looksJSON := len(t) > 0 && (t[0] == '{' || t[0] == '[')
	if looksJSON {
		if jdocs, jerr := parseJSONStream(data); jerr == nil {
			return jdocs, nil
		}
	}
	return parseYAML(data)
}

func parseYAML(data []byte) ([]*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		d := &document{index: len(docs) + 1}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			d.root = n.Content[0]
		}
		docs = append(docs, d)
	}
}

// parseJSONStream parses concatenated JSON values (`kubectl get -o json` of several objects,
// or files YAML cannot read, such as JSON indented with tabs) into the nodes a YAML parser
// would make, with their lines.
func parseJSONStream(data []byte) ([]*document, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data, line: 1}
	p.dec.UseNumber()
	var docs []*document
	for {
		n, err := p.value()
		if errors.Is(err, io.EOF) && n == nil {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &document{index: len(docs) + 1, root: n})
	}
}

// jsonParser turns encoding/json's tokens into yaml.Nodes.
type jsonParser struct {
	dec  *json.Decoder
	data []byte
	// line is the line of offset, the end of the last token read.
	line   int
	offset int64
}

func (p *jsonParser) token() (json.Token, int, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, 0, err
	}
	end := p.dec.InputOffset()
	p.line += bytes.Count(p.data[p.offset:end], []byte{'\n'})
	p.offset = end
	return tok, p.line, nil
}

// value reads one JSON value; encoding/json bounds its nesting.
func (p *jsonParser) value() (*yaml.Node, error) {
	tok, line, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.node(tok, line)
}

func (p *jsonParser) node(tok json.Token, line int) (*yaml.Node, error) {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line, Style: yaml.FlowStyle}
			for p.dec.More() {
				k, kline, err := p.token()
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ks, Line: kline}, v)
			}
			_, _, err := p.token()
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line, Style: yaml.FlowStyle}
			for p.dec.More() {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, _, err := p.token()
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t, Line: line}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(t.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String(), Line: line}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t), Line: line}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %T", tok)
}

var errorLineRE = regexp.MustCompile(`line (\d+)`)

// errorLine is the line a YAML syntax error names, or 0. The guard reports the line, never
// the error's text, which may quote the file.
func errorLine(err error) int {
	m := errorLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// secretLike finds `kind: Secret` in text that does not parse, in YAML's block style or in
// JSON and flow style.
var secretLike = regexp.MustCompile(`(?m)^\s*["']?kind["']?\s*:\s*["']?Secret["']?\s*(#.*)?$|["']kind["']\s*:\s*["']Secret["']|[{,]\s*kind\s*:\s*["']?Secret["']?\s*[,}]`)

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// pair is one key and value of a mapping.
type pair struct {
	key   string // "" when the key is not a scalar
	name  string // the key as shown in a path
	value *yaml.Node
}

// pairs lists the entries of a mapping, those merged in with `<<` included, and every entry of
// a repeated key: YAML libraries disagree on which one wins, so the guard looks at all.
func pairs(m *yaml.Node) []pair {
	var out []pair
	collectPairs(resolve(m), &out, map[*yaml.Node]bool{}, 0)
	return out
}

// collectPairs merges each mapping once: merges of merges must not grow exponentially.
func collectPairs(m *yaml.Node, out *[]pair, merged map[*yaml.Node]bool, depth int) {
	if m == nil || m.Kind != yaml.MappingNode || depth > maxDepth || merged[m] {
		return
	}
	merged[m] = true
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		if k != nil && k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			switch src := resolve(v); {
			case src == nil:
			case src.Kind == yaml.MappingNode:
				collectPairs(src, out, merged, depth+1)
			case src.Kind == yaml.SequenceNode:
				for _, s := range src.Content {
					collectPairs(resolve(s), out, merged, depth+1)
				}
			}
			continue
		}
		p := pair{value: v, name: "[key #" + strconv.Itoa(i/2+1) + "]"}
		if k != nil && k.Kind == yaml.ScalarNode {
			p.key = k.Value
			if printableKey(k.Value) {
				p.name = k.Value
			}
		}
		*out = append(*out, p)
	}
}

// printableKey says whether a key may be shown in a finding: key names are not secret, but a
// key that is itself a key or a long blob is not printed.
func printableKey(k string) bool {
	if k == "" || len(k) > 100 || strings.ContainsAny(k, "\n\r\t") {
		return false
	}
	return len(findKeys(k)) == 0
}

// values returns the values of every entry named key.
func values(m *yaml.Node, key string) []*yaml.Node {
	var out []*yaml.Node
	for _, p := range pairs(m) {
		if p.key == key {
			out = append(out, resolve(p.value))
		}
	}
	return out
}

// scalars returns the scalar values of every entry named key.
func scalars(m *yaml.Node, key string) []string {
	var out []string
	for _, v := range values(m, key) {
		if v != nil && v.Kind == yaml.ScalarNode {
			out = append(out, v.Value)
		}
	}
	return out
}

// field returns the first value named key, or nil.
func field(m *yaml.Node, key string) *yaml.Node {
	if v := values(m, key); len(v) > 0 {
		return v[0]
	}
	return nil
}

// hasScalar says whether an entry named key has the value want.
func hasScalar(m *yaml.Node, key, want string) bool {
	for _, s := range scalars(m, key) {
		if s == want {
			return true
		}
	}
	return false
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join appends a key to a path: data.password, data["tls.crt"].
func join(p, name string) string {
	switch {
	case strings.HasPrefix(name, "[key #"):
		return p + name
	case plainKeyRE.MatchString(name) && p == "":
		return name
	case plainKeyRE.MatchString(name):
		return p + "." + name
	}
	return p + "[" + strconv.Quote(name) + "]"
}

// under is the path rel below the path base: both are paths as join and index make them.
func under(base, rel string) string {
	switch {
	case base == "":
		return rel
	case rel == "":
		return base
	case strings.HasPrefix(rel, "["):
		return base + rel
	}
	return base + "." + rel
}

func index(p string, i int) string {
	return p + "[" + strconv.Itoa(i) + "]"
}

// tooDeep stands, for leaves' callback, for what is nested deeper than maxDepth: an empty
// value to most checks, a finding to those of a Secret's values.
var tooDeep = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}

// leaves calls fn for every scalar under n, with its path. Null values count as leaves. An
// alias is followed the first time only: a "billion laughs" document is walked in linear time.
// Below maxDepth, fn gets tooDeep once for each node it did not descend into.
func leaves(n *yaml.Node, p string, fn func(p string, n *yaml.Node)) {
	walkLeaves(n, p, fn, map[*yaml.Node]bool{}, 0)
}

func walkLeaves(n *yaml.Node, p string, fn func(string, *yaml.Node), expanded map[*yaml.Node]bool, depth int) {
	if n != nil && n.Kind == yaml.AliasNode {
		n = resolve(n)
		if expanded[n] {
			return
		}
		expanded[n] = true
	}
	if n == nil {
		return
	}
	if depth > maxDepth {
		fn(p, tooDeep)
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, e := range pairs(n) {
			walkLeaves(e.value, join(p, e.name), fn, expanded, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkLeaves(c, index(p, i), fn, expanded, depth+1)
		}
	case yaml.ScalarNode:
		fn(p, n)
	}
}

// Alias bombs: a document whose aliases expand to more than maxExpanded values, and to more
// than aliasRatio times the values it holds, is refused. kustomize expands every alias when it
// renders; a document of a few lines can expand to billions of values.
const (
	maxExpanded = 1_000_000
	aliasRatio  = 10
)

// aliasBomb says whether a document's aliases expand beyond the limits. It counts in linear
// time: each node's expanded size is computed once.
func aliasBomb(root *yaml.Node) bool {
	sizes := map[*yaml.Node]int64{}
	var nodes int64
	var size func(n *yaml.Node, depth int) int64
	size = func(n *yaml.Node, depth int) int64 {
		if n == nil {
			return 0
		}
		if n.Kind == yaml.AliasNode {
			return size(n.Alias, depth)
		}
		if s, ok := sizes[n]; ok {
			return s
		}
		sizes[n] = 1 // a cycle counts once
		nodes++
		s := int64(1)
		if depth < 10*maxDepth {
			for _, c := range n.Content {
				s = min(s+size(c, depth+1), 1<<50)
			}
		}
		sizes[n] = s
		return s
	}
	expanded := size(root, 0)
	return expanded > maxExpanded && expanded > aliasRatio*nodes
}

// isNull says whether a scalar is YAML's null: an absent value holds no secret.
func isNull(n *yaml.Node) bool {
	return n.Tag == "!!null"
}
