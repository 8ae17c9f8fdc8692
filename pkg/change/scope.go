package change

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// The closed loop in a large target: a change to one application of a base that lists hundreds
// must not cost a render of all of them (kustomize's build time grows faster than linearly with
// the resources of one kustomization). The loop renders the target twice with only the
// resources: entries the change can reach (before and after the edit), checks that the reduced
// render before the edit equals the full render for every object it holds, and compares the
// two. The objects left out keep their render when three things hold:
//
//   - no edited file is read by a left-out entry (what each entry reads is known from the
//     kustomization files, as for the targets a change reaches);
//   - the kustomizations above a left-out entry use only transformers that act on each object
//     alone (labels, annotations, namespace, names, replicas, images, patches), or copy between
//     objects only in ways the loop follows (linked): replacements, whose sources and targets
//     are all kept; ConfigMap and Secret generators, with every ConfigMap and Secret kept and
//     none of them edited; components that only add their own files' objects and patch objects
//     one at a time. A kustomization with anything else (vars, plugins, helm charts, ...) is
//     rendered with all its entries, and the reduction is left to those above it;
//   - an edit of those kustomizations changes only replicas:, images: or patches, and the
//     objects such an entry can match (by name, by image, by patch target) are kept.
//
// Where any of that is not certain, the loop renders the whole target, as before.

// kustNode is one kustomization of a target's tree.
type kustNode struct {
	dir  string // repository-relative
	file string // repository-relative path of the kustomization file
	// sum is the file's SHA-256 and js its JSON form, from which k is decoded when first used
	// (a node from the tree memo comes without it: most nodes of a large tree are not asked).
	sum     [sha256.Size]byte
	js      []byte
	k       *types.Kustomization
	keys    map[string]bool // top-level fields present
	entries []*entry
	// specs are its resources: entries as parsed: what a tree memo keeps of them.
	specs []entrySpec
	// patchFiles are the patch files it names; direct are the other paths it reads itself.
	patchFiles map[string]bool
	direct     []string
}

// entrySpec is one resources: entry: as written, its repository path, and whether it is a
// directory (with a kustomization of its own).
type entrySpec struct {
	raw, path string
	dir       bool
}

// kust is the node's kustomization, decoded from its JSON form on first use.
func (n *kustNode) kust() *types.Kustomization {
	if n.k == nil {
		k, err := reach.Decode(n.js)
		if err != nil {
			// js was made by YAMLToJSON and decoded once before it was stored.
			panic(fmt.Sprintf("kustomization %s: %v", n.file, err))
		}
		n.k = k.Kustomization
	}
	return n.k
}

// entry is one resources: item of a kustomization: a file, or a directory with its own tree.
type entry struct {
	raw   string
	path  string
	node  *kustNode
	reads []string // paths it reads, directories matching everything below them
}

func (en *entry) readsFile(f string) bool {
	for _, r := range en.reads {
		if f == r || strings.HasPrefix(f, r+"/") {
			return true
		}
	}
	return false
}

// kustTree is a target's kustomizations, parsed from disk.
type kustTree struct {
	root  *kustNode
	nodes []*kustNode
	// parsed counts the nodes read from their files (the others came from the tree memo).
	parsed int
	// reading holds, per path an entry reads, the entries of every node that read it.
	reading map[string][]*entry
}

// index fills reading from the entries of every node. An entry's reads below its own path
// (its directory's tree) add nothing to what the path matches, and are left out.
func (t *kustTree) index() {
	t.reading = map[string][]*entry{}
	for _, n := range t.nodes {
		for _, en := range n.entries {
			t.reading[en.path] = append(t.reading[en.path], en)
			for _, r := range en.reads {
				if r == en.path || below(r, en.path) {
					continue
				}
				if l := t.reading[r]; len(l) == 0 || l[len(l)-1] != en {
					t.reading[r] = append(l, en)
				}
			}
		}
	}
}

