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
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// Cache keeps the last render of each target on disk, so a command in a large repository does
// not render again what did not change. An entry is used only if every file the render read
// still has the content it had (checked like git's index: by size, time and inode, and by
// content hash when those changed or were too recent to trust).
type Cache struct {
	// Dir holds the entries; the zero Cache (no Dir) caches nothing.
	Dir string
	// Seen are stats of repository files (by repository-relative path) this command took
	// already, before Load: Load checks those inputs with them instead of stat'ing again.
	Seen map[string]fsstat.Stat
}

// cacheFormat changes whenever the entry format or what a render produces changes.
const cacheFormat = "kubectl-gitops render cache 4; kustomize api v0.21.1"

// An entry is written in a binary form read without decoding its objects: a command in a large
// target decodes only the objects it looks at, and stores the others again as they were read.
type cacheEntry struct {
	Root    string
	Path    string
	Inputs  []inputStamp
	Dirs    []dirStamp
	Objects []*Object
	Partial *Result // the partial render kept with it
}

type inputStamp struct {
	Path    string
	Size    int64 // -1: the stat was taken too close to a write to vouch for the content
	ModTime int64
	Ino     uint64
	Sum     [sha256.Size]byte
	// Content is the file's: when it changes, the render is brought up to date from it.
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
	names := map[string]bool{}
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
	return sum, true
}

func (c Cache) file(root, path string) string {
	h := sha256.Sum256([]byte(root + "\x00" + path))
	return filepath.Join(c.Dir, "render-"+hex.EncodeToString(h[:12])+".gob")
}

// Load returns the cached render of target path of the repository at root. changed is empty
// when it is the render of the files on disk; otherwise it holds, for each input whose content
// differs now, the content the render was made from (nil: the file is gone).
func (c Cache) Load(root, path string) (r *Result, changed map[string][]byte, ok bool) {
	if c.Dir == "" {
		return nil, nil, false
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, nil, false
	}
	b, err := os.ReadFile(c.file(root, path))
	if err != nil {
		return nil, nil, false
	}
	e, err := decodeEntry(b)
	if err != nil || e.Root != root || e.Path != path {
		return nil, nil, false
	}
	for _, d := range e.Dirs {
		// A directory that lists other files now: a new or removed manifest, whose effect
		// only a whole render tells.
		if sum, ok := listingOf(root, d.Path, nil); !ok || sum != d.Sum {
			return nil, nil, false
		}
	}
	cur := statInputs(root, e.Inputs, c.Seen)
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
	res := &Result{Path: path, Objects: e.Objects, Cacheable: true, stamps: stamps, partial: e.Partial}
	for _, d := range e.Dirs {
		res.Dirs = append(res.Dirs, d.Path)
	}
	for _, in := range e.Inputs {
		res.Inputs = append(res.Inputs, in.Path)
	}
	return res, changed, true
}

// statInputs stamps the inputs as they are now, on every core (nil: unreadable).
func statInputs(root string, in []inputStamp, seen map[string]fsstat.Stat) []*inputStamp {
	out := make([]*inputStamp, len(in))
	workers := min(runtime.GOMAXPROCS(0), 1+len(in)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(in); i += workers {
				if s, ok := stampOf(root, in[i].Path, &in[i], seen); ok {
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
	e := cacheEntry{Root: root, Path: r.Path, Objects: r.Objects, Partial: r.partial}
	var unknown []inputStamp
	var at []int // where each unknown goes in e.Inputs
	for _, p := range r.Inputs {
		if b, ok := edited[p]; ok {
			if b == nil {
				return fmt.Errorf("render cache: %s is an input and deleted", p)
			}
			// Vouched for by content alone: the file on disk may not be this (another branch).
			e.Inputs = append(e.Inputs, inputStamp{Path: p, Size: -1, Sum: sha256.Sum256(b), Content: b})
			continue
		}
		// A stamp taken when the render was loaded still holds: a file changed since has
		// another stat, and is hashed again by the next Load.
		if s, ok := r.stamps[p]; ok {
			e.Inputs = append(e.Inputs, s)
			continue
		}
		at = append(at, len(e.Inputs))
		e.Inputs = append(e.Inputs, inputStamp{Path: p})
		unknown = append(unknown, inputStamp{Path: p, Size: -1})
	}
	for k, s := range statInputs(root, unknown, nil) {
		if s == nil {
			return fmt.Errorf("render cache: %s cannot be read", unknown[k].Path)
		}
		e.Inputs[at[k]] = *s
	}
	for _, d := range r.Dirs {
		sum, ok := listingOf(root, d, edited)
		if !ok {
			return fmt.Errorf("render cache: directory %s cannot be read", d)
		}
		e.Dirs = append(e.Dirs, dirStamp{Path: d, Sum: sum})
	}
	return binenc.WriteFile(c.file(root, r.Path), func(out io.Writer) error { return encodeEntry(out, &e) })
}

// stampOf stats a repository file (or takes its stat from seen); its content is hashed unless
// known has the same stat.
func stampOf(root, p string, known *inputStamp, seen map[string]fsstat.Stat) (inputStamp, bool) {
	full := filepath.Join(root, filepath.FromSlash(p))
	s := inputStamp{Path: p}
	if st, ok := seen[p]; ok && st.Type.IsRegular() {
		s.Size, s.ModTime, s.Ino = st.Size, st.Mtime, st.Ino
	} else {
		fi, err := os.Stat(full)
		if err != nil || fi.IsDir() {
			return inputStamp{}, false
		}
		s.Size, s.ModTime, s.Ino = fi.Size(), fi.ModTime().UnixNano(), fsstat.Inode(fi)
	}
	size := s.Size
	if time.Since(time.Unix(0, s.ModTime)) < fsstat.RacyWindow {
		s.Size = -1
	}
	if known != nil && known.Size >= 0 && known.Size == size && known.ModTime == s.ModTime && known.Ino == s.Ino {
		s.Sum, s.Content = known.Sum, known.Content
		return s, true
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return inputStamp{}, false
	}
	s.Sum, s.Content = sha256.Sum256(b), b
	return s, true
}
