package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Trees are parsed and written here rather than with go-git's object.Tree, which rewrites
// non-canonical modes (100664) on decode: an untouched sibling must keep its exact bytes.

type treeEntry struct {
	mode uint32 // as written in the tree (octal), possibly non-canonical
	name string
	hash plumbing.Hash
}

func (e treeEntry) isDir() bool     { return e.mode&0o170000 == 0o040000 }
func (e treeEntry) isGitlink() bool { return e.mode&0o170000 == 0o160000 }

// canonicalMode is the mode git would store in the index for a tree entry.
func canonicalMode(m uint32) uint32 {
	switch m & 0o170000 {
	case 0o040000:
		return 0o040000
	case 0o100000:
		if m&0o111 != 0 {
			return 0o100755
		}
		return 0o100644
	case 0o120000:
		return 0o120000
	}
	return 0o160000
}

func (e treeEntry) sortKey() string {
	if e.isDir() {
		return e.name + "/"
	}
	return e.name
}

func parseTree(data []byte) ([]treeEntry, error) {
	var out []treeEntry
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp < 0 {
			return nil, errors.New("malformed tree object: missing mode")
		}
		mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed tree object: mode %q", data[:sp])
		}
		data = data[sp+1:]
		nul := bytes.IndexByte(data, 0)
		if nul < 1 || len(data) < nul+1+20 {
			return nil, errors.New("malformed tree object: truncated entry")
		}
		e := treeEntry{mode: uint32(mode), name: string(data[:nul])}
		copy(e.hash[:], data[nul+1:nul+21])
		out = append(out, e)
		data = data[nul+21:]
	}
	return out, nil
}

func encodeTree(entries []treeEntry) []byte {
	sort.Slice(entries, func(i, j int) bool { return entries[i].sortKey() < entries[j].sortKey() })
	var b bytes.Buffer
	for _, e := range entries {
		b.WriteString(strconv.FormatUint(uint64(e.mode), 8))
		b.WriteByte(' ')
		b.WriteString(e.name)
		b.WriteByte(0)
		b.Write(e.hash[:])
	}
	return b.Bytes()
}

func readObject(s *filesystem.Storage, t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	o, err := s.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s %s: %w", t, h, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("failed to read %s %s: %w", t, h, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s %s: %w", t, h, err)
	}
	return b, nil
}

func writeObject(s *filesystem.Storage, t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(t, data)
	if s.HasEncodedObject(h) == nil {
		return h, nil
	}
	o := s.NewEncodedObject()
	o.SetType(t)
	o.SetSize(int64(len(data)))
	w, err := o.Writer()
	if err != nil {
		return h, fmt.Errorf("failed to write %s: %w", t, err)
	}
	if _, err := w.Write(data); err != nil {
		return h, fmt.Errorf("failed to write %s: %w", t, err)
	}
	if err := w.Close(); err != nil {
		return h, fmt.Errorf("failed to write %s: %w", t, err)
	}
	if _, err := s.SetEncodedObject(o); err != nil {
		return h, fmt.Errorf("failed to write %s: %w", t, err)
	}
	return h, nil
}

func readTree(s *filesystem.Storage, h plumbing.Hash) ([]treeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	b, err := readObject(s, plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	return parseTree(b)
}

type commitHeader struct {
	tree    plumbing.Hash
	parents []plumbing.Hash
}

func readCommit(s *filesystem.Storage, h plumbing.Hash) (commitHeader, error) {
	b, err := readObject(s, plumbing.CommitObject, h)
	if err != nil {
		return commitHeader{}, err
	}
	var c commitHeader
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "tree":
			c.tree, err = parseHash(v)
		case "parent":
			var p plumbing.Hash
			p, err = parseHash(v)
			c.parents = append(c.parents, p)
		}
		if err != nil {
			return c, fmt.Errorf("malformed commit %s: %w", h, err)
		}
	}
	if c.tree.IsZero() {
		return c, fmt.Errorf("malformed commit %s: no tree", h)
	}
	return c, nil
}

// lookupPath finds the entry at a slash-separated path; nil when absent.
func lookupPath(s *filesystem.Storage, tree plumbing.Hash, path string) (*treeEntry, error) {
	parts := strings.Split(path, "/")
	for i, part := range parts {
		entries, err := readTree(s, tree)
		if err != nil {
			return nil, err
		}
		var found *treeEntry
		for j := range entries {
			if entries[j].name == part {
				found = &entries[j]
				break
			}
		}
		if found == nil || i == len(parts)-1 {
			return found, nil
		}
		if !found.isDir() {
			return nil, nil
		}
		tree = found.hash
	}
	return nil, nil
}

// treeChange is one path's new state, relative to the directory being rebuilt.
type treeChange struct {
	parts   []string
	content []byte
	mode    filemode.FileMode // 0: keep the existing mode, or a regular file
	delete  bool
	path    string
}