// below: p lies below directory dir (strings.HasPrefix(p, dir+"/")).
func below(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// entriesReading calls fn for every entry that reads f (en.readsFile(f)): those that read f
// itself or a path of which f lies below. An entry can come more than once.
func (t *kustTree) entriesReading(f string, fn func(*entry)) {
	for _, en := range t.reading[f] {
		fn(en)
	}
	for i := len(f) - 1; i >= 0; i-- {
		if f[i] == '/' {
			for _, en := range t.reading[f[:i]] {
				fn(en)
			}
		}
	}
}

// errNoReduction: the tree cannot be reduced soundly; the caller renders the whole target.
var errNoReduction = errors.New("no reduction")

// parseTree parses the kustomizations of the target at dir; old, when set, holds contents the
// files had before (the tree of a render cached before they changed).
// memo (may be nil) keeps parsed kustomizations between the trees one command parses.
func parseTree(root, dir string, old map[string][]byte, memo *parseMemo) (*kustTree, error) {
	t := &kustTree{}
	seen := map[string]bool{}
	var ls *lister
	if memo != nil && memo.ls != nil && memo.ls.root == root {
		ls = memo.ls
	} else {
		ls = &lister{root: root, dirs: map[string]map[string]fs.FileMode{}}
		if memo != nil {
			memo.ls = ls
		}
	}
	var build func(dir string) (*kustNode, error)
	build = func(dir string) (*kustNode, error) {
		if seen[dir] {
			return nil, errNoReduction // a directory reached twice: leave it to kustomize
		}
		seen[dir] = true
		n := memo.storedNode(dir, old)
		if n == nil {
			var err error
			if n, err = readNodeWith(ls, dir, old, memo); err != nil {
				return nil, err
			}
			n.specs = nil
			for _, res := range n.k.Resources {
				if reach.IsRemote(res) {
					return nil, errNoReduction
				}
				p, ok := reach.Join(dir, res)
				if !ok {
					return nil, errNoReduction
				}
				n.specs = append(n.specs, entrySpec{raw: res, path: p, dir: ls.isDir(p)})
			}
			t.parsed++
		}
		t.nodes = append(t.nodes, n)
		for _, sp := range n.specs {
			en := &entry{raw: sp.raw, path: sp.path, reads: []string{sp.path}}
			if sp.dir {
				var err error
				if en.node, err = build(sp.path); err != nil {
					return nil, err
				}
				en.reads = append(en.reads, en.node.allReads()...)
			}
			n.entries = append(n.entries, en)
		}
		return n, nil
	}
	var err error
	if t.root, err = build(dir); err != nil {
		return nil, err
	}
	t.index()
	return t, nil
}

// allReads is everything a node's tree reads.
func (n *kustNode) allReads() []string {
	out := append([]string{n.file}, n.direct...)
	for p := range n.patchFiles {
		out = append(out, p)
	}
	for _, en := range n.entries {
		out = append(out, en.reads...)
	}
	return out
}

// readNodeWith is readNode with the file's content from old when it is there, through memo.
func readNodeWith(ls *lister, dir string, old map[string][]byte, memo *parseMemo) (*kustNode, error) {
	file := ls.kustomizationIn(dir)
	if file == "" {
		return nil, errNoReduction
	}
	content, ok := old[file]
	if ok && content == nil {
		return nil, errNoReduction
	}
	if !ok && memo != nil && memo.disk != nil {
		content, ok = memo.disk[file]
	}
	if !ok {
		var err error
		if content, err = os.ReadFile(filepath.Join(ls.root, filepath.FromSlash(file))); err != nil {
			return nil, err
		}
		if memo != nil {
			if memo.disk == nil {
				memo.disk = map[string][]byte{}
			}
			memo.disk[file] = content
		}
	}
	if memo == nil {
		return parseNode(dir, file, content)
	}
	key := file + "\x00" + string(content)
	if m, ok := memo.nodes[key]; ok {
		n := *m
		return &n, nil
	}
	n, err := parseNode(dir, file, content)
	if err != nil {
		return nil, err
	}
	m := *n
	memo.nodes[key] = &m
	return n, nil
}

// kustomizationIn is the repository-relative path of dir's kustomization file, or "".
func kustomizationIn(root, dir string) string {
	return reach.FileIn(dir, func(p string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		return err == nil
	})
}

// lister tells, from one listing of each directory, what os.Stat tells of the paths in it:
// whether they exist and are directories. Symbolic links, and names a listing lacks (a
// case-insensitive file system finds them), are asked of os.Stat.
type lister struct {
	root string
	dirs map[string]map[string]fs.FileMode // repository-relative directory: its entries' types; nil when unreadable
}

// stat is whether the repository-relative path p exists, and whether it is a directory.
func (l *lister) stat(p string) (exists, dir bool) {
	if d, name := path.Split(p); name != "" && name != "." && name != ".." {
		d = path.Clean(d)
		names, ok := l.dirs[d]
		if !ok {
			names = l.list(d)
			l.dirs[d] = names
		}
		if mode, ok := names[name]; ok && mode&fs.ModeSymlink == 0 {
			return true, mode.IsDir()
		}
	}
	fi, err := os.Stat(filepath.Join(l.root, filepath.FromSlash(p)))
	return err == nil, err == nil && fi.IsDir()
}

func (l *lister) list(dir string) map[string]fs.FileMode {
	f, err := os.Open(filepath.Join(l.root, filepath.FromSlash(dir)))
	if err != nil {
		return nil
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil
	}
	names := make(map[string]fs.FileMode, len(entries))
	for _, e := range entries {
		names[e.Name()] = e.Type()
	}
	return names
}

func (l *lister) isDir(p string) bool {
	_, dir := l.stat(p)
	return dir
}

// kustomizationIn is kustomizationIn(l.root, dir).
func (l *lister) kustomizationIn(dir string) string {
	return reach.FileIn(dir, func(p string) bool {
		exists, _ := l.stat(p)
		return exists
	})
}

// readNode parses the kustomization in dir; content, when given, replaces the file's.
func readNode(root, dir string, content []byte) (*kustNode, error) {
	file := kustomizationIn(root, dir)
	if file == "" {
		return nil, errNoReduction
	}
	if content == nil {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, err
		}
		content = b
	}
	return parseNode(dir, file, content)
}

