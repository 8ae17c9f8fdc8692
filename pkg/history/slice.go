package history

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// A target's render costs the time of all its objects (kustomize's build grows faster than
// linearly with them), and a long history has thousands of states. Two things keep the walk
// cheap without changing its answer:
//
//   - A commit is not rendered when what it changed cannot reach the followed object: files the
//     target does not read, other objects' documents whose kind, name and namespace stay the same
//     (kustomize copies one object's content into another only by replacements or vars, whose
//     sources are named), kustomization replicas: and images: entries that do not name the
//     object or its images.
//   - A state that must be rendered is rendered as a slice: every kustomization as it is, but
//     with only the resources the object can depend on (its own documents, the objects whose names
//     the kustomizations, patches or its own documents mention, replacements' and vars' sources,
//     and every generator). Slices render on the other cores while the walk reads on.
//
// A kustomization with plugins, or replacements or vars from a source not named, turns both
// off: then every state a commit reaches is rendered whole. A remote resource turns slices off.

// docHead identifies the object of one document.
type docHead struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
}

// fileHeads are the documents of one blob; ok is false when it does not parse.
type fileHeads struct {
	docs []docHead
	ok   bool
}

func (w *walker) heads(blob string) fileHeads {
	if blob == "" || blob == zeroHash {
		return fileHeads{ok: true}
	}
	if h, ok := w.headCache[blob]; ok {
		return h
	}
	data, err := w.blobs.peek(blob)
	if err != nil {
		return fileHeads{} // not kept: the walk's memo outlives a failed read
	}
	h := fileHeads{ok: true}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d docHead
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			h.ok = false
			break
		}
		if d.Kind == "" && d.APIVersion == "" && d.Metadata.Name == "" {
			continue
		}
		h.docs = append(h.docs, d)
	}
	w.headCache[blob] = h
	return h
}

// match says which documents can define the followed object.
type match struct {
	known bool
	id    render.ObjectID
	// hint is the name the user gave, before the object is known.
	hint string
	// generated is the name of the generator that made the object, when its name ends in
	// kustomize's content hash: a render where the content (and so the name) changed finds it by
	// that name.
	generated string
}

// key is what possibly depends on, as a prefix of the memo's keys.
func (m *match) key() string {
	if !m.known {
		return "hint\x00" + m.hint + "\x00"
	}
	return "object\x00" + m.id.Group + "\x00" + m.id.Kind + "\x00" + m.id.Name + "\x00"
}

func (m *match) possibly(d docHead) bool {
	if d.Metadata.Name == "" {
		return false
	}
	if !m.known {
		return strings.Contains(m.hint, d.Metadata.Name)
	}
	gv, _ := schema.ParseGroupVersion(d.APIVersion)
	return d.Kind == m.id.Kind && gv.Group == m.id.Group && strings.Contains(m.id.Name, d.Metadata.Name)
}

// find returns the followed object in a render.
func (m *match) find(r *render.Result) *render.Object {
	if o := r.Get(m.id); o != nil {
		return o
	}
	if m.generated == "" {
		return nil
	}
	var found *render.Object
	for _, o := range r.Objects {
		if o.ID.Group == m.id.Group && o.ID.Kind == m.id.Kind && o.ID.Namespace == m.id.Namespace && generatedName(o.ID) == m.generated {
			if found != nil {
				return nil
			}
			found = o
		}
	}
	return found
}

// hashSuffix is the content hash kustomize's ConfigMap and Secret generators append to a name.
var hashSuffix = regexp.MustCompile(`^(.+)-[a-z0-9]{10}$`)

// generatedName is a ConfigMap's or Secret's name without kustomize's hash suffix; "" for other
// objects and names without one.
func generatedName(id render.ObjectID) string {
	if id.Group != "" || (id.Kind != "ConfigMap" && id.Kind != "Secret") {
		return ""
	}
	if m := hashSuffix.FindStringSubmatch(id.Name); m != nil {
		return m[1]
	}
	return ""
}

