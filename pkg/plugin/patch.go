package plugin

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/mutate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var patchExample = templates.Examples(`
	# Strategic-merge patch of deployment web, written into the layer of Git that owns each field
	kubectl gitops patch deployment web -p '{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":60}}}}'

	# A JSON merge patch from a file
	kubectl gitops patch hpa/worker --type merge --patch-file hpa-bounds.yaml

	# A JSON patch
	kubectl gitops patch deploy/web --type json -p '[{"op":"replace","path":"/spec/replicas","value":3}]'`)

// PatchOptions are the options of `kubectl gitops patch`.
type PatchOptions struct {
	changeFlags
	objectSelectionFlags
	Patch     string
	PatchFile string
	PatchType string

	patch     []byte
	selection workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdPatch builds `kubectl gitops patch`.
func NewCmdPatch(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &PatchOptions{PatchType: "strategic", IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "patch (-f FILENAME | TYPE NAME) [-p PATCH|--patch-file FILE]",
		DisableFlagsInUseLine: true,
		Short:                 "Update fields of a resource, in Git",
		Long: templates.LongDesc(`
			Update fields of a resource using a strategic merge patch, a JSON merge patch, or a JSON
			patch, as kubectl patch does; the patched fields are written into the repository, each
			in the layer that owns it, as one commit.`),
		Example: patchExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Patch, "patch", "p", "", "The patch to be applied to the resource JSON file.")
	fl.StringVar(&o.PatchFile, "patch-file", "", "A file containing a patch to be applied to the resource.")
	fl.StringVar(&o.PatchType, "type", o.PatchType, "The type of patch being provided; one of [json merge strategic].")
	return writeCommand(f, cmd, o)
}

// Complete reads the objects and the patch (JSON or YAML, strictly: a key given twice is an
// error, as kubectl's --validate=strict).
func (o *PatchOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, _, err := o.selectObjects(f, cmd, o.IOStreams, args, func(string) bool { return false })
	if err != nil {
		return err
	}
	o.selection = sel
	if (o.Patch == "") == (o.PatchFile == "") {
		return usageErrorf(cmd, "must specify exactly one of --patch (-p) or --patch-file")
	}
	raw, what := []byte(o.Patch), "--patch"
	if o.PatchFile != "" {
		what = "--patch-file " + o.PatchFile
		if raw, err = os.ReadFile(o.PatchFile); err != nil {
			return fmt.Errorf("reading --patch-file: %w", err)
		}
	}
	if len(raw) > maxManifestBytes {
		return usageErrorf(cmd, "%s is larger than %d MiB", what, maxManifestBytes>>20)
	}
	if o.patch, err = yaml.YAMLToJSONStrict(raw); err != nil {
		return usageErrorf(cmd, "%s is not valid JSON or YAML: %s", what, strictReason(err))
	}
	return nil
}

// Validate checks the flag values.
func (o *PatchOptions) Validate(cmd *cobra.Command) error {
	switch o.PatchType {
	case "strategic", "merge", "json":
	default:
		return usageErrorf(cmd, "--type must be one of strategic, merge, json; not %q", o.PatchType)
	}
	return o.changeFlags.validate(cmd)
}

// Run writes the patched fields into the repository.
func (o *PatchOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      "patched",
		mutate:    func(u *unstructured.Unstructured) error { return mutate.Patch(u, o.PatchType, o.patch) },
		subject: func(objs []*render.Object) string {
			return fmt.Sprintf("patch %s", describeObjects(objs))
		},
	})
}
