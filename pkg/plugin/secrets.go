package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
)

// NewCmdSecrets builds `kubectl gitops secrets`: the commands about the repository's secrets as a
// whole (the guard, and rotation).
func NewCmdSecrets(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets SUBCOMMAND",
		Short: "Check the repository's secrets, or encrypt them again for new keys",
		Long: templates.LongDesc(`
			Commands about the repository's secrets as a whole. "check" is the guard the pre-commit
			hook runs: it refuses plaintext Secrets, secretGenerator literals and private keys.
			"rotate" encrypts a target's Secrets again for the keys that should read them now.`),
		Run: runHelp,
	}
	cmd.AddCommand(NewCmdSecretsCheck(f, streams), NewCmdSecretsRotate(f, streams))
	return cmd
}
