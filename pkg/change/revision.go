package change

import "github.com/kubectl-gitops/kubectl-gitops/pkg/render"

// What `kubectl gitops diff --from` asks of the closed loop: which targets a set of changed files
// reaches, and a target's render with other contents for some files (another revision's).

// Reaches tells whether target t can read one of files (repository-relative), as the closed
// loop decides which targets an edit reaches.
func (e *Engine) Reaches(t string, files []string) bool {
	for _, f := range files {
		if e.mayRead(t, f) {
			return true
		}
	}
	return false
}

// RenderWith returns target t's render (t a Key) with files in place of the disk's (nil:
// deleted), made as the closed loop renders an edit: the current render with the objects of a
// reduced render where a sound reduction exists (kustomize alone), else a whole render with the
// reconciler's options.
func (e *Engine) RenderWith(t string, files map[string][]byte) (*render.Result, error) {
	before, err := e.Rendered(t)
	if err != nil {
		return nil, err
	}
	if !e.opts.Whole && e.plain(t) {
		if tree, err := e.parseTree(t, nil); err == nil {
			if rb, ra, ok := e.renderReduced(t, tree, before, files, nil, nil); ok {
				e.stats.Reduced++
				return render.Merge(before, rb, ra, files), nil
			}
		}
	}
	return render.Render(e.root, e.dir(t), e.options(t, render.Options{Overlay: files}))
}
