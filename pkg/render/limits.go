package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"

	"gopkg.in/yaml.v3"
)

// Limits on what a render reads, so that a hostile or broken file in a repository (or in a
// commit a hook checks) ends a command with an error naming it, within seconds, instead of
// taking minutes and gigabytes: kustomize expands every YAML alias of a file it reads.
const (
	// MaxInputBytes is the largest file a render reads (the largest CRDs are a few MiB).
	MaxInputBytes = 32 << 20
	// MaxExpandedNodes is how many YAML nodes a file's documents may hold once their aliases
	// are expanded; a file without aliases holds as many as it writes.
	MaxExpandedNodes = 2_000_000
)

// InputError says why a render refuses to read a file.
type InputError struct {
	Path   string
	Reason string
}

func (e *InputError) Error() string { return e.Path + ": " + e.Reason }

// aliasUse finds a YAML alias (*name) where one can stand: after a space, a line start, a flow
// collection's punctuation or a sequence dash.
var aliasUse = regexp.MustCompile(`(?m)(?:^|[\s\[{,:-])\*[^\s,\[\]{}]+`)

// checkInput applies the limits to the content of the file at path (named in errors).
func checkInput(path string, b []byte) error {
	if len(b) > MaxInputBytes {
		return &InputError{Path: path, Reason: fmt.Sprintf("%d MiB is more than a render reads (%d MiB): remove the file from what the target renders, or split it", len(b)>>20, MaxInputBytes>>20)}
	}
	if bytes.IndexByte(b, '&') < 0 || !aliasUse.Match(b) {
		return nil
	}
	n, err := expandedNodes(b, MaxExpandedNodes)
	if err != nil {
		return nil // not YAML the limit applies to: the render reports it
	}
	if n > MaxExpandedNodes {
		return &InputError{Path: path, Reason: fmt.Sprintf("its YAML aliases expand to more than %d nodes (an alias bomb?); kustomize expands every alias, so the file cannot be rendered", MaxExpandedNodes)}
	}
	return nil
}

// expandedNodes counts the nodes of the YAML stream b with every alias expanded, stopping once
// the count passes limit. Aliases are counted through a memo of each anchored node's expanded
// size, so the count takes the time of one walk of the written nodes.
func expandedNodes(b []byte, limit int64) (int64, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	memo := map[*yaml.Node]int64{}
	var size func(n *yaml.Node, depth int) int64
	size = func(n *yaml.Node, depth int) int64 {
		if n == nil {
			return 0
		}
		if depth > 10_000 {
			return limit + 1
		}
		if s, ok := memo[n]; ok {
			return s
		}
		var s int64 = 1
		if n.Kind == yaml.AliasNode {
			s = size(n.Alias, depth+1)
		}
		for _, c := range n.Content {
			s += size(c, depth+1)
			if s > limit {
				break
			}
		}
		memo[n] = s
		return s
	}
	var total int64
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += size(&doc, 0)
		if total > limit {
			return total, nil
		}
	}
}
