package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAppendIsSetInTurn compares Append of several items with Set of each at the index after
// the last, one edit at a time, byte for byte: block and flow sequences, empty, null and
// missing ones, comments after the last item, other indentations, CRLF, no final newline,
// and items that are strings, mappings and block scalars.
func TestAppendIsSetInTurn(t *testing.T) {
	files := map[string]string{
		"block":             "kind: Kustomization\nresources:\n- a.yaml\n- b.yaml\n",
		"indented":          "kind: Kustomization\nresources:\n    -   a.yaml\nnamespace: shop\n",
		"nested indent":     "kind: Kustomization\nresources:\n  - a.yaml\n  - b.yaml\nimages: []\n",
		"comment after":     "resources:\n- a.yaml # the first\n  # the end of the list\n# about namespace\nnamespace: shop\n",
		"commented items":   "resources:\n- a.yaml\n# - old.yaml\nnamespace: shop\n",
		"flow":              "resources: [a.yaml, b.yaml]\nnamespace: shop\n",
		"flow empty":        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
		"flow empty inside": "spec: {resources: []}\n",
		"null":              "kind: Kustomization\nresources:\nnamespace: shop\n",
		"missing":           "kind: Kustomization\nnamespace: shop\n",
		"missing spaced":    "kind: Kustomization\n\nnamespace: shop\n\nimages:\n- name: web\n",
		"crlf":              "kind: Kustomization\r\nresources:\r\n- a.yaml\r\n",
		"no final newline":  "kind: Kustomization\nresources:\n- a.yaml",
		"last in file":      "resources:\n  - a.yaml\n  - b.yaml",
		"two documents":     "resources:\n- a.yaml\n---\nresources:\n- z.yaml\n",
	}
	itemSets := map[string][]*yaml.Node{
		"strings":      {ScalarNode("c.yaml"), ScalarNode("shop/d.yaml"), ScalarNode("true"), ScalarNode("e f.yaml")},
		"mappings":     {mapping("path", "p1.yaml"), mapping("path", "p2.yaml", "target", "x")},
		"one":          {ScalarNode("only.yaml")},
		"block scalar": {ScalarNode("line one\nline two\n"), ScalarNode("z.yaml")},
		"nested": {{Kind: yaml.MappingNode, Content: []*yaml.Node{ScalarNode("patch"),
			{Kind: yaml.SequenceNode, Content: []*yaml.Node{ScalarNode("x"), ScalarNode("y")}}}}},
	}
	for fname, src := range files {
		for iname, items := range itemSets {
			t.Run(fname+"/"+iname, func(t *testing.T) {
				p := Path{Key("resources")}
				if fname == "flow empty inside" {
					p = Path{Key("spec"), Key("resources")}
				}
				one, err := Parse([]byte(src))
				if err != nil {
					t.Fatal(err)
				}
				var oneErr error
				for _, it := range items {
					cur, ok := one.Get(0, p)
					if !ok || isNull(cur) {
						oneErr = one.Set(0, p, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{it}})
					} else {
						oneErr = one.Set(0, p.with(Index(len(cur.Content))), it)
					}
					if oneErr != nil {
						break
					}
				}
				all, err := Parse([]byte(src))
				if err != nil {
					t.Fatal(err)
				}
				allErr := all.Append(0, p, items)
				if (oneErr != nil) != (allErr != nil) {
					t.Fatalf("one at a time: %v; all at once: %v", oneErr, allErr)
				}
				if allErr != nil {
					if got := string(all.Bytes()); got != src {
						t.Errorf("a failed Append changed the file:\n%s", show(got))
					}
					return
				}
				if got, want := string(all.Bytes()), string(one.Bytes()); got != want {
					t.Errorf("all at once:\n%s\none at a time:\n%s", show(got), show(want))
				}
			})
		}
	}
}

func mapping(kv ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range kv {
		n.Content = append(n.Content, ScalarNode(s))
	}
	return n
}

func TestAppendRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		items    []*yaml.Node
		want     error
	}{
		{"a scalar", "resources: a.yaml\n", []*yaml.Node{ScalarNode("b.yaml")}, nil},
		{"a mapping", "resources: {a: b}\n", []*yaml.Node{ScalarNode("b.yaml")}, nil},
		{"an anchored sequence", "resources: &r\n- a.yaml\nother: *r\n", []*yaml.Node{ScalarNode("b.yaml")}, ErrAliased},
		{"a nil item", "resources:\n- a.yaml\n", []*yaml.Node{nil}, nil},
		{"an item with an alias", "resources:\n- a.yaml\n", []*yaml.Node{{Kind: yaml.AliasNode, Alias: ScalarNode("x")}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			err = f.Append(0, Path{Key("resources")}, tc.items)
			if err == nil {
				t.Fatalf("Append succeeded:\n%s", f.Bytes())
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if got := string(f.Bytes()); got != tc.in {
				t.Errorf("the file changed:\n%s", show(got))
			}
		})
	}
}

// BenchmarkAppend200 is the kustomization of a bulk capture: 200 resources: entries added to
// an empty list, at once and one at a time.
func BenchmarkAppend200(b *testing.B) {
	src := []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
	var items []*yaml.Node
	for i := range 200 {
		items = append(items, ScalarNode(fmt.Sprintf("shop/configmap-%03d.yaml", i)))
	}
	p := Path{Key("resources")}
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			f, _ := Parse(src)
			if err := f.Append(0, p, items); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set-each", func(b *testing.B) {
		for b.Loop() {
			f, _ := Parse(src)
			for i, it := range items {
				if err := f.Set(0, p.with(Index(i)), it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// FuzzAppend compares Append with Set of each item in turn on arbitrary YAML, at any path of
// it: they fail together, or give the same bytes.
func FuzzAppend(f *testing.F) {
	for i, s := range fuzzSeeds {
		for k := range uint8(12) {
			f.Add(s, uint16(i*7+int(k)), k, "v", uint8(2))
		}
		f.Add(s, uint16(i), uint8(7), "a\nb", uint8(3))
	}
	f.Fuzz(func(t *testing.T, src string, sel uint16, kind uint8, val string, n uint8) {
		one, err := Parse([]byte(src))
		if err != nil || one.NumDocs() == 0 {
			return
		}
		doc := int(sel) % one.NumDocs()
		paths := allPaths(one.Doc(doc))
		p := paths[int(sel/7)%len(paths)]
		if sel%5 == 0 {
			p = p.with(Key("new"))
		}
		val = strings.ToValidUTF8(val, "?")
		var items []*yaml.Node
		for i := range int(n%4) + 1 {
			it := fuzzValue(kind+uint8(i), val+strconv.Itoa(i))
			if it == nil {
				return
			}
			items = append(items, it)
		}
		var oneErr error
		for _, it := range items {
			cur, ok := one.Get(doc, p)
			switch {
			case !ok || isNull(cur):
				oneErr = one.Set(doc, p, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{it}})
			case cur.Kind != yaml.SequenceNode:
				oneErr = errors.New("not a sequence")
			default:
				oneErr = one.Set(doc, p.with(Index(len(cur.Content))), it)
			}
			if oneErr != nil {
				break
			}
		}
		all, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		allErr := all.Append(doc, p, items)
		if allErr != nil {
			if !bytes.Equal(all.Bytes(), []byte(src)) {
				t.Fatalf("failed Append changed the file: %v", allErr)
			}
			if oneErr == nil && !tolerated(src) {
				t.Fatalf("Append(%d, %s) failed: %v; one at a time gave:\n%s", doc, p, allErr, show(string(one.Bytes())))
			}
			return
		}
		if oneErr != nil {
			if !tolerated(src) {
				t.Fatalf("Append(%d, %s) succeeded, one at a time failed: %v; Append gave:\n%s", doc, p, oneErr, show(string(all.Bytes())))
			}
			return
		}
		if got, want := string(all.Bytes()), string(one.Bytes()); got != want {
			t.Fatalf("Append(%d, %s) on %q:\n%s\none at a time:\n%s", doc, p, src, show(got), show(want))
		}
	})
}