// parseNode parses the kustomization file of dir with the given content.
func parseNode(dir, file string, content []byte) (*kustNode, error) {
	n := &kustNode{dir: dir, file: file, patchFiles: map[string]bool{}, sum: sha256.Sum256(content)}
	js, err := sigsyaml.YAMLToJSON(content)
	if err != nil {
		return nil, errNoReduction
	}
	n.js = js
	k, err := reach.Decode(js)
	if err != nil {
		return nil, errNoReduction
	}
	n.k, n.keys = k.Kustomization, k.Fields
	for _, p := range n.k.Patches {
		if p.Path != "" {
			if fp, ok := reach.Join(dir, p.Path); ok {
				n.patchFiles[fp] = true
			}
		}
	}
	for _, ref := range k.Refs() {
		if ref.Role == reach.Resource {
			continue
		}
		if p, ok := reach.Join(dir, ref.Path); ok && !n.patchFiles[p] {
			n.direct = append(n.direct, p)
		}
	}
	return n, nil
}

// renaming fields make references between objects follow names: deleting a kept object would
// change what a left-out object refers to.
var renamingFields = []string{"namespace", "namePrefix", "nameSuffix"}

// scope is the reduction of one target for one set of edits.
type scope struct {
	root    string
	tree    *kustTree
	before  *render.Result
	files   map[string][]byte
	changed []string
	keep    map[*entry]bool
	objects map[render.ObjectID]bool // objects the edits can change: their entries are kept
	deletes bool
	// configEdit: the edits can change a ConfigMap or Secret, whose generated name (and so
	// every reference to it) a generator may derive from its content.
	configEdit bool
	old        map[string][]byte // contents before the edits that are no longer on disk
	// held are the objects of before the reduced render holds with the entries kept when it
	// was computed (keptAt of them; entries are only ever added to keep).
	held   []*render.Object
	keptAt int
}

// readBefore reads a file as it was before the edits.
func (s *scope) readBefore(f string) ([]byte, error) {
	if b, ok := s.old[f]; ok {
		if b == nil {
			return nil, &os.PathError{Op: "open", Path: f, Err: os.ErrNotExist}
		}
		return b, nil
	}
	return os.ReadFile(filepath.Join(s.root, filepath.FromSlash(f)))
}

// reduce decides which resources: entries the closed loop must render for the edits in files,
// returning the entries to leave out per kustomization directory and how many objects of before
// the reduced render then holds.
// old holds the contents before the edits of files no longer on disk with them (nil otherwise).
func reduce(root string, tree *kustTree, before *render.Result, files, old map[string][]byte, expect map[render.ObjectID]map[string]any) (drop map[string][]string, held int, err error) {
	s := &scope{root: root, tree: tree, before: before, files: files, old: old, keep: map[*entry]bool{}, objects: map[render.ObjectID]bool{}}
	for id, d := range expect {
		if before.Get(id) == nil {
			return nil, 0, errNoReduction // a new object: its name could collide with one left out
		}
		s.deletes = s.deletes || d == nil
		s.objects[id] = true
	}
	for f, b := range files {
		prev, err := s.readBefore(f)
		if err != nil && !os.IsNotExist(err) {
			return nil, 0, err
		}
		if b == nil || !bytes.Equal(prev, b) || err != nil {
			s.changed = append(s.changed, f)
		}
	}
	for _, f := range s.changed {
		if err := s.edited(f); err != nil {
			return nil, 0, err
		}
	}
	s.configEdit = s.editsConfig()
	// Keeping objects can make more kustomizations drop entries, whose replicas: and patches
	// then need their targets kept: repeat until nothing is added.
	for range 8 {
		grew := false
		for id := range s.objects {
			o := before.Get(id)
			if o == nil {
				continue
			}
			if err := s.keepObject(o); err != nil {
				return nil, 0, err
			}
		}
		drop = s.dropped()
		for _, n := range s.chain(drop) {
			err := s.checkChain(n)
			if errors.Is(err, errLinked) {
				var added bool
				if added, err = s.keepLinked(n); err == nil {
					grew = grew || added
				}
			}
			if err != nil {
				// n copies between its objects in a way the loop does not follow: its tree
				// is rendered whole, and only the kustomizations above it leave entries out.
				s.keepTree(n)
				grew = true
				continue
			}
			added, err := s.keepTargets(n)
			if err != nil {
				return nil, 0, err
			}
			grew = grew || added
		}
		if !grew {
			if len(drop) == 0 {
				return nil, 0, errNoReduction // nothing to leave out: the plain render is as fast
			}
			if err := s.dropTargets(drop); err != nil {
				return nil, 0, err
			}
			return drop, len(s.renders()), nil
		}
	}
	return nil, 0, errNoReduction
}

