// Package plugin holds the cobra command tree of `kubectl gitops`: one file per verb, each turning
// flags into options and handing them to the engines. Nothing here does the work itself.
package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/completion"
	"k8s.io/kubectl/pkg/util/templates"
)

var rootLong = templates.LongDesc(`
	kubectl gitops writes what kubectl would change in the cluster into the Git repository that
	Flux or Argo CD reconciles the cluster from: one small, reviewable commit in the right file and
	layer, with every Secret encrypted before it is written.`)

// NewRootCmd builds the command tree. Every kubectl connection flag (--kubeconfig, --context,
// -n, ...) is registered once here and reaches the commands through the factory.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	cmd, _ := newRoot(streams)
	return cmd
}

// newRoot returns the command tree and the factory its commands build clients with, so tests
// can reach the cluster exactly as the commands do.
func newRoot(streams genericiooptions.IOStreams) (*cobra.Command, cmdutil.Factory) {
	configFlags := genericclioptions.NewConfigFlags(true)
	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags))

	cmd := &cobra.Command{
		Use:   "kubectl-gitops",
		Short: "Make kubectl changes as commits to the GitOps repository",
		Long:  rootLong,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl gitops",
		},
		// Errors are printed once, by ReportError, the way kubectl prints them.
		SilenceErrors: true,
		SilenceUsage:  true,
		Run:           runHelp,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(flagError)

	configFlags.AddFlags(cmd.PersistentFlags())
	registerGlobalFlagCompletion(cmd, f)
	completion.SetFactoryForCompletion(f)

	cmd.AddCommand(
		NewCmdVersion(f, streams),
		NewCmdCompletion(streams),
		NewCmdScale(f, streams),
		NewCmdSet(f, streams),
		NewCmdLabel(f, streams),
		NewCmdAnnotate(f, streams),
		NewCmdPatch(f, streams),
		NewCmdApply(f, streams),
		NewCmdCreate(f, streams),
		NewCmdDelete(f, streams),
		NewCmdEdit(f, streams),
		NewCmdDiff(f, streams),
		NewCmdSecrets(f, streams),
		NewCmdVerify(f, streams),
		NewCmdHook(f, streams),
		NewCmdHooks(f, streams),
		NewCmdCapture(f, streams),
		NewCmdSync(f, streams),
		NewCmdRollout(f, streams),
		NewCmdHistory(f, streams),
		NewCmdTargets(f, streams),
		NewCmdRender(f, streams),
		NewCmdShellInit(streams),
		NewCmdIntercept(streams),
	)
	return cmd, f
}

func runHelp(cmd *cobra.Command, _ []string) {
	_ = cmd.Help()
}

// registerGlobalFlagCompletion completes --namespace, --context, --cluster and --user as kubectl does.
func registerGlobalFlagCompletion(cmd *cobra.Command, f cmdutil.Factory) {
	noFiles := cobra.ShellCompDirectiveNoFileComp
	funcs := map[string]cobra.CompletionFunc{
		"namespace": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completion.CompGetResource(f, "namespace", toComplete), noFiles
		},
		"context": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completion.ListContextsInConfig(toComplete), noFiles
		},
		"cluster": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completion.ListClustersInConfig(toComplete), noFiles
		},
		"user": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completion.ListUsersInConfig(toComplete), noFiles
		},
	}
	for name, fn := range funcs {
		cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc(name, fn))
	}
}
