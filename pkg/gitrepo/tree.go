package gitrepo

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// buildTree makes the tree of base with the deltas applied, as `git read-tree --reset BASE`,
// `update-index --index-info` of the deltas and `write-tree` make it, without their three git
// processes: the trees along the changed paths are written again, their other entries with the
// modes the index gives them, in git's order; a directory left empty goes; the other trees keep
// their hashes (read-tree primes the index's cache tree with them). It reads base's trees from
// s and stores the trees it makes in out.
func buildTree(s, out storer.EncodedObjectStorer, base *object.Tree, deltas []delta) (plumbing.Hash, error) {
	root := &treeEdit{}
	for _, d := range deltas {
		n := root
		for _, part := range strings.Split(d.path, "/") {
			if n.dirs == nil {
				n.dirs = map[string]*treeEdit{}
			}
			next := n.dirs[part]
			if next == nil {
				next = &treeEdit{}
				n.dirs[part] = next
			}
			n = next
		}
		n.file, n.to = true, d.to
	}
	var h *plumbing.Hash
	if base != nil && !base.Hash.IsZero() {
		h = &base.Hash
	}
	tree, _, err := root.write(s, out, h, true)
	return tree, err
}

// treeEdit is what changes under one name of a tree: the file there (file: to, mode 0 for
// none), or the entries of the directory there.
type treeEdit struct {
	file bool
	to   entry
	dirs map[string]*treeEdit
}

// write stores the tree t (nil: none) with e's edits in out and returns its hash; false when it
// has no entries (then nothing is stored, but for the root, which is the empty tree).
func (e *treeEdit) write(s, out storer.EncodedObjectStorer, t *plumbing.Hash, root bool) (plumbing.Hash, bool, error) {
	entries := map[string]entry{}
	if t != nil {
		var err error
		if entries, err = readTree(s, *t); err != nil {
			return plumbing.ZeroHash, false, err
		}
	}
	for name, c := range e.dirs {
		if c.file {
			if c.to.mode == 0 {
				delete(entries, name)
			} else {
				entries[name] = c.to
			}
			continue
		}
		var sub *plumbing.Hash
		if te, ok := entries[name]; ok {
			if te.mode != filemode.Dir {
				return plumbing.ZeroHash, false, fmt.Errorf("cannot write below %s: it is not a directory in the repository", name)
			}
			sub = &te.hash
		}
		h, ok, err := c.write(s, out, sub, false)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if ok {
			entries[name] = entry{filemode.Dir, h}
		} else {
			delete(entries, name)
		}
	}
	if len(entries) == 0 && !root {
		return plumbing.ZeroHash, false, nil
	}
	h, err := writeTree(out, entries)
	return h, true, err
}

// readTree reads the entries of tree h with the modes the index gives them (see indexMode):
// go-git's decoder makes its own of modes git reads otherwise.
func readTree(s storer.EncodedObjectStorer, h plumbing.Hash) (map[string]entry, error) {
	o, err := s.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	entries := map[string]entry{}
	for len(b) > 0 {
		// Each entry is "MODE NAME\0" and the 20 bytes of its hash.
		sp, nul := bytes.IndexByte(b, ' '), bytes.IndexByte(b, 0)
		if sp < 0 || nul < sp || len(b) < nul+1+20 {
			return nil, fmt.Errorf("tree %s is malformed", h)
		}
		mode, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("tree %s is malformed: %w", h, err)
		}
		var e entry
		e.mode = indexMode(filemode.FileMode(mode))
		copy(e.hash[:], b[nul+1:nul+21])
		entries[string(b[sp+1:nul])] = e
		b = b[nul+21:]
	}
	return entries, nil
}

// writeTree stores the tree of entries in out, in git's order: by name, a directory's as if it
// ended in a slash.
func writeTree(out storer.EncodedObjectStorer, entries map[string]entry) (plumbing.Hash, error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	key := func(n string) string {
		if entries[n].mode == filemode.Dir {
			return n + "/"
		}
		return n
	}
	sort.Slice(names, func(i, j int) bool { return key(names[i]) < key(names[j]) })
	var b bytes.Buffer
	for _, n := range names {
		e := entries[n]
		fmt.Fprintf(&b, "%o %s\x00", uint32(e.mode), n)
		b.Write(e.hash[:])
	}
	o := out.NewEncodedObject()
	o.SetType(plumbing.TreeObject)
	o.SetSize(int64(b.Len()))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return out.SetEncodedObject(o)
}

// indexMode is the mode a tree entry gets in the index, and so in a tree written from it: a
// file's is 100644, or 100755 when its owner may execute it (an old 100664 becomes 100644).
func indexMode(m filemode.FileMode) filemode.FileMode {
	switch m & 0o170000 {
	case 0o040000:
		return filemode.Dir
	case 0o120000:
		return filemode.Symlink
	case 0o160000:
		return filemode.Submodule
	}
	if m&0o100 != 0 {
		return filemode.Executable
	}
	return filemode.Regular
}
