package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

var renderLong = templates.LongDesc(`
	Print what the reconciler would apply for a target: the kustomize build of its path (or
	the manifests of a plain directory), with the reconciler's own options on top, as
	kustomize-controller builds a Flux Kustomization (targetNamespace, namePrefix and nameSuffix,
	patches, images, components, commonMetadata, postBuild substitution) and as Argo CD's
	repo-server renders an Application's source (kustomize and directory options). This is the
	render every change is proven against.

	The target is TARGET or --target (a name of .kubectl-gitops.yaml, or a reconciler object as
	KIND/NAMESPACE/NAME, with @DIR when several cluster directories define it: see
	'kubectl gitops targets'), or the directory --path; without one, the only target of the
	repository (or of the current directory in it).

	The output is YAML, as 'kubectl kustomize' prints it, or with -o json a List; Secret values
	are masked as kubectl diff masks them. With --show-origin each object is preceded by a
	comment naming the repository file and document (counted from 1) it was written in, or the
	kustomization whose generator made it, and the reconciler options that changed it, in the
	order they were applied.

	No cluster is contacted unless the command knows its kubeconfig reaches the target's cluster
	(--context or --kubeconfig is given, or the target's configured context is the current one):
	then the ConfigMaps and Secrets that postBuild.substituteFrom and valuesFrom name and the
	repository does not hold, and the Secrets of chart repositories' credentials, are read from
	it, and a chart whose repository cannot be reached, and which the chart cache lacks, is
	rendered from the copy source-controller holds (with a warning). A target that does not
	render exits 1 with the reason.`)

var renderExample = templates.Examples(`
	# What Flux applies for the apps Kustomization of the staging cluster directory
	kubectl gitops render kustomization/flux-system/apps@clusters/staging

	# An Argo CD Application's render, as JSON
	kubectl gitops render application/argocd/shop-staging -o json

	# A directory, with the file, document and layer of each object
	kubectl gitops render --repo ~/fleet --path overlays/production --show-origin`)

// RenderOptions are the options of `kubectl gitops render`.
type RenderOptions struct {
	Repo       string
	Path       string
	Target     string
	Output     string
	ShowOrigin bool

	target *target.Target
	// factory reaches the cluster; cluster is the target's, when the command is connected to it.
	factory cmdutil.Factory
	cluster *renderCluster
	genericiooptions.IOStreams
}

// NewRenderOptions returns the defaults of `kubectl gitops render`.
func NewRenderOptions(streams genericiooptions.IOStreams) *RenderOptions {
	return &RenderOptions{IOStreams: streams, Output: "yaml"}
}

// NewCmdRender builds `kubectl gitops render`.
func NewCmdRender(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewRenderOptions(streams)
	o.factory = f
	cmd := &cobra.Command{
		Use:                   "render [TARGET] [--repo DIR] [--path PATH | --target NAME] [-o yaml|json] [--show-origin]",
		DisableFlagsInUseLine: true,
		Aliases:               []string{"build"},
		Short:                 "Print what the reconciler would apply for a target",
		Long:                  renderLong,
		Example:               renderExample,
		Args:                  cobra.MaximumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeTargets(cmd, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// The flags are checked before the target is looked for: a mistake in them is
			// reported first.
			if err := o.Validate(cmd); err != nil {
				return err
			}
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			return o.Run()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Repo, "repo", o.Repo, "The config repository's working tree (default: the repository of the current directory).")
	fl.StringVar(&o.Path, "path", o.Path, "The directory of the repository to render.")
	fl.StringVar(&o.Target, "target", o.Target, "The target to render: a name of .kubectl-gitops.yaml or a reconciler object, KIND/NAMESPACE/NAME[@DIR].")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: one of yaml, json.")
	fl.BoolVar(&o.ShowOrigin, "show-origin", o.ShowOrigin, "Precede each object with a comment naming the file, document and reconciler options it comes from (YAML only).")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("target", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeTargets(cmd, toComplete)
	}))
	return cmd
}

// Complete finds the target: TARGET, --target or --path, else the only one.
func (o *RenderOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		if o.Target != "" && o.Target != args[0] {
			return usageErrorf(cmd, "TARGET %s and --target %s name two targets: give one", args[0], o.Target)
		}
		o.Target = args[0]
	}
	ro := target.ResolveOptions{Repo: o.Repo, Path: o.Path, Target: o.Target}
	named := ro.Repo != "" || ro.Path != "" || ro.Target != ""
	if !named {
		// The targets in the current directory, or its repository's if it is the root.
		ro.Repo = "."
	}
	t, d, err := target.Resolve(cmd.Context(), ro)
	if err != nil {
		if !named {
			return fmt.Errorf("give the target to render as TARGET, --target or --path (`kubectl gitops targets` lists them): %w", err)
		}
		return err
	}
	if o.Target == "" && o.Path != "" && d != nil {
		// Reconcilers that apply one directory with their own options render it differently:
		// --path alone cannot say which render is meant.
		var same []target.Target
		for _, c := range d.Targets {
			if c.Path == t.Path {
				same = append(same, c)
			}
		}
		if len(same) > 1 {
			return fmt.Errorf("--path %s is rendered by %d targets: %s; give the one you mean with --target", o.Path, len(same), targetList(same))
		}
	}
	o.target = t
	o.cluster = connectedRender(o.factory, cmd, t, o.ErrOut)
	return nil
}

