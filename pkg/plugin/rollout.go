package plugin

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/history"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var rolloutLong = templates.LongDesc(`
	Manage a resource's revisions, which in Git are the commits that changed how its target
	renders it.

	A revision is not a ReplicaSet here: every commit after which the resource renders
	differently is one, numbered from the oldest as kubectl numbers revisions. Any kind of
	resource has a history.`)

var rolloutExample = templates.Examples(`
	# The revisions of deployment web, as the repository's commits
	kubectl gitops rollout history deploy/web

	# Restore the form web had before its last change, as a new commit
	kubectl gitops rollout undo deploy/web`)

// NewCmdRollout builds `kubectl gitops rollout` and its history and undo commands.
func NewCmdRollout(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "rollout SUBCOMMAND",
		DisableFlagsInUseLine: true,
		Short:                 "Show or undo the revisions of a resource, as commits",
		Long:                  rolloutLong,
		Example:               rolloutExample,
		Run:                   runHelp,
	}
	cmd.AddCommand(NewCmdRolloutHistory(f, streams), NewCmdRolloutUndo(f, streams))
	return cmd
}

var rolloutHistoryLong = templates.LongDesc(`
	Show the revisions of a resource: the commits that changed how its target renders it, oldest
	first, with the commit's subject as the change cause.`)

var rolloutHistoryExample = templates.Examples(`
	# The revisions of deployment web
	kubectl gitops rollout history deployment/web

	# What revision 3 rendered, and the commit that made it
	kubectl gitops rollout history deployment/web --revision=3`)

// RolloutHistoryOptions are the options of `kubectl gitops rollout history`.
type RolloutHistoryOptions struct {
	targetFlags
	Revision int
	genericiooptions.IOStreams
}

// NewCmdRolloutHistory builds `kubectl gitops rollout history`.
func NewCmdRolloutHistory(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RolloutHistoryOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "history (TYPE NAME | TYPE/NAME) [flags]",
		DisableFlagsInUseLine: true,
		Short:                 "View the revisions of a resource, as commits",
		Long:                  rolloutHistoryLong,
		Example:               rolloutHistoryExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(cmd, "", "json", "yaml"); err != nil {
				return err
			}
			if o.Revision < 0 {
				return usageErrorf(cmd, "--revision must be a revision number, not %d", o.Revision)
			}
			h, err := o.objectHistory(f, cmd, args)
			if err != nil {
				return err
			}
			return o.print(h)
		},
	}
	o.targetFlags.addFlags(cmd, "Output format: one of json, yaml.")
	cmd.Flags().IntVar(&o.Revision, "revision", 0, "See the details, including the rendered resource, of the revision specified.")
	return cmd
}

func (o *RolloutHistoryOptions) print(h *objectHistory) error {
	if o.Revision > 0 {
		r, err := h.revision(o.Revision)
		if err != nil {
			return err
		}
		if o.Output != "" {
			out := h.output()
			out.Revisions = []revisionOutput{out.Revisions[r.Number-1]}
			_, err := printStructured(o.Out, o.Output, out)
			return err
		}
		fmt.Fprintf(o.Out, "%s with revision #%d\n", h.name, r.Number)
		fmt.Fprintf(o.Out, "Commit:  %s\nAuthor:  %s <%s>\nDate:    %s\nSubject: %s\n", r.Commit.Hash, r.Commit.Author, r.Commit.Email, r.Commit.When.Format(gitDate), r.Commit.Subject)
		if r.Object == nil {
			fmt.Fprintf(o.Out, "\n%s does not render in this revision: the commit removed it from target %s.\n", h.name, h.target)
			return nil
		}
		b, err := yaml.Marshal(r.Object.Object)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "\n%s", b)
		return err
	}
	if done, err := printStructured(o.Out, o.Output, h.output()); done {
		return err
	}
	fmt.Fprintln(o.Out, h.name)
	w := printers.GetNewTabWriter(o.Out)
	fmt.Fprintln(w, "REVISION\tCOMMIT\tCHANGE-CAUSE")
	for _, r := range h.result.Revisions {
		cause := r.Commit.Subject
		if r.Deleted {
			cause += " (removed it)"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\n", r.Number, shortHash(r.Commit.Hash), cause)
	}
	return w.Flush()
}

// revision returns revision n of the history, with kubectl's error when there is none.
func (h *objectHistory) revision(n int) (*history.Revision, error) {
	revs := h.result.Revisions
	if n < 1 || n > len(revs) {
		return nil, fmt.Errorf("unable to find the specified revision %d of %s in target %s: it has revisions 1 to %d (kubectl gitops rollout history %s)", n, h.name, h.target, len(revs), h.name)
	}
	return &revs[n-1], nil
}

