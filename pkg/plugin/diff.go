package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var diffLong = templates.LongDesc(`
	Show how the cluster differs from what the GitOps repository renders for a target: the
	fields Git sets that the cluster holds differently (drift), the objects in Git missing from
	the cluster, and, with --prune, the objects the reconciler owns (by its Flux or Argo CD labels)
	that Git no longer has.

	Fields Git does not set are never drift: server defaults, status, and what other field
	managers own. Every difference is confirmed with a server-side dry-run apply, so defaulting
	and mutating webhooks do not show as drift. Secret values are masked as kubectl diff masks
	them. The diff reads from the cluster to Git: '+' lines are what applying Git would write.
	KUBECTL_EXTERNAL_DIFF is honoured as by kubectl diff.

	With --from REV, compare two revisions of the repository instead, offline: for every target
	whose render differs between REV and --to (default: the working tree, files not yet
	committed included), the unified diff of its rendered objects, grouped by target, Secret
	values masked. Only the targets that read a file that differs are rendered, from the render
	kept for the working tree with the differing files in place. -o markdown writes it for a pull
	request comment, one collapsible section per target.

	Exit status: 0 no differences, 1 differences, more than 1 an error.`)

var diffExample = templates.Examples(`
	# The target of the repository the current directory is in
	kubectl gitops diff

	# One overlay of a repository, with the objects Flux would prune
	kubectl gitops diff --repo ~/fleet --path apps/staging --prune

	# Two objects of the target, for a script
	kubectl gitops diff deploy/web svc/web -o json

	# What a pull request changes in what the reconcilers apply, as a comment for it
	kubectl gitops diff --from origin/main --to HEAD -o markdown`)

// DiffOptions are the options of `kubectl gitops diff`.
type DiffOptions struct {
	Repo          string
	Path          string
	Target        string
	Prune         bool
	PruneSelector string
	Output        string
	From          string
	To            string

	args         []string
	selection    workflow.Selection
	target       *target.Target
	namespace    string
	config       *rest.Config
	mapper       meta.RESTMapper
	discovery    discovery.CachedDiscoveryInterface
	color        bool
	externalDiff string
	genericiooptions.IOStreams
}

// NewDiffOptions returns the defaults of `kubectl gitops diff`.
func NewDiffOptions(streams genericiooptions.IOStreams) *DiffOptions {
	return &DiffOptions{IOStreams: streams}
}

// NewCmdDiff builds `kubectl gitops diff`.
func NewCmdDiff(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDiffOptions(streams)
	cmd := &cobra.Command{
		Use:                   "diff [TARGET | TYPE/NAME...] [--repo DIR] [--path PATH] [--prune] [-o json] | diff --from REV [--to REV] [-o json|markdown]",
		DisableFlagsInUseLine: true,
		Short:                 "Show how the cluster differs from the GitOps repository",
		Long:                  diffLong,
		Example:               diffExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Any failure exits 2: 1 means differences.
			if err := o.Complete(f, cmd, args); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			if err := o.Validate(cmd); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			return o.Run(cmd)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: 2, Err: flagError(c, err)}
	})
	fl := cmd.Flags()
	fl.StringVar(&o.Repo, "repo", o.Repo, "The config repository's working tree (default: the repository of the current directory).")
	fl.StringVar(&o.Path, "path", o.Path, "The target's path in the repository, the directory the reconciler renders.")
	fl.StringVar(&o.Target, "target", o.Target, "A target named in .kubectl-gitops.yaml or discovered in the repository.")
	fl.BoolVar(&o.Prune, "prune", o.Prune, "Also show the objects the reconciler owns that Git no longer has.")
	fl.StringVar(&o.PruneSelector, "prune-selector", o.PruneSelector, "With --prune, the labels of the reconciler's objects, key=value[,key=value] (default: read from the live objects' Flux or Argo CD labels).")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: 'json' for machines, 'markdown' (with --from) for a pull request comment; default a unified diff.")
	fl.StringVar(&o.From, "from", o.From, "Compare the renders of this revision (a branch, tag or commit) and --to, offline, instead of the repository and the cluster.")
	fl.StringVar(&o.To, "to", o.To, "With --from, the revision compared to (default: the working tree).")
	return cmd
}