// Validate checks the flag values.
func (o *RenderOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "yaml", "json":
	default:
		return usageErrorf(cmd, "--output must be one of yaml, json; not %q", o.Output)
	}
	if o.ShowOrigin && o.Output != "yaml" {
		return usageErrorf(cmd, "--show-origin writes YAML comments: use it with -o yaml")
	}
	return nil
}

// Run renders the target as the closed loop does and prints it.
func (o *RenderOptions) Run() error {
	t := o.target
	opts := render.Options{Applied: t.Applied}
	if o.cluster != nil {
		opts.Lookup, opts.Cluster = o.cluster.Lookup, o.cluster
	}
	res, err := render.Render(t.RepoDir, t.Path, opts)
	if err != nil {
		return fmt.Errorf("target %s does not render: %w", t, err)
	}
	if o.Output == "json" {
		list := &unstructured.UnstructuredList{Object: map[string]any{
			"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}}}
		for _, obj := range res.Objects {
			list.Items = append(list.Items, *maskSecret(obj.Obj()))
		}
		return (&printers.JSONPrinter{}).PrintObj(list, o.Out)
	}
	docs, err := res.Documents()
	if err != nil {
		return err
	}
	if len(docs) != len(res.Objects) {
		return errors.New("the render's documents do not match its objects")
	}
	for i, obj := range res.Objects {
		if i > 0 {
			fmt.Fprintln(o.Out, "---")
		}
		if o.ShowOrigin {
			fmt.Fprintf(o.Out, "# Source: %s\n", originComment(obj.Origin))
		}
		doc := docs[i]
		if isSecret(obj.ID) {
			// kustomize writes a document as the YAML of its JSON, as sigs.k8s.io/yaml does.
			if doc, err = yaml.Marshal(maskSecret(obj.Obj()).Object); err != nil {
				return err
			}
		}
		if _, err := o.Out.Write(doc); err != nil {
			return err
		}
	}
	return nil
}

// secretMask is what kubectl diff shows in place of a Secret's value.
const secretMask = "***"

func isSecret(id render.ObjectID) bool { return id.Group == "" && id.Kind == "Secret" }

// maskSecret is u, or for a Secret a copy with every value of data and stringData (and kubectl
// apply's annotation, which holds them too) masked as kubectl diff masks them: the terminal
// never shows what a Secret holds, encrypted or not.
func maskSecret(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u.GroupVersionKind().Group != "" || u.GetKind() != "Secret" {
		return u
	}
	out := u.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		if m, ok := out.Object[field].(map[string]any); ok {
			for k := range m {
				m[k] = secretMask
			}
		}
	}
	if a := out.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
		a[corev1.LastAppliedConfigAnnotation] = secretMask
		out.SetAnnotations(a)
	}
	return out
}

// originComment says where an object comes from: its file and document (from 1), or the
// kustomization whose generator made it, and the reconciler options that changed it.
func originComment(org render.Origin) string {
	var s string
	switch {
	case org.Generated != "":
		s = "generated by " + org.Generated
	case org.File != "" && org.Doc >= 0:
		s = fmt.Sprintf("%s, document %d", org.File, org.Doc+1)
	case org.File != "":
		s = org.File
	case org.Layer != "":
		// A chart's object: the release and the template that made it.
		return org.Layer
	default:
		s = "unknown"
	}
	// Options of one reconciler in a row name it once: "Flux Kustomization flux-system/apps
	// spec.patches[0], spec.targetNamespace".
	var layers []string
	prev := ""
	for _, l := range org.Layers() {
		i := strings.LastIndex(l, " ")
		if i > 0 && l[:i] == prev {
			layers = append(layers, l[i+1:])
			continue
		}
		prev = ""
		if i > 0 {
			prev = l[:i]
		}
		layers = append(layers, l)
	}
	if len(layers) > 0 {
		s += "; layers: " + strings.Join(layers, ", ")
	}
	return s
}

// completeTargets completes a target's name: the targets of --repo, else of the current
// directory's repository.
func completeTargets(cmd *cobra.Command, toComplete string) ([]string, cobra.ShellCompDirective) {
	dir := "."
	if fl := cmd.Flags().Lookup("repo"); fl != nil && fl.Value.String() != "" {
		dir = fl.Value.String()
	}
	repo, err := repoTop(cmd, dir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ts, err := target.Discover(repo, nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, t := range ts {
		if strings.HasPrefix(t.Name, toComplete) {
			out = append(out, t.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
