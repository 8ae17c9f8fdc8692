// Command kubectl-gitops is the kubectl plugin `kubectl gitops`: kubectl's verbs, written to Git.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	// Before kubectl's packages: English needs no translation catalog.
	_ "github.com/kubectl-gitops/kubectl-gitops/internal/english"
	// Paces the garbage collector from the start, before the packages after it allocate.
	_ "github.com/kubectl-gitops/kubectl-gitops/internal/gcpace"
	"github.com/kubectl-gitops/kubectl-gitops/internal/quiet"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	stop := quiet.Libraries(os.Stderr)
	code := 0
	root := plugin.NewRootCmd(streams)
	if err := root.Execute(); err != nil {
		code = plugin.ReportError(streams.ErrOut, root, err)
	}
	stop()
	os.Exit(code)
}