// Complete resolves the target (flags, the repository's configuration), the cluster connection
// and how to print.
func (o *DiffOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.color = os.Getenv("NO_COLOR") == "" && term.TTY{Out: o.Out}.IsTerminalOut()
	if o.From != "" || o.To != "" {
		return o.completeRevisions(cmd, args)
	}
	var objArgs []string
	for _, a := range args {
		if strings.Contains(a, "/") {
			objArgs = append(objArgs, a)
		} else if o.Target == "" && len(args) == 1 {
			o.Target = a
		} else {
			return usageErrorf(cmd, "%q is neither a TYPE/NAME nor the only argument (a TARGET)", a)
		}
	}
	o.args = objArgs
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return err
	}
	o.namespace = ns
	if len(objArgs) > 0 {
		refs, _, err := workflow.ParseObjectArgs(objArgs)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		nsFlag := cmd.Flags().Lookup("namespace")
		o.selection = workflow.Selection{Refs: refs, Namespace: ns, NamespaceExplicit: nsFlag != nil && nsFlag.Changed}
	}
	ro := target.ResolveOptions{Repo: o.Repo, Path: o.Path, Target: o.Target}
	if fl := cmd.Flags().Lookup("context"); fl != nil && fl.Value.String() != "" {
		ro.Context = fl.Value.String()
	} else if raw, err := f.ToRawKubeConfigLoader().RawConfig(); err == nil {
		ro.Context = raw.CurrentContext
	}
	o.target, _, err = target.Resolve(cmd.Context(), ro)
	var noTarget *target.NoTargetError
	var ambiguous *target.AmbiguousError
	if (errors.As(err, &noTarget) || errors.As(err, &ambiguous)) && len(o.selection.Refs) > 0 {
		o.target, err = o.liveTarget(f, cmd)
	}
	if err != nil {
		return err
	}
	if o.config, err = f.ToRESTConfig(); err != nil {
		return err
	}
	if o.mapper, err = f.ToRESTMapper(); err != nil {
		return err
	}
	if o.discovery, err = f.ToDiscoveryClient(); err != nil {
		return err
	}
	o.externalDiff = os.Getenv(diff.ExternalDiffEnv)
	return nil
}

// liveTarget finds the target as a change does when neither flags nor the configuration decide:
// through the named object's live labels, and for an object a Flux HelmRelease made, the
// release's target, which renders it.
func (o *DiffOptions) liveTarget(f cmdutil.Factory, cmd *cobra.Command) (*target.Target, error) {
	resolve := changeFlags{Repo: o.Repo, Path: o.Path, Target: o.Target}
	t, targets, live, err := resolve.resolveTarget(cmd.Context(), f, cmd, o.selection)
	if err != nil {
		return nil, err
	}
	if hr := t.HelmRelease; hr != nil && live != nil {
		rt, _, err := helmReleaseTarget(t, targets)
		if err != nil {
			return nil, fmt.Errorf("%s is made by HelmRelease %s/%s: %w", o.args[0], hr.Namespace, hr.Name, err)
		}
		if rt != nil {
			return rt, nil
		}
	}
	return t, nil
}

// completeRevisions completes diff --from: no cluster, no target; the repository of --repo or
// of the current directory.
func (o *DiffOptions) completeRevisions(cmd *cobra.Command, args []string) error {
	switch {
	case o.From == "":
		return usageErrorf(cmd, "--to needs --from: the revision to compare it with")
	case len(args) > 0:
		return usageErrorf(cmd, "--from compares every target of the repository: give no TARGET or TYPE/NAME (%s)", strings.Join(args, " "))
	case o.Path != "" || o.Target != "":
		return usageErrorf(cmd, "--from compares every target of the repository: drop --path and --target")
	case o.Prune || o.PruneSelector != "":
		return usageErrorf(cmd, "--prune compares with the cluster, and --from compares two revisions: give one of them")
	}
	if o.Repo == "" {
		o.Repo = "."
	}
	return nil
}

