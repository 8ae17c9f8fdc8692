package repogen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Shape is a generated repository of one real shape: the target a change renders there and a
// Deployment it renders, for a benchmark's scale.
type Shape struct {
	// Path is the target's directory, the one the reconciler renders.
	Path string
	// Namespace and Deployment name a Deployment the target renders.
	Namespace, Deployment string
}

// Object is the shape's Deployment as kind/namespace/name.
func (s Shape) Object() string { return "deployment/" + s.Namespace + "/" + s.Deployment }

var schemaWords = strings.Fields(`the of a to is in for and field that this when be if not by
	an or it as default value specifies defines which are with from object container selector
	pod endpoint label must resources name namespace scrape config secret key reference optional
	used will list interval timeout relabeling rules target port scheme tls certificate
	authorization token path query parameter duration format kubelet metadata annotation
	replica storage volume mount retention shard version image pull policy node affinity toleration
	priority class security context user group capabilities deprecated instead use see more info`)

var fieldWords = strings.Fields(`scrape interval timeout label selector namespace endpoint port path
	scheme tls config secret key name ca cert bearer token basic auth oauth proxy url relabel
	metric honor timestamps limit sample target body size keep drop regex replacement action
	modulus separator source labels params follow redirects enable http2 filter runtime storage
	retention shards replicas image version volume mount affinity tolerations priority class
	security context resources containers init web route receiver matcher inhibit group`)

// sentence is n words drawn from list, as one sentence.
func sentence(rnd *rand.Rand, list []string, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = list[rnd.IntN(len(list))]
	}
	s := strings.Join(w, " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func camel(rnd *rand.Rand, parts int) string {
	var b strings.Builder
	for i := range parts {
		w := fieldWords[rnd.IntN(len(fieldWords))]
		if i > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

// crd writes a CustomResourceDefinition of about size bytes: a schema of nested properties with
// long descriptions, as the generated CRDs of operators carry.
func crd(group, kind string, size int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, 7))
	plural := strings.ToLower(kind) + "s"
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.18.0
    operator.example.com/version: 0.84.0
  name: %[3]s.%[1]s
spec:
  group: %[1]s
  names:
    categories:
    - all
    kind: %[2]s
    listKind: %[2]sList
    plural: %[3]s
    singular: %[4]s
  scope: Namespaced
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
`, group, kind, plural, strings.ToLower(kind))
	ind := strings.Repeat(" ", 8)
	description(&b, rnd, ind, 30)
	b.WriteString(ind + "properties:\n")
	for _, f := range []string{"apiVersion", "kind"} {
		fmt.Fprintf(&b, "%s  %s:\n", ind, f)
		description(&b, rnd, ind+"    ", 25)
		fmt.Fprintf(&b, "%s    type: string\n", ind)
	}
	fmt.Fprintf(&b, "%s  metadata:\n%s    type: object\n", ind, ind)
	fmt.Fprintf(&b, "%s  spec:\n", ind)
	description(&b, rnd, ind+"    ", 20)
	fmt.Fprintf(&b, "%s    properties:\n", ind)
	seen := map[string]bool{}
	// Fields are added until the document has its size; each field's subtree is bounded so the
	// size is reached closely.
	for b.Len() < size-600 {
		name := uniqueField(rnd, seen)
		property(&b, rnd, ind+"      ", name, 0, min(b.Len()+40000, size-600))
	}
	fmt.Fprintf(&b, "%s    type: object\n", ind)
	fmt.Fprintf(&b, "%s  status:\n", ind)
	description(&b, rnd, ind+"    ", 15)
	fmt.Fprintf(&b, "%s    type: object\n%s    x-kubernetes-preserve-unknown-fields: true\n", ind, ind)
	fmt.Fprintf(&b, "%srequired:\n%s- spec\n%stype: object\n", ind, ind, ind)
	b.WriteString("    served: true\n    storage: true\n    subresources:\n      status: {}\n")
	return []byte(b.String())
}

func uniqueField(rnd *rand.Rand, seen map[string]bool) string {
	name := camel(rnd, 1+rnd.IntN(3))
	for seen[name] {
		name += fieldWords[rnd.IntN(len(fieldWords))][:1]
	}
	seen[name] = true
	return name
}

// description writes a description of about words words, wrapped as controller-gen wraps it.
func description(b *strings.Builder, rnd *rand.Rand, ind string, words int) {
	b.WriteString(ind + "description: |-\n")
	for words > 0 {
		n := min(words, 10+rnd.IntN(6))
		b.WriteString(ind + "  " + sentence(rnd, schemaWords, n) + "\n")
		words -= n
	}
}

// property writes one schema property; objects and arrays of objects nest until limit bytes.
func property(b *strings.Builder, rnd *rand.Rand, ind, name string, depth, limit int) {
	fmt.Fprintf(b, "%s%s:\n", ind, name)
	description(b, rnd, ind+"  ", 12+rnd.IntN(40))
	kind := rnd.IntN(10)
	if depth >= 5 || b.Len() >= limit {
		kind = min(kind, 5)
	}
	switch {
	case kind <= 2:
		if rnd.IntN(4) == 0 {
			fmt.Fprintf(b, "%s  enum:\n%s  - %s\n%s  - %s\n", ind, ind, camel(rnd, 1), ind, camel(rnd, 1))
		}
		fmt.Fprintf(b, "%s  type: string\n", ind)
	case kind == 3:
		fmt.Fprintf(b, "%s  format: int32\n%s  type: integer\n", ind, ind)
	case kind == 4:
		fmt.Fprintf(b, "%s  type: boolean\n", ind)
	case kind == 5:
		fmt.Fprintf(b, "%s  additionalProperties:\n%s    type: string\n%s  type: object\n", ind, ind, ind)
	case kind <= 7:
		fmt.Fprintf(b, "%s  items:\n", ind)
		fields(b, rnd, ind+"    ", depth+1, limit)
		fmt.Fprintf(b, "%s  type: array\n", ind)
	default:
		fields(b, rnd, ind+"  ", depth+1, limit)
	}
}

// fields writes an object schema's properties and type.
func fields(b *strings.Builder, rnd *rand.Rand, ind string, depth, limit int) {
	fmt.Fprintf(b, "%sproperties:\n", ind)
	seen := map[string]bool{}
	for i, n := 0, 2+rnd.IntN(7); i < n; i++ {
		property(b, rnd, ind+"  ", uniqueField(rnd, seen), depth, limit)
		if b.Len() >= limit {
			break
		}
	}
	fmt.Fprintf(b, "%stype: object\n", ind)
}

// indent prefixes every line of text with prefix.
func indent(text, prefix string) string {
	return prefix + strings.ReplaceAll(text, "\n", "\n"+prefix)
}
