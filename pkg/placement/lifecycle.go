package placement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// DeleteCandidates are the ways to remove an object from a target: its document (and its file
// and resources: entry when it was the file's only document) when only this target renders the
// file; else a `$patch: delete` patch in the target's overlay, so the shared base keeps it for
// the other targets.
func DeleteCandidates(in Input) ([]Candidate, error) {
	var out []Candidate
	var errs []string
	o := in.Object
	if o.Origin.File != "" && o.Origin.Doc >= 0 && !in.Shared(o.Origin.File) {
		c, err := deleteDocument(in)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			out = append(out, *c)
		}
	}
	if kust := in.kustomizationFile(); kust != "" {
		c, err := deletePatch(in, kust)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			out = append(out, *c)
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil, fmt.Errorf("%s comes from %s, which other targets share, and target %s has no kustomization.yaml to remove it for this target alone", o.ID, o.Origin.File, in.Target)
	}
	return out, nil
}

func deleteDocument(in Input) (*Candidate, error) {
	file := in.Object.Origin.File
	src, err := in.read(file)
	if err != nil {
		return nil, err
	}
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := f.DeleteDoc(in.Object.Origin.Doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	files := map[string][]byte{}
	if onlyComments(f) {
		files[file] = nil
		if err := in.unregister(file, "resources", files); err != nil {
			return nil, err
		}
		return &Candidate{Layer: file + " (removed)", Files: files}, nil
	}
	files[file] = f.Bytes()
	return &Candidate{Layer: file, Files: files}, nil
}

// onlyComments tells whether a file has no documents with content left.
func onlyComments(f *yamledit.File) bool {
	for i := 0; i < f.NumDocs(); i++ {
		if d := f.Doc(i); d != nil && !(d.Kind == yaml.ScalarNode && d.Tag == "!!null") && !(d.Kind == 0) {
			return false
		}
	}
	return true
}

// unregister removes file from the list key (resources:) of the kustomization in its directory
// or the closest one above it that lists it.
func (in Input) unregister(file, key string, files map[string][]byte) error {
	for dir := path.Dir(file); ; dir = path.Dir(dir) {
		for _, n := range konfig.RecognizedKustomizationFileNames() {
			kp := path.Join(dir, n)
			if !in.exists(kp) {
				continue
			}
			src, err := in.read(kp)
			if err != nil {
				return err
			}
			k, err := yamledit.Parse(src)
			if err != nil {
				return fmt.Errorf("%s: %w", kp, err)
			}
			rel := strings.TrimPrefix(file, dir+"/")
			if dir == "." {
				rel = file
			}
			list, ok := k.Get(0, mustPath(key))
			if !ok || list.Kind != yaml.SequenceNode {
				continue
			}
			for i, it := range list.Content {
				if path.Clean(it.Value) == rel {
					if err := k.Delete(0, mustPath(fmt.Sprintf("%s[%d]", key, i))); err != nil {
						return fmt.Errorf("%s: %w", kp, err)
					}
					files[kp] = k.Bytes()
					return nil
				}
			}
		}
		if dir == "." || dir == "/" || dir == in.Target {
			return nil
		}
	}
}

func deletePatch(in Input, kustPath string) (*Candidate, error) {
	src, err := in.read(kustPath)
	if err != nil {
		return nil, err
	}
	kust, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kustPath, err)
	}
	o := in.Object
	md := map[string]any{"name": o.Origin.Name}
	if o.Origin.Namespace != "" {
		md["namespace"] = o.Origin.Namespace
	}
	doc := map[string]any{"apiVersion": o.Obj().GetAPIVersion(), "kind": o.ID.Kind, "metadata": md, "$patch": "delete"}
	pf, err := newPatchFile(orderedObject(doc), kust.Indent())
	if err != nil {
		return nil, err
	}
	file := in.uniqueFile(o.Origin.Name + "-" + strings.ToLower(o.ID.Kind) + "-delete")
	files := map[string][]byte{file: pf.Bytes()}
	if err := appendListItem(kust, "patches", map[string]any{"path": path.Base(file)}); err != nil {
		return nil, fmt.Errorf("%s: %w", kustPath, err)
	}
	// A replicas: entry for the object would match nothing once it is gone: kustomize fails.
	if o.ID.Group == "apps" || o.ID.Group == "" {
		if _, err := removeListEntry(kust, "replicas", "name", o.Origin.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", kustPath, err)
		}
	}
	files[kustPath] = kust.Bytes()
	return &Candidate{Layer: in.Target + " (patch " + file + ")", Files: files}, nil
}