// edited handles one edited file.
func (s *scope) edited(f string) error {
	reached := false
	for _, n := range s.tree.nodes {
		switch {
		case f == n.file:
			reached = true
			if err := s.kustomizationEdited(n); err != nil {
				return err
			}
		case n.patchFiles[f]:
			reached = true
			if err := s.patchFileEdited(n, f); err != nil {
				return err
			}
		default:
			for _, d := range n.direct {
				if f == d || strings.HasPrefix(f, d+"/") {
					return errNoReduction // a generator's file, a component, ...
				}
			}
		}
	}
	s.tree.entriesReading(f, func(en *entry) {
		s.keep[en] = true
		reached = true
	})
	if !reached && strings.HasPrefix(f, s.tree.root.dir+"/") && !s.newPatchFile(f) {
		return errNoReduction // a new file below the target that no kustomization names yet
	}
	return nil
}

// newPatchFile: f is a patch file that an edited kustomization names (kustomizationEdited keeps
// the patch's targets).
func (s *scope) newPatchFile(f string) bool {
	for _, n := range s.tree.nodes {
		content, ok := s.files[n.file]
		if !ok || content == nil {
			continue
		}
		if after, err := readNode(s.root, n.dir, content); err == nil && after.patchFiles[f] {
			return true
		}
	}
	return false
}

// kustomizationEdited finds the objects an edit of a kustomization can change.
func (s *scope) kustomizationEdited(n *kustNode) error {
	content := s.files[n.file]
	if content == nil {
		return errNoReduction
	}
	after, err := readNode(s.root, n.dir, content)
	if err != nil {
		return err
	}
	a, b := *after.kust(), *n.kust()
	for _, k := range []*types.Kustomization{&a, &b} {
		k.Replicas, k.Images, k.Patches, k.PatchesStrategicMerge, k.PatchesJson6902 = nil, nil, nil, nil, nil
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(after.keys, n.keys) && !onlyIdiomKeys(after.keys, n.keys) {
		return errNoReduction
	}
	for _, r := range reach.Changed(n.kust().Replicas, after.kust().Replicas) {
		s.keepNamed("", r.Name)
	}
	if changedImages := reach.Changed(n.kust().Images, after.kust().Images); len(changedImages) > 0 {
		// Images are matched by their name in the layer; the render shows them as the last
		// layer left them, which is the same name unless another layer gives a new one.
		for _, other := range s.tree.nodes {
			for _, im := range other.kust().Images {
				if other != n && im.NewName != "" {
					return errNoReduction
				}
			}
		}
		for _, im := range changedImages {
			s.keepImage(im.Name)
			if im.NewName != "" {
				s.keepImage(im.NewName)
			}
		}
	}
	for _, p := range reach.Changed(n.kust().Patches, after.kust().Patches) {
		if err := s.keepPatch(n.dir, p, true); err != nil {
			return err
		}
		if err := s.keepPatch(n.dir, p, false); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(n.kust().PatchesStrategicMerge, after.kust().PatchesStrategicMerge) ||
		!reflect.DeepEqual(n.kust().PatchesJson6902, after.kust().PatchesJson6902) {
		return errNoReduction
	}
	return nil
}

// onlyIdiomKeys: the kustomizations differ only by the presence of replicas:, images: or patches:.
func onlyIdiomKeys(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] && k != "replicas" && k != "images" && k != "patches" {
			return false
		}
	}
	for k := range b {
		if !a[k] && k != "replicas" && k != "images" && k != "patches" {
			return false
		}
	}
	return true
}

