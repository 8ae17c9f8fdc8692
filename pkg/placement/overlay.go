package placement

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// kustomizeIdiom writes c as a kustomization replicas: or images: entry when it is that kind of
// change, and returns which ("" when it is not).
func kustomizeIdiom(in Input, kust *yamledit.File, c FieldChange) (string, error) {
	ps := c.Path.String()
	if ps == "spec.replicas" && c.Delete {
		// The overlay's own replicas: entry goes, and what the layers below set stands.
		removed, err := removeListEntry(kust, "replicas", "name", in.Object.Origin.Name)
		if err != nil || !removed {
			return "", err
		}
		return "replicas", nil
	}
	if ps == "spec.replicas" && !c.Delete {
		if _, ok := c.New.(int64); ok {
			return "replicas", setListEntry(kust, "replicas", "name", in.Object.Origin.Name, [][2]any{{"count", c.New}})
		}
	}
	if img, ok := c.New.(string); ok && !c.Delete && isContainerImage(c.Path) {
		old, _ := c.Old.(string)
		return "images", setImageEntry(in, kust, c.Path, old, img)
	}
	return "", nil
}

func isContainerImage(p Path) bool {
	n := len(p)
	if n < 3 || p[n-1].Key != "image" || p[n-2].MergeKey != "name" {
		return false
	}
	switch p[n-3].Key {
	case "containers", "initContainers":
		return true
	}
	return false
}

// removeListEntry removes the items of list key whose sel field equals val (and the key when
// no item is left); it reports whether there was one.
func removeListEntry(f *yamledit.File, key, sel string, val any) (bool, error) {
	list, ok := f.Get(0, mustPath(key))
	if !ok || list.Kind != yaml.SequenceNode {
		return false, nil
	}
	removed := false
	for i := len(list.Content) - 1; i >= 0; i-- {
		if scalarField(list.Content[i], sel) != fmt.Sprint(val) {
			continue
		}
		p := mustPath(fmt.Sprintf("%s[%d]", key, i))
		if len(list.Content) == 1 {
			p = mustPath(key)
		}
		if err := f.Delete(0, p); err != nil {
			return removed, err
		}
		removed = true
		if list, ok = f.Get(0, mustPath(key)); !ok {
			break
		}
	}
	return removed, nil
}

// setListEntry sets fields of the item of list key whose sel field equals val, appending the
// item (and creating the list) when there is none.
func setListEntry(f *yamledit.File, key, sel string, val any, fields [][2]any) error {
	list, ok := f.Get(0, mustPath(key))
	if !ok || list.Kind != yaml.SequenceNode {
		item, err := mapNode(append([][2]any{{sel, val}}, fields...))
		if err != nil {
			return err
		}
		return f.Set(0, mustPath(key), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{item}})
	}
	idx := -1
	for i, it := range list.Content {
		if scalarField(it, sel) == fmt.Sprint(val) {
			idx = i
		}
	}
	if idx < 0 {
		item, err := mapNode(append([][2]any{{sel, val}}, fields...))
		if err != nil {
			return err
		}
		return f.Set(0, mustPath(fmt.Sprintf("%s[%d]", key, len(list.Content))), item)
	}
	for _, kv := range fields {
		p := mustPath(fmt.Sprintf("%s[%d].%s", key, idx, kv[0]))
		if kv[1] == nil {
			if _, ok := f.Get(0, p); ok {
				if err := f.Delete(0, p); err != nil {
					return err
				}
			}
			continue
		}
		if err := f.Set(0, p, yamledit.ScalarNode(kv[1])); err != nil {
			return err
		}
	}
	return nil
}

// mapNode is a block mapping with its keys in the given order (kustomize's own order: name
// first), skipping nil values.
func mapNode(pairs [][2]any) (*yaml.Node, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range pairs {
		if kv[1] == nil {
			continue
		}
		v, err := valueNode(kv[1])
		if err != nil {
			return nil, err
		}
		m.Content = append(m.Content, yamledit.ScalarNode(kv[0]), v)
	}
	return m, nil
}

func scalarField(m *yaml.Node, key string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Value
		}
	}
	return ""
}

func mustPath(s string) yamledit.Path {
	p, err := yamledit.ParsePath(s)
	if err != nil {
		panic(fmt.Sprintf("placement: bad internal path %q: %v", s, err))
	}
	return p
}

// image is a container image reference split as kustomize's images: transformer sees it.
type image struct{ name, tag, digest string }

func parseImage(s string) image {
	var im image
	if i := strings.Index(s, "@"); i >= 0 {
		im.digest = s[i+1:]
		s = s[:i]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		im.tag = s[i+1:]
		s = s[:i]
	}
	im.name = s
	return im
}

