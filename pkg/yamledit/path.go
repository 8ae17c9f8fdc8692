package yamledit

import (
	"fmt"
	"strconv"
	"strings"
)

// ElemKind tells what a path element selects.
type ElemKind int

const (
	// KeyElem selects the value of a mapping key.
	KeyElem ElemKind = iota
	// IndexElem selects a sequence item by position.
	IndexElem
	// MatchElem selects the one mapping item of a sequence whose Field
	// holds Value, the way Kubernetes merges associative lists
	// (containers by name, ports by containerPort).
	MatchElem
)

// Elem is one step of a Path.
type Elem struct {
	Kind  ElemKind
	Key   string // KeyElem
	Index int    // IndexElem
	Field string // MatchElem
	Value string // MatchElem
}

// Path addresses a node from a document's root. The empty path is the root.
type Path []Elem

// Key, Index and Match build path elements.
func Key(k string) Elem              { return Elem{Kind: KeyElem, Key: k} }
func Index(i int) Elem               { return Elem{Kind: IndexElem, Index: i} }
func Match(field, value string) Elem { return Elem{Kind: MatchElem, Field: field, Value: value} }

// ParsePath reads a path such as
//
//	spec.template.spec.containers[name=web].image
//	metadata.labels["app.kubernetes.io/name"]
//	spec.ports[0].port
//
// Keys holding `.`, `[`, `]` or quotes go in brackets, double-quoted (Go
// escapes) or single-quoted; a selector value may be quoted the same way.
func ParsePath(s string) (Path, error) {
	p := Path{}
	i := 0
	if strings.HasPrefix(s, ".") {
		i = 1
	}
	expectKey := true
	for i < len(s) {
		switch {
		case s[i] == '[':
			e, n, err := parseBracket(s[i:])
			if err != nil {
				return nil, fmt.Errorf("invalid path %q at offset %d: %w", s, i, err)
			}
			p = append(p, e)
			i += n
			expectKey = false
		case s[i] == '.' && !expectKey:
			i++
			expectKey = true
			if i == len(s) {
				return nil, fmt.Errorf("invalid path %q: ends with '.'", s)
			}
		case expectKey:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != ']' {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("invalid path %q: empty key at offset %d", s, i)
			}
			p = append(p, Key(s[i:j]))
			i = j
			expectKey = false
		default:
			return nil, fmt.Errorf("invalid path %q: unexpected %q at offset %d", s, s[i], i)
		}
	}
	return p, nil
}

// parseBracket reads `[...]` at the start of s and returns its length.
func parseBracket(s string) (Elem, int, error) {
	i := 1
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		k, n, err := unquote(s[i:])
		if err != nil {
			return Elem{}, 0, err
		}
		i += n
		if i >= len(s) || s[i] != ']' {
			return Elem{}, 0, fmt.Errorf("expected ']' after quoted key")
		}
		return Key(k), i + 1, nil
	}
	j := strings.IndexAny(s[i:], "=]")
	if j < 0 {
		return Elem{}, 0, fmt.Errorf("missing ']'")
	}
	if s[i+j] == ']' {
		idx, err := strconv.Atoi(s[i : i+j])
		if err != nil || idx < 0 {
			return Elem{}, 0, fmt.Errorf("index %q is not a non-negative integer", s[i:i+j])
		}
		return Index(idx), i + j + 1, nil
	}
	field := strings.TrimSpace(s[i : i+j])
	if field == "" {
		return Elem{}, 0, fmt.Errorf("empty selector field")
	}
	i += j + 1
	var val string
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		v, n, err := unquote(s[i:])
		if err != nil {
			return Elem{}, 0, err
		}
		val = v
		i += n
	} else {
		k := strings.IndexByte(s[i:], ']')
		if k < 0 {
			return Elem{}, 0, fmt.Errorf("missing ']'")
		}
		val = s[i : i+k]
		i += k
	}
	if i >= len(s) || s[i] != ']' {
		return Elem{}, 0, fmt.Errorf("missing ']'")
	}
	return Match(field, val), i + 1, nil
}

// unquote reads a quoted string at the start of s and returns its length.
func unquote(s string) (string, int, error) {
	if s[0] == '\'' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				return b.String(), i + 1, nil
			}
			b.WriteByte(s[i])
		}
		return "", 0, fmt.Errorf("unterminated quote")
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return "", 0, fmt.Errorf("bad quoted string %s: %w", s[:i+1], err)
			}
			return v, i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated quote")
}

// String writes the path back in the form ParsePath reads.
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch e.Kind {
		case KeyElem:
			if simpleKey(e.Key) {
				if i > 0 {
					b.WriteByte('.')
				}
				b.WriteString(e.Key)
			} else {
				b.WriteString("[" + strconv.Quote(e.Key) + "]")
			}
		case IndexElem:
			fmt.Fprintf(&b, "[%d]", e.Index)
		case MatchElem:
			v := e.Value
			if strings.ContainsAny(v, `]"'`) || strings.TrimSpace(v) != v {
				v = strconv.Quote(v)
			}
			fmt.Fprintf(&b, "[%s=%s]", e.Field, v)
		}
	}
	return b.String()
}

func simpleKey(k string) bool {
	if k == "" || strings.ContainsAny(k, `.[]"'=`) {
		return false
	}
	return true
}

// parent returns p without its last element.
func (p Path) parent() Path { return p[:len(p)-1] }

func (p Path) with(e Elem) Path {
	q := make(Path, len(p), len(p)+1)
	copy(q, p)
	return append(q, e)
}
