package render

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlayFS is the repository on disk seen through a set of in-memory file contents: the change
// engine renders candidate edits without touching the working tree. It also records every file
// a render reads, which tells the closed loop which targets a changed file can affect.
//
// Symbolic links inside the repository are followed as kustomize follows them, and recorded
// with the file they lead to (a change to either changes the render); the overlay holds files
// by their path with links resolved, so an edit of a file is seen through every link to it. A
// link that leads out of the repository is refused: the reconciler renders the repository alone.
type overlayFS struct {
	filesys.FileSystem
	res     *resolver
	overlay map[string][]byte // repository-relative path, links resolved -> content; nil content means deleted

	mu    sync.Mutex
	reads map[string]struct{}
	dirs  map[string][sha256.Size]byte // directories whose listing a render depends on, with the listing's hash
	// sums hash each file's content as first read (a link's: its target): a kustomization the
	// render rewrites in memory (resources dropped, origins asked for) is read as written before
	// that.
	sums map[string][sha256.Size]byte
	// outside is set when a render read a file outside root (a remote base kustomize cloned):
	// such a render cannot be cached.
	outside bool
	linkErr *OutsideLinkError
	// kustomizing is set while kustomize reads through the filesystem: a kustomization it reads
	// with patches starts the parse of the schema they merge by (warmSchema).
	kustomizing bool
}

func newOverlayFS(root string, overlay map[string][]byte) *overlayFS {
	o := &overlayFS{FileSystem: filesys.MakeFsOnDisk(), overlay: overlay, reads: map[string]struct{}{},
		dirs: map[string][sha256.Size]byte{}, sums: map[string][sha256.Size]byte{}}
	o.res = newResolver(root, func(link, target string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.reads[link] = struct{}{}
		if _, done := o.sums[link]; !done {
			o.sums[link] = sha256.Sum256([]byte(target))
		}
	})
	return o
}

// resolve is the repository-relative path of path with links followed (inRepo false for a path
// outside the repository), or the error of a link that leads out of it.
func (o *overlayFS) resolve(path string) (rel string, inRepo bool, err error) {
	lex, ok := o.res.rel(path)
	if !ok {
		return "", false, nil
	}
	if rel, err = o.res.real(lex); err != nil {
		var le *OutsideLinkError
		if errors.As(err, &le) {
			o.mu.Lock()
			if o.linkErr == nil {
				o.linkErr = le
			}
			o.mu.Unlock()
		}
		return "", false, err
	}
	return rel, true, nil
}

// linkError is the first link out of the repository a render met.
func (o *overlayFS) linkError() *OutsideLinkError {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.linkErr
}

// abs is the absolute path of the repository-relative path rel.
func (o *overlayFS) abs(rel string) string { return o.res.abs(rel) }

func (o *overlayFS) lookup(path string) ([]byte, bool) {
	if len(o.overlay) == 0 {
		return nil, false
	}
	rel, ok, _ := o.resolve(path)
	if !ok {
		return nil, false
	}
	b, ok := o.overlay[rel]
	return b, ok
}

// record notes that a render read path; it returns the path's repository-relative form ("" for
// a path outside the repository), or the error of a link that leads out of it.
func (o *overlayFS) record(path string) (string, error) {
	rel, ok, err := o.resolve(path)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !ok {
		o.outside = true
		return "", nil
	}
	o.reads[rel] = struct{}{}
	return rel, nil
}

// markOutside notes that the render read something outside the repository (a chart from a Helm
// repository): it is not cached.
func (o *overlayFS) markOutside() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outside = true
}

// recordDir notes that a render depends on which files the directory rel holds (a plain
// directory's manifests), as entries lists them now.
func (o *overlayFS) recordDir(rel string, entries []os.DirEntry) {
	sum := listingSum(rel, entries, o.overlay)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dirs[rel] = sum
}

// readDir lists the directory p, recording the listing as an input of the render when p is in
// the repository (recordDir); a directory outside it (a remote base) is only read.
func (o *overlayFS) readDir(p string) ([]os.DirEntry, error) {
	rel, ok, err := o.resolve(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return os.ReadDir(p)
	}
	entries, err := os.ReadDir(o.abs(rel))
	if err != nil {
		return nil, err
	}
	o.recordDir(rel, entries)
	return entries, nil
}

// Dirs are the repository-relative directories recorded by recordDir.
func (o *overlayFS) Dirs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.dirs))
	for p := range o.dirs {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Inputs are the repository-relative files the renders through this filesystem read.
func (o *overlayFS) Inputs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.reads))
	for p := range o.reads {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (o *overlayFS) ReadFile(path string) ([]byte, error) {
	rel, err := o.record(path)
	if err != nil {
		return nil, err
	}
	var b []byte
	if rel == "" {
		// Outside the repository: a remote base kustomize cloned.
		if b, err = o.FileSystem.ReadFile(path); err != nil {
			return nil, err
		}
	} else if ob, ok := o.overlay[rel]; ok {
		if ob == nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
		}
		o.sum(rel, ob)
		b = append([]byte(nil), ob...)
	} else {
		if b, err = o.FileSystem.ReadFile(o.abs(rel)); err != nil {
			return nil, err
		}
		o.sum(rel, b)
	}
	name := rel
	if name == "" {
		name = path
	}
	if err := checkInput(name, b); err != nil {
		return nil, err
	}
	if o.kustomizing && reach.IsFileName(filepath.Base(path)) && mayPatch(b) {
		warmSchema()
	}
	return b, nil
}

func (o *overlayFS) sum(rel string, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, done := o.sums[rel]; !done {
		o.sums[rel] = sha256.Sum256(b)
	}
}

func (o *overlayFS) Exists(path string) bool {
	if b, ok := o.lookup(path); ok {
		return b != nil
	}
	return o.FileSystem.Exists(path)
}

func (o *overlayFS) IsDir(path string) bool {
	if _, ok := o.lookup(path); ok {
		return false
	}
	return o.FileSystem.IsDir(path)
}

// Open is used by kustomize's loader only for files: overlaid content is served from memory,
// the rest from disk.
func (o *overlayFS) Open(path string) (filesys.File, error) {
	if _, ok := o.lookup(path); ok {
		mem := filesys.MakeFsInMemory()
		b, err := o.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := mem.WriteFile("/f", b); err != nil {
			return nil, err
		}
		return mem.Open("/f")
	}
	rel, err := o.record(path)
	if err != nil {
		return nil, err
	}
	if rel != "" {
		path = o.abs(rel)
	}
	return o.FileSystem.Open(path)
}

// WriteFile must never reach the working tree from a render.
func (o *overlayFS) WriteFile(path string, _ []byte) error {
	return &os.PathError{Op: "write", Path: path, Err: os.ErrPermission}
}

// CleanedAbs is where kustomize resolves the links of every path it loads (its load restrictor
// then checks the result): here links are resolved within the repository, one leading out of it
// is refused, and overlaid files that do not exist on disk yet (a new patch file) are confirmed.
func (o *overlayFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	rel, ok, err := o.resolve(path)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return o.FileSystem.CleanedAbs(path)
	}
	abs := o.abs(rel)
	if b, ok := o.overlay[rel]; ok && b != nil {
		return filesys.ConfirmedDir(filepath.Dir(abs)), filepath.Base(abs), nil
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", "", err
	}
	if fi.IsDir() {
		return filesys.ConfirmedDir(abs), "", nil
	}
	return filesys.ConfirmedDir(filepath.Dir(abs)), filepath.Base(abs), nil
}
