package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/buildinfo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
)

// NewCmdHooks builds `kubectl gitops hooks`: installing and removing the Git hooks.
func NewCmdHooks(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks install | uninstall",
		Short: "Install or remove the Git hooks (pre-commit: secrets guard and render; pre-push: the cluster check)",
		Long: templates.LongDesc(`
			The Git hooks of kubectl-gitops. Before a commit: the secrets guard on the staged files,
			and every target the staged files touch still renders. Before a push: for each pushed
			branch a target follows, the cluster still matches the remote branch (else the push
			would undo a change made by hand) and the pushed render passes a server-side dry-run.`),
		Run: runHelp,
	}
	cmd.AddCommand(NewCmdHooksInstall(f, streams), NewCmdHooksUninstall(f, streams))
	return cmd
}

var hooksInstallLong = templates.LongDesc(`
	Write the pre-commit and pre-push hooks into the repository's hooks directory (core.hooksPath
	when set, else .git/hooks). A hook the repository already has is not overwritten: it is kept
	as pre-commit.local or pre-push.local, untouched, and runs first with the same arguments and
	input; both must pass. Installing again changes nothing. 'kubectl gitops hooks uninstall'
	puts the kept hooks back as they were.

	The hooks run kubectl-gitops from PATH. With --pre-commit-framework, nothing is written to the
	hooks directory: the repository's .pre-commit-config.yaml is created to run both hooks
	through the pre-commit framework, or, when it exists, the entry to add to it is printed.`)

var hooksInstallExample = templates.Examples(`
	# Install both hooks in the repository of the current directory
	kubectl gitops hooks install

	# Use the pre-commit framework instead
	kubectl gitops hooks install --pre-commit-framework && pre-commit install`)

// HooksInstallOptions are the options of `kubectl gitops hooks install` and `uninstall`.
type HooksInstallOptions struct {
	Repo               string
	PreCommitFramework bool

	repo string
	genericiooptions.IOStreams
}

// NewCmdHooksInstall builds `kubectl gitops hooks install`.
func NewCmdHooksInstall(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HooksInstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "install [--repo DIR] [--pre-commit-framework]",
		DisableFlagsInUseLine: true,
		Short:                 "Install the Git hooks next to the repository's own",
		Long:                  hooksInstallLong,
		Example:               hooksInstallExample,
		Args:                  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Install(cmd)
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", o.Repo, "The repository (default: the repository of the current directory).")
	cmd.Flags().BoolVar(&o.PreCommitFramework, "pre-commit-framework", o.PreCommitFramework, "Set the hooks up for the pre-commit framework (.pre-commit-config.yaml) instead of the hooks directory.")
	return cmd
}

// NewCmdHooksUninstall builds `kubectl gitops hooks uninstall`.
func NewCmdHooksUninstall(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HooksInstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "uninstall [--repo DIR]",
		DisableFlagsInUseLine: true,
		Short:                 "Remove the Git hooks and put back the hooks they kept",
		Long: templates.LongDesc(`
			Remove the hooks 'kubectl gitops hooks install' wrote, and put back the hooks the
			repository had before (kept as pre-commit.local and pre-push.local), byte for byte,
			mode included. Hooks that are not kubectl-gitops's are left alone.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Uninstall(cmd)
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", o.Repo, "The repository (default: the repository of the current directory).")
	return cmd
}

// Complete finds the repository.
func (o *HooksInstallOptions) Complete(cmd *cobra.Command) error {
	dir := o.Repo
	if dir == "" {
		dir = "."
	}
	var err error
	o.repo, err = gitTop(cmd, dir)
	return err
}

// Install writes the hooks, or the pre-commit framework's configuration.
func (o *HooksInstallOptions) Install(cmd *cobra.Command) error {
	if o.PreCommitFramework {
		return o.installPreCommitFramework()
	}
	rep, err := hooks.Install(cmd.Context(), o.repo)
	if rep != nil {
		o.printActions(rep)
	}
	return err
}

func (o *HooksInstallOptions) installPreCommitFramework() error {
	rev := buildinfo.Version
	if strings.HasSuffix(rev, "-dev") {
		// A development build has no tag to pin.
		rev = "main"
	}
	path, written, listed, err := hooks.InstallPreCommitConfig(o.repo, rev)
	if err != nil {
		return err
	}
	switch {
	case written:
		fmt.Fprintf(o.ErrOut, "wrote %s\n", path)
	case listed:
		fmt.Fprintf(o.ErrOut, "%s already runs the kubectl-gitops hooks\n", path)
	default:
		fmt.Fprintf(o.ErrOut, "%s exists and was left as it is: add this entry under its repos:\n", path)
		fmt.Fprint(o.Out, hooks.PreCommitRepoEntry(rev))
		fmt.Fprintln(o.ErrOut, "and install both hook types: pre-commit install --hook-type pre-commit --hook-type pre-push")
		return nil
	}
	fmt.Fprintln(o.ErrOut, "now run: pre-commit install (it installs the pre-commit and pre-push hooks)")
	return nil
}

// Uninstall removes the hooks and puts back the kept ones.
func (o *HooksInstallOptions) Uninstall(cmd *cobra.Command) error {
	rep, err := hooks.Uninstall(cmd.Context(), o.repo)
	if rep != nil {
		o.printActions(rep)
	}
	return err
}

func (o *HooksInstallOptions) printActions(rep *hooks.InstallReport) {
	for _, a := range rep.Hooks {
		line := fmt.Sprintf("%s: %s", a.Path, a.Action)
		switch {
		case a.Kept != "" && (a.Action == "installed" || a.Action == "updated" || a.Action == "already installed"):
			line += fmt.Sprintf("; the repository's own hook is kept as %s and runs first", a.Kept)
		case a.Kept != "":
			line += "; put back the repository's own hook"
		}
		fmt.Fprintln(o.ErrOut, line)
	}
}