// patchFileEdited: a patch file changed in place; both versions' targets are kept.
func (s *scope) patchFileEdited(n *kustNode, f string) error {
	for _, p := range n.kust().Patches {
		if fp, ok := reach.Join(n.dir, p.Path); ok && fp == f {
			if err := s.keepPatch(n.dir, p, true); err != nil {
				return err
			}
			if err := s.keepPatch(n.dir, p, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepPatch keeps the objects a patch can match; onDisk reads its file from disk, else from the
// edits.
func (s *scope) keepPatch(dir string, p types.Patch, onDisk bool) error {
	if p.Options != nil && (p.Options.AllowNameChange || p.Options.AllowKindChange) {
		return errNoReduction
	}
	if p.Target != nil {
		return s.keepSelected(p.Target)
	}
	heads, err := s.patchHeads(dir, p, onDisk)
	if err != nil {
		return err
	}
	for _, h := range heads {
		s.keepNamed(h.Kind, h.Metadata.Name)
	}
	return nil
}

// patchHeads are the kind and name of each document of a patch without a target (a
// strategic-merge patch names its object); onDisk reads its file from disk, else from the edits.
func (s *scope) patchHeads(dir string, p types.Patch, onDisk bool) ([]docHead, error) {
	content := []byte(p.Patch)
	if p.Path != "" {
		fp, ok := reach.Join(dir, p.Path)
		if !ok {
			return nil, errNoReduction
		}
		b, edited := s.files[fp]
		if onDisk || !edited {
			var err error
			if b, err = s.readBefore(fp); err != nil {
				if os.IsNotExist(err) {
					return nil, nil // a new file: the other version names its targets
				}
				return nil, err
			}
		}
		content = b
	}
	var out []docHead
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var head docHead
		err := dec.Decode(&head)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil || head.Kind == "" || head.Metadata.Name == "" {
			return nil, errNoReduction // a JSON 6902 list, or something kustomize will reject anyway
		}
		out = append(out, head)
	}
}

// docHead is what identifies the object of a document.
type docHead struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// keepSelected keeps what a patch target selector can match, erring on the side of more.
func (s *scope) keepSelected(sel *types.Selector) error {
	name, err := loose(sel.Name)
	if err != nil {
		return err
	}
	for _, o := range s.before.Objects {
		if sel.Kind != "" && sel.Kind != o.ID.Kind {
			continue
		}
		if name != nil && !name.MatchString(o.ID.Name) && !name.MatchString(o.Origin.Name) {
			continue
		}
		s.objects[o.ID] = true
	}
	return nil
}

// loose compiles a selector's name (kustomize matches it whole against the name in the
// patch's layer) to find it anywhere in a rendered name, since prefixes and suffixes of other
// layers only add around it; nil matches everything.
func loose(expr string) (*regexp.Regexp, error) {
	if expr == "" || strings.ContainsAny(expr, "^$") {
		return nil, nil
	}
	re, err := regexp.Compile("(?:" + expr + ")")
	if err != nil {
		return nil, errNoReduction
	}
	return re, nil
}

// keepNamed keeps the objects of a kind ("" any kind) whose name, in some layer, can be name:
// the rendered name holds it (prefixes, suffixes and hashes only add around it).
func (s *scope) keepNamed(kind, name string) {
	for _, o := range s.before.Objects {
		if (kind == "" || kind == o.ID.Kind) && (strings.Contains(o.ID.Name, name) || o.Origin.Name == name) {
			s.objects[o.ID] = true
		}
	}
}

// keepImage keeps the objects with an image an images: entry named name matches, the way
// kustomize matches it (every object when the name is no regular expression).
func (s *scope) keepImage(name string) {
	re, err := regexp.Compile("^" + name + "(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$")
	for _, o := range s.before.Objects {
		if err != nil || anyImage(o.Obj().Object, re) {
			s.objects[o.ID] = true
		}
	}
}

func anyImage(v any, re *regexp.Regexp) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if str, ok := x.(string); ok && k == "image" && re.MatchString(str) {
				return true
			}
			if anyImage(x, re) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if anyImage(x, re) {
				return true
			}
		}
	}
	return false
}

// keepObject keeps, at every level, the entries an object comes through.
func (s *scope) keepObject(o *render.Object) error {
	from := o.Origin.File
	if from == "" {
		from = o.Origin.Generated
	}
	if from == "" {
		return errNoReduction
	}
	s.tree.entriesReading(from, func(en *entry) { s.keep[en] = true })
	return nil
}

// keepTree keeps every entry of n's tree.
func (s *scope) keepTree(n *kustNode) {
	for _, en := range n.entries {
		s.keep[en] = true
		if en.node != nil {
			s.keepTree(en.node)
		}
	}
}

// dropped lists, per kustomization the reduced render reaches, the entries it leaves out.
func (s *scope) dropped() map[string][]string {
	drop := map[string][]string{}
	var walk func(n *kustNode)
	walk = func(n *kustNode) {
		for _, en := range n.entries {
			if !s.keep[en] {
				drop[n.dir] = append(drop[n.dir], en.raw)
				continue
			}
			if en.node != nil {
				walk(en.node)
			}
		}
	}
	walk(s.tree.root)
	return drop
}