// buildTree returns the hash of the tree base with changes applied. Only the directories on the
// changed paths are rewritten; empty directories disappear as in git. empty reports a tree with
// no entries (never written, except at the top).
func buildTree(s *filesystem.Storage, base plumbing.Hash, changes []treeChange, top bool) (h plumbing.Hash, empty bool, err error) {
	entries, err := readTree(s, base)
	if err != nil {
		return h, false, err
	}
	find := func(name string) int {
		for i := range entries {
			if entries[i].name == name {
				return i
			}
		}
		return -1
	}
	direct := map[string]treeChange{}
	nested := map[string][]treeChange{}
	var order []string
	for _, c := range changes {
		name := c.parts[0]
		if _, seen := direct[name]; !seen && nested[name] == nil {
			order = append(order, name)
		}
		if len(c.parts) == 1 {
			if _, dup := direct[name]; dup {
				return h, false, fmt.Errorf("%s is changed twice", c.path)
			}
			direct[name] = c
		} else {
			sub := c
			sub.parts = c.parts[1:]
			nested[name] = append(nested[name], sub)
		}
	}
	for _, name := range order {
		c, isFile := direct[name]
		sub := nested[name]
		i := find(name)
		if isFile && sub != nil {
			return h, false, fmt.Errorf("%s is changed both as a file and as a directory", c.path)
		}
		if sub != nil {
			var subBase plumbing.Hash
			if i >= 0 {
				if !entries[i].isDir() {
					return h, false, fmt.Errorf("cannot change %s: one of its parent directories is a file", sub[0].path)
				}
				subBase = entries[i].hash
			}
			sh, subEmpty, err := buildTree(s, subBase, sub, false)
			if err != nil {
				return h, false, err
			}
			switch {
			case subEmpty && i >= 0:
				entries = append(entries[:i], entries[i+1:]...)
			case subEmpty:
			case i >= 0:
				entries[i].hash = sh
			default:
				entries = append(entries, treeEntry{mode: 0o040000, name: name, hash: sh})
			}
			continue
		}
		if i >= 0 && (entries[i].isDir() || entries[i].isGitlink()) {
			return h, false, fmt.Errorf("cannot change %s: it is a directory or submodule", c.path)
		}
		if c.delete {
			if i < 0 {
				return h, false, fmt.Errorf("cannot delete %s: it does not exist", c.path)
			}
			entries = append(entries[:i], entries[i+1:]...)
			continue
		}
		mode := uint32(c.mode)
		if mode == 0 {
			mode = uint32(filemode.Regular)
			if i >= 0 {
				mode = entries[i].mode
			}
		}
		bh, err := writeObject(s, plumbing.BlobObject, c.content)
		if err != nil {
			return h, false, err
		}
		if i >= 0 {
			if canonicalMode(entries[i].mode) != canonicalMode(mode) {
				entries[i].mode = mode
			}
			entries[i].hash = bh
		} else {
			entries = append(entries, treeEntry{mode: mode, name: name, hash: bh})
		}
	}
	if len(entries) == 0 && !top {
		return h, true, nil
	}
	h, err = writeObject(s, plumbing.TreeObject, encodeTree(entries))
	return h, len(entries) == 0, err
}

// delta is a path whose entry differs between two trees. A nil side is an absent path.
type delta struct {
	path     string
	old, new *treeEntry
}

// diffTrees lists the non-directory paths that differ between trees a and b, skipping equal
// subtrees by hash.
func diffTrees(s *filesystem.Storage, a, b plumbing.Hash, prefix string, out []delta) ([]delta, error) {
	if a == b {
		return out, nil
	}
	ea, err := readTree(s, a)
	if err != nil {
		return nil, err
	}
	eb, err := readTree(s, b)
	if err != nil {
		return nil, err
	}
	byName := map[string][2]*treeEntry{}
	var names []string
	for i := range ea {
		names = append(names, ea[i].name)
		byName[ea[i].name] = [2]*treeEntry{&ea[i], nil}
	}
	for i := range eb {
		p, seen := byName[eb[i].name]
		if !seen {
			names = append(names, eb[i].name)
		}
		p[1] = &eb[i]
		byName[eb[i].name] = p
	}
	sort.Strings(names)
	for _, name := range names {
		p := byName[name]
		x, y := p[0], p[1]
		path := prefix + name
		var xd, yd plumbing.Hash
		if x != nil && x.isDir() {
			xd = x.hash
			x = nil
		}
		if y != nil && y.isDir() {
			yd = y.hash
			y = nil
		}
		if !xd.IsZero() || !yd.IsZero() {
			if out, err = diffTrees(s, xd, yd, path+"/", out); err != nil {
				return nil, err
			}
		}
		if x == nil && y == nil {
			continue
		}
		if x != nil && y != nil && x.hash == y.hash && canonicalMode(x.mode) == canonicalMode(y.mode) {
			continue
		}
		out = append(out, delta{path: path, old: x, new: y})
	}
	return out, nil
}