// setImageEntry writes an images: entry that turns the image old into img.
func setImageEntry(in Input, kust *yamledit.File, p Path, old, img string) error {
	o, n := parseImage(old), parseImage(img)
	fields := [][2]any{{"newTag", nilIfEmpty(n.tag)}, {"digest", nilIfEmpty(n.digest)}}
	list, ok := kust.Get(0, mustPath("images"))
	if ok && list.Kind == yaml.SequenceNode {
		for _, it := range list.Content {
			name, newName := scalarField(it, "name"), scalarField(it, "newName")
			if (newName != "" && newName == o.name) || (newName == "" && name == o.name) {
				// newName changes only with the image's name: an entry that repeats its name
				// there (as `kustomize edit set image` writes it) keeps it.
				switch {
				case n.name == o.name:
				case n.name != name:
					fields = append(fields, [2]any{"newName", n.name})
				default:
					fields = append(fields, [2]any{"newName", nil})
				}
				return setListEntry(kust, "images", "name", name, fields)
			}
		}
	}
	// A new entry matches the image as the object's own file writes it.
	base := o.name
	if src := in.Object.Origin.File; src != "" && in.Object.Origin.Doc >= 0 {
		if b, err := in.read(src); err == nil {
			if f, err := yamledit.Parse(b); err == nil {
				if node, ok := f.Get(in.Object.Origin.Doc, mustPath(p.String())); ok && node.Kind == yaml.ScalarNode {
					base = parseImage(node.Value).name
				}
			}
		}
	}
	if n.name != base {
		fields = append([][2]any{{"newName", n.name}}, fields...)
	}
	var kept [][2]any
	for _, kv := range fields {
		if kv[1] != nil {
			kept = append(kept, kv)
		}
	}
	return setListEntry(kust, "images", "name", base, kept)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writePatch puts changes into the strategic-merge patch of the target that already targets the
// object (a file, or a patch written inline in the kustomization), or into a new patch file
// registered under patches:. It returns where the patch is.
func writePatch(in Input, kust *yamledit.File, kustPath string, changes []FieldChange, files map[string][]byte, mode patchMode) (string, error) {
	o := in.Object
	if ep, ok := existingPatch(in, kust); ok {
		if ep.inline >= 0 {
			f, err := yamledit.Parse([]byte(ep.text))
			if err != nil {
				return "", fmt.Errorf("%s: the inline patch: %w", kustPath, err)
			}
			if err := applyChanges(f, ep.doc, changes, mode, o.Obj().Object); err != nil {
				return "", fmt.Errorf("%s: the inline patch: %w", kustPath, err)
			}
			if err := kust.Set(0, mustPath(fmt.Sprintf("patches[%d].patch", ep.inline)), yamledit.ScalarNode(string(f.Bytes()))); err != nil {
				return "", fmt.Errorf("%s: %w", kustPath, err)
			}
			return kustPath + " (inline patch)", nil
		}
		src, err := in.read(ep.file)
		if err != nil {
			return "", err
		}
		f, err := yamledit.Parse(src)
		if err != nil {
			return "", fmt.Errorf("%s: %w", ep.file, err)
		}
		if err := applyChanges(f, ep.doc, changes, mode, o.Obj().Object); err != nil {
			return "", fmt.Errorf("%s: %w", ep.file, err)
		}
		files[ep.file] = f.Bytes()
		return ep.file, nil
	}

	apiVersion := o.Obj().GetAPIVersion()
	doc := StrategicPatch(apiVersion, o.ID.Kind, o.Origin.Namespace, o.Origin.Name, nil)
	f, err := newPatchFile(doc, kust.Indent())
	if err != nil {
		return "", err
	}
	if err := applyChanges(f, 0, changes, mode, o.Obj().Object); err != nil {
		return "", err
	}
	file := in.patchFileName(path.Dir(kustPath))
	files[file] = f.Bytes()
	return file, appendListItem(kust, "patches", map[string]any{"path": path.Base(file)})
}

// patchSetsAll tells whether an existing patch of the target for the object already sets every
// changed field: that patch owns them.
func patchSetsAll(in Input, kustPath string) bool {
	src, err := in.read(kustPath)
	if err != nil {
		return false
	}
	kust, err := yamledit.Parse(src)
	if err != nil {
		return false
	}
	ep, ok := existingPatch(in, kust)
	if !ok {
		return false
	}
	var f *yamledit.File
	if ep.inline >= 0 {
		f, err = yamledit.Parse([]byte(ep.text))
	} else if b, rerr := in.read(ep.file); rerr == nil {
		f, err = yamledit.Parse(b)
	} else {
		return false
	}
	if err != nil {
		return false
	}
	for _, c := range in.Changes {
		p, err := yamledit.ParsePath(c.Path.String())
		if err != nil {
			return false
		}
		if _, ok := f.Get(ep.doc, p); !ok {
			return false
		}
	}
	return true
}

func newPatchFile(doc any, indent int) (*yamledit.File, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indent)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return yamledit.Parse(buf.Bytes())
}

// patchFileName picks a new file name in dir (the kustomization's) in the repository's style.
func (in Input) patchFileName(dir string) string {
	o := in.Object
	base := o.Origin.Name + "-patch.yaml"
	cands := []string{base, o.Origin.Name + "-" + strings.ToLower(o.ID.Kind) + "-patch.yaml"}
	for i := 2; ; i++ {
		for _, c := range cands {
			p := path.Join(dir, c)
			if !in.exists(p) {
				return p
			}
		}
		cands = []string{fmt.Sprintf("%s-%s-patch-%d.yaml", o.Origin.Name, strings.ToLower(o.ID.Kind), i)}
	}
}

