package plugin

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

var verifyLong = templates.LongDesc(`
	Check that the repository can be applied as it is. For every target (or the named ones):
	it renders; every object passes a server-side dry-run apply, so the API server's validation
	and admission (webhooks, policies) answer as they would for the reconciler, with their own
	message, and nothing is persisted; and the cluster holds what Git says (what diff shows:
	drift, objects missing). Then the secrets guard runs over the repository's files: no
	plaintext Secret, secretGenerator literal or private key.

	Each target is checked against the cluster of its context in .kubectl-gitops.yaml, else the
	context in use (--context, else the kubeconfig's current context).

	With --offline there is no cluster: the targets render, every object has an apiVersion, a
	kind and a name, built-in kinds decode strictly into their types (unknown fields and values
	of the wrong type are found; custom resources are left to the cluster's schema), and the
	secrets guard runs.

	Exit status: 0 everything passes, 1 findings, more than 1 an error.`)

var verifyExample = templates.Examples(`
	# Every target of the repository the current directory is in
	kubectl gitops verify

	# Two targets, for a script
	kubectl gitops verify overlays/staging overlays/production -o json

	# Without a cluster, as in CI
	kubectl gitops verify --offline`)

// VerifyOptions are the options of `kubectl gitops verify`.
type VerifyOptions struct {
	Repo    string
	Offline bool
	Output  string

	names     []string
	repo      string
	targets   []target.Target
	allow     func(string) (string, bool)
	clusters  verify.Clusters
	namespace string
	color     bool
	genericiooptions.IOStreams
}

// NewVerifyOptions returns the defaults of `kubectl gitops verify`.
func NewVerifyOptions(streams genericiooptions.IOStreams) *VerifyOptions {
	return &VerifyOptions{IOStreams: streams}
}

// NewCmdVerify builds `kubectl gitops verify`.
func NewCmdVerify(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVerifyOptions(streams)
	cmd := &cobra.Command{
		Use:                   "verify [TARGET...] [--repo DIR] [--offline] [-o json]",
		DisableFlagsInUseLine: true,
		Short:                 "Check that every target renders, passes a server-side dry-run, matches the cluster, and holds no plaintext secret",
		Long:                  verifyLong,
		Example:               verifyExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Any failure exits 2: 1 means findings.
			if err := o.Complete(f, cmd, args); err != nil {
				return exitCode2(err)
			}
			if err := o.Validate(cmd); err != nil {
				return exitCode2(err)
			}
			return o.Run(cmd)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: 2, Err: flagError(c, err)}
	})
	fl := cmd.Flags()
	fl.StringVar(&o.Repo, "repo", o.Repo, "The config repository's working tree (default: the repository of the current directory).")
	fl.BoolVar(&o.Offline, "offline", o.Offline, "Check without a cluster: render, schema and the secrets guard only.")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: 'json' for machines; default grouped by target and object.")
	return cmd
}

// Validate checks the flag values.
func (o *VerifyOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "json":
	default:
		return usageErrorf(cmd, "--output must be 'json' (or not given, for text), not %q", o.Output)
	}
	cmd.SilenceUsage = true
	return nil
}

// Complete finds the repository, its targets (all, or those named) and their clusters.
func (o *VerifyOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.names = args
	dir := o.Repo
	if dir == "" {
		dir = "."
	}
	repo, err := repoTop(cmd, dir)
	if err != nil {
		return err
	}
	o.repo = repo
	cfg, err := target.LoadConfig(repo)
	if err != nil {
		return err
	}
	if cfg != nil {
		o.allow = cfg.Guard.Allowed
	}
	all, err := target.Discover(repo, cfg)
	if err != nil {
		return err
	}
	if o.targets, err = selectTargets(cmd, all, args); err != nil {
		return err
	}
	if len(o.targets) == 0 {
		return fmt.Errorf("no targets in %s: no kustomization, plain manifests, Flux Kustomization or Argo CD Application found, and no %s", repo, target.ConfigFile)
	}
	o.color = os.Getenv("NO_COLOR") == "" && term.TTY{Out: o.Out}.IsTerminalOut()
	if o.Offline {
		return nil
	}
	if o.namespace, _, err = f.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	o.clusters, err = kubeconfigClusters(f, cmd)
	return err
}

// Run verifies and prints the report.
func (o *VerifyOptions) Run(cmd *cobra.Command) error {
	rep, err := verify.Run(cmd.Context(), verify.Options{
		Repo:      o.repo,
		Targets:   o.targets,
		Offline:   o.Offline,
		Clusters:  o.clusters,
		Namespace: o.namespace,
		Allow:     o.allow,
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if o.Output == "json" {
		err = verify.WriteJSON(o.Out, rep)
	} else {
		err = verify.WriteText(o.Out, rep, o.color)
	}
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if !rep.Passed() {
		return &ExitError{Code: 1}
	}
	return nil
}

// repoTop is the root of the git work tree holding dir, or dir itself (absolute) outside git.
func repoTop(cmd *cobra.Command, dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("--repo: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("--repo %s is not a directory", dir)
	}
	if top, err := guard.Toplevel(cmd.Context(), dir); err == nil {
		return top, nil
	}
	return filepath.Abs(dir)
}

// selectTargets picks the targets named by name or path; all of them when none is named.
func selectTargets(cmd *cobra.Command, all []target.Target, names []string) ([]target.Target, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []target.Target
	for _, n := range names {
		clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(n), "./"))
		found := false
		for _, t := range all {
			if t.Name == n || t.Path == clean {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			var known []string
			for _, t := range all {
				known = append(known, t.String())
			}
			sort.Strings(known)
			return nil, usageErrorf(cmd, "no target %q in the repository; its targets: %s", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// kubeconfigClusters reaches each target's cluster through the kubeconfig kubectl would read:
// the context in use with every connection flag, other contexts as the kubeconfig says.
func kubeconfigClusters(f cmdutil.Factory, cmd *cobra.Command) (*verify.Kubeconfig, error) {
	raw, err := f.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, err
	}
	current := raw.CurrentContext
	if fl := cmd.Flags().Lookup("context"); fl != nil && fl.Value.String() != "" {
		current = fl.Value.String()
	}
	return &verify.Kubeconfig{Raw: raw, Current: current, CurrentConfig: f.ToRESTConfig}, nil
}

// exitCode2 makes err end the command with exit status 2, keeping a usage error's pointer to
// --help.
func exitCode2(err error) error {
	if _, ok := err.(*ExitError); ok {
		return err
	}
	return &ExitError{Code: 2, Err: err}
}
