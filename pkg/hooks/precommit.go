// Package hooks is the logic of the Git hooks of `kubectl gitops`: before a commit, the secrets
// guard on the staged files and a render of every target the staged files touch, whose Secrets
// must not be in the clear; before a push, the secrets guard on every pushed commit, a check
// that the cluster still holds what the remote branch says (else the push would undo a change
// made by hand) and a server-side dry-run of what is pushed. The trees it renders are exported
// to the process's private temporary directory (internal/privtmp). It also installs the hook
// shims next to the hooks a repository already has. It never imports cobra: the commands in
// pkg/plugin call it.
package hooks

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// PreCommitOptions say which repository's index to check.
type PreCommitOptions struct {
	// Dir is the repository's work tree, where git runs the hook. Its index (GIT_INDEX_FILE
	// when git sets it, as `git commit -a` does) is what is checked.
	Dir string
	// RenderTimeout bounds each render; zero means DefaultRenderTimeout.
	RenderTimeout time.Duration
}

// DefaultRenderTimeout is how long a hook waits for one render. kustomize takes minutes on
// some inputs (95 s for a ConfigMap of 100,000 keys, measured on a loaded 2-core machine);
// a hook must not hang a commit or a push for that long. A target's render takes well under
// a second in the repositories this project was tried on.
const DefaultRenderTimeout = 60 * time.Second

// renderWithin renders a target, or gives up after timeout with an error that says why. The
// render itself cannot be stopped: it goes on until the hook's process ends, which it does
// right after reporting.
func renderWithin(root string, t target.Target, timeout time.Duration) (*render.Result, error) {
	if timeout == 0 {
		timeout = DefaultRenderTimeout
	}
	type result struct {
		res *render.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := render.Render(root, t.Path, render.Options{Applied: t.Applied})
		done <- result{res, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.res, r.err
	case <-timer.C:
		return nil, fmt.Errorf("render %s: did not finish in %v; kustomize is slow on very large files (a mapping of tens of thousands of keys): split them", t.Path, timeout)
	}
}

// PreCommitReport is what the pre-commit checks found.
type PreCommitReport struct {
	// Staged counts the staged paths, deletions included.
	Staged int `json:"staged"`
	// Secrets is the guard's report on the staged files.
	Secrets guard.Report `json:"secrets"`
	// Targets are the targets the staged files touch, rendered from the index; none when the
	// guard found a file that no renderer should read (Secrets.Unsafe).
	Targets []RenderCheck `json:"targets"`
}

// RenderCheck is one target rendered from a commit or the index.
type RenderCheck struct {
	Target string `json:"target"`
	// Objects counts the rendered objects.
	Objects int `json:"objects"`
	// Error says why the target does not render.
	Error string `json:"error,omitempty"`
	// Secrets are the rendered Secrets whose values are in the clear, whatever file shape
	// made them (guard.CheckRendered).
	Secrets []guard.Finding `json:"secrets,omitempty"`
}

// Failed tells whether the commit must be refused.
func (r *PreCommitReport) Failed() bool {
	if len(r.Secrets.Findings) > 0 {
		return true
	}
	for _, t := range r.Targets {
		if t.Error != "" || len(t.Secrets) > 0 {
			return true
		}
	}
	return false
}

// PreCommit checks what the next commit holds, the index, whatever the work tree holds: the
// secrets guard on the staged files (with the index's guard.allow), and every target whose
// files are staged must still render, with no Secret in the clear among what it renders. A
// target's files are those below its path and those its render reads (at the index, or at
// HEAD when it no longer renders, which finds a deleted or broken base). The index is exported
// to the process's private temporary directory (git write-tree, then its files), rendered
// there, and removed on return or interrupt.
func PreCommit(ctx context.Context, o PreCommitOptions) (*PreCommitReport, error) {
	rep := &PreCommitReport{Targets: []RenderCheck{}}
	out, err := runGit(ctx, o.Dir, nil, "diff", "--cached", "--name-only", "-z", "--no-renames")
	if err != nil {
		return nil, fmt.Errorf("failed to list the staged files: %w", err)
	}
	var staged []string
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			staged = append(staged, p)
		}
	}
	rep.Staged = len(staged)

	tree, err := gitLine(ctx, o.Dir, "write-tree")
	if err != nil {
		return nil, fmt.Errorf("failed to read the index (resolve conflicts first): %w", err)
	}
	exports := newTrees(o.Dir)
	defer exports.Close()
	index, err := exports.export(ctx, tree)
	if err != nil {
		return nil, err
	}
	cfg, err := target.LoadConfig(index)
	if err != nil {
		return nil, fmt.Errorf("the staged %s: %w", target.ConfigFile, err)
	}

	change, err := guard.StagedChange(ctx, o.Dir)
	if err != nil {
		return nil, err
	}
	rep.Secrets = change.Check()
	if rep.Secrets.Findings == nil {
		rep.Secrets.Findings = []guard.Finding{}
	}
	if len(staged) == 0 || len(rep.Secrets.Unsafe) > 0 {
		// An alias bomb would exhaust the render's memory: the guard's finding refuses the
		// commit without it.
		return rep, nil
	}

	targets, err := target.Discover(index, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to list the targets of the staged tree: %w", err)
	}
	head := ""
	if sha, err := gitLine(ctx, o.Dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err == nil {
		head = sha
	}
	for _, t := range targets {
		res, rerr := renderWithin(index, t, o.RenderTimeout)
		touched := underAny(staged, t.Path)
		if !touched && rerr == nil {
			touched = intersects(staged, res.Inputs)
		}
		if !touched && rerr != nil {
			// What did it read when it still rendered? A staged change to one of those broke it.
			touched = true
			if head != "" {
				if before, err := exports.export(ctx, head); err == nil {
					if prev, err := renderWithin(before, t, o.RenderTimeout); err == nil {
						touched = intersects(staged, prev.Inputs)
					}
				}
			}
		}
		if !touched {
			continue
		}
		rc := RenderCheck{Target: t.String()}
		if rerr != nil {
			rc.Error = rerr.Error()
		} else {
			rc.Objects = len(res.Objects)
			rc.Secrets = change.CheckRendered(renderedSecrets(res)).Findings
		}
		rep.Targets = append(rep.Targets, rc)
	}
	return rep, nil
}

// underAny tells whether a path is dir or below it.
func underAny(paths []string, dir string) bool {
	for _, p := range paths {
		if dir == "." || p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

func intersects(paths, inputs []string) bool {
	set := make(map[string]bool, len(inputs))
	for _, in := range inputs {
		set[path.Clean(in)] = true
	}
	for _, p := range paths {
		if set[p] {
			return true
		}
	}
	return false
}

// renderedSecrets are the Secrets and SealedSecrets of a render, as guard.CheckRendered takes
// them: the other objects are not decoded.
func renderedSecrets(res *render.Result) []guard.Rendered {
	var out []guard.Rendered
	for _, o := range res.Objects {
		secret := o.ID.Group == "" && o.ID.Kind == "Secret"
		sealed := o.ID.Group == "bitnami.com" && o.ID.Kind == "SealedSecret"
		if !secret && !sealed {
			continue
		}
		origin := o.Origin.File
		if origin == "" {
			origin = o.Origin.Generated
		}
		out = append(out, guard.Rendered{ID: o.ID.String(), Origin: origin, Object: o.Obj().Object})
	}
	return out
}