// possiblyIn tells whether a blob holds a document that can define the followed object.
func (w *walker) possiblyIn(blob string) bool {
	if blob == "" || blob == zeroHash {
		return false
	}
	if p, ok := w.possiblyCache[blob]; ok {
		return p
	}
	key := w.x.key() + blob
	if p, ok := w.memo.possible[key]; ok {
		w.possiblyCache[blob] = p
		return p
	}
	data, err := w.blobs.peek(blob)
	if err != nil {
		return false
	}
	p := false
	if !w.x.known || mayDefineKind(data, w.x.id.Kind) {
		for _, d := range w.heads(blob).docs {
			p = p || w.x.possibly(d)
		}
	}
	w.possiblyCache[blob] = p
	w.memo.possible[key] = p
	return p
}

// mayDefineKind tells, from the bytes alone, whether a YAML or JSON file can hold a document
// of kind: a `kind:` key whose value is kind or not a plain one-line scalar (an alias, a tag, a
// block or multi-line scalar), or an escape sequence that could spell it. It is false for
// almost every other file, which then need not be parsed: a large CRD costs tens of
// milliseconds to parse, and a history has thousands of file versions.
func mayDefineKind(data []byte, kind string) bool {
	for _, esc := range []string{`\x`, `\u`, `\U`, "\\\n", "\\\r"} {
		if bytes.Contains(data, []byte(esc)) {
			return true
		}
	}
	rest := data
	for {
		i := bytes.Index(rest, []byte("kind"))
		if i < 0 {
			return false
		}
		rest = rest[i+len("kind"):]
		v := rest
		if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
			v = v[1:]
		}
		v = bytes.TrimLeft(v, " \t")
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = bytes.TrimLeft(v[1:], " \t")
		if len(v) > 0 && (v[0] == '\n' || v[0] == '\r' || v[0] == '#') {
			// The value is on a later line: a mapping (a CRD schema's kind property) when that
			// line is a key, else maybe a scalar.
			if v = nextLine(v); isKeyLine(v) && !bytes.HasPrefix(v, []byte(kind)) {
				continue
			}
			return true
		}
		if len(v) == 0 {
			return true
		}
		switch v[0] {
		case '*', '&', '!', '|', '>':
			return true
		case '"', '\'':
			v = v[1:]
		}
		if bytes.HasPrefix(v, []byte(kind)) {
			if len(v) == len(kind) || !isNameByte(v[len(kind)]) {
				return true
			}
		}
	}
}

// nextLine is the first line after the current one that is neither blank nor a comment,
// without its indentation.
func nextLine(v []byte) []byte {
	for {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			return nil
		}
		v = bytes.TrimLeft(v[i+1:], " \t")
		if len(v) > 0 && v[0] != '\n' && v[0] != '\r' && v[0] != '#' {
			return v
		}
	}
}

// keyLine matches a line that starts a block mapping's entry with a plain key.
var keyLine = regexp.MustCompile(`^[A-Za-z0-9_./-]+[ \t]*:([ \t]|\r?\n|$)`)

