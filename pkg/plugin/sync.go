package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	gitopssync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var syncLong = templates.LongDesc(`
	Ask the reconciler of a target to act now instead of at its next interval: Flux through the
	reconcile.fluxcd.io/requestedAt annotation on the Kustomization and its GitRepository, Argo CD
	through the argocd.argoproj.io/refresh annotation on the Application.

	The reconciler is the Flux Kustomization or Argo CD Application named as TYPE/NAME, the one
	whose labels a named object carries, or every one in the cluster that applies the target's
	repository, branch and path.

	With --wait, it then renders the head of the branch the reconciler follows and waits until
	the live objects match it (compared as 'kubectl gitops diff' compares), showing how many are
	done. It fails with exit status 1 after --timeout, naming what still differs.`)

var syncExample = templates.Examples(`
	# Ask the reconciler of this repository's target to act now
	kubectl gitops sync

	# Wait until the cluster runs the pushed commit of the staging target
	kubectl gitops sync staging --wait

	# The Flux Kustomization that applies deploy/web, waiting at most two minutes
	kubectl gitops sync deploy/web -n shop --wait --timeout 2m

	# A Flux Kustomization or an Argo CD Application by name
	kubectl gitops sync kustomization/apps -n flux-system
	kubectl gitops sync application/shop-staging -n argocd`)

// SyncOptions are the options of `kubectl gitops sync`.
type SyncOptions struct {
	Repo    string
	Path    string
	Target  string
	Wait    bool
	Timeout time.Duration

	object            string // TYPE/NAME
	namespace         string
	namespaceExplicit bool
	context           string
	factory           cmdutil.Factory
	sync              gitopssync.Options
	genericiooptions.IOStreams
}

// NewSyncOptions returns the defaults of `kubectl gitops sync`.
func NewSyncOptions(streams genericiooptions.IOStreams) *SyncOptions {
	return &SyncOptions{Timeout: gitopssync.DefaultTimeout, IOStreams: streams}
}

// NewCmdSync builds `kubectl gitops sync`.
func NewCmdSync(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewSyncOptions(streams)
	cmd := &cobra.Command{
		Use:                   "sync [TARGET | TYPE/NAME] [--wait] [--timeout DURATION]",
		DisableFlagsInUseLine: true,
		Short:                 "Ask Flux or Argo CD to apply the repository now, and wait until the cluster matches it",
		Long:                  syncLong,
		Example:               syncExample,
		Args:                  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return err
			}
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Repo, "repo", o.Repo, "The config repository's working tree (default: the repository of the current directory).")
	fl.StringVar(&o.Path, "path", o.Path, "The target's path in the repository, the directory the reconciler renders.")
	fl.StringVar(&o.Target, "target", o.Target, "A target named in .kubectl-gitops.yaml or discovered in the repository.")
	fl.BoolVar(&o.Wait, "wait", o.Wait, "Wait until the live objects match the render of the branch head the reconciler follows.")
	fl.DurationVar(&o.Timeout, "timeout", o.Timeout, "With --wait, how long to wait before failing with what still differs.")
	return cmd
}

// Complete reads the arguments and takes the cluster connection from the factory.
func (o *SyncOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		if strings.Contains(args[0], "/") {
			o.object = args[0]
		} else if o.Target != "" && o.Target != args[0] {
			return usageErrorf(cmd, "target %q and --target %q differ: give one", args[0], o.Target)
		} else {
			o.Target = args[0]
		}
	}
	ns, explicit, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return err
	}
	if fl := cmd.Flags().Lookup("namespace"); fl != nil {
		explicit = fl.Changed
	}
	o.namespace, o.namespaceExplicit = ns, explicit
	if fl := cmd.Flags().Lookup("context"); fl != nil && fl.Value.String() != "" {
		o.context = fl.Value.String()
	} else if raw, err := f.ToRawKubeConfigLoader().RawConfig(); err == nil {
		o.context = raw.CurrentContext
	}
	o.factory = f
	o.sync, err = syncOptions(f, o.IOStreams)
	return err
}

// Validate checks the flag values.
func (o *SyncOptions) Validate(cmd *cobra.Command) error {
	if o.object != "" && (o.Target != "" || o.Path != "") {
		return usageErrorf(cmd, "give either TYPE/NAME or --target/--path, not both")
	}
	if o.Timeout <= 0 {
		return usageErrorf(cmd, "--timeout must be positive, not %s", o.Timeout)
	}
	if cmd.Flags().Changed("timeout") && !o.Wait {
		return usageErrorf(cmd, "--timeout needs --wait")
	}
	if o.object != "" {
		if _, _, err := workflow.ParseObjectArgs([]string{o.object}); err != nil {
			return usageErrorf(cmd, "%v", err)
		}
	}
	cmd.SilenceUsage = true
	return nil
}