func appendListItem(f *yamledit.File, key string, item any) error {
	n, err := valueNode(item)
	if err != nil {
		return err
	}
	list, ok := f.Get(0, mustPath(key))
	if !ok || list.Kind != yaml.SequenceNode {
		return f.Set(0, mustPath(key), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}})
	}
	return f.Set(0, mustPath(fmt.Sprintf("%s[%d]", key, len(list.Content))), n)
}

// appendListItems adds items at the end of the list at key, in one edit: the bytes of
// appendListItem of each in turn.
func appendListItems(f *yamledit.File, key string, items []any) error {
	nodes := make([]*yaml.Node, len(items))
	for i, it := range items {
		n, err := valueNode(it)
		if err != nil {
			return err
		}
		nodes[i] = n
	}
	list, ok := f.Get(0, mustPath(key))
	if !ok || list.Kind != yaml.SequenceNode {
		return f.Set(0, mustPath(key), &yaml.Node{Kind: yaml.SequenceNode, Content: nodes})
	}
	return f.Append(0, mustPath(key), nodes)
}

// CreateInput is a new object for a target.
type CreateInput struct {
	Root, Target string
	Object       map[string]any
	// FileName is the new file's name (no directory); empty means <kind>-<name>.yaml.
	FileName string
	// Content is the new file's bytes as given (an encrypted Secret); empty means encode Object.
	Content []byte
	Files   map[string][]byte
}

// CreateCandidates writes a new object into a new file in the target's own directory, one object
// per file, registered in the target's kustomization resources: when it has one.
func CreateCandidates(in CreateInput) ([]Candidate, error) {
	base := Input{Root: in.Root, Target: in.Target, Files: in.Files}
	file, entry, err := newFileName(base, in)
	if err != nil {
		return nil, err
	}
	kustPath := base.kustomizationFile()
	kust, indent, err := readKustomization(base, kustPath)
	if err != nil {
		return nil, err
	}
	content, err := newContent(in, indent)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{file: content}
	if kust != nil {
		if err := appendListItem(kust, "resources", entry); err != nil {
			return nil, fmt.Errorf("%s: %w", kustPath, err)
		}
		files[kustPath] = kust.Bytes()
	}
	return []Candidate{{Layer: file + " (new)", Files: files}}, nil
}

