package guard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Change is what a commit adds to a repository, or what the index will add with the next
// commit, as the guard checks it: the files it adds or changes, read as they are in the commit
// (or the index), with the kustomizations and the guard.allow of that tree. An allow entry
// that the change adds to its base's (HEAD for the index, the first parent for a commit) does
// not let a file through: Report.AllowChanges names it with the files it would newly allow,
// and those are checked, their findings saying to commit the entry alone first.
type Change struct {
	// Files are the files the change adds, copies, modifies, renames or changes in type.
	Files []File
	opts  Options
	// added are the allow entries that the change adds.
	added []target.GuardAllow
}

// StagedChange is what the next commit of the repository at dir holds, as the pre-commit hook
// and `secrets check --staged` check it: the staged files, read from the index whatever the
// work tree holds, with the index's kustomizations and .kubectl-gitops.yaml.
func StagedChange(ctx context.Context, dir string) (*Change, error) {
	ix := Index{Dir: dir}
	files, err := ix.Staged(ctx)
	if err != nil {
		return nil, err
	}
	ch := &Change{Files: files, opts: Options{ReadFile: func(name string) ([]byte, error) { return ix.ReadFile(ctx, name) }}}
	if ch.opts.Kustomizations, err = ix.Kustomizations(ctx); err != nil {
		return nil, err
	}
	now, err := configOf(ctx, ix.tree(), "in the index")
	if err != nil {
		return nil, err
	}
	var before *target.Config
	if head, err := runGit(ctx, dir, nil, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err == nil {
		before = lenientConfig(ctx, gitTree{dir: dir, rev: strings.TrimSpace(string(head))})
	}
	ch.allowLists(now, before)
	return ch, nil
}

// CommitChange is what commit sha adds to its first parent (all its files for a root commit),
// as the pre-push hook checks each pushed commit, read at the commit.
func CommitChange(ctx context.Context, dir, sha string) (*Change, error) {
	cm := Commit{Dir: dir, SHA: sha}
	files, err := cm.Changed(ctx)
	if err != nil {
		return nil, err
	}
	ch := &Change{Files: files, opts: Options{ReadFile: func(name string) ([]byte, error) { return cm.ReadFile(ctx, name) }}}
	if ch.opts.Kustomizations, err = cm.Kustomizations(ctx); err != nil {
		return nil, err
	}
	now, err := configOf(ctx, cm.tree(), "in commit "+short(sha))
	if err != nil {
		return nil, err
	}
	parent, err := cm.Parent(ctx)
	if err != nil {
		return nil, err
	}
	var before *target.Config
	if parent != "" {
		before = lenientConfig(ctx, gitTree{dir: dir, rev: parent})
	}
	ch.allowLists(now, before)
	return ch, nil
}

// allowLists sets the allow-list of the change's tree, and what it adds to the base's.
func (ch *Change) allowLists(now, before *target.Config) {
	if now == nil || len(now.Guard.Allow) == 0 {
		return
	}
	var old target.GuardConfig
	if before != nil {
		old = before.Guard
	}
	ch.opts.Allow = now.Guard.Allowed
	ch.opts.NewAllow = func(p string) (string, bool) {
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
	for _, e := range now.Guard.Allow {
		added := true
		for _, o := range old.Allow {
			added = added && o.Path != e.Path
		}
		if added {
			ch.added = append(ch.added, e)
		}
	}
}

// Check runs the guard on the change's files.
func (ch *Change) Check() Report {
	return ch.report(Check(ch.Files, ch.opts))
}

// CheckRendered runs CheckRendered on objects that the change's tree renders, with the
// change's allow-list.
func (ch *Change) CheckRendered(objs []Rendered) Report {
	return ch.report(CheckRendered(objs, ch.opts))
}

// report adds the entries the change adds that let nothing checked through.
func (ch *Change) report(rep Report) Report {
	for _, e := range ch.added {
		listed := false
		for _, a := range rep.AllowChanges {
			listed = listed || a.Entry == e.Path
		}
		if !listed {
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
