package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var targetsLong = templates.LongDesc(`
	List the targets of the config repository: what its reconcilers apply, each with why it is
	a target and whether it renders now.

	A target is a Flux Kustomization (its path in its source: the repository, or an
	ExternalArtifact assembled from it), an Argo CD Application (each of its sources; the
	Applications an ApplicationSet generates too), a target of .kubectl-gitops.yaml (when the file
	names targets, they are the only ones), or, only when the repository holds no reconciler
	object and no configuration, a top-level kustomization or manifest directory (a fallback
	path). NAME is what --target takes; a reconciler object that several cluster directories of
	the repository define is named with the directory, KIND/NAMESPACE/NAME@DIR.

	A target that does not render is listed with RENDERS "no", and the reason on stderr: a
	change cannot harm it, and the closed loop leaves it out. Reconcilers that discovery could
	not follow (a path that is not in the repository, a source it cannot read) are warnings on
	stderr, one line each.

	The repository is read as it is in the working tree; no cluster is contacted.`)

var targetsExample = templates.Examples(`
	# The targets of the repository the current directory is in
	kubectl gitops targets

	# With their sources and the files that define them
	kubectl gitops targets --repo ~/fleet -o wide

	# One reconciler's target, for a script
	kubectl gitops targets --target kustomization/flux-system/apps@clusters/staging -o json`)

// TargetsOptions are the options of `kubectl gitops targets`.
type TargetsOptions struct {
	Repo   string
	Path   string
	Target string
	Output string

	targets  []target.Target
	warnings []string
	genericiooptions.IOStreams
}

// NewTargetsOptions returns the defaults of `kubectl gitops targets`.
func NewTargetsOptions(streams genericiooptions.IOStreams) *TargetsOptions {
	return &TargetsOptions{IOStreams: streams}
}

// NewCmdTargets builds `kubectl gitops targets`.
func NewCmdTargets(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewTargetsOptions(streams)
	cmd := &cobra.Command{
		Use:                   "targets [--repo DIR] [--path PATH | --target NAME] [-o wide|json|yaml]",
		DisableFlagsInUseLine: true,
		Short:                 "List what the reconcilers apply from the repository, and why",
		Long:                  targetsLong,
		Example:               targetsExample,
		Args:                  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The flags are checked before the repository is read: a mistake in them is
			// reported first.
			if err := o.Validate(cmd); err != nil {
				return err
			}
			if err := o.Complete(cmd); err != nil {
				return err
			}
			return o.Run()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Repo, "repo", o.Repo, "The config repository's working tree (default: the repository of the current directory).")
	fl.StringVar(&o.Path, "path", o.Path, "List only the targets that render this directory of the repository.")
	fl.StringVar(&o.Target, "target", o.Target, "List only this target: a name of .kubectl-gitops.yaml or a reconciler object, KIND/NAMESPACE/NAME[@DIR].")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: one of wide, json, yaml; default a table.")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("target", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeTargets(cmd, toComplete)
	}))
	return cmd
}

// Validate checks the flag values.
func (o *TargetsOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "wide", "json", "yaml":
	default:
		return usageErrorf(cmd, "--output must be one of wide, json, yaml; not %q", o.Output)
	}
	return nil
}

// Complete finds the repository and its targets, those --path or --target name when given.
func (o *TargetsOptions) Complete(cmd *cobra.Command) error {
	dir := o.Repo
	if dir == "" {
		dir = "."
	}
	repo, err := repoTop(cmd, dir)
	if err != nil {
		return err
	}
	s, warnings, err := target.Scan(repo, nil)
	if err != nil {
		return err
	}
	all := s.Targets
	o.warnings = warnings
	if o.Path == "" && o.Target == "" {
		o.targets = all
		return nil
	}
	t, _, err := target.Resolve(cmd.Context(), target.ResolveOptions{Repo: repo, Path: o.Path, Target: o.Target})
	if err != nil {
		return err
	}
	for _, c := range all {
		switch {
		case o.Target != "":
			if c.Name == t.Name && c.Path == t.Path {
				o.targets = append(o.targets, c)
			}
		// A path in an artifact is listed with the repository directory it is copied from.
		case c.Path == t.Path || target.Describe(c).Path == t.Path:
			o.targets = append(o.targets, c)
		}
	}
	if len(o.targets) == 0 {
		return fmt.Errorf("--path %s: no reconciler, %s target or fallback rule renders it; the targets of %s are: %s (give --path to the commands that change or render a directory that is no target)",
			o.Path, target.ConfigFile, repo, targetList(all))
	}
	return nil
}

