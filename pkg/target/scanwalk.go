package target

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
)

// memoWalk is one walk of a repository with its memo: it stats every directory and every YAML
// file (kustomizations included), lists only the directories whose stat changed and reads only
// the YAML files whose stat changed, and builds the memo's new tree.
type memoWalk struct {
	m *scanMemo
	// same: every directory lists what it listed in the previous scan and every YAML file
	// read again holds the facts it held; kustomizations whose stat changed are in pending.
	same    bool
	pending []pendingKust
	stats   []fsstat.Stat // the stats of the directories being scanned, one after the other
	// What this walk found for the memo (scanMemo's fields of the same names), kept apart
	// from other walks on other cores until they are joined.
	seen         map[string]fsstat.Stat
	dirty        bool
	listed, read int
	// cores holds a token for each core free to take half of a large directory's
	// subdirectories (shared by the walks of one scan).
	cores chan struct{}
}

// count is the number of entries below d for which is holds.
func (d *memoDir) count(is func(*memoEntry) bool) int {
	n := 0
	for i := range d.entries {
		e := &d.entries[i]
		if e.kind == entDir && e.dir != nil {
			n += e.dir.count(is)
		} else if is(e) {
			n++
		}
	}
	return n
}

// splitDirs is the number of subdirectories from which a directory's are scanned on two cores:
// fewer cost more to hand over than they take.
const splitDirs = 64

// fork is a walk for another core, with the memo and the tokens of w.
func (w *memoWalk) fork() *memoWalk {
	return &memoWalk{m: w.m, same: w.same, seen: map[string]fsstat.Stat{}, cores: w.cores}
}

// join adds what the walk c found to w's.
func (w *memoWalk) join(c *memoWalk) {
	w.same = w.same && c.same
	w.pending = append(w.pending, c.pending...)
	maps.Copy(w.seen, c.seen)
	w.dirty = w.dirty || c.dirty
	w.listed += c.listed
	w.read += c.read
}

// pendingKust is a kustomization whose stat changed: its references are read when needed.
type pendingKust struct {
	e        *memoEntry
	file     string
	rel      string
	oldRefs  []string
	oldKnown bool
}

// walk scans the repository with the memo into m.tree. It returns nil, and no error, when repoDir
// is not a directory (a symlink): the plain walk then decides.
func (m *scanMemo) walk(repoDir string) (*memoWalk, error) {
	st, err := fsstat.Lstat(repoDir)
	if err != nil || !st.Type.IsDir() {
		return nil, nil
	}
	if m.old != nil && m.files == 0 {
		m.files = m.old.count(needsStat)
	}
	w := &memoWalk{m: m, same: m.old != nil, seen: make(map[string]fsstat.Stat, m.files),
		cores: make(chan struct{}, runtime.GOMAXPROCS(0)-1)}
	for range cap(w.cores) {
		w.cores <- struct{}{}
	}
	if m.tree, err = w.dir(".", repoDir, st, m.old); err != nil {
		return nil, fmt.Errorf("failed to scan repository %s: %w", repoDir, err)
	}
	m.seen, m.files = w.seen, len(w.seen)
	m.dirty = m.dirty || w.dirty
	m.listed += w.listed
	m.read += w.read
	return w, nil
}

func needsStat(e *memoEntry) bool {
	return e.kind == entFile && (reach.IsFileName(e.name) || isYAMLName(e.name))
}

