package gitrepo

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// The index is read and written here, not with go-git's index codec, because that codec drops
// the assume-unchanged bit and the resolve-undo and untracked-cache extensions: every entry and
// extension this package does not change must be written back exactly as it was read.

const (
	flagAssumeValid = 0x8000
	flagExtended    = 0x4000
	flagStageMask   = 0x3000
	flagNameMask    = 0x0fff
	xflagSkipWT     = 0x4000
	xflagITA        = 0x2000
)

type indexEntry struct {
	ctimeS, ctimeN, mtimeS, mtimeN uint32
	dev, ino, mode, uid, gid, size uint32
	hash                           plumbing.Hash
	flags, xflags                  uint16
	name                           string
}

func (e *indexEntry) stage() int {
	return int(e.flags&flagStageMask) >> 12
}

func (e *indexEntry) skipWorktree() bool {
	return e.flags&flagExtended != 0 && e.xflags&xflagSkipWT != 0
}

func (e *indexEntry) intentToAdd() bool {
	return e.flags&flagExtended != 0 && e.xflags&xflagITA != 0
}

type indexExt struct {
	sig  string
	data []byte
}

type gitIndex struct {
	version  uint32
	entries  []*indexEntry // sorted by name, then stage
	tree     *cacheTree    // the TREE extension, nil if absent
	exts     []indexExt    // kept extensions other than TREE, in order
	skipHash bool          // written with a zero checksum (index.skipHash)
}

// Extensions kept when the index is rewritten. Those holding entry positions or file offsets
// (FSMN, EOIE, IEOT) would be wrong after an insertion and are dropped; git rebuilds them.
var keptExtensions = map[string]bool{"REUC": true, "UNTR": true}

func readIndex(path string) (*gitIndex, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &gitIndex{version: 2}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the index: %w", err)
	}
	idx, err := decodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("failed to read the index %s: %w", path, err)
	}
	return idx, nil
}

func decodeIndex(b []byte) (*gitIndex, error) {
	if len(b) < 12+20 || string(b[:4]) != "DIRC" {
		return nil, errors.New("not an index file")
	}
	body, sum := b[:len(b)-20], b[len(b)-20:]
	idx := &gitIndex{version: binary.BigEndian.Uint32(b[4:8])}
	if bytes.Equal(sum, make([]byte, 20)) {
		idx.skipHash = true
	} else if s := sha1.Sum(body); !bytes.Equal(s[:], sum) {
		return nil, errors.New("bad checksum; the index is corrupt")
	}
	if idx.version < 2 || idx.version > 4 {
		return nil, fmt.Errorf("index version %d is not supported", idx.version)
	}
	n := binary.BigEndian.Uint32(b[8:12])
	p := 12
	prev := ""
	short := errors.New("truncated index")
	for range n {
		if len(body)-p < 62 {
			return nil, short
		}
		e := &indexEntry{}
		u := func(i int) uint32 { return binary.BigEndian.Uint32(body[p+4*i:]) }
		e.ctimeS, e.ctimeN, e.mtimeS, e.mtimeN = u(0), u(1), u(2), u(3)
		e.dev, e.ino, e.mode, e.uid, e.gid, e.size = u(4), u(5), u(6), u(7), u(8), u(9)
		copy(e.hash[:], body[p+40:p+60])
		e.flags = binary.BigEndian.Uint16(body[p+60:])
		start := p
		p += 62
		if e.flags&flagExtended != 0 {
			if idx.version < 3 || len(body)-p < 2 {
				return nil, errors.New("malformed extended entry")
			}
			e.xflags = binary.BigEndian.Uint16(body[p:])
			p += 2
		}
		if idx.version == 4 {
			strip, k := readOffsetVarint(body[p:])
			if k == 0 || int(strip) > len(prev) {
				return nil, errors.New("malformed entry name")
			}
			p += k
			nul := bytes.IndexByte(body[p:], 0)
			if nul < 0 {
				return nil, short
			}
			e.name = prev[:len(prev)-int(strip)] + string(body[p:p+nul])
			p += nul + 1
		} else {
			nul := bytes.IndexByte(body[p:], 0)
			if nul < 0 {
				return nil, short
			}
			e.name = string(body[p : p+nul])
			p = start + ((p + nul - start + 8) &^ 7)
			if p > len(body) {
				return nil, short
			}
		}
		prev = e.name
		idx.entries = append(idx.entries, e)
	}
	for p < len(body) {
		if len(body)-p < 8 {
			return nil, short
		}
		sig := string(body[p : p+4])
		size := int(binary.BigEndian.Uint32(body[p+4:]))
		p += 8
		if size > len(body)-p {
			return nil, short
		}
		data := body[p : p+size]
		p += size
		switch {
		case sig == "TREE":
			t, rest, err := parseCacheTree(data)
			if err != nil || len(rest) != 0 {
				// The cache tree is only an accelerator; git rebuilds a missing one.
				continue
			}
			idx.tree = t
		case sig[0] < 'A' || sig[0] > 'Z':
			hint := ""
			switch sig {
			case "link":
				hint = " (split index; run `git update-index --no-split-index`)"
			case "sdir":
				hint = " (sparse index; run `git sparse-checkout reapply --no-sparse-index`)"
			}
			return nil, fmt.Errorf("index extension %q is not supported%s", sig, hint)
		case keptExtensions[sig]:
			idx.exts = append(idx.exts, indexExt{sig: sig, data: append([]byte(nil), data...)})
		}
	}
	return idx, nil
}