// chain lists the kustomizations that leave something out, or have a descendant that does:
// their transformers see fewer objects in the reduced render.
func (s *scope) chain(drop map[string][]string) []*kustNode {
	var out []*kustNode
	var walk func(n *kustNode) bool
	walk = func(n *kustNode) bool {
		in := len(drop[n.dir]) > 0
		for _, en := range n.entries {
			if s.keep[en] && en.node != nil && walk(en.node) {
				in = true
			}
		}
		if in {
			out = append(out, n)
		}
		return in
	}
	walk(s.tree.root)
	return out
}

// checkChain tells whether n's transformers act on each object alone (nil), copy between
// objects in the ways keepLinked follows (errLinked), or do anything else (errNoReduction).
func (s *scope) checkChain(n *kustNode) error {
	linked := false
	for f := range n.keys {
		switch reach.FieldClass(f) {
		case reach.Inert, reach.Gathers, reach.Orders, reach.PerObject:
		case reach.Links:
			if !linkedFields[f] {
				return errNoReduction
			}
			linked = true
		default:
			return errNoReduction
		}
	}
	if s.deletes {
		for _, k := range renamingFields {
			if n.keys[k] {
				return errNoReduction
			}
		}
	}
	if linked {
		return errLinked
	}
	return nil
}

// linkedFields are the Links fields (pkg/reach) whose copies keepLinked follows: not vars, crds
// or configurations.
var linkedFields = map[string]bool{
	"replacements": true, "configMapGenerator": true, "secretGenerator": true, "generatorOptions": true, "components": true,
}

// componentFields are the fields of a component keepLinked follows: it adds the objects of its
// own files and changes objects one at a time.
var componentFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "resources": true, "patches": true,
	"labels": true, "commonLabels": true, "commonAnnotations": true,
}

// errLinked: a kustomization copies between objects in ways keepLinked follows.
var errLinked = errors.New("linked objects")

// keepLinked keeps, of the objects kustomization n renders, those its cross-object
// transformers can read or write: every object a replacement's source or target can select
// (erring on the side of more), and every ConfigMap and Secret when it generates some (a
// generator merging into one needs it). The objects left out are then neither read nor written
// by them, so they render as before the edits, and the kept ones render as with every entry
// (the reduced render before the edits is checked against the full one). It fails when n reads
// a replacement from a file, an edit can change a ConfigMap or Secret while n generates some
// (a new content hash renames it in every object referring to it), or a component does more
// than add its own files' objects and patch objects by selector.
func (s *scope) keepLinked(n *kustNode) (bool, error) {
	k := n.kust()
	for _, c := range k.Components {
		dir, ok := reach.Join(n.dir, c)
		if !ok || !s.plainComponent(dir) {
			return false, errNoReduction
		}
	}
	mine := make(map[*entry]bool, len(n.entries))
	for _, en := range n.entries {
		mine[en] = true
	}
	var under []*render.Object
	for _, o := range s.before.Objects {
		if s.through(n, mine, o) {
			under = append(under, o)
		}
	}
	before := len(s.objects)
	keep := func(kind, group, name string) error {
		re, err := loose(name)
		if err != nil {
			return err
		}
		for _, o := range under {
			if (kind == "" || kind == o.ID.Kind) && (group == "" || group == o.ID.Group) &&
				(re == nil || re.MatchString(o.ID.Name) || re.MatchString(o.Origin.Name) || strings.Contains(o.ID.Name, name)) {
				s.objects[o.ID] = true
			}
		}
		return nil
	}
	for _, r := range k.Replacements {
		if r.Path != "" {
			return false, errNoReduction
		}
		if src := r.Source; src != nil {
			if err := keep(src.Kind, src.Group, src.Name); err != nil {
				return false, err
			}
		}
		for _, t := range r.Targets {
			sel := &types.Selector{}
			if t.Select != nil {
				sel = t.Select
			}
			// Label and annotation selectors only narrow what kind and name select.
			if err := keep(sel.Kind, sel.Group, sel.Name); err != nil {
				return false, err
			}
		}
	}
	if len(k.ConfigMapGenerator) > 0 || len(k.SecretGenerator) > 0 {
		if s.configEdit {
			return false, errNoReduction
		}
		for _, kind := range []string{"ConfigMap", "Secret"} {
			if err := keep(kind, "", ""); err != nil {
				return false, err
			}
		}
	}
	// An object a kept one names (a Deployment's ServiceAccount, ConfigMaps and Secrets, a
	// binding's role, ...) is kept with it: kustomize renames a reference with its object's
	// prefix, suffix or hash only when that object is rendered with it.
	named := map[string][]*render.Object{}
	for _, o := range under {
		named[o.ID.Name] = append(named[o.ID.Name], o)
	}
	var queue []*render.Object
	for id := range s.objects {
		if o := s.before.Get(id); o != nil {
			queue = append(queue, o)
		}
	}
	for len(queue) > 0 {
		o := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		eachString(o.Obj().Object, func(v string) {
			for _, r := range named[v] {
				if !s.objects[r.ID] {
					s.objects[r.ID] = true
					queue = append(queue, r)
				}
			}
		})
	}
	grew := len(s.objects) > before
	if grew {
		for id := range s.objects {
			if err := s.keepObject(s.before.Get(id)); err != nil {
				return false, err
			}
		}
	}
	return grew, nil
}