// patchRef is a strategic-merge patch document that targets the object: in a file, or inline
// in the kustomization's patches[inline].patch.
type patchRef struct {
	file   string
	doc    int
	inline int
	text   string
}

// existingPatch finds a strategic-merge patch document of the target's kustomization that
// targets the object: a `patches:` entry (path or inline) or a `patchesStrategicMerge:` file.
func existingPatch(in Input, kust *yamledit.File) (patchRef, bool) {
	matches := func(d *yaml.Node) bool {
		if d == nil || d.Kind != yaml.MappingNode {
			return false
		}
		md := mapField(d, "metadata")
		return scalarField(d, "kind") == in.Object.ID.Kind && md != nil && scalarField(md, "name") == in.Object.Origin.Name
	}
	var files []string
	if list, ok := kust.Get(0, mustPath("patches")); ok && list.Kind == yaml.SequenceNode {
		for i, it := range list.Content {
			if t := mapField(it, "target"); t != nil {
				if k := scalarField(t, "kind"); k != "" && k != in.Object.ID.Kind {
					continue
				}
				if n := scalarField(t, "name"); n != "" && n != in.Object.Origin.Name {
					continue
				}
			}
			if text := scalarField(it, "patch"); text != "" {
				f, err := yamledit.Parse([]byte(text))
				if err != nil || f.NumDocs() != 1 || !matches(f.Doc(0)) {
					continue
				}
				return patchRef{doc: 0, inline: i, text: text}, true
			}
			if p := scalarField(it, "path"); p != "" {
				files = append(files, p)
			}
		}
	}
	if list, ok := kust.Get(0, mustPath("patchesStrategicMerge")); ok && list.Kind == yaml.SequenceNode {
		for _, it := range list.Content {
			if it.Kind == yaml.ScalarNode && !strings.Contains(it.Value, "\n") {
				files = append(files, it.Value)
			}
		}
	}
	for _, rel := range files {
		file := path.Clean(path.Join(in.Target, rel))
		src, err := in.read(file)
		if err != nil {
			continue
		}
		f, err := yamledit.Parse(src)
		if err != nil {
			continue
		}
		for i := 0; i < f.NumDocs(); i++ {
			if matches(f.Doc(i)) {
				return patchRef{file: file, doc: i, inline: -1}, true
			}
		}
	}
	return patchRef{}, false
}

func mapField(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	return nil
}

// latePatch writes the change as a PatchTransformer listed under the kustomization's
// transformers:, which kustomize runs after its built-in transformers. It is the last resort for
// a field that an images:, replicas: or labels: entry of the same kustomization would otherwise
// override for every object it matches.
func latePatch(in Input, kustPath string) (*Candidate, error) {
	src, err := in.read(kustPath)
	if err != nil {
		return nil, err
	}
	kust, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kustPath, err)
	}
	o := in.Object
	patchDoc := StrategicPatch(o.Obj().GetAPIVersion(), o.ID.Kind, o.Origin.Namespace, o.Origin.Name, nil)
	pf, err := newPatchFile(patchDoc, kust.Indent())
	if err != nil {
		return nil, err
	}
	if err := applyChanges(pf, 0, in.Changes, deleteDirectives, o.Obj().Object); err != nil {
		return nil, err
	}
	// The transformer's own name is its file's: kustomize refuses two of one name.
	file := in.uniqueFile(o.Origin.Name + "-" + strings.ToLower(o.ID.Kind) + "-override")
	name := strings.TrimSuffix(path.Base(file), ".yaml")
	doc := map[string]any{
		"apiVersion": "builtin",
		"kind":       "PatchTransformer",
		"metadata":   map[string]any{"name": name},
		"patch":      string(pf.Bytes()),
		"target":     map[string]any{"kind": o.ID.Kind, "name": o.Origin.Name},
	}
	tf, err := newPatchFile(doc, kust.Indent())
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{file: tf.Bytes()}
	rel := path.Base(file)
	if list, ok := kust.Get(0, mustPath("transformers")); ok && list.Kind == yaml.SequenceNode {
		err = kust.Set(0, mustPath(fmt.Sprintf("transformers[%d]", len(list.Content))), yamledit.ScalarNode(rel))
	} else {
		err = kust.Set(0, mustPath("transformers"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{yamledit.ScalarNode(rel)}})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kustPath, err)
	}
	files[kustPath] = kust.Bytes()
	return &Candidate{Layer: in.Target + " (transformer " + file + ", after the kustomization's images:/replicas:/labels:)", Files: files}, nil
}

// uniqueFile is a new file name base+".yaml" in the target directory, numbered if taken.
func (in Input) uniqueFile(base string) string {
	p := path.Join(in.Target, base+".yaml")
	for i := 2; in.exists(p); i++ {
		p = path.Join(in.Target, fmt.Sprintf("%s-%d.yaml", base, i))
	}
	return p
}