func (idx *gitIndex) encode() []byte {
	var b bytes.Buffer
	version := idx.version
	for _, e := range idx.entries {
		if e.flags&flagExtended != 0 && version < 3 {
			version = 3
		}
	}
	b.WriteString("DIRC")
	_ = binary.Write(&b, binary.BigEndian, [2]uint32{version, uint32(len(idx.entries))})
	prev := ""
	for _, e := range idx.entries {
		start := b.Len()
		_ = binary.Write(&b, binary.BigEndian, [10]uint32{e.ctimeS, e.ctimeN, e.mtimeS, e.mtimeN,
			e.dev, e.ino, e.mode, e.uid, e.gid, e.size})
		b.Write(e.hash[:])
		flags := e.flags &^ flagNameMask
		flags |= uint16(min(len(e.name), flagNameMask))
		_ = binary.Write(&b, binary.BigEndian, flags)
		if flags&flagExtended != 0 {
			_ = binary.Write(&b, binary.BigEndian, e.xflags)
		}
		if version == 4 {
			common := 0
			for common < len(prev) && common < len(e.name) && prev[common] == e.name[common] {
				common++
			}
			b.Write(appendOffsetVarint(nil, uint64(len(prev)-common)))
			b.WriteString(e.name[common:])
			b.WriteByte(0)
		} else {
			b.WriteString(e.name)
			n := b.Len() - start
			b.Write(make([]byte, ((n+8)&^7)-n))
		}
		prev = e.name
	}
	if idx.tree != nil {
		var t bytes.Buffer
		idx.tree.encode(&t)
		writeExt(&b, "TREE", t.Bytes())
	}
	for _, x := range idx.exts {
		writeExt(&b, x.sig, x.data)
	}
	if idx.skipHash {
		b.Write(make([]byte, 20))
	} else {
		sum := sha1.Sum(b.Bytes())
		b.Write(sum[:])
	}
	return b.Bytes()
}

func writeExt(b *bytes.Buffer, sig string, data []byte) {
	b.WriteString(sig)
	_ = binary.Write(b, binary.BigEndian, uint32(len(data)))
	b.Write(data)
}

// readOffsetVarint decodes git's offset varint (varint.c), returning the bytes consumed (0 on
// error).
func readOffsetVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	val := uint64(c & 127)
	i := 1
	for c&128 != 0 {
		if i >= len(b) {
			return 0, 0
		}
		val++
		c = b[i]
		i++
		val = (val << 7) + uint64(c&127)
	}
	return val, i
}

func appendOffsetVarint(dst []byte, v uint64) []byte {
	var buf [16]byte
	pos := len(buf) - 1
	buf[pos] = byte(v & 127)
	for v >>= 7; v != 0; v >>= 7 {
		v--
		pos--
		buf[pos] = 128 | byte(v&127)
	}
	return append(dst, buf[pos:]...)
}