// eachString calls fn with every string value in v.
func eachString(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, e := range x {
			eachString(e, fn)
		}
	case []any:
		for _, e := range x {
			eachString(e, fn)
		}
	}
}

// through tells whether object o of the full render comes through kustomization n (whose
// entries are mine): from a file one of its entries reads, or from its own directory or
// components (an object of no known file is taken to).
func (s *scope) through(n *kustNode, mine map[*entry]bool, o *render.Object) bool {
	from := o.Origin.File
	if from == "" {
		from = o.Origin.Generated
	}
	if from == "" || n.dir == "." || below(from, n.dir) {
		return true
	}
	found := false
	s.tree.entriesReading(from, func(en *entry) { found = found || mine[en] })
	if found {
		return true
	}
	for _, d := range n.direct {
		if from == d || below(from, d) {
			return true
		}
	}
	return false
}

// plainComponent: the component at dir adds only the objects of files in its own directory and
// changes objects one at a time (patches with a target selector, labels, annotations).
func (s *scope) plainComponent(dir string) bool {
	c, err := readNode(s.root, dir, nil)
	if err != nil {
		return false
	}
	for k := range c.keys {
		if !componentFields[k] {
			return false
		}
	}
	for _, p := range c.kust().Patches {
		if p.Target == nil || p.Options != nil && (p.Options.AllowNameChange || p.Options.AllowKindChange) {
			return false
		}
	}
	for _, ref := range (&reach.Kustomization{Kustomization: c.kust()}).Refs() {
		p, ok := reach.Join(dir, ref.Path)
		if !ok || !below(p, dir) {
			return false
		}
		if fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(p))); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// editsConfig tells whether the edits can change a ConfigMap or Secret: one is among the
// objects they change, or a changed file holds one, before or after.
func (s *scope) editsConfig() bool {
	config := func(kind string) bool { return kind == "ConfigMap" || kind == "Secret" }
	for id := range s.objects {
		if config(id.Kind) {
			return true
		}
	}
	for _, f := range s.changed {
		for _, o := range s.before.Objects {
			if o.Origin.File == f && config(o.ID.Kind) {
				return true
			}
		}
		if b := s.files[f]; b != nil {
			dec := yaml.NewDecoder(bytes.NewReader(b))
			for {
				var head docHead
				if err := dec.Decode(&head); errors.Is(err, io.EOF) {
					break
				} else if err != nil || config(head.Kind) {
					return true
				}
			}
		}
	}
	return false
}

// keepTargets keeps what a reduced kustomization's replicas: and patches must find: kustomize
// fails on a replicas: entry or a strategic-merge patch without its object. An entry or a patch
// file none of whose objects the reduced render holds is left out of it instead (dropTargets).
func (s *scope) keepTargets(n *kustNode) (bool, error) {
	before := len(s.objects)
	renders := s.renders()
	keep := func(k *types.Kustomization, onDisk bool) error {
		for _, r := range k.Replicas {
			if matchesAny("", r.Name, renders) {
				s.keepNamed("", r.Name)
			}
		}
		for _, p := range k.Patches {
			if p.Target != nil {
				continue
			}
			if p.Path == "" {
				if err := s.keepPatch(n.dir, p, onDisk); err != nil {
					return err
				}
				continue
			}
			heads, err := s.patchHeads(n.dir, p, onDisk)
			if err != nil {
				return err
			}
			if headsRendered(heads, renders) {
				for _, h := range heads {
					s.keepNamed(h.Kind, h.Metadata.Name)
				}
			}
		}
		return nil
	}
	if err := keep(n.kust(), true); err != nil {
		return false, err
	}
	if content, ok := s.files[n.file]; ok && content != nil {
		after, err := readNode(s.root, n.dir, content)
		if err != nil {
			return false, err
		}
		if err := keep(after.kust(), false); err != nil {
			return false, err
		}
	}
	if len(n.kust().PatchesStrategicMerge) > 0 || len(n.kust().PatchesJson6902) > 0 {
		return false, errNoReduction
	}
	grew := len(s.objects) > before
	if grew {
		for id := range s.objects {
			if err := s.keepObject(s.before.Get(id)); err != nil {
				return false, err
			}
		}
	}
	return grew, nil
}