var rolloutUndoLong = templates.LongDesc(`
	Roll back to a previous revision of a resource, as a new commit.

	The resource's form at the previous revision (or at --to-revision) is written back through the
	same rules as every change: each field into the layer of the repository that owns it, proved
	by rendering every target again. History is never rewritten, and other resources that the old
	commit changed too are left as they are now.

	A resource that a commit removed from the target comes back, as apply -f brings a new one, in
	a file of its own in the target's directory with the form it last rendered with.`)

var rolloutUndoExample = templates.Examples(`
	# Restore deployment web's form before its last change
	kubectl gitops rollout undo deployment/web

	# Restore revision 3, as a diff only
	kubectl gitops rollout undo deployment/web --to-revision=3 --dry-run

	# Bring back a service that a commit deleted
	kubectl gitops rollout undo service/web`)

// RolloutUndoOptions are the options of `kubectl gitops rollout undo`.
type RolloutUndoOptions struct {
	changeFlags
	ToRevision int

	args []string
	genericiooptions.IOStreams
}

// NewCmdRolloutUndo builds `kubectl gitops rollout undo`.
func NewCmdRolloutUndo(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RolloutUndoOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "undo (TYPE NAME | TYPE/NAME) [flags]",
		DisableFlagsInUseLine: true,
		Short:                 "Roll back to a previous revision, as a new commit",
		Long:                  rolloutUndoLong,
		Example:               rolloutUndoExample,
	}
	o.changeFlags.addFlags(cmd)
	cmd.Flags().IntVar(&o.ToRevision, "to-revision", 0, "The revision to roll back to. Default to 0 (the revision before the last).")
	return writeCommand(f, cmd, o)
}

// Complete keeps the object argument: its history is read in Run.
func (o *RolloutUndoOptions) Complete(_ cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.args = args
	return nil
}

// Validate checks the flag values.
func (o *RolloutUndoOptions) Validate(cmd *cobra.Command) error {
	if o.ToRevision < 0 {
		return usageErrorf(cmd, "--to-revision must be a revision number (0 for the previous one), not %d", o.ToRevision)
	}
	return o.changeFlags.validate(cmd)
}

// Run writes the chosen revision's form of the object back into the repository.
func (o *RolloutUndoOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	h, err := o.objectHistory(f, cmd, o.args)
	if err != nil {
		return err
	}
	revs := h.result.Revisions
	var want *history.Revision
	if o.ToRevision == 0 {
		if len(revs) < 2 {
			return fmt.Errorf("no rollout history found for %s in target %s: it renders as its first revision made it (commit %s)", h.name, h.target, shortHash(revs[0].Commit.Hash))
		}
		want = &revs[len(revs)-2]
	} else if want, err = h.revision(o.ToRevision); err != nil {
		return err
	}
	if want.Object == nil {
		return fmt.Errorf("revision %d of %s is commit %s, which removed it from target %s: there is no form to roll back to; choose a revision that renders it with --to-revision (`kubectl gitops rollout history %s`), or bring it back with `kubectl gitops apply -f`", want.Number, h.name, shortHash(want.Commit.Hash), h.target, h.name)
	}
	id := h.result.ID
	var removed *history.Revision
	if last := &revs[len(revs)-1]; last.Deleted {
		removed = last
	}
	req := o.request(o.IOStreams, h.target, h.targets)
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		now := r.Get(id)
		if now == nil && removed == nil {
			return nil, fmt.Errorf("%s no longer renders in target %s", id, r.Path)
		}
		if now == nil {
			// A removed object comes back as apply -f brings a new one: a file of its own in
			// the target's directory, holding the form it rendered with.
			return []change.ObjectChange{{Desired: want.Object.DeepCopy().Object}}, nil
		}
		return []change.ObjectChange{{Object: now, Desired: want.Object.DeepCopy().Object}}, nil
	}
	req.Subject = func(objs []*render.Object) string {
		return fmt.Sprintf("roll back %s to revision %d, commit %s", describeObjects(objs), want.Number, shortHash(want.Commit.Hash))
	}
	req.Out = o.Out
	forRelease(&req)
	res, err := workflow.Run(cmd.Context(), req)
	var nc *workflow.NoChangeError
	if errors.As(err, &nc) {
		fmt.Fprintf(o.Out, "%s skipped rollback (current template already matches revision %d)\n", h.name, want.Number)
		return o.settle(cmd.Context(), o.IOStreams)
	}
	var refused *change.RefusedError
	if removed != nil && errors.As(err, &refused) {
		return fmt.Errorf("%s was removed from target %s by commit %s (revision %d), and its revision %d cannot be written back as a new file of the target: %w\n"+
			"To restore it, revert the removal (`git revert %s`, if that commit changed nothing else) or change the target by hand; `kubectl gitops rollout history %s --revision=%d` shows the form it had",
			h.name, h.target, shortHash(removed.Commit.Hash), removed.Number, want.Number, err, shortHash(removed.Commit.Hash), h.name, want.Number)
	}
	if err != nil {
		return err
	}
	return o.finish(cmd.Context(), o.IOStreams, "rolled back", res, []string{h.name})
}