// find returns the position of name's first entry, or where it would be inserted.
func (idx *gitIndex) find(name string) (int, bool) {
	i := sort.Search(len(idx.entries), func(i int) bool {
		return idx.entries[i].name >= name
	})
	return i, i < len(idx.entries) && idx.entries[i].name == name
}

// entriesFor returns every entry (all stages) for name.
func (idx *gitIndex) entriesFor(name string) []*indexEntry {
	i, _ := idx.find(name)
	var out []*indexEntry
	for ; i < len(idx.entries) && idx.entries[i].name == name; i++ {
		out = append(out, idx.entries[i])
	}
	return out
}

// hasUnder reports whether an entry lies under directory dir.
func (idx *gitIndex) hasUnder(dir string) bool {
	i, _ := idx.find(dir + "/")
	return i < len(idx.entries) && strings.HasPrefix(idx.entries[i].name, dir+"/")
}

// set replaces the stage-0 entry of e.name (keeping its assume-unchanged and skip-worktree
// bits) or inserts e.
func (idx *gitIndex) set(e *indexEntry) {
	i, ok := idx.find(e.name)
	if ok && idx.entries[i].stage() == 0 {
		old := idx.entries[i]
		e.flags = old.flags &^ flagStageMask
		e.xflags = old.xflags &^ xflagITA
		if e.xflags == 0 {
			e.flags &^= flagExtended
		}
		idx.entries[i] = e
	} else {
		idx.entries = append(idx.entries, nil)
		copy(idx.entries[i+1:], idx.entries[i:])
		idx.entries[i] = e
	}
	idx.invalidate(e.name)
}

func (idx *gitIndex) remove(name string) {
	i, _ := idx.find(name)
	j := i
	for j < len(idx.entries) && idx.entries[j].name == name {
		j++
	}
	idx.entries = append(idx.entries[:i], idx.entries[j:]...)
	idx.invalidate(name)
}

func (idx *gitIndex) invalidate(path string) {
	if idx.tree != nil {
		idx.tree.invalidate(path)
	}
}

// cacheTree is the TREE extension: the tree object of each directory, valid when entries >= 0.
type cacheTree struct {
	name     string
	entries  int
	hash     plumbing.Hash
	children []*cacheTree
}

func parseCacheTree(b []byte) (*cacheTree, []byte, error) {
	bad := errors.New("malformed cache tree")
	nul := bytes.IndexByte(b, 0)
	if nul < 0 {
		return nil, nil, bad
	}
	t := &cacheTree{name: string(b[:nul])}
	b = b[nul+1:]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, bad
	}
	counts := strings.Fields(string(b[:nl]))
	b = b[nl+1:]
	if len(counts) != 2 {
		return nil, nil, bad
	}
	var err error
	if t.entries, err = strconv.Atoi(counts[0]); err != nil {
		return nil, nil, bad
	}
	subtrees, err := strconv.Atoi(counts[1])
	if err != nil || subtrees < 0 {
		return nil, nil, bad
	}
	if t.entries >= 0 {
		if len(b) < 20 {
			return nil, nil, bad
		}
		copy(t.hash[:], b[:20])
		b = b[20:]
	}
	for range subtrees {
		var c *cacheTree
		if c, b, err = parseCacheTree(b); err != nil {
			return nil, nil, err
		}
		t.children = append(t.children, c)
	}
	return t, b, nil
}

func (t *cacheTree) encode(b *bytes.Buffer) {
	b.WriteString(t.name)
	b.WriteByte(0)
	fmt.Fprintf(b, "%d %d\n", t.entries, len(t.children))
	if t.entries >= 0 {
		b.Write(t.hash[:])
	}
	for _, c := range t.children {
		c.encode(b)
	}
}

// invalidate marks the directories on path as unknown, as git's cache_tree_invalidate_path.
func (t *cacheTree) invalidate(path string) {
	t.entries = -1
	dir, rest, ok := strings.Cut(path, "/")
	if !ok {
		return
	}
	for _, c := range t.children {
		if c.name == dir {
			c.invalidate(rest)
			return
		}
	}
}