// Run finds the reconciler (named, or through the target), asks it to act and, with --wait,
// waits.
func (o *SyncOptions) Run(cmd *cobra.Command) error {
	so := o.sync
	so.Namespace, so.Wait, so.Timeout = o.namespace, o.Wait, o.Timeout
	ro := target.ResolveOptions{Repo: o.Repo, Path: o.Path, Target: o.Target, Context: o.context}
	if o.object != "" {
		refs, _, _ := workflow.ParseObjectArgs([]string{o.object})
		if kind := reconcilerKind(refs[0].Resource); kind != "" {
			// The reconciler itself: the engine reads what it applies. Flux's and Argo CD's
			// objects live in their own namespaces, whatever the context's is.
			ns := o.namespace
			if !o.namespaceExplicit {
				ns = target.DefaultArgoNamespace
				if kind == gitopssync.FluxKustomization {
					ns = fluxNamespace
				}
			}
			so.Reconcilers = []gitopssync.Reconciler{{Kind: kind, Namespace: ns, Name: refs[0].Name}}
			return runSync(cmd.Context(), so)
		}
		// Any other object leads to its reconciler through its Flux or Argo CD labels.
		var err error
		sel := workflow.Selection{Refs: refs, Namespace: o.namespace, NamespaceExplicit: o.namespaceExplicit}
		if ro.Live, err = fetchLive(o.factory, sel); err != nil {
			return fmt.Errorf("failed to read %s from the cluster: %w", o.object, err)
		}
		if ro.Client, err = o.factory.DynamicClient(); err != nil {
			return err
		}
		ro.Mapper = so.Mapper
	}
	t, _, err := target.Resolve(cmd.Context(), ro)
	if err != nil {
		return err
	}
	so.Target = t
	return runSync(cmd.Context(), so)
}

// fluxNamespace is where Flux's objects live unless told otherwise, as for the flux CLI.
const fluxNamespace = "flux-system"

// reconcilerKind tells whether a typed resource names a Flux Kustomization or an Argo CD
// Application, as kubectl matches names: short name, kind or plural, with or without group.
func reconcilerKind(resource string) gitopssync.Kind {
	res, group, _ := strings.Cut(strings.ToLower(resource), ".")
	in := func(full string) bool { return group == "" || strings.HasPrefix(full, group) }
	switch res {
	case "ks", "kustomization", "kustomizations":
		if in("kustomize.toolkit.fluxcd.io") {
			return gitopssync.FluxKustomization
		}
	case "app", "apps", "application", "applications":
		if in("argoproj.io") {
			return gitopssync.ArgoCDApplication
		}
	}
	return ""
}

// syncOptions are the engine's options that come from the factory and the streams.
func syncOptions(f cmdutil.Factory, streams genericiooptions.IOStreams) (gitopssync.Options, error) {
	var so gitopssync.Options
	var err error
	if so.Config, err = f.ToRESTConfig(); err != nil {
		return so, err
	}
	if so.Mapper, err = f.ToRESTMapper(); err != nil {
		return so, err
	}
	if so.Discovery, err = f.ToDiscoveryClient(); err != nil {
		return so, err
	}
	so.Progress = streams.ErrOut
	so.Terminal = term.TTY{Out: streams.ErrOut}.IsTerminalOut()
	return so, nil
}

// runSync runs the engine; a timeout exits 1 with what still differs.
func runSync(ctx context.Context, so gitopssync.Options) error {
	_, err := gitopssync.Run(ctx, so)
	var timeout *gitopssync.TimeoutError
	if errors.As(err, &timeout) {
		return &ExitError{Code: 1, Err: err}
	}
	return err
}

// SyncPushed asks the reconcilers of t to apply the commit just pushed and waits, at most
// timeout, until the cluster matches it: `--push --wait` of the change commands. Progress goes
// to streams.ErrOut; a timeout is an *ExitError with code 1 naming what still differs.
func SyncPushed(ctx context.Context, f cmdutil.Factory, streams genericiooptions.IOStreams, t *target.Target, timeout time.Duration) error {
	so, err := syncOptions(f, streams)
	if err != nil {
		return err
	}
	if so.Namespace, _, err = f.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	so.Target, so.Wait, so.Timeout = t, true, timeout
	return runSync(ctx, so)
}