// Validate checks the flag values.
func (o *DiffOptions) Validate(cmd *cobra.Command) error {
	if o.From != "" {
		switch o.Output {
		case "", "json", "markdown":
		default:
			return usageErrorf(cmd, "--output must be 'json' or 'markdown' (or not given, for a unified diff), not %q", o.Output)
		}
		cmd.SilenceUsage = true
		return nil
	}
	switch o.Output {
	case "", "json":
	case "markdown":
		return usageErrorf(cmd, "-o markdown is for --from, which compares two revisions")
	default:
		return usageErrorf(cmd, "--output must be 'json' (or not given, for a unified diff), not %q", o.Output)
	}
	if o.Prune && len(o.args) > 0 {
		return usageErrorf(cmd, "--prune compares the whole target: give no TYPE/NAME with it")
	}
	if o.PruneSelector != "" {
		if !o.Prune {
			return usageErrorf(cmd, "--prune-selector needs --prune")
		}
		if _, err := labels.ConvertSelectorToLabelsMap(o.PruneSelector); err != nil {
			return usageErrorf(cmd, "--prune-selector %q: %v (want key=value[,key=value])", o.PruneSelector, err)
		}
	}
	cmd.SilenceUsage = true
	return nil
}

// Run renders the target, compares it with the cluster and prints the differences.
func (o *DiffOptions) Run(cmd *cobra.Command) error {
	if o.From != "" {
		return o.runRevisions(cmd.Context())
	}
	ctx, t := cmd.Context(), o.target
	res, err := change.Render(t.RepoDir, change.Target{Path: t.Path, Applied: t.Applied}, workflow.RenderCache(t.RepoDir))
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("failed to render %s: %w", t, err)}
	}
	objs := res.Objects
	if len(o.selection.Refs) > 0 {
		if objs, err = o.selection.Select(res); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	manifests := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		manifests = append(manifests, obj.Obj())
	}
	ns := t.Namespace
	if ns == "" {
		ns = o.namespace
	}
	var pruneLabels map[string]string
	if o.PruneSelector != "" {
		sel, _ := labels.ConvertSelectorToLabelsMap(o.PruneSelector)
		pruneLabels = sel
	}
	report, err := diff.Compare(ctx, diff.Options{
		Config:      o.config,
		Mapper:      o.mapper,
		Discovery:   o.discovery,
		Objects:     manifests,
		Namespace:   ns,
		Prune:       o.Prune,
		PruneLabels: pruneLabels,

		ArgoCDInstance: diff.ArgoCDInstanceOf(t.Applied),
	})
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("failed to compare %s with the cluster: %w", t, err)}
	}
	if err := o.print(ctx, report); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	for _, w := range report.Warnings {
		fmt.Fprintf(o.ErrOut, "Warning: %s\n", w)
	}
	for _, e := range report.Errors() {
		fmt.Fprintf(o.ErrOut, "error: %s: %s\n", e.ObjectID, e.Message)
	}
	if code := report.ExitCode(); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// print writes the report: JSON, through $KUBECTL_EXTERNAL_DIFF, or as a unified diff.
func (o *DiffOptions) print(ctx context.Context, r *diff.Report) error {
	switch {
	case o.Output == "json":
		return diff.WriteJSON(o.Out, r)
	case o.externalDiff != "":
		return diff.RunExternal(ctx, o.externalDiff, r, o.Out, o.ErrOut)
	}
	return diff.WriteUnified(o.Out, r, o.color)
}

// runRevisions compares the renders of --from and --to and prints the differences.
func (o *DiffOptions) runRevisions(ctx context.Context) error {
	r, err := revdiff.Run(ctx, revdiff.Options{Dir: o.Repo, From: o.From, To: o.To})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	switch o.Output {
	case "json":
		err = revdiff.WriteJSON(o.Out, r)
	case "markdown":
		err = revdiff.WriteMarkdown(o.Out, r, revdiff.MarkdownOptions{Heading: "#### kubectl gitops diff", MaxBytes: markdownMaxBytes})
	default:
		err = revdiff.WriteText(o.Out, r, o.color)
		if err == nil {
			fmt.Fprintln(o.ErrOut, r.Summary())
		}
	}
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	for _, t := range r.Targets {
		if t.Error != "" {
			fmt.Fprintf(o.ErrOut, "error: target %s: %s\n", t.Target, t.Error)
		}
	}
	for _, u := range r.Unrendered {
		fmt.Fprintf(o.ErrOut, "Warning: target %s renders at neither revision, so its diff is not shown: %s\n", u.Target, u.Error)
	}
	switch {
	case r.Failed():
		return &ExitError{Code: 2}
	case r.Different():
		return &ExitError{Code: 1}
	}
	return nil
}

// markdownMaxBytes keeps a markdown diff within what a pull request comment holds (GitHub's
// limit is 65,536 characters), with room for the text around it.
const markdownMaxBytes = 60000