func isKeyLine(v []byte) bool {
	if i := bytes.IndexByte(v, '\n'); i >= 0 {
		v = v[:i+1]
	}
	return keyLine.Match(v)
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// scalableKinds are the kinds kustomize's replicas: entries apply to (its default field specs).
var scalableKinds = map[string]bool{"Deployment": true, "ReplicaSet": true, "ReplicationController": true, "StatefulSet": true}

// mentions are the texts in which another object's name means the followed object may depend
// on it: what kustomizations name objects by (patch targets and inline patches, generators,
// which may merge into an object; replicas: entries, for the kinds they scale), every other
// file of the state that is not only a resource (patches, generator files), and the files that
// hold the object's own documents, which name what it refers to. except is left out; raw takes
// kustomizations whole.
type mentions struct {
	texts    []string
	replicas []string
	// anyKind is true when custom field specs (configurations:) may let replicas: entries
	// scale other kinds.
	anyKind bool
}

func (w *walker) mentions(l *layout, except string, raw bool) *mentions {
	m := &mentions{}
	for f, blob := range w.files {
		if f == except || l.resourceFiles[f] && !w.possiblyIn(blob) {
			continue
		}
		if k := l.kusts[path.Dir(f)]; k != nil && k.file == f && !raw {
			m.texts = append(m.texts, objectNames(k.k))
			for _, r := range k.k.Replicas {
				m.replicas = append(m.replicas, r.Name)
			}
			m.anyKind = m.anyKind || len(k.k.Configurations) > 0
			continue
		}
		if data, err := w.blobs.read(blob); err == nil {
			m.texts = append(m.texts, string(data))
		}
	}
	return m
}

// names tells whether the mentions can name an object of kind called name.
func (m *mentions) names(kind, name string) bool {
	for _, t := range m.texts {
		if strings.Contains(t, name) {
			return true
		}
	}
	if m.anyKind || scalableKinds[kind] {
		for _, r := range m.replicas {
			if strings.Contains(r, name) {
				return true
			}
		}
	}
	return false
}

// objectNames are the names a kustomization refers to objects by, replicas: aside.
func objectNames(k *reach.Kustomization) string {
	var b strings.Builder
	add := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, p := range append(append([]types.Patch(nil), k.Patches...), k.PatchesJson6902...) {
		if p.Target != nil {
			add(p.Target.Name)
		}
		add(p.Patch)
	}
	for _, p := range k.PatchesStrategicMerge {
		if strings.Contains(string(p), "\n") {
			add(string(p))
		}
	}
	for _, g := range k.ConfigMapGenerator {
		add(g.Name)
	}
	for _, g := range k.SecretGenerator {
		add(g.Name)
	}
	if srcs, _ := copySources(k); srcs != nil {
		for _, s := range srcs {
			add(s.name)
		}
	}
	return b.String()
}

// slice is the overlay that renders the followed object with only what it can depend on, and
// the resource files it leaves out; nil when the whole target must be rendered.
func (w *walker) slice(l *layout) (overlay map[string][]byte, dropped map[string]bool) {
	if l.blocked != "" || l.remote != "" || l.err != nil {
		return nil, nil
	}
	var m *mentions
	if !l.simple {
		m = w.mentions(l, "", false)
	}
	keptFiles := map[string]bool{}
	keepFile := func(f string) bool {
		if k, ok := keptFiles[f]; ok {
			return k
		}
		blob, exists := w.files[f]
		if l.simple {
			// Nothing renames or patches: only the object's own documents matter. A listed file
			// that is missing stays listed: kustomize's error is the state's.
			keptFiles[f] = w.possiblyIn(blob) || !exists
			return keptFiles[f]
		}
		h := w.heads(blob)
		// A missing file stays listed: kustomize's error is the state's.
		kept := !h.ok || !exists
		for _, d := range h.docs {
			if d.Metadata.Name == "" || w.x.possibly(d) || m.names(d.Kind, d.Metadata.Name) {
				kept = true
			}
		}
		keptFiles[f] = kept
		return kept
	}
	const visiting, keptDir, droppedDir = 1, 2, 3
	state := map[string]int{}
	var keepDir func(d string) bool
	keepDir = func(d string) bool {
		k := l.kusts[d]
		if k == nil {
			return true
		}
		switch state[d] {
		case visiting, keptDir:
			return true
		case droppedDir:
			return false
		}
		state[d] = visiting
		keep := k.generators
		for _, r := range k.resources {
			switch {
			case r.path == "":
				keep = true
			case r.dir:
				keep = keepDir(r.path) || keep
			default:
				keep = keepFile(r.path) || keep
			}
		}
		for _, c := range k.components {
			keep = keepDir(c) || keep
		}
		state[d] = droppedDir
		if keep {
			state[d] = keptDir
		}
		return keep
	}
	overlay, dropped = map[string][]byte{}, map[string]bool{}
	for f := range l.resourceFiles {
		if !keepFile(f) {
			dropped[f] = true
		}
	}
	for _, k := range l.kusts {
		drop := map[string]bool{}
		for _, r := range k.resources {
			if r.path == "" {
				continue
			}
			if r.dir && !keepDir(r.path) || !r.dir && !keepFile(r.path) {
				drop[r.entry] = true
			}
		}
		if len(drop) == 0 {
			continue
		}
		// Consecutive states mostly keep both a kustomization and what its slice drops.
		key := w.files[k.file] + "\x00" + strings.Join(slices.Sorted(maps.Keys(drop)), "\x00")
		out, ok := w.sliceKusts[key]
		if !ok {
			data, err := w.blobs.read(w.files[k.file])
			if err != nil {
				return nil, nil
			}
			if out, err = render.DropResources(data, slices.Sorted(maps.Keys(drop))); err != nil {
				return nil, nil
			}
			w.sliceKusts[key] = out
		}
		overlay[k.file] = out
	}
	if l.plain {
		var resources []string
		for _, f := range l.flatFiles {
			if keepFile(f) && w.isManifest(w.files[f]) {
				resources = append(resources, relTo(w.root, f))
			}
		}
		for _, d := range l.flatDirs {
			if keepDir(d) {
				resources = append(resources, relTo(w.root, d))
			}
		}
		sort.Strings(resources)
		if resources == nil {
			resources = []string{}
		}
		out, err := sigsyaml.Marshal(map[string]any{
			"apiVersion": types.KustomizationVersion,
			"kind":       types.KustomizationKind,
			"resources":  resources,
		})
		if err != nil {
			return nil, nil
		}
		overlay[path.Join(w.root, "kustomization.yaml")] = out
	}
	return overlay, dropped
}

func relTo(dir, p string) string {
	if dir == "." {
		return p
	}
	return strings.TrimPrefix(p, dir+"/")
}

// canSkip tells whether the state before e renders the followed object as the state after it
// does, from what e changed alone.
func (w *walker) canSkip(e *logEntry) bool {
	l := w.layout
	// A state that does not render is skipped over as one that does: the state before it does
	// not render either when the commit cannot reach the object.
	if l == nil || l.err != nil || w.hints[e.info.Hash] {
		return false
	}
	for _, c := range e.changes {
		if !w.covered(c.path) {
			continue
		}
		if w.applied != nil && c.path == w.applied.Reconciler.File {
			return false // the reconciler's own options may have changed
		}
		if reach.IsFileName(path.Base(c.path)) {
			k := l.kusts[path.Dir(c.path)]
			if k == nil || k.file != c.path || c.before == zeroHash || c.after == zeroHash {
				return false
			}
			if l.simple {
				if !w.gathersMissObject(e, c) {
					return false
				}
			} else if !w.entriesMissObject(l, c) {
				return false
			}
			continue
		}
		if l.listed[c.path] && l.simple {
			// Nothing transforms: only a document that can be the object matters.
			if w.possiblyIn(c.before) || w.possiblyIn(c.after) {
				return false
			}
			continue
		}
		if l.listed[c.path] {
			// Listed by a kustomization: only its objects' content may change.
			if l.blocked != "" || c.before == zeroHash || c.after == zeroHash || !w.sameOtherObjects(c.before, c.after) ||
				w.holdsSource(l, c.before) {
				return false
			}
			continue
		}
		if l.plain && w.flatEligible(l, c.path) {
			if l.simple {
				// An object's form is its own document's: the commit reaches it only through a
				// document that can be it (or, the same kind and name, one that clashes with it).
				if w.possiblyIn(c.before) || w.possiblyIn(c.after) {
					return false
				}
				continue
			}
			before := c.before != zeroHash && w.isManifest(c.before)
			after := c.after != zeroHash && w.isManifest(c.after)
			switch {
			case !before && !after:
				continue
			case l.blocked != "":
				return false
			case before && after:
				if !w.sameOtherObjects(c.before, c.after) || w.holdsSource(l, c.before) {
					return false
				}
			default:
				// A manifest came or went: fine when none of its objects is the followed one or one
				// it can refer to.
				blob := c.before
				if after {
					blob = c.after
				}
				h := w.heads(blob)
				if !h.ok || w.possiblyIn(blob) {
					return false
				}
				m := w.mentions(l, "", false)
				for _, d := range h.docs {
					if d.Metadata.Name == "" || m.names(d.Kind, d.Metadata.Name) {
						return false
					}
				}
			}
			continue
		}
		// The files the last render read; when it failed, which may have been before it read
		// them all, every file a kustomization names.
		w.settle()
		if w.inputs[c.path] || w.unknown && (l.plain || l.reads(c.path)) {
			return false
		}
	}
	return true
}

// holdsSource tells whether a blob holds an object that replacements or vars copy from:
// a change to its content can reach the followed object.
func (w *walker) holdsSource(l *layout, blob string) bool {
	if len(l.sources) == 0 {
		return false
	}
	h := w.heads(blob)
	if !h.ok {
		return true
	}
	for _, d := range h.docs {
		if l.isSource(d) {
			return true
		}
	}
	return false
}

// sameOtherObjects tells whether two versions of a file define the same objects, none of which
// can be the followed one: then only other objects' content changed.
func (w *walker) sameOtherObjects(before, after string) bool {
	hb, ha := w.heads(before), w.heads(after)
	if !hb.ok || !ha.ok || len(hb.docs) != len(ha.docs) || w.possiblyIn(before) || w.possiblyIn(after) {
		return false
	}
	for i := range hb.docs {
		if hb.docs[i] != ha.docs[i] {
			return false
		}
	}
	return true
}

// flatEligible tells whether a path is one the render of a plain target reads as a candidate
// manifest: a YAML or JSON file below the target outside hidden directories and kustomizations.
func (w *walker) flatEligible(l *layout, p string) bool {
	if !under(p, w.root) {
		return false
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".yaml", ".yml", ".json":
	default:
		return false
	}
	parts := strings.Split(relTo(w.root, p), "/")
	for i := 1; i < len(parts); i++ {
		if strings.HasPrefix(parts[i-1], ".") || kustomizationIn(w.files, path.Join(w.root, strings.Join(parts[:i], "/"))) != "" {
			return false
		}
	}
	return true
}

// gathersMissObject tells, of a change c of a kustomization that only gathers files in a simple
// layout (the state after e), whether it leaves the followed object as it was: before it too
// the kustomization only gathers, and the entries it adds or removes are files (in the states
// before and after e) none of which can hold the object. A directory, a URL or a missing file
// among them is not judged.
func (w *walker) gathersMissObject(e *logEntry, c fileChange) bool {
	kb, err := w.kustomization(c.before)
	if err != nil || !kb.Within(reach.Inert, reach.Gathers, reach.Orders) {
		return false
	}
	ka, err := w.kustomization(c.after)
	if err != nil {
		return false
	}
	blobIn := func(p string, before bool) string {
		for _, o := range e.changes {
			if o.path == p {
				if before {
					return o.before
				}
				return o.after
			}
		}
		return w.files[p]
	}
	dir := path.Dir(c.path)
	for _, ref := range reach.Changed(kb.Resources, ka.Resources) {
		p, ok := reach.Join(dir, ref)
		if !ok || reach.IsRemote(ref) {
			return false
		}
		for _, before := range []bool{true, false} {
			blob := blobIn(p, before)
			if blob == "" || blob == zeroHash || w.possiblyIn(blob) {
				return false
			}
		}
	}
	return true
}

// entriesMissObject tells whether a kustomization's change is only to replicas: and images:
// entries that cannot apply to the followed object.
func (w *walker) entriesMissObject(l *layout, c fileChange) bool {
	if l.blocked != "" || len(l.sources) > 0 {
		// An entry can change a source whose fields are copied into the object.
		return false
	}
	kb, err := w.kustomization(c.before)
	if err != nil {
		return false
	}
	ka, err := w.kustomization(c.after)
	if err != nil {
		return false
	}
	after := withoutEntries(ka)
	if !reflect.DeepEqual(withoutEntries(kb), after) {
		return false
	}
	replicas := reach.Changed(kb.Replicas, ka.Replicas)
	images := reach.Changed(kb.Images, ka.Images)
	for _, r := range replicas {
		if r.Name == "" || strings.Contains(w.x.id.Name, r.Name) {
			return false
		}
	}
	if len(images) == 0 {
		return true
	}
	// An image entry applies to the object when its name is the object's image as the layers
	// below leave it: in the object's documents, a patch, another kustomization's images:, or
	// this one's other fields and the entries it keeps (one renames an image that another, the
	// one changed, then matches). The object's form does not matter: every name it can hold
	// comes from those texts, and the walk need not wait for the renders of the states after.
	m := w.mentions(l, c.path, true)
	after.Images = slices.DeleteFunc(slices.Clone(kb.Images), func(im types.Image) bool {
		return !slices.Contains(ka.Images, im)
	})
	kept, err := sigsyaml.Marshal(after)
	if err != nil {
		return false
	}
	m.texts = append(m.texts, string(kept))
	for _, im := range images {
		if im.Name == "" {
			return false
		}
		for _, n := range []string{im.Name, im.NewName} {
			if n != "" && m.names("", n) {
				return false
			}
		}
	}
	return true
}
