package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/intercept"
)

var shellInitLong = templates.LongDesc(`
	Print a shell function named kubectl that makes kubectl's changes to GitOps-managed objects
	in Git.

	With it loaded, kubectl edit, scale, set, label, annotate, patch, apply, delete and rollout
	undo on an object that a GitOps target manages (the live object carries Flux's or Argo CD's
	labels, or the repository configuration of the current directory renders it) run the
	kubectl gitops equivalent, which commits instead of changing the cluster, and say so in one
	line. Every other command runs kubectl unchanged. In an emergency, KUBECTL_GITOPS_BYPASS=1
	or kubectl --gitops=off ... runs kubectl as it is.`)

var shellInitExample = templates.Examples(`
	# bash: add to ~/.bashrc
	eval "$(kubectl-gitops shell-init bash)"

	# zsh: add to ~/.zshrc
	eval "$(kubectl-gitops shell-init zsh)"

	# fish: add to ~/.config/fish/config.fish
	kubectl-gitops shell-init fish | source`)

// NewCmdShellInit builds `kubectl gitops shell-init`.
func NewCmdShellInit(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                   "shell-init (" + strings.Join(intercept.Shells, "|") + ")",
		DisableFlagsInUseLine: true,
		Short:                 "Print a kubectl shell function that turns changes to managed objects into commits",
		Long:                  shellInitLong,
		Example:               shellInitExample,
		ValidArgs:             intercept.Shells,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(cmd, "give one shell: %s", strings.Join(intercept.Shells, ", "))
			}
			script, err := intercept.Script(args[0])
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			_, err = fmt.Fprint(streams.Out, script)
			return err
		},
	}
}
