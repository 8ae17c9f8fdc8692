package render

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// OutsideLinkError is a symbolic link of the repository that leads out of it. The reconciler
// renders the repository's files alone (Flux and Argo CD refuse such links too), so neither a
// render nor a change follows it.
type OutsideLinkError struct {
	Link   string // repository-relative
	Target string // as the link holds it
}

func (e *OutsideLinkError) Error() string {
	return fmt.Sprintf("%s is a symbolic link to %s, outside the repository, which the reconciler does not read: replace the link with the file, or point it inside the repository", e.Link, e.Target)
}

// maxLinks bounds the links followed for one path, as the kernel's ELOOP does.
const maxLinks = 40

// Resolve is the repository-relative path that the repository-relative path p names once its
// symbolic links are followed (p itself when none is on the way), with the links followed, in
// order. A link that leads out of the repository is an *OutsideLinkError. p need not exist: a
// new file's path is resolved through its directories.
func Resolve(root, p string) (real string, links []string, err error) {
	root, err = filepath.Abs(root)
	if err != nil {
		return "", nil, err
	}
	r := newResolver(root, func(link, _ string) { links = append(links, link) })
	lex, ok := r.rel(filepath.Join(root, filepath.FromSlash(p)))
	if !ok {
		return "", nil, fmt.Errorf("%s is outside the repository", p)
	}
	real, err = r.real(lex)
	return real, links, err
}

// resolver follows the symbolic links of paths of the repository at root, within it.
type resolver struct {
	root     string // absolute
	realRoot string // root with its own links resolved: kustomize reads through it
	onLink   func(link, target string)

	mu   sync.Mutex
	dirs map[string]string // resolved directories by lexical repository-relative path
}

func newResolver(root string, onLink func(link, target string)) *resolver {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		real = root
	}
	return &resolver{root: root, realRoot: real, onLink: onLink, dirs: map[string]string{}}
}

// rel is the absolute path p relative to the repository, slash-separated and lexical (links
// not followed); false when p is outside it.
func (r *resolver) rel(p string) (string, bool) {
	for _, base := range []string{r.root, r.realRoot} {
		if rel, err := filepath.Rel(base, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel), true
		}
	}
	return "", false
}

// abs is the absolute path of a resolved repository-relative path.
func (r *resolver) abs(rel string) string {
	if rel == "." {
		return r.realRoot
	}
	return r.realRoot + string(filepath.Separator) + filepath.FromSlash(rel)
}

// real resolves the lexical repository-relative path lex.
func (r *resolver) real(lex string) (string, error) {
	if lex == "." {
		return ".", nil
	}
	dir, err := r.dir(path.Dir(lex))
	if err != nil {
		return "", err
	}
	return r.step(path.Join(dir, path.Base(lex)), 0)
}

// dir resolves the lexical directory lex, once per resolver.
func (r *resolver) dir(lex string) (string, error) {
	if lex == "." {
		return ".", nil
	}
	r.mu.Lock()
	d, ok := r.dirs[lex]
	r.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := r.real(lex)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.dirs[lex] = d
	r.mu.Unlock()
	return d, nil
}

// step resolves p, a name in a resolved directory: p itself unless it is a link.
func (r *resolver) step(p string, hops int) (string, error) {
	st, err := fsstat.Lstat(r.abs(p))
	if err != nil || st.Type&os.ModeSymlink == 0 {
		return p, nil // not a link, or missing (a new file)
	}
	if hops >= maxLinks {
		return "", &os.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
	}
	target, err := os.Readlink(r.abs(p))
	if err != nil {
		return "", err
	}
	r.onLink(p, target)
	at := path.Dir(p)
	rest := filepath.ToSlash(target)
	if filepath.IsAbs(target) {
		rel, ok := r.rel(filepath.Clean(target))
		if !ok {
			return "", &OutsideLinkError{Link: p, Target: target}
		}
		at, rest = ".", rel
	}
	// Component by component from the link's directory, as the kernel does: ".." leaves the
	// directory a link led to, not the one its path names.
	for _, c := range strings.Split(rest, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if at == "." {
				return "", &OutsideLinkError{Link: p, Target: target}
			}
			at = path.Dir(at)
			continue
		}
		if at, err = r.step(path.Join(at, c), hops+1); err != nil {
			return "", err
		}
	}
	return at, nil
}
