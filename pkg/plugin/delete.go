package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var deleteLong = templates.LongDesc(`
	Delete resources from the GitOps repository, so the reconciler prunes them.

	An object whose file only this target renders loses its document (and the file and its
	kustomization resources: entry, when it was the file's only object); an object from a base that
	other targets share is removed for this target alone, with a $patch: delete patch in the
	target's overlay. The closed loop checks that only these objects vanish.`)

var deleteExample = templates.Examples(`
	# Delete the deployment worker from the staging target
	kubectl gitops delete deployment/worker --repo . --path overlays/staging

	# Everything a file names
	kubectl gitops delete -f old-jobs.yaml

	# Every ConfigMap labelled legacy=true
	kubectl gitops delete configmap -l legacy=true`)

// DeleteOptions are the options of `kubectl gitops delete`.
type DeleteOptions struct {
	changeFlags
	objectSelectionFlags
	selection workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdDelete builds `kubectl gitops delete`.
func NewCmdDelete(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DeleteOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)])",
		DisableFlagsInUseLine: true,
		Short:                 "Delete resources from Git",
		Long:                  deleteLong,
		Example:               deleteExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	return writeCommand(f, cmd, o)
}

// Complete reads the objects to delete.
func (o *DeleteOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, _, err := o.selectObjects(f, cmd, o.IOStreams, args, func(string) bool { return false })
	o.selection = sel
	return err
}

// Validate checks the flag values.
func (o *DeleteOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run removes the objects from the repository.
func (o *DeleteOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, o.selection)
	if err != nil {
		return err
	}
	var objs []*render.Object
	req := o.request(o.IOStreams, t, targets)
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		var err error
		if objs, err = o.selection.Select(r); err != nil {
			return nil, err
		}
		var out []change.ObjectChange
		for _, obj := range objs {
			out = append(out, change.ObjectChange{Object: obj})
		}
		return out, nil
	}
	req.Subject = func(objs []*render.Object) string {
		return "delete " + describeObjects(objs)
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	if err != nil {
		return err
	}
	var names []string
	for _, obj := range objs {
		names = append(names, kubectlQuoted(obj))
	}
	return o.finish(ctx, o.IOStreams, "deleted", res, names)
}

// kubectlQuoted names an object as kubectl delete reports it: deployment.apps "web".
func kubectlQuoted(o *render.Object) string {
	kind := strings.ToLower(o.ID.Kind)
	if o.ID.Group != "" {
		kind += "." + o.ID.Group
	}
	return fmt.Sprintf("%s %q", kind, o.ID.Name)
}
