package render

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// artifactDir names the directory below the repository's root where an ExternalArtifact's tree
// appears to kustomize. Nothing is there on disk: artifactFS answers for every path below it.
const artifactDir = ".kubectl-gitops-artifact"

// artifactFS is a Flux ExternalArtifact's tree as kustomize reads it: each path below vroot is
// read from the repository path Applied.Artifact maps it to, through the overlay (so edits are
// seen and every read is recorded with its repository path), and relative references resolve
// within the artifact's layout as they do in the controller. The kustomization the render
// writes for kustomize is kept in gen; nothing is written anywhere.
type artifactFS struct {
	o     *overlayFS
	tree  map[string]string
	vroot string
	gen   map[string][]byte // absolute path below vroot -> content
}

func newArtifactFS(o *overlayFS, root string, tree map[string]string) *artifactFS {
	return &artifactFS{o: o, tree: tree, vroot: filepath.Join(root, artifactDir), gen: map[string][]byte{}}
}

// virtual is the absolute path of the artifact's path p.
func (a *artifactFS) virtual(p string) string {
	return filepath.Join(a.vroot, filepath.FromSlash(p))
}

// in is the artifact path of the absolute path p, if it is below vroot.
func (a *artifactFS) in(p string) (string, bool) {
	p = filepath.Clean(p)
	if p == a.vroot {
		return ".", true
	}
	rest, ok := strings.CutPrefix(p, a.vroot+string(filepath.Separator))
	return filepath.ToSlash(rest), ok
}

// real is the absolute path, in the repository, of the artifact's absolute path p.
func (a *artifactFS) real(p string) (string, bool) {
	v, ok := a.in(p)
	if !ok {
		return p, true
	}
	r, ok := reconciler.ArtifactLookup(a.tree, v)
	if !ok {
		return "", false
	}
	return a.o.abs(r), true
}

// repoPath is the repository path of the artifact's absolute path p ("" for none).
func (a *artifactFS) repoPath(p string) string {
	v, ok := a.in(p)
	if !ok {
		return relSlash(a.o.res.root, p)
	}
	r, ok := reconciler.ArtifactLookup(a.tree, v)
	if !ok {
		return ""
	}
	return r
}

// virtualDir reports whether p is a directory made of artifact entries below it.
func (a *artifactFS) virtualDir(p string) bool {
	v, ok := a.in(p)
	return ok && reconciler.ArtifactDir(a.tree, v)
}

func notExist(op, p string) error { return &os.PathError{Op: op, Path: p, Err: os.ErrNotExist} }

func (a *artifactFS) ReadFile(p string) ([]byte, error) {
	if b, ok := a.gen[filepath.Clean(p)]; ok {
		return append([]byte(nil), b...), nil
	}
	r, ok := a.real(p)
	if !ok {
		return nil, notExist("open", p)
	}
	return a.o.ReadFile(r)
}

func (a *artifactFS) Exists(p string) bool {
	if _, ok := a.gen[filepath.Clean(p)]; ok || a.virtualDir(p) {
		return true
	}
	r, ok := a.real(p)
	return ok && a.o.Exists(r)
}

func (a *artifactFS) IsDir(p string) bool {
	if _, ok := a.gen[filepath.Clean(p)]; ok {
		return false
	}
	if a.virtualDir(p) {
		return true
	}
	r, ok := a.real(p)
	return ok && a.o.IsDir(r)
}

func (a *artifactFS) Open(p string) (filesys.File, error) {
	if b, ok := a.gen[filepath.Clean(p)]; ok {
		mem := filesys.MakeFsInMemory()
		if err := mem.WriteFile("/f", b); err != nil {
			return nil, err
		}
		return mem.Open("/f")
	}
	r, ok := a.real(p)
	if !ok {
		return nil, notExist("open", p)
	}
	return a.o.Open(r)
}

// CleanedAbs keeps paths in the artifact's layout (kustomize resolves relative references
// from them), after checking through the overlay that the file or directory exists and that a
// link does not lead out of the repository.
func (a *artifactFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if !filepath.IsAbs(p) {
		return a.o.CleanedAbs(p)
	}
	p = filepath.Clean(p)
	if _, in := a.in(p); !in {
		return a.o.CleanedAbs(p)
	}
	if _, ok := a.gen[p]; ok {
		return filesys.ConfirmedDir(filepath.Dir(p)), filepath.Base(p), nil
	}
	if a.virtualDir(p) {
		return filesys.ConfirmedDir(p), "", nil
	}
	r, ok := a.real(p)
	if !ok {
		return "", "", notExist("stat", p)
	}
	_, file, err := a.o.CleanedAbs(r)
	if err != nil {
		return "", "", err
	}
	if file == "" {
		return filesys.ConfirmedDir(p), "", nil
	}
	return filesys.ConfirmedDir(filepath.Dir(p)), filepath.Base(p), nil
}

func (a *artifactFS) ReadDir(p string) ([]string, error) {
	if _, in := a.in(p); !in {
		return a.o.ReadDir(p)
	}
	entries, err := a.list(p)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.name
	}
	return out, nil
}

// list is the listing of the artifact's directory p: its entries' names below it, over the
// listing of the repository directory it maps to.
func (a *artifactFS) list(p string) ([]dirEntry, error) {
	v, in := a.in(p)
	if !in {
		rel, _, err := a.o.resolve(p)
		if err != nil {
			return nil, err
		}
		return a.o.listDir(rel)
	}
	byName := map[string]bool{}
	if r, ok := reconciler.ArtifactLookup(a.tree, v); ok {
		abs := a.o.abs(r)
		if a.o.IsDir(abs) {
			rel, _, err := a.o.resolve(abs)
			if err != nil {
				return nil, err
			}
			entries, err := a.o.listDir(rel)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				byName[e.name] = e.dir
			}
		}
	}
	prefix := v + "/"
	if v == "." {
		prefix = ""
	}
	for k, r := range a.tree {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" || k == "." {
			continue
		}
		first, more, nested := strings.Cut(rest, "/")
		switch {
		case nested && more != "":
			if r != "" {
				byName[first] = true
			}
		case r == "":
			delete(byName, first) // left out by an exclude
		default:
			byName[first] = a.o.IsDir(a.o.abs(r))
		}
	}
	for g := range a.gen {
		if filepath.Dir(g) == filepath.Clean(p) {
			byName[filepath.Base(g)] = false
		}
	}
	out := make([]dirEntry, 0, len(byName))
	for n, d := range byName {
		out = append(out, dirEntry{name: n, dir: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

var errArtifactWrite = errors.New("a render writes nothing")

func (a *artifactFS) Glob(pattern string) ([]string, error) {
	if _, in := a.in(pattern); in {
		return nil, errors.New("glob in an ExternalArtifact's tree is not supported")
	}
	return a.o.Glob(pattern)
}

func (a *artifactFS) Walk(p string, fn filepath.WalkFunc) error {
	if _, in := a.in(p); in {
		return errors.New("walk in an ExternalArtifact's tree is not supported")
	}
	return a.o.Walk(p, fn)
}

func (a *artifactFS) Create(p string) (filesys.File, error) { return nil, errArtifactWrite }
func (a *artifactFS) Mkdir(p string) error                  { return errArtifactWrite }
func (a *artifactFS) MkdirAll(p string) error               { return errArtifactWrite }
func (a *artifactFS) RemoveAll(p string) error              { return errArtifactWrite }
func (a *artifactFS) WriteFile(p string, _ []byte) error    { return errArtifactWrite }
