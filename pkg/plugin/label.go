package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/mutate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// MetaOptions are the options of `label` and `annotate`, which differ only in the field.
type MetaOptions struct {
	changeFlags
	objectSelectionFlags
	Overwrite bool

	field     string // "label" or "annotation"
	verb      string // "labeled" or "annotated", as kubectl reports it
	change    mutate.MetaChange
	selection workflow.Selection
	genericiooptions.IOStreams
}

var labelExample = templates.Examples(`
	# Label deployment web with tier=frontend, in Git
	kubectl gitops label deployment web tier=frontend

	# Change an existing label
	kubectl gitops label deploy/web tier=edge --overwrite

	# Remove it
	kubectl gitops label deploy/web tier-`)

var annotateExample = templates.Examples(`
	# Annotate deployment web, in Git
	kubectl gitops annotate deployment/web description='storefront web'

	# Change or remove annotations
	kubectl gitops annotate deploy/web description='shop frontend' --overwrite
	kubectl gitops annotate deploy/web description-`)

// NewCmdLabel builds `kubectl gitops label`.
func NewCmdLabel(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newMetaCmd(f, streams, "label", "labeled", labelExample)
}

// NewCmdAnnotate builds `kubectl gitops annotate`.
func NewCmdAnnotate(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newMetaCmd(f, streams, "annotation", "annotated", annotateExample)
}

func newMetaCmd(f cmdutil.Factory, streams genericiooptions.IOStreams, field, verb, example string) *cobra.Command {
	o := &MetaOptions{field: field, verb: verb, IOStreams: streams}
	use := "label"
	if field == "annotation" {
		use = "annotate"
	}
	cmd := &cobra.Command{
		Use:                   use + " [--overwrite] (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N",
		DisableFlagsInUseLine: true,
		Short:                 fmt.Sprintf("Update the %ss on a resource, in Git", field),
		Example:               example,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, fmt.Sprintf("If true, allow %ss to be overwritten, otherwise reject updates that overwrite existing %ss.", field, field))
	return writeCommand(f, cmd, o)
}

func isMetaArg(a string) bool {
	return strings.Contains(a, "=") || strings.HasSuffix(a, "-") && !strings.Contains(a, "/")
}

// Complete reads the objects and the KEY=VALUE and KEY- arguments.
func (o *MetaOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, pairs, err := o.selectObjects(f, cmd, o.IOStreams, args, isMetaArg)
	if err != nil {
		return err
	}
	o.selection = sel
	if len(pairs) == 0 {
		return usageErrorf(cmd, "at least one %s update is required: KEY=VALUE or KEY-", o.field)
	}
	ch, err := mutate.ParseMetaArgs(pairs, validation.IsQualifiedName)
	if err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if o.field == "label" {
		for k, v := range ch.Set {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return usageErrorf(cmd, "invalid label value %q for %s: %s", v, k, strings.Join(errs, "; "))
			}
		}
	}
	ch.Overwrite = o.Overwrite
	o.change = ch
	return nil
}

// Validate checks the flag values.
func (o *MetaOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run writes the labels or annotations into the repository.
func (o *MetaOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	apply := mutate.Labels
	if o.field == "annotation" {
		apply = mutate.Annotations
	}
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      o.verb,
		mutate:    func(u *unstructured.Unstructured) error { return apply(u, o.change) },
		subject: func(objs []*render.Object) string {
			var parts []string
			for k, v := range o.change.Set {
				parts = append(parts, k+"="+v)
			}
			sort.Strings(parts)
			for _, k := range o.change.Remove {
				parts = append(parts, k+"-")
			}
			verbWord := "label"
			if o.field == "annotation" {
				verbWord = "annotate"
			}
			return fmt.Sprintf("%s %s %s", verbWord, describeObjects(objs), strings.Join(parts, " "))
		},
	})
}
