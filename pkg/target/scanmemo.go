package target

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
)

// scanMemo remembers, between commands, what discovery found in a repository, so a command in a
// large repository reads only what changed since the last one:
//
//   - each directory's listing, keyed by the directory's own stat (fsstat.Key: size,
//     modification and status change times, inode, mode), as git's untracked cache does:
//     adding, removing or renaming an entry changes them, so an unchanged directory is not
//     listed again;
//   - what each YAML file held, keyed by the file's stat as git's index keys it (fsstat.Key);
//   - the targets it found. When every directory lists what it listed and every file that
//     changed still holds what discovery looks at (a scale edits a count, not what a
//     kustomization includes), the targets are what they were.
//
// A stat vouches for what was read only when older than the file system's clock read before the
// read (fsstat.Key.Vouches; the clock is read once per scan, when a file or directory whose stat
// changed is read): otherwise the file or directory is read again next time. The memo lives in
// the git directory beside the render cache, one file per worktree.
type scanMemo struct {
	file string
	root string // the repository directory the paths are relative to

	clockOnce sync.Once
	clockNow  int64

	old       *memoDir    // the previous scan's tree; the walk reuses and updates its records
	oldResult *memoResult // the previous scan's targets, if it recorded them
	tree      *memoDir    // this scan's tree
	result    *memoResult // this scan's targets, if they can be recorded
	// dirty: the memo has something to save. Saving is never needed for a correct scan (the
	// memo on disk stays one scan's consistent record), only to spare later scans work: a stat
	// in its racy window spares none, it is read again anyway.
	dirty bool

	// seen are the stats this scan took of regular YAML files, by repository-relative path: the
	// render cache checks its inputs with them instead of stat'ing each again.
	seen map[string]fsstat.Stat
	// files is how many stats seen holds, or a guess from the memo before the scan.
	files int
	// index is the repository's index stamp when the scan began.
	index string

	// What the scan did, for tests: directories listed, files read, targets taken as they were.
	listed, read int
	reused       bool
}

// memoDir is a directory of the repository (not hidden) and what it lists.
type memoDir struct {
	path    string // repository-relative, slash-separated; "." for the root
	key     fsstat.Key
	trusted bool // key vouches for entries
	entries []memoEntry
}

// Kinds of directory entries.
const (
	entDir uint8 = iota + 1
	entFile
	entSymlink
	entOther
)

// memoEntry is one entry of a directory (hidden ones are not listed), and for YAML files and
// kustomizations (regular files) what discovery read of them.
type memoEntry struct {
	name string
	kind uint8
	dir  *memoDir // entDir

	key     fsstat.Key
	trusted bool // key vouches for the facts below
	known   bool // the facts below are the file's: a YAML file is read by every scan that finds its stat changed; a kustomization only when its references are needed
	// A YAML file: whether it holds a Kubernetes object, and its reconciler objects.
	manifests bool
	objects   []memoObject
	// A kustomization: the paths it names.
	refs []string
}

type memoObject struct{ Source, Name, Path, Namespace string }

// memoResult is what Discover found besides the configuration: reconciler targets, or root
// targets (kustomizations and plain manifest directories).
type memoResult struct {
	root    bool // rootTargets' (they depend on what the kustomizations include)
	targets []memoTarget
}

type memoTarget struct {
	name, path, source, namespace string
	hasIncludes                   bool
	includes                      []uint32 // entries, numbered as memoDir.number numbers them
}

// scanMemoMagic names the memo's format (changed whenever what it records, or how, changes) and,
// through binenc.Format, the build whose discovery parsed it.
var scanMemoMagic = binenc.Format("kubectl-gitops scan memo 4")

// openScanMemo reads the memo of the repository at repoDir; nil (no memo) outside a repository.
func openScanMemo(repoDir string) *scanMemo {
	repo, err := gitrepo.Open(repoDir)
	if err != nil {
		return nil
	}
	abs, err := filepath.Abs(repoDir)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(abs))
	m := &scanMemo{file: filepath.Join(repo.CacheDir(), "scan-"+hex.EncodeToString(sum[:8])+".memo"), root: abs,
		index: repo.IndexStamp()}
	if b, err := os.ReadFile(m.file); err == nil {
		if tree, res, err := decodeScanMemo(b, abs); err == nil {
			m.old, m.oldResult = tree, res
		}
	}
	return m
}

