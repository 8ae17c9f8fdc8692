package change

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
)

// The tree memo keeps, per target, the kustomizations its tree parsed, with each file's SHA-256:
// in a target of a thousand applications, reading and parsing a thousand kustomization files
// (and listing their directories) is most of a command's work outside kustomize. A node is used
// again only when the render cache vouches that its file still has that content (the cache
// checked every input of the render by stat or hash when it loaded it); any other node is read
// from its file as before. Which of a directory's names is its kustomization file, and whether
// an entry is a directory, are kept as found: a change to either changes an input of the render.

// parseMemo keeps the kustomizations parsed between the trees one command parses.
type parseMemo struct {
	nodes map[string]*kustNode // by file and content
	// cacheDir holds the tree memos kept between commands ("" keeps none).
	cacheDir string
	// stored are the nodes of the tree memos read so far, by directory; sums tell the content
	// a file has now, as the render cache vouches for it (one per render loaded).
	stored      map[string]*kustNode
	sums        []func(file string) ([32]byte, bool)
	treesLoaded map[string]bool
	// ls and disk are the directory listings and kustomization files read so far: the trees
	// one command parses read the same ones (a refresh's, then the closed loop's).
	ls   *lister
	disk map[string][]byte
}

// treeFormat names the memo's format and, through binenc.Format, the build whose parse (and
// YAML-to-JSON conversion) made its nodes.
var treeFormat = binenc.Format("kubectl-gitops kustomization tree 2")

func (m *parseMemo) treeFile(root, t string) string {
	if m == nil || m.cacheDir == "" {
		return ""
	}
	h := sha256.Sum256([]byte(root + "\x00" + t))
	return filepath.Join(m.cacheDir, "tree-"+hex.EncodeToString(h[:12])+".bin")
}

// storedNode is the memo's node for dir, when its file is not among the old contents and the
// render cache vouches for the content it was parsed from; nil otherwise.
func (m *parseMemo) storedNode(dir string, old map[string][]byte) *kustNode {
	if m == nil || len(m.sums) == 0 {
		return nil
	}
	st := m.stored[dir]
	if st == nil {
		return nil
	}
	if _, changed := old[st.file]; changed {
		return nil
	}
	vouched := false
	for _, sum := range m.sums {
		if s, ok := sum(st.file); ok {
			if s != st.sum {
				return nil
			}
			vouched = true
		}
	}
	if !vouched {
		return nil
	}
	n := *st
	n.entries = nil
	return &n
}

// loadTree reads target t's tree memo into stored, once.
func (m *parseMemo) loadTree(root, t string) {
	file := m.treeFile(root, t)
	if file == "" || m.loaded(file) {
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	r, err := binenc.NewReader(b, true)
	if err != nil || r.String() != treeFormat || r.String() != root || r.String() != t {
		return
	}
	nodes := map[string]*kustNode{}
	for range r.Count() {
		n := &kustNode{dir: r.String(), file: r.String(), keys: map[string]bool{}, patchFiles: map[string]bool{}}
		copy(n.sum[:], r.Fixed(sha256.Size))
		n.js = r.Bytes()
		for _, k := range r.Strings() {
			n.keys[k] = true
		}
		for _, p := range r.Strings() {
			n.patchFiles[p] = true
		}
		n.direct = r.Strings()
		for range r.Count() {
			n.specs = append(n.specs, entrySpec{raw: r.String(), path: r.String(), dir: r.Bool()})
		}
		nodes[n.dir] = n
	}
	if r.Err() != nil {
		return
	}
	for d, n := range nodes {
		m.stored[d] = n
	}
}

func (m *parseMemo) loaded(file string) bool {
	if m.treesLoaded == nil {
		m.treesLoaded = map[string]bool{}
	}
	done := m.treesLoaded[file]
	m.treesLoaded[file] = true
	return done
}

// saveTree writes target t's tree memo when the tree read enough nodes from their files to pay
// for the write (a file or two edited since cost less to parse again than to store).
func (m *parseMemo) saveTree(root, t string, tree *kustTree) {
	file := m.treeFile(root, t)
	if file == "" || tree.parsed == 0 || tree.parsed <= 8 && tree.parsed*20 <= len(tree.nodes) {
		return
	}
	if binenc.WriteFile(file, func(out io.Writer) error { return encodeTree(out, root, t, tree) }) != nil {
		return
	}
	// The nodes just written are the memo's for this command too.
	for _, n := range tree.nodes {
		m.stored[n.dir] = n
	}
}

// encodeTree writes a tree memo (internal/binenc): treeFormat, the root and target, then each
// node's fields.
func encodeTree(out io.Writer, root, t string, tree *kustTree) error {
	w := binenc.NewWriter(out)
	w.String(treeFormat)
	w.String(root)
	w.String(t)
	w.Uint(uint64(len(tree.nodes)))
	for _, n := range tree.nodes {
		w.String(n.dir)
		w.String(n.file)
		w.Fixed(n.sum[:])
		w.Bytes(n.js)
		w.Strings(slices.Sorted(maps.Keys(n.keys)))
		w.Strings(slices.Sorted(maps.Keys(n.patchFiles)))
		w.Strings(n.direct)
		w.Uint(uint64(len(n.specs)))
		for _, sp := range n.specs {
			w.String(sp.raw)
			w.String(sp.path)
			w.Bool(sp.dir)
		}
	}
	return w.Close()
}