func targetList(ts []target.Target) string {
	if len(ts) == 0 {
		return "none"
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

// targetOutput is one target as -o json|yaml prints it.
type targetOutput struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	Reconciler   string `json:"reconciler,omitempty"`
	SourceField  string `json:"sourceField,omitempty"`
	Path         string `json:"path"`
	ArtifactPath string `json:"artifactPath,omitempty"`
	URL          string `json:"url,omitempty"`
	Branch       string `json:"branch,omitempty"`
	Artifact     string `json:"artifact,omitempty"`
	Found        string `json:"found"`
	File         string `json:"file,omitempty"`
	GeneratedBy  string `json:"generatedBy,omitempty"`
	Renders      bool   `json:"renders"`
	Reason       string `json:"reason,omitempty"`
}

type targetsOutput struct {
	Targets []targetOutput `json:"targets"`
}

// Run renders each target to tell whether it renders, and prints the list.
func (o *TargetsOptions) Run() error {
	for _, w := range o.warnings {
		fmt.Fprintf(o.ErrOut, "Warning: %s\n", w)
	}
	out := targetsOutput{Targets: []targetOutput{}}
	for _, t := range o.targets {
		d := target.Describe(t)
		to := targetOutput{Name: d.Name, Kind: d.Kind, Reconciler: d.Reconciler, SourceField: d.SourceField, Path: d.Path, ArtifactPath: d.ArtifactPath,
			URL: d.URL, Branch: d.Branch, Artifact: d.Artifact, Found: d.Found, File: d.File, GeneratedBy: d.GeneratedBy, Renders: true}
		// Through the render cache, as the closed loop renders it: a second listing is quick.
		if _, err := change.Render(t.RepoDir, change.Target{Path: t.Path, Applied: t.Applied}, workflow.RenderCache(t.RepoDir)); err != nil {
			to.Renders = false
			to.Reason, _, _ = strings.Cut(err.Error(), "\n")
		}
		out.Targets = append(out.Targets, to)
	}
	if done, err := printStructured(o.Out, o.Output, out); done {
		return err
	}
	w := printers.GetNewTabWriter(o.Out)
	wide := o.Output == "wide"
	if wide {
		fmt.Fprintln(w, "NAME\tKIND\tPATH\tSOURCE\tREVISION\tFOUND\tRENDERS")
	} else {
		fmt.Fprintln(w, "NAME\tKIND\tPATH\tRENDERS")
	}
	for _, t := range out.Targets {
		renders := "yes"
		if !t.Renders {
			renders = "no"
		}
		if !wide {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Kind, t.Path, renders)
			continue
		}
		source := orNone(t.URL)
		if t.Artifact != "" {
			source = t.Artifact
		}
		if t.SourceField != "" {
			source += " (" + t.SourceField + ")"
		}
		found := t.File
		switch {
		case t.GeneratedBy != "":
			found = t.GeneratedBy + " in " + t.File
		case t.Found == target.FoundCluster:
			found = "cluster"
		case t.Found == target.FoundFallback:
			found = "fallback"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Kind, t.Path, source, orNone(t.Branch), orNone(found), renders)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, t := range out.Targets {
		if !t.Renders {
			fmt.Fprintf(o.ErrOut, "Warning: target %s does not render: %s\n", t.Name, t.Reason)
		}
	}
	return nil
}

// orNone is s, or "<none>" as kubectl get prints an empty cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