// renders are the objects of before the reduced render holds as the scope stands: those whose
// file no left-out entry reads (an object without a file is taken to be held). One pass over
// the whole render each time entries are kept; the few held objects are then searched.
func (s *scope) renders() []*render.Object {
	if s.held == nil || s.keptAt != len(s.keep) {
		left := leftOut(s.tree, s.dropped())
		s.held, s.keptAt = []*render.Object{}, len(s.keep)
		for _, o := range s.before.Objects {
			from := o.Origin.File
			if from == "" {
				from = o.Origin.Generated
			}
			if from == "" || !underAny(from, left) {
				s.held = append(s.held, o)
			}
		}
	}
	return s.held
}

// matchesAny: an object the reduced render holds can be the one kind and name (as keepNamed
// matches them) name.
func matchesAny(kind, name string, held []*render.Object) bool {
	for _, o := range held {
		if (kind == "" || kind == o.ID.Kind) && (strings.Contains(o.ID.Name, name) || o.Origin.Name == name) {
			return true
		}
	}
	return false
}

func headsRendered(heads []docHead, held []*render.Object) bool {
	for _, h := range heads {
		if matchesAny(h.Kind, h.Metadata.Name, held) {
			return true
		}
	}
	return false
}

// dropTargets adds to drop the replicas: entries and patch files of the reduced kustomizations
// that match no object the reduced render holds: kustomize would fail on them, and they change
// nothing it renders.
func (s *scope) dropTargets(drop map[string][]string) error {
	renders := s.renders()
	for _, n := range s.chain(drop) {
		versions := []*types.Kustomization{n.kust()}
		onDisk := []bool{true}
		if content, ok := s.files[n.file]; ok && content != nil {
			after, err := readNode(s.root, n.dir, content)
			if err != nil {
				return err
			}
			versions, onDisk = append(versions, after.kust()), append(onDisk, false)
		}
		seen := map[string]bool{}
		add := func(item string) {
			if !seen[item] {
				seen[item] = true
				drop[n.dir] = append(drop[n.dir], item)
			}
		}
		for i, k := range versions {
			for _, r := range k.Replicas {
				if !matchesAny("", r.Name, renders) {
					add(render.DropReplicas(r.Name))
				}
			}
			for _, p := range k.Patches {
				if p.Target != nil || p.Path == "" {
					continue
				}
				heads, err := s.patchHeads(n.dir, p, onDisk[i])
				if err != nil {
					return err
				}
				if len(heads) > 0 && !headsRendered(heads, renders) {
					add(render.DropPatch(p.Path))
				}
			}
		}
	}
	return nil
}

// leftOut are the paths the left-out entries read, less those below an entry's own path, which
// underAny matches through that path.
func leftOut(tree *kustTree, drop map[string][]string) map[string]bool {
	left := map[string]bool{}
	for _, n := range tree.nodes {
		entries := drop[n.dir]
		if len(entries) == 0 {
			continue
		}
		raws := make(map[string]bool, len(entries))
		for _, raw := range entries {
			raws[raw] = true
		}
		for _, en := range n.entries {
			if raws[en.raw] {
				left[en.path] = true
				for _, r := range en.reads {
					if !below(r, en.path) {
						left[r] = true
					}
				}
			}
		}
	}
	return left
}

// verifyReduced checks the reduced render before the edits against the full render: every object
// it holds renders the same, and it holds as many as the kept entries render (held, from reduce).
func verifyReduced(full, reduced *render.Result, held int) error {
	for _, o := range reduced.Objects {
		f := full.Get(o.ID)
		if f == nil || !reflect.DeepEqual(f.Obj().Object, o.Obj().Object) {
			return fmt.Errorf("%w: %s renders differently alone", errNoReduction, o.ID)
		}
	}
	if held != len(reduced.Objects) {
		return fmt.Errorf("%w: %d objects rendered alone, %d expected", errNoReduction, len(reduced.Objects), held)
	}
	return nil
}

// underAny: p or one of its parent directories is in set.
func underAny(p string, set map[string]bool) bool {
	p = path.Clean(p)
	for p != "." && p != "/" && p != "" {
		if set[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		switch {
		case i < 0:
			return false
		case i == 0:
			p = "/"
		default:
			p = p[:i]
		}
	}
	return false
}