// dir scans the directory rel (abs on disk, whose stat is st), old its record in the previous
// scan or nil.
func (w *memoWalk) dir(rel, abs string, st fsstat.Stat, old *memoDir) (*memoDir, error) {
	m := w.m
	key := st.Key()
	d := &memoDir{path: rel, key: key}
	listed := false
	if old != nil && old.trusted && old.key == key {
		d.entries, d.trusted = old.entries, true
	} else {
		// Judged before the listing, by a clock read before it.
		d.trusted = m.vouches(key)
		if d.trusted {
			w.dirty = true
		}
		if err := w.list(d, abs, old); err != nil {
			return nil, err
		}
		listed = true
	}

	// Entries are stat'ed by name in the open directory (the kernel does not walk its path again
	// for each); where it cannot be opened, by path.
	statEntry := func(name string) (fsstat.Stat, error) { return fsstat.Lstat(abs + string(filepath.Separator) + name) }
	if dh, err := fsstat.OpenDir(abs); err == nil {
		defer dh.Close()
		statEntry = dh.Lstat
	}

	// The files' stats first: an entry that is not what the memo's listing says (the directory
	// changed during the scan) has the directory listed again.
	base := len(w.stats)
	defer func() { w.stats = w.stats[:base] }()
	w.stats = append(w.stats, make([]fsstat.Stat, len(d.entries))...)
	for i := 0; i < len(d.entries); i++ {
		e := &d.entries[i]
		if !needsStat(e) {
			continue
		}
		st, err := statEntry(e.name)
		if err == nil && (listed || entryKind(st.Type) == entFile) {
			w.stats[base+i] = st
			if st.Type.IsRegular() {
				w.seen[entryPath(rel, e.name)] = st
			}
			continue
		}
		if listed {
			return nil, fmt.Errorf("failed to read %s: %w", entryPath(rel, e.name), err)
		}
		if err := w.list(d, abs, old); err != nil {
			return nil, err
		}
		listed, i = true, -1
		w.stats = append(w.stats[:base], make([]fsstat.Stat, len(d.entries))...)
		w.dirty = true
	}

	var subdirs []*memoEntry
	for i := range d.entries {
		e := &d.entries[i]
		switch {
		case e.kind == entDir:
			subdirs = append(subdirs, e)
		case !needsStat(e):
		case reach.IsFileName(e.name):
			w.kustomization(e, w.stats[base+i], abs, rel)
		default:
			if err := w.yaml(e, w.stats[base+i], abs, rel); err != nil {
				return nil, err
			}
		}
	}
	if err := w.subdirs(subdirs, rel, abs, statEntry); err != nil {
		return nil, err
	}
	return d, nil
}

// subdirs scans the subdirectories of the directory rel (abs on disk). Many are split in two
// halves when a core is free, the second scanned there by a fork of the walk.
func (w *memoWalk) subdirs(subdirs []*memoEntry, rel, abs string, statEntry func(string) (fsstat.Stat, error)) error {
	scan := func(w *memoWalk, subdirs []*memoEntry) error {
		for _, e := range subdirs {
			p, file := entryPath(rel, e.name), abs+string(filepath.Separator)+e.name
			st, err := statEntry(e.name)
			if err != nil {
				return err
			}
			if !st.Type.IsDir() {
				return fmt.Errorf("%s changed during the scan", p)
			}
			if e.dir, err = w.dir(p, file, st, e.dir); err != nil {
				return err
			}
		}
		return nil
	}
	if len(subdirs) < splitDirs {
		return scan(w, subdirs)
	}
	select {
	case <-w.cores:
	default:
		return scan(w, subdirs)
	}
	half := len(subdirs) / 2
	c := w.fork()
	done := make(chan error, 1)
	go func() {
		defer func() { w.cores <- struct{}{} }()
		done <- scan(c, subdirs[half:])
	}()
	err := scan(w, subdirs[:half])
	if cerr := <-done; err == nil {
		err = cerr
	}
	w.join(c)
	return err
}

// list reads the directory's entries, keeping the previous scan's records of those it still has.
func (w *memoWalk) list(d *memoDir, abs string, old *memoDir) error {
	des, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	w.listed++
	var prev []memoEntry
	if old != nil {
		prev = old.entries
	}
	entries := make([]memoEntry, 0, len(des))
	j := 0
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		e := memoEntry{name: name, kind: entryKind(de.Type())}
		for j < len(prev) && prev[j].name < name {
			j++
		}
		if j < len(prev) && prev[j].name == name && prev[j].kind == e.kind {
			e = prev[j]
		}
		entries = append(entries, e)
	}
	if old == nil || !sameListing(old.entries, entries) {
		w.same = false
		w.dirty = true
	}
	d.entries = entries
	return nil
}

func sameListing(a, b []memoEntry) bool {
	return slices.EqualFunc(a, b, func(x, y memoEntry) bool { return x.name == y.name && x.kind == y.kind })
}