// CreateEach is CreateCandidates of each new object of ins in turn, as if each were placed
// after those before it (a bulk capture), all in the target of the first: the same candidates,
// except that each holds the kustomization with the entries of all of them, added in one edit.
// One edit per object parsed the growing kustomization twice each time: 200 objects took
// 120 ms. The first input's Files are the files before any of them is placed.
func CreateEach(ins []CreateInput) ([][]Candidate, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	base := Input{Root: ins[0].Root, Target: ins[0].Target, Files: ins[0].Files}
	kustFiles := map[string]bool{}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		kustFiles[path.Join(base.Target, n)] = true
	}
	files := make([]string, len(ins))
	entries := make([]any, len(ins))
	written := map[string]bool{}
	for i, in := range ins {
		if in.Root != base.Root || in.Target != base.Target {
			return nil, fmt.Errorf("new objects for %s and %s: CreateEach places them in one target", base.Target, in.Target)
		}
		file, entry, err := newFileName(base, in)
		if err != nil {
			return nil, err
		}
		if written[file] {
			return nil, fmt.Errorf("%s already exists: choose another name with --filename-template", file)
		}
		if kustFiles[file] {
			// The objects after it would be registered in it: one at a time does that.
			return nil, fmt.Errorf("%s is a new kustomization among new objects: place them one at a time", file)
		}
		written[file] = true
		files[i], entries[i] = file, entry
	}
	kustPath := base.kustomizationFile()
	kust, indent, err := readKustomization(base, kustPath)
	if err != nil {
		return nil, err
	}
	var kustBytes []byte
	if kust != nil {
		if err := appendListItems(kust, "resources", entries); err != nil {
			return nil, fmt.Errorf("%s: %w", kustPath, err)
		}
		kustBytes = kust.Bytes()
	}
	out := make([][]Candidate, len(ins))
	for i, in := range ins {
		// The indentation the kustomization had before any entry: a resources: entry, a
		// string, never changes the one yamledit finds in it.
		content, err := newContent(in, indent)
		if err != nil {
			return nil, err
		}
		fs := map[string][]byte{files[i]: content}
		if kust != nil {
			fs[kustPath] = kustBytes
		}
		out[i] = []Candidate{{Layer: files[i] + " (new)", Files: fs}}
	}
	return out, nil
}

// readKustomization parses the kustomization at kustPath, nil when there is none, and the
// indentation new files take: the kustomization's, else 2.
func readKustomization(base Input, kustPath string) (*yamledit.File, int, error) {
	if kustPath == "" {
		return nil, 2, nil
	}
	src, err := base.read(kustPath)
	if err != nil {
		return nil, 0, err
	}
	kust, err := yamledit.Parse(src)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", kustPath, err)
	}
	return kust, kust.Indent(), nil
}

// newFileName is the path of a new object's file in the target's directory, and its entry
// in the kustomization's resources: (the name relative to the target, as given).
func newFileName(base Input, in CreateInput) (file, entry string, err error) {
	kind, _ := in.Object["kind"].(string)
	md, _ := in.Object["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if kind == "" || name == "" {
		return "", "", fmt.Errorf("a new object needs kind and metadata.name")
	}
	entry = in.FileName
	if entry == "" {
		entry = strings.ToLower(kind) + "-" + name + ".yaml"
	}
	file = path.Join(in.Target, entry)
	if base.exists(file) {
		return "", "", fmt.Errorf("%s already exists: choose another name with --filename-template", file)
	}
	return file, entry, nil
}

// newContent is a new object's file: its Content as given, else the object encoded with the
// indentation given.
func newContent(in CreateInput, indent int) ([]byte, error) {
	if in.Content != nil {
		return in.Content, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indent)
	if err := enc.Encode(orderedObject(in.Object)); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orderedObject is a manifest's top level in the order people write it.
func orderedObject(obj map[string]any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	order := []string{"apiVersion", "kind", "metadata", "spec", "data", "stringData", "type"}
	seen := map[string]bool{}
	add := func(k string, v any) {
		var vn yaml.Node
		if err := vn.Encode(v); err != nil {
			return
		}
		n.Content = append(n.Content, yamledit.ScalarNode(k), &vn)
		seen[k] = true
	}
	for _, k := range order {
		if v, ok := obj[k]; ok {
			add(k, v)
		}
	}
	var rest []string
	for k := range obj {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k, obj[k])
	}
	return n
}

