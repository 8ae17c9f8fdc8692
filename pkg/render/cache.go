package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// Cache keeps the last render of each target on disk, so a command in a large repository does
// not render again what did not change. An entry is used only if every file the render read
// still has the content it had: checked as git's index checks it, by the file's key (size,
// times, inode, mode) when the key vouches for the content (fsstat.Key.Vouches), else by the
// content's hash.
type Cache struct {
	// Dir holds the entries; the zero Cache (no Dir) caches nothing.
	Dir string
	// Seen are stats of repository files (by repository-relative path) this command took
	// already, before Load: Load checks those inputs with them instead of stat'ing again.
	Seen map[string]fsstat.Stat
	// Renders says the command renders the target after Load (a change proves itself by
	// rendering): Load then starts parsing the OpenAPI schema when the kustomizations the
	// cached render read hold patches (see patchesNeedSchema), on another core, as the render
	// would on reading them, while the render is still being loaded; before reading it when
	// the last render stored needed the schema (schemaMarker).
	Renders bool
}

// cacheFormat names the entry format; binenc.Format adds the build, whose kustomize renders.
var cacheFormat = binenc.Format("kubectl-gitops render cache 6")

// An entry is written in a binary form read without decoding its objects: a command in a large
// target decodes only the objects it looks at, and stores the others again as they were read.
type cacheEntry struct {
	Root    string
	Path    string // the target's key (Result.Key)
	Inputs  []inputStamp
	Dirs    []dirStamp
	Objects []*Object
	Partial *Result // the partial render kept with it
}

type inputStamp struct {
	Path string
	Key  fsstat.Key
	// Vouched says Key vouches for Content (fsstat.Key.Vouches): a file with this key has it.
	// Otherwise the file is hashed to tell.
	Vouched bool
	Sum     [sha256.Size]byte
	// Content is the file's (a link's: its target): when it changes, the render is brought up
	// to date from it.
	Content []byte
}

// dirStamp is a directory's listing, for renders that read every manifest of a directory.
type dirStamp struct {
	Path string
	Sum  [sha256.Size]byte
}

// listingOf hashes the names in directory p, with the files of edited (nil: deleted) as a
// commit has just written them (it may have written them to another branch).
func listingOf(root, p string, edited map[string][]byte) ([sha256.Size]byte, bool) {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return listingSum(p, entries, edited), true
}