// vouches reports whether a stat with key k vouches for what is read after this call (and was
// not vouched for before): the file system's clock is read the first time it is asked, before
// the first read of the scan that needs it. A scan that reads nothing new writes nothing.
func (m *scanMemo) vouches(k fsstat.Key) bool {
	m.clockOnce.Do(func() {
		m.clockNow, _ = fsstat.Clock(filepath.Dir(m.file)) // none: nothing vouches
	})
	return k.Vouches(m.clockNow)
}

func entryKind(t fs.FileMode) uint8 {
	switch {
	case t.IsDir():
		return entDir
	case t.IsRegular():
		return entFile
	case t&fs.ModeSymlink != 0:
		return entSymlink
	}
	return entOther
}

// number calls f with each entry of the tree below d and its number: d is 0, and the entries
// follow in the walk's order (depth first, each directory's entries by name).
func (d *memoDir) number(f func(n uint32, dir *memoDir, e *memoEntry)) {
	n := uint32(0)
	var walk func(d *memoDir)
	walk = func(d *memoDir) {
		for i := range d.entries {
			e := &d.entries[i]
			n++
			f(n, d, e)
			if e.dir != nil {
				walk(e.dir)
			}
		}
	}
	walk(d)
}

// entryPath is the repository-relative path of the entry named name in dir.
func entryPath(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// setResult records the targets Discover found in the scan, unless they depend on what the walk
// did not see.
func (m *scanMemo) setResult(s *repoScan, root bool, ts []Target, includes map[string][]string) {
	if m == nil || m.tree == nil || s.outside {
		return
	}
	index := map[string]uint32{".": 0}
	res := &memoResult{root: root}
	for _, t := range ts {
		inc, ok := includes[t.Path]
		mt := memoTarget{name: t.Name, path: t.Path, source: t.Source, namespace: t.Namespace, hasIncludes: ok}
		for _, p := range inc {
			if len(index) == 1 {
				m.tree.number(func(n uint32, d *memoDir, e *memoEntry) { index[entryPath(d.path, e.name)] = n })
			}
			n, ok := index[p]
			if !ok {
				return
			}
			mt.includes = append(mt.includes, n)
		}
		res.targets = append(res.targets, mt)
	}
	m.result = res
	m.dirty = true
}

// targetsIn are the recorded targets of the repository at repoDir, whose tree is tree, with
// what their kustomizations include by path; false if the record does not fit the tree.
func (r *memoResult) targetsIn(repoDir string, tree *memoDir) ([]Target, map[string][]string, bool) {
	var paths []string
	ts := make([]Target, 0, len(r.targets))
	includes := map[string][]string{}
	for _, mt := range r.targets {
		ts = append(ts, Target{Name: mt.name, RepoDir: repoDir, Path: mt.path, Source: mt.source, Namespace: mt.namespace})
		if mt.hasIncludes {
			if paths == nil {
				paths = tree.paths()
			}
			inc := make([]string, len(mt.includes))
			for i, n := range mt.includes {
				if int(n) >= len(paths) {
					return nil, nil, false
				}
				inc[i] = paths[n]
			}
			includes[mt.path] = inc
		}
	}
	return ts, includes, true
}

// paths are the repository-relative paths of the tree's entries by number, substrings of one
// string.
func (d *memoDir) paths() []string {
	size, count := 0, 1
	d.number(func(_ uint32, d *memoDir, e *memoEntry) { size += len(d.path) + 1 + len(e.name); count++ })
	buf := make([]byte, 0, size)
	ends := make([]int, 1, count)
	d.number(func(_ uint32, d *memoDir, e *memoEntry) {
		if d.path != "." {
			buf = append(append(buf, d.path...), '/')
		}
		buf = append(buf, e.name...)
		ends = append(ends, len(buf))
	})
	all := string(buf)
	paths := make([]string, count)
	paths[0] = "."
	for i := 1; i < count; i++ {
		paths[i] = all[ends[i-1]:ends[i]]
	}
	return paths
}

// save writes the memo of this scan, if anything changed; errors only cost time.
func (m *scanMemo) save() {
	if m == nil || m.tree == nil || !m.dirty {
		return
	}
	if binenc.WriteFile(m.file, func(out io.Writer) error { return encodeScanMemo(out, m.root, m.tree, m.result) }) != nil {
		return
	}
	os.Remove(filepath.Join(filepath.Dir(m.file), "scan.gob")) // the first memo's file
}

// The memo's file (internal/binenc): scanMemoMagic, the root directory, the tree (each
// directory's key and entries, each subdirectory's tree after its entry) and the result.

func encodeScanMemo(out io.Writer, root string, tree *memoDir, res *memoResult) error {
	w := binenc.NewWriter(out)
	w.String(scanMemoMagic)
	w.String(root)
	var dir func(d *memoDir)
	dir = func(d *memoDir) {
		d.key.Write(w)
		w.Bool(d.trusted)
		w.Uint(uint64(len(d.entries)))
		for i := range d.entries {
			e := &d.entries[i]
			w.String(e.name)
			// kind, then whether file facts follow, in one byte
			flags := e.kind
			if e.known {
				flags |= 0x10
			}
			if e.trusted {
				flags |= 0x20
			}
			if e.manifests {
				flags |= 0x40
			}
			if e.key != (fsstat.Key{}) {
				flags |= 0x80
			}
			w.Byte(flags)
			if e.key != (fsstat.Key{}) {
				e.key.Write(w)
			}
			if e.known {
				w.Uint(uint64(len(e.objects)))
				for _, o := range e.objects {
					w.String(o.Source)
					w.String(o.Name)
					w.String(o.Path)
					w.String(o.Namespace)
				}
				w.Strings(e.refs)
			}
			if e.kind == entDir {
				dir(e.dir)
			}
		}
	}
	dir(tree)
	w.Bool(res != nil)
	if res != nil {
		w.Bool(res.root)
		w.Uint(uint64(len(res.targets)))
		for _, t := range res.targets {
			w.String(t.name)
			w.String(t.path)
			w.String(t.source)
			w.String(t.namespace)
			w.Bool(t.hasIncludes)
			w.Uint(uint64(len(t.includes)))
			for _, n := range t.includes {
				w.Uint(uint64(n))
			}
		}
	}
	return w.Close()
}

func decodeScanMemo(b []byte, root string) (*memoDir, *memoResult, error) {
	r, err := binenc.NewReader(b, true)
	if err != nil {
		return nil, nil, err
	}
	if r.String() != scanMemoMagic || r.String() != root {
		return nil, nil, binenc.ErrCorrupt
	}
	var dir func(path string, depth int) *memoDir
	dir = func(path string, depth int) *memoDir {
		d := &memoDir{path: path}
		if depth > 4096 {
			r.Fixed(len(b)) // fails the read
			return d
		}
		d.key = fsstat.ReadKey(r)
		d.trusted = r.Bool()
		d.entries = make([]memoEntry, r.Count())
		for i := range d.entries {
			if r.Failed() {
				return d
			}
			e := &d.entries[i]
			e.name = r.String()
			flags := r.Byte()
			e.kind = flags & 0x0f
			e.known, e.trusted, e.manifests = flags&0x10 != 0, flags&0x20 != 0, flags&0x40 != 0
			if flags&0x80 != 0 {
				e.key = fsstat.ReadKey(r)
			}
			if e.known {
				if k := r.Count(); k > 0 {
					e.objects = make([]memoObject, k)
					for j := range e.objects {
						e.objects[j] = memoObject{Source: r.String(), Name: r.String(), Path: r.String(), Namespace: r.String()}
					}
				}
				e.refs = r.Strings()
			}
			if e.kind == entDir {
				e.dir = dir(entryPath(path, e.name), depth+1)
			}
		}
		return d
	}
	tree := dir(".", 0)
	var res *memoResult
	if r.Bool() {
		res = &memoResult{root: r.Bool()}
		res.targets = make([]memoTarget, r.Count())
		for i := range res.targets {
			t := &res.targets[i]
			t.name, t.path, t.source, t.namespace = r.String(), r.String(), r.String(), r.String()
			t.hasIncludes = r.Bool()
			if k := r.Count(); k > 0 {
				t.includes = make([]uint32, k)
				for j := range t.includes {
					t.includes[j] = uint32(r.Uint())
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	return tree, res, nil
}

func sameObjects(a []memoObject, b []reconcilerObject) bool {
	if len(a) != len(b) {
		return false
	}
	for i, o := range b {
		if a[i] != (memoObject{Source: o.source, Name: o.name, Path: o.path, Namespace: o.namespace}) {
			return false
		}
	}
	return true
}
