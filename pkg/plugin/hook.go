package plugin

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

// NewCmdHook builds `kubectl gitops hook`: what the Git hook shims run.
func NewCmdHook(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook pre-commit | pre-push",
		Short: "Run a Git hook's checks (the hook shims call this)",
		Long: templates.LongDesc(`
			The checks of the Git hooks. The shims that 'kubectl gitops hooks install' writes (or the
			pre-commit framework runs) call these with git's arguments and input; they can also be
			run by hand from the repository. Exit status: 0 the commit or push may go on, 1 it is
			refused, more than 1 the checks could not run (which refuses it too).`),
		Run: runHelp,
	}
	cmd.AddCommand(NewCmdHookPreCommit(f, streams), NewCmdHookPrePush(f, streams))
	return cmd
}

// HookPreCommitOptions are the options of `kubectl gitops hook pre-commit`.
type HookPreCommitOptions struct {
	Repo string

	repo  string
	color bool
	genericiooptions.IOStreams
}

// NewCmdHookPreCommit builds `kubectl gitops hook pre-commit`.
func NewCmdHookPreCommit(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HookPreCommitOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "pre-commit [--repo DIR]",
		DisableFlagsInUseLine: true,
		Short:                 "Check the index: the secrets guard on the staged files, and the targets they touch still render",
		Long: templates.LongDesc(`
			Check what the next commit holds, the index, whatever the work tree holds: the secrets
			guard on the staged files (plaintext Secrets, secretGenerator literals, private keys),
			with the guard.allow of the index; and every target whose files are staged must still
			render, rendered from the index, with no Secret in the clear among what it renders.
			git commit --no-verify skips the hook.`),
		Example: templates.Examples(`
			# What the pre-commit hook runs
			kubectl gitops hook pre-commit`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return exitCode2(err)
			}
			cmd.SilenceUsage = true
			return o.Run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", o.Repo, "The repository (default: the repository of the current directory, where git runs its hooks).")
	return cmd
}

// Complete finds the repository.
func (o *HookPreCommitOptions) Complete(cmd *cobra.Command) error {
	dir := o.Repo
	if dir == "" {
		dir = "."
	}
	var err error
	if o.repo, err = gitTop(cmd, dir); err != nil {
		return err
	}
	o.color = os.Getenv("NO_COLOR") == "" && term.TTY{Out: o.Out}.IsTerminalOut()
	return nil
}

// Run checks the index and prints the report.
func (o *HookPreCommitOptions) Run(cmd *cobra.Command) error {
	rep, err := hooks.PreCommit(cmd.Context(), hooks.PreCommitOptions{Dir: o.repo})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("pre-commit: %w; to commit without the check: git commit --no-verify", err)}
	}
	if err := hooks.WritePreCommit(o.Out, rep, o.color); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if rep.Failed() {
		return &ExitError{Code: 1}
	}
	return nil
}

// HookPrePushOptions are the options of `kubectl gitops hook pre-push`.
type HookPrePushOptions struct {
	Repo string

	repo      string
	remote    string
	updates   []hooks.RefUpdate
	clusters  *verify.Kubeconfig
	namespace string
	color     bool
	genericiooptions.IOStreams
}

// NewCmdHookPrePush builds `kubectl gitops hook pre-push`.
func NewCmdHookPrePush(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HookPrePushOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "pre-push [REMOTE [URL]] [--repo DIR] < REF-UPDATES",
		DisableFlagsInUseLine: true,
		Short:                 "Check a push: the secrets guard on the pushed commits, the cluster matches the remote branch, a server-side dry-run",
		Long: templates.LongDesc(`
			Check a push, reading git's pre-push input on standard input: one line per ref, with
			its local ref, local sha, remote ref and remote sha (under the pre-commit framework, its
			environment variables instead). Every commit the push brings to the remote goes through
			the secrets guard, on the files it changes, at that commit. For each pushed branch that
			a target follows, against the target's cluster:

			* the cluster must match the render at the remote's commit. If it does not, someone
			  changed the cluster by hand (or the reconciler is behind), and the push would make the
			  reconciler silently undo it: the drift is reported, with 'kubectl gitops capture
			  --drift' to write it to Git first;
			* the render at the pushed commit must pass a server-side dry-run apply, and hold no
			  Secret in the clear.

			A new branch has no remote commit: only the dry-run runs. Deleted branches, tags and
			branches no target follows are not checked. ` + hooks.BranchRule + ` Each target is
			checked against the cluster of its context in .kubectl-gitops.yaml, else the context in
			use. A cluster that does not answer fails the hook. git push --no-verify skips it.`),
		Example: templates.Examples(`
			# What the pre-push hook runs for 'git push origin main'
			echo "refs/heads/main $(git rev-parse main) refs/heads/main $(git rev-parse origin/main)" |
			  kubectl gitops hook pre-push origin`),
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return &ExitError{Code: 2, Err: noVerify(err)}
			}
			cmd.SilenceUsage = true
			return o.Run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", o.Repo, "The repository (default: the repository of the current directory, where git runs its hooks).")
	return cmd
}

// Complete reads the ref updates and finds the repository and the clusters.
func (o *HookPrePushOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	dir := o.Repo
	if dir == "" {
		dir = "."
	}
	var err error
	if o.repo, err = gitTop(cmd, dir); err != nil {
		return err
	}
	if len(args) > 0 {
		o.remote = args[0]
	}
	if u, remote, ok := hooks.PreCommitFrameworkUpdate(os.Getenv); ok {
		o.updates = []hooks.RefUpdate{u}
		if o.remote == "" {
			o.remote = remote
		}
	} else if o.updates, err = hooks.ParseRefUpdates(o.In); err != nil {
		return err
	}
	if o.namespace, _, err = f.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	if o.clusters, err = kubeconfigClusters(f, cmd); err != nil {
		return err
	}
	o.color = os.Getenv("NO_COLOR") == "" && term.TTY{Out: o.Out}.IsTerminalOut()
	return nil
}

// Run checks the push and prints the report.
func (o *HookPrePushOptions) Run(cmd *cobra.Command) error {
	rep, err := hooks.PrePush(cmd.Context(), hooks.PrePushOptions{
		Dir:       o.repo,
		Remote:    o.remote,
		Updates:   o.updates,
		Clusters:  o.clusters,
		Namespace: o.namespace,
	})
	if err != nil {
		// What was checked before the checks stopped (the secrets guard on the pushed commits)
		// is shown with the reason they stopped.
		if rep != nil {
			if werr := hooks.WritePrePush(o.Out, rep, o.color); werr != nil {
				return &ExitError{Code: 2, Err: werr}
			}
		}
		return &ExitError{Code: 2, Err: noVerify(err)}
	}
	if err := hooks.WritePrePush(o.Out, rep, o.color); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if rep.Failed() {
		return &ExitError{Code: 1}
	}
	return nil
}

// noVerify says how to push anyway when the checks cannot run.
func noVerify(err error) error {
	return fmt.Errorf("pre-push: %w\nThe pre-push hook of kubectl-gitops checks the cluster before a push; to push without the check: git push --no-verify", err)
}

// gitTop is the root of the git work tree holding dir.
func gitTop(cmd *cobra.Command, dir string) (string, error) {
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("--repo: %w", err)
	}
	return guard.Toplevel(cmd.Context(), dir)
}