// ReplaceDocument writes content as the whole document of the object in its own file, which only
// this target may render: the way to change an encrypted Secret, whose bytes are the encryptor's.
func ReplaceDocument(in Input, content []byte) ([]Candidate, error) {
	o := in.Object
	if o.Origin.File == "" || o.Origin.Doc < 0 {
		return nil, fmt.Errorf("%s is generated, not written in a file: it cannot be replaced", o.ID)
	}
	if in.Shared(o.Origin.File) {
		return nil, fmt.Errorf("%s is in %s, which other targets render too: it cannot be rewritten for target %s alone", o.ID, o.Origin.File, in.Target)
	}
	src, err := in.read(o.Origin.File)
	if err != nil {
		return nil, err
	}
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Origin.File, err)
	}
	if f.NumDocs() == 1 {
		return []Candidate{{Layer: o.Origin.File, Files: map[string][]byte{o.Origin.File: content}}}, nil
	}
	// yamledit's Set reconciles the old document towards the new one (the old key order and
	// comments stay), so the encryptor's bytes would not land as given: splice them in instead.
	if out, ok := spliceDocument(src, f.NumDocs(), o.Origin.Doc, content); ok {
		return []Candidate{{Layer: o.Origin.File, Files: map[string][]byte{o.Origin.File: out}}}, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, fmt.Errorf("the new document does not parse: %w", err)
	}
	if err := f.Set(o.Origin.Doc, nil, doc.Content[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Origin.File, err)
	}
	return []Candidate{{Layer: o.Origin.File, Files: map[string][]byte{o.Origin.File: f.Bytes()}}}, nil
}

// Document returns document doc of a YAML file (numbered as yaml.v3 numbers them) exactly as it
// is written, without its `---` separator; a file of one document is returned whole.
func Document(src []byte, doc int) ([]byte, error) {
	n, err := countDocuments(src)
	if err != nil {
		return nil, err
	}
	if doc < 0 || doc >= n {
		return nil, fmt.Errorf("document %d: the file has %d", doc, n)
	}
	if n == 1 {
		return src, nil
	}
	spans, ok := documentSpans(src, n)
	if !ok {
		return nil, fmt.Errorf("the file's documents are not separated by plain `---` lines")
	}
	return src[spans[doc][0]:spans[doc][1]], nil
}

// spliceDocument writes content in place of document doc of a file of n documents, and checks
// that the result holds exactly content there and every other document as before.
func spliceDocument(src []byte, n, doc int, content []byte) ([]byte, bool) {
	spans, ok := documentSpans(src, n)
	if !ok || doc < 0 || doc >= n {
		return nil, false
	}
	body := bytes.TrimPrefix(content, []byte("---\n"))
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body = append(bytes.Clone(body), '\n')
	}
	out := append(append(append([]byte{}, src[:spans[doc][0]]...), body...), src[spans[doc][1]:]...)
	before, err1 := decodeDocuments(src)
	after, err2 := decodeDocuments(out)
	want, err3 := decodeDocuments(body)
	if err1 != nil || err2 != nil || err3 != nil || len(after) != n || len(want) != 1 {
		return nil, false
	}
	for i := range after {
		expect := before[i]
		if i == doc {
			expect = want[0]
		}
		if !reflect.DeepEqual(after[i], expect) {
			return nil, false
		}
	}
	return out, true
}

// documentSpans returns the byte range of each of a file's n documents: the text between its
// `---` lines. A first part before any `---` is a document only when it holds more than
// comments, as yaml.v3 counts. It reports false for separators it does not know (content after
// `---` on the same line) or a count that differs from n.
func documentSpans(src []byte, n int) ([][2]int, bool) {
	var spans [][2]int
	start, first := 0, true
	content := false
	for off := 0; off < len(src); {
		end := bytes.IndexByte(src[off:], '\n')
		next := len(src)
		if end >= 0 {
			next = off + end + 1
		}
		line := strings.TrimRight(string(src[off:next]), "\r\n")
		if rest, ok := strings.CutPrefix(line, "---"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			if r := strings.TrimSpace(rest); r != "" && !strings.HasPrefix(r, "#") {
				return nil, false
			}
			if !first || content {
				spans = append(spans, [2]int{start, off})
			}
			start, first = next, false
		} else if t := strings.TrimSpace(line); first && t != "" && !strings.HasPrefix(t, "#") {
			content = true
		}
		off = next
	}
	if !first || content {
		spans = append(spans, [2]int{start, len(src)})
	}
	return spans, len(spans) == n
}

func countDocuments(src []byte) (int, error) {
	docs, err := decodeDocuments(src)
	return len(docs), err
}

func decodeDocuments(src []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}
