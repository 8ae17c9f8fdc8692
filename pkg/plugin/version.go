package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/buildinfo"
)

var versionExample = templates.Examples(`
	# Print the plugin's version
	kubectl gitops version

	# Print it as JSON, with the cluster's version too
	kubectl gitops version --server-version -o json`)

// VersionOptions are the options of `kubectl gitops version`.
type VersionOptions struct {
	Output string
	Server bool

	serverVersion func() (*version.Info, error)
	genericiooptions.IOStreams
}

// versionReport is what `version -o json|yaml` prints.
type versionReport struct {
	ClientVersion buildinfo.Info `json:"clientVersion"`
	ServerVersion *version.Info  `json:"serverVersion,omitempty"`
}

// NewVersionOptions returns the defaults of `kubectl gitops version`.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	return &VersionOptions{IOStreams: streams}
}

// NewCmdVersion builds `kubectl gitops version`.
func NewCmdVersion(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVersionOptions(streams)
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin's version (and the cluster's with --server-version)",
		Example: versionExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f); err != nil {
				return err
			}
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "One of 'yaml' or 'json'.")
	cmd.Flags().BoolVar(&o.Server, "server-version", o.Server, "Also print the version of the cluster the kubeconfig points at (needs the cluster).")
	return cmd
}

// Complete resolves the cluster connection, only when --server asks for it.
func (o *VersionOptions) Complete(f cmdutil.Factory) error {
	if !o.Server {
		return nil
	}
	o.serverVersion = func() (*version.Info, error) {
		dc, err := f.ToDiscoveryClient()
		if err != nil {
			return nil, err
		}
		return dc.ServerVersion()
	}
	return nil
}

// Validate checks the flag values.
func (o *VersionOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return usageErrorf(cmd, "--output must be 'yaml' or 'json', not %q", o.Output)
}

// Run prints the version report.
func (o *VersionOptions) Run() error {
	report := versionReport{ClientVersion: buildinfo.Get()}
	if o.serverVersion != nil {
		sv, err := o.serverVersion()
		if err != nil {
			return err
		}
		report.ServerVersion = sv
	}
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(o.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(report)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	c := report.ClientVersion
	fmt.Fprintf(o.Out, "Version: %s\nGit commit: %s\nBuild date: %s\nGo version: %s\nPlatform: %s\n",
		c.Version, c.GitCommit, c.BuildDate, c.GoVersion, c.Platform)
	if report.ServerVersion != nil {
		fmt.Fprintf(o.Out, "Server version: %s\n", report.ServerVersion.GitVersion)
	}
	return nil
}
