package render

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlayFS is the repository on disk seen through a set of in-memory file contents: the change
// engine renders candidate edits without touching the working tree. It also records every file
// a render reads, which tells the closed loop which targets a changed file can affect.
type overlayFS struct {
	filesys.FileSystem
	root    string
	overlay map[string][]byte // absolute path -> content; nil content means deleted

	mu    sync.Mutex
	reads map[string]struct{}
	dirs  map[string]struct{} // directories whose listing a render depends on
	// sums hash each file's content as first read: a kustomization the render rewrites in
	// memory (resources dropped, origins asked for) is read as written before that.
	sums map[string][sha256.Size]byte
	// outside is set when a render read a file outside root: such a render cannot be cached.
	outside bool
	// kustomizing is set while kustomize reads through the filesystem: a kustomization it reads
	// with patches starts the parse of the schema they merge by (warmSchema).
	kustomizing bool
}

func newOverlayFS(root string, overlay map[string][]byte) *overlayFS {
	return &overlayFS{FileSystem: filesys.MakeFsOnDisk(), root: root, overlay: overlay, reads: map[string]struct{}{}, dirs: map[string]struct{}{},
		sums: map[string][sha256.Size]byte{}}
}

func (o *overlayFS) lookup(path string) ([]byte, bool) {
	if o.overlay == nil {
		return nil, false
	}
	b, ok := o.overlay[filepath.Clean(path)]
	return b, ok
}

func (o *overlayFS) record(path string) {
	rel, err := filepath.Rel(o.root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		o.mu.Lock()
		o.outside = true
		o.mu.Unlock()
		return
	}
	o.mu.Lock()
	o.reads[filepath.ToSlash(rel)] = struct{}{}
	o.mu.Unlock()
}

// recordDir notes that a render depends on which files a directory holds (a plain directory's
// manifests).
func (o *overlayFS) recordDir(path string) {
	rel, err := filepath.Rel(o.root, path)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil || strings.HasPrefix(rel, "..") {
		o.outside = true
		return
	}
	o.dirs[filepath.ToSlash(rel)] = struct{}{}
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
	o.record(path)
	b, ok := o.lookup(path)
	if ok && b == nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
	}
	if ok {
		o.sum(path, b)
		b = append([]byte(nil), b...)
	} else {
		var err error
		if b, err = o.FileSystem.ReadFile(path); err != nil {
			return nil, err
		}
		o.sum(path, b)
	}
	if o.kustomizing && isKustomizationFile(path) && mayPatch(b) {
		warmSchema()
	}
	return b, nil
}

func (o *overlayFS) sum(path string, b []byte) {
	rel, err := filepath.Rel(o.root, path)
	if err != nil {
		return
	}
	rel = filepath.ToSlash(rel)
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

// Open is used by kustomize's loader only for files; serve overlay content through a temp-free
// reader by falling back to disk when the path is not overlaid.
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
	o.record(path)
	return o.FileSystem.Open(path)
}

// WriteFile must never reach the working tree from a render.
func (o *overlayFS) WriteFile(path string, _ []byte) error {
	return &os.PathError{Op: "write", Path: path, Err: os.ErrPermission}
}

// CleanedAbs confirms overlaid files that do not exist on disk yet (a new patch file).
func (o *overlayFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if b, ok := o.lookup(path); ok && b != nil {
		clean := filepath.Clean(path)
		return filesys.ConfirmedDir(filepath.Dir(clean)), filepath.Base(clean), nil
	}
	return o.FileSystem.CleanedAbs(path)
}