// listingSum hashes the names of entries, the listing of directory p, with the files of edited
// (nil: deleted) in p.
func listingSum(p string, entries []os.DirEntry, edited map[string][]byte) [sha256.Size]byte {
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = e.IsDir()
	}
	for f, b := range edited {
		if path.Dir(f) != p {
			continue
		}
		if b == nil {
			delete(names, path.Base(f))
		} else {
			names[path.Base(f)] = false
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	h := sha256.New()
	for _, n := range sorted {
		fmt.Fprintf(h, "%s %v\n", n, names[n])
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// key is the render's Key, or its Path for a render made before keys (a test's Result).
func (r *Result) key() string {
	if r.Key == "" {
		return r.Path
	}
	return r.Key
}

func (c Cache) file(root, path string) string {
	h := sha256.Sum256([]byte(root + "\x00" + path))
	return filepath.Join(c.Dir, "render-"+hex.EncodeToString(h[:12])+".gob")
}

// Load returns the cached render of the target with key (see Key) and directory path of the
// repository at root. changed is empty when it is the render of the files on disk; otherwise it
// holds, for each input whose content differs now, the content the render was made from (nil:
// the file is gone).
func (c Cache) Load(root, path, key string) (r *Result, changed map[string][]byte, ok bool) {
	if c.Dir == "" {
		return nil, nil, false
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, nil, false
	}
	if c.Renders {
		c.warmMarkedSchema()
	}
	b, written, err := binenc.ReadFile(c.file(root, key))
	if err != nil {
		return nil, nil, false
	}
	e, err := decodeEntry(b)
	if err != nil || e.Root != root || e.Path != key {
		return nil, nil, false
	}
	for _, d := range e.Dirs {
		// A directory that lists other files now: a new or removed manifest, whose effect
		// only a whole render tells.
		if sum, ok := listingOf(root, d.Path, nil); !ok || sum != d.Sum {
			return nil, nil, false
		}
	}
	// An input hashed now is read after the entry was written: the entry's time is a clock for
	// its stat.
	cur := statInputs(root, e.Inputs, c.Seen, written)
	stamps := make(map[string]inputStamp, len(e.Inputs))
	for i, in := range e.Inputs {
		if cur[i] == nil || cur[i].Sum != in.Sum {
			if changed == nil {
				changed = map[string][]byte{}
			}
			changed[in.Path] = in.Content
			continue
		}
		stamps[in.Path] = *cur[i]
	}
	if c.Renders && patchesNeedSchema(e.Inputs, changed) {
		warmSchema()
	}
	res := &Result{Path: path, Key: key, Objects: e.Objects, Cacheable: true, stamps: stamps, partial: e.Partial}
	for _, d := range e.Dirs {
		res.Dirs = append(res.Dirs, d.Path)
		if res.dirSums == nil {
			res.dirSums = map[string][sha256.Size]byte{}
		}
		res.dirSums[d.Path] = d.Sum
	}
	for _, in := range e.Inputs {
		res.Inputs = append(res.Inputs, in.Path)
	}
	return res, changed, true
}

// statInputs stamps the inputs as they are now, on every core (nil: unreadable): by the stamps
// known in, else by reading them after the file system's clock read clock.
func statInputs(root string, in []inputStamp, seen map[string]fsstat.Stat, clock int64) []*inputStamp {
	out := make([]*inputStamp, len(in))
	workers := min(runtime.GOMAXPROCS(0), 1+len(in)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(in); i += workers {
				if s, ok := stampOf(root, in[i].Path, &in[i], seen, clock); ok {
					out[i] = &s
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// Store records r as the render of its target: a render of the files on disk, except that edited
// holds the content r was rendered from for the files a commit has just written (nil: deleted).
// Errors are returned for tests; a command goes on without the cache.
func (c Cache) Store(root string, r *Result, edited map[string][]byte) error {
	if c.Dir == "" || !r.Cacheable {
		return nil
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	// The file system's clock before the inputs are read again: a stat older than it vouches.
	clock, err := fsstat.Clock(c.Dir)
	if err != nil {
		return err
	}
	e := cacheEntry{Root: root, Path: r.key(), Objects: r.Objects, Partial: r.partial}
	var unknown []inputStamp
	var at []int // where each unknown goes in e.Inputs
	for _, p := range r.Inputs {
		if b, ok := edited[p]; ok {
			if b == nil {
				return fmt.Errorf("render cache: %s is an input and deleted", p)
			}
			// Vouched for by content alone: the file on disk may not be this (another branch).
			e.Inputs = append(e.Inputs, inputStamp{Path: p, Sum: sha256.Sum256(b), Content: b})
			continue
		}
		// A stamp that vouched when the render was loaded still does: a file changed since has
		// another key, and is hashed again by the next Load.
		if s, ok := r.stamps[p]; ok && s.Vouched {
			e.Inputs = append(e.Inputs, s)
			continue
		}
		at = append(at, len(e.Inputs))
		e.Inputs = append(e.Inputs, inputStamp{Path: p})
		unknown = append(unknown, inputStamp{Path: p})
	}
	for k, s := range statInputs(root, unknown, nil, clock) {
		p := unknown[k].Path
		if s == nil {
			return fmt.Errorf("render cache: %s cannot be read", p)
		}
		// The file must hold what the render was made from: one changed since is not stored
		// as the render's.
		want, known := r.sums[p]
		if st, ok := r.stamps[p]; ok {
			want, known = st.Sum, true
		}
		if known && s.Sum != want {
			return fmt.Errorf("render cache: %s changed during the render", p)
		}
		e.Inputs[at[k]] = *s
	}
	for _, d := range r.Dirs {
		// The listing the render saw, unless the entry is of files a commit writes.
		sum, ok := r.dirSums[d]
		if !ok || len(edited) > 0 {
			if sum, ok = listingOf(root, d, edited); !ok {
				return fmt.Errorf("render cache: directory %s cannot be read", d)
			}
		}
		e.Dirs = append(e.Dirs, dirStamp{Path: d, Sum: sum})
	}
	if err := binenc.WriteFile(c.file(root, r.key()), func(out io.Writer) error { return encodeEntry(out, &e) }); err != nil {
		return err
	}
	return c.markSchema(e.Inputs)
}

// stampOf stamps the repository file or link p by its stat (taken from seen when there): with
// known's content when known vouches for the same key, else with the content read now, which
// the stat vouches for when older than clock.
func stampOf(root, p string, known *inputStamp, seen map[string]fsstat.Stat, clock int64) (inputStamp, bool) {
	full := filepath.Join(root, filepath.FromSlash(p))
	st, ok := seen[p]
	if !ok {
		var err error
		if st, err = fsstat.Lstat(full); err != nil {
			return inputStamp{}, false
		}
	}
	s := inputStamp{Path: p, Key: st.Key()}
	if known != nil && known.Vouched && known.Key == s.Key {
		s.Vouched, s.Sum, s.Content = true, known.Sum, known.Content
		return s, true
	}
	b, err := readInput(full, st)
	if err != nil {
		return inputStamp{}, false
	}
	s.Vouched, s.Sum, s.Content = s.Key.Vouches(clock), sha256.Sum256(b), b
	return s, true
}

// readInput is the content of an input: a file's, or a link's target (what git stores of it).
func readInput(full string, st fsstat.Stat) ([]byte, error) {
	switch {
	case st.Type.IsRegular():
		return os.ReadFile(full)
	case st.Type&os.ModeSymlink != 0:
		target, err := os.Readlink(full)
		return []byte(target), err
	}
	return nil, &os.PathError{Op: "read", Path: full, Err: os.ErrInvalid}
}