// yaml reads the YAML file e of the directory dir (abs on disk) if the memo does not vouch for
// its stat.
func (w *memoWalk) yaml(e *memoEntry, st fsstat.Stat, abs, dir string) error {
	key := st.Key()
	if e.known && e.trusted && e.key == key {
		return nil
	}
	trusted := w.m.vouches(key) // by a clock read before the read
	data, err := os.ReadFile(abs + string(filepath.Separator) + e.name)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", entryPath(dir, e.name), err)
	}
	w.read++
	manifests, objs := scanManifests(data)
	if !e.known || e.manifests != manifests || !sameObjects(e.objects, objs) {
		w.same = false
		w.dirty = true
	} else if trusted {
		w.dirty = true
	}
	e.key, e.trusted, e.known, e.manifests, e.objects = key, trusted, true, manifests, toMemo(objs)
	return nil
}

// kustomization notes the stat of the kustomization e of the directory dir (abs on disk); one the
// memo does not vouch for is read when its references are needed.
func (w *memoWalk) kustomization(e *memoEntry, st fsstat.Stat, abs, dir string) {
	key := st.Key()
	if e.key == key && e.trusted {
		return // what was read (or will be) with this key still is the file's
	}
	// By a clock read before the references are read, if they are.
	trusted := w.m.vouches(key)
	if e.key == key && !e.known && !trusted {
		return
	}
	w.pending = append(w.pending, pendingKust{e: e, file: abs + string(filepath.Separator) + e.name, rel: entryPath(dir, e.name), oldRefs: e.refs, oldKnown: e.known})
	e.key, e.trusted, e.known, e.refs = key, trusted, false, nil
	w.dirty = w.dirty || trusted
}

// unchanged returns the previous scan's targets when they are still the repository's: every
// directory lists what it listed, every YAML file read again holds what it held, and, for
// targets found from the kustomizations, every kustomization they read names what it named.
// It returns them with what their kustomizations include, by path.
func (w *memoWalk) unchanged(repoDir string) ([]Target, map[string][]string, bool) {
	res := w.m.oldResult
	if !w.same || res == nil {
		return nil, nil, false
	}
	if res.root {
		for _, pk := range w.pending {
			if !pk.oldKnown {
				continue // not read by the targets (a kustomization file kustomize does not prefer)
			}
			refs, err := w.m.kustRefs(pk.e, pk.file, pk.rel)
			if err != nil || !slices.Equal(refs, pk.oldRefs) {
				return nil, nil, false
			}
		}
	}
	ts, includes, ok := res.targetsIn(repoDir, w.m.tree)
	if !ok {
		return nil, nil, false
	}
	w.m.result, w.m.reused = res, true
	return ts, includes, true
}

// kustRefs are the references of the kustomization e (file, rel), read unless known.
func (m *scanMemo) kustRefs(e *memoEntry, file, rel string) ([]string, error) {
	if e.known {
		return e.refs, nil
	}
	refs, err := readKustRefs(file, rel)
	if err != nil {
		return nil, err
	}
	m.read++
	e.refs, e.known = refs, true
	m.dirty = m.dirty || e.trusted
	return refs, nil
}

// repoScan is what the walk found, for the targets to be found again.
func (m *scanMemo) repoScan() *repoScan {
	s := newRepoScan()
	s.memo, s.kustEntries = m, map[string]*memoEntry{}
	var walk func(d *memoDir)
	walk = func(d *memoDir) {
		s.dirs[d.path] = true
		for i := range d.entries {
			e := &d.entries[i]
			p := entryPath(d.path, e.name)
			if e.kind == entDir {
				walk(e.dir)
				continue
			}
			if e.kind == entFile {
				s.files[p] = true
			}
			switch {
			case reach.IsFileName(e.name):
				s.kustDirs[d.path] = true
				if e.kind == entFile {
					s.kustEntries[p] = e
				}
				continue
			case e.name == "Chart.yaml":
				s.chartDirs[d.path] = true
			}
			if e.kind == entFile && isYAMLName(e.name) {
				s.add(p, e.manifests, fromMemo(e.objects))
			}
		}
	}
	walk(m.tree)
	return s
}
