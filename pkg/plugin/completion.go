package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

var completionLong = templates.LongDesc(`
	Print a shell completion script for kubectl-gitops.

	Invoked as "kubectl gitops", completion comes through kubectl itself: install the
	kubectl_complete-gitops script shipped with the plugin somewhere on PATH and kubectl (1.26 and
	newer) completes the plugin's commands, flags and resource names.`)

var completionExample = templates.Examples(`
	# Bash, for the current shell
	source <(kubectl-gitops completion bash)

	# Zsh
	kubectl-gitops completion zsh > "${fpath[1]}/_kubectl-gitops"`)

// NewCmdCompletion builds `kubectl gitops completion bash|zsh|fish|powershell`.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	shells := map[string]func(cmd *cobra.Command) error{
		"bash":       func(cmd *cobra.Command) error { return cmd.Root().GenBashCompletionV2(streams.Out, true) },
		"zsh":        func(cmd *cobra.Command) error { return cmd.Root().GenZshCompletion(streams.Out) },
		"fish":       func(cmd *cobra.Command) error { return cmd.Root().GenFishCompletion(streams.Out, true) },
		"powershell": func(cmd *cobra.Command) error { return cmd.Root().GenPowerShellCompletionWithDesc(streams.Out) },
	}
	return &cobra.Command{
		Use:                   "completion bash|zsh|fish|powershell",
		Short:                 "Print the shell completion script",
		Long:                  completionLong,
		Example:               completionExample,
		DisableFlagsInUseLine: true,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return shells[args[0]](cmd)
		},
	}
}
