package guard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// CheckStaged runs the guard on what the next commit of the repository at dir holds, as the
// pre-commit hook and `secrets check --staged` do: the staged files, read from the index
// whatever the work tree holds, with the kustomizations of the index and the guard.allow of
// the staged configuration file. An allow entry that the index adds to HEAD's does not let a
// file through: it is reported, with the files it would newly allow, and those are checked.
func CheckStaged(ctx context.Context, dir string) (Report, error) {
	ix := Index{Dir: dir}
	files, err := ix.Staged(ctx)
	if err != nil {
		return Report{}, err
	}
	opts := Options{ReadFile: func(name string) ([]byte, error) { return ix.ReadFile(ctx, name) }}
	if opts.Kustomizations, err = ix.Kustomizations(ctx); err != nil {
		return Report{}, err
	}
	now, err := configOf(ctx, ix.tree(), "in the index")
	if err != nil {
		return Report{}, err
	}
	var before *target.Config
	if head, err := runGit(ctx, dir, nil, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err == nil {
		before = lenientConfig(ctx, gitTree{dir: dir, rev: strings.TrimSpace(string(head))})
	}
	return checkChange(files, opts, now, before), nil
}

// CheckCommit runs the guard on what a commit changes, as the pre-push hook does for each
// pushed commit: the files it adds, modifies, renames or changes in type compared with its
// first parent (all of them for a root commit), read at the commit, with the commit's
// kustomizations and guard.allow. An allow entry the commit adds to its parent's is treated as
// CheckStaged treats one the index adds.
func CheckCommit(ctx context.Context, dir, sha string) (Report, error) {
	cm := Commit{Dir: dir, SHA: sha}
	files, err := cm.Changed(ctx)
	if err != nil {
		return Report{}, err
	}
	opts := Options{ReadFile: func(name string) ([]byte, error) { return cm.ReadFile(ctx, name) }}
	if opts.Kustomizations, err = cm.Kustomizations(ctx); err != nil {
		return Report{}, err
	}
	now, err := configOf(ctx, cm.tree(), "in commit "+short(sha))
	if err != nil {
		return Report{}, err
	}
	parent, err := cm.Parent(ctx)
	if err != nil {
		return Report{}, err
	}
	var before *target.Config
	if parent != "" {
		before = lenientConfig(ctx, gitTree{dir: dir, rev: parent})
	}
	return checkChange(files, opts, now, before), nil
}

// checkChange checks files with the allow-list of now, comparing it with before's.
func checkChange(files []File, opts Options, now, before *target.Config) Report {
	if now == nil || len(now.Guard.Allow) == 0 {
		return Check(files, opts)
	}
	var old target.GuardConfig
	if before != nil {
		old = before.Guard
	}
	opts.Allow = now.Guard.Allowed
	opts.NewAllow = func(p string) (string, bool) {
		if _, ok := old.Allowed(p); ok {
			return "", false
		}
		for _, e := range now.Guard.Allow {
			if _, ok := (target.GuardConfig{Allow: []target.GuardAllow{e}}).Allowed(p); ok {
				return e.Path, true
			}
		}
		return "", false
	}
	rep := Check(files, opts)
	// Entries added that let no checked file through are reported too.
	for _, e := range now.Guard.Allow {
		added := true
		for _, o := range old.Allow {
			added = added && o.Path != e.Path
		}
		listed := false
		for _, a := range rep.AllowChanges {
			listed = listed || a.Entry == e.Path
		}
		if added && !listed {
			rep.AllowChanges = append(rep.AllowChanges, AllowChange{Entry: e.Path, Reason: e.Reason})
		}
	}
	return rep
}

// configOf reads and parses the repository configuration of a tree (where says which, for
// errors); nil when it has none.
func configOf(ctx context.Context, t gitTree, where string) (*target.Config, error) {
	data, err := t.readFile(ctx, target.ConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s %s: %w", target.ConfigFile, where, err)
	}
	cfg, err := target.ParseConfig(data, target.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, where)
	}
	return cfg, nil
}

// lenientConfig is the configuration of the base a change is compared with. A base whose file
// does not parse allows nothing: every entry of the change is then new.
func lenientConfig(ctx context.Context, t gitTree) *target.Config {
	cfg, err := configOf(ctx, t, "")
	if err != nil {
		return nil
	}
	return cfg
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
