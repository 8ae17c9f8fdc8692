package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/mutate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var applyLong = templates.LongDesc(`
	Apply a configuration to the GitOps repository by file name or stdin, as one commit.

	For objects the target already renders, the fields in the file win and the fields it does not
	mention are kept (server-side apply's semantics, on the repository), each written into the
	layer that owns it. A new object gets a file of its own in the target's directory, added to
	its kustomization's resources:.`)

var applyExample = templates.Examples(`
	# Apply a manifest to the target the repository's config or the cluster's labels name
	kubectl gitops apply -f web.yaml

	# A directory, into a given target, as a diff only
	kubectl gitops apply -f manifests/ --repo . --path overlays/staging --dry-run

	# From stdin, naming new files <namespace>-<name>.yaml
	cat cm.yaml | kubectl gitops apply -f - --filename-template '{{.Namespace}}-{{.Name}}.yaml'`)

// ApplyOptions are the options of `kubectl gitops apply`.
type ApplyOptions struct {
	changeFlags
	fileNameFlag
	Filenames []string
	Recursive bool

	objects []*unstructured.Unstructured
	genericiooptions.IOStreams
}

// NewCmdApply builds `kubectl gitops apply`.
func NewCmdApply(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ApplyOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "apply (-f FILENAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Apply a configuration to Git by file name or stdin",
		Long:                  applyLong,
		Example:               applyExample,
	}
	o.changeFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringSliceVarP(&o.Filenames, "filename", "f", nil, "Files or directories that contain the configuration to apply, or - for stdin.")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "Process the directories given with -f recursively.")
	o.fileNameFlag.addFlag(cmd)
	return writeCommand(f, cmd, o)
}

// Complete reads the manifests -f gives.
func (o *ApplyOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf(cmd, "unexpected arguments %v: apply takes -f", args)
	}
	if len(o.Filenames) == 0 {
		return usageErrorf(cmd, "must specify -f FILENAME")
	}
	if err := o.fileNameFlag.complete(cmd); err != nil {
		return err
	}
	objs, err := readManifests(f, o.In, o.Filenames, o.Recursive)
	if err != nil {
		return err
	}
	o.objects = objs
	if len(o.objects) == 0 {
		return fmt.Errorf("no objects passed to apply")
	}
	return nil
}

// Validate checks the flag values.
func (o *ApplyOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run writes the objects into the repository.
func (o *ApplyOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	first := o.objects[0]
	sel := workflow.Selection{Refs: []workflow.ObjectRef{{Resource: strings.ToLower(first.GetKind()), Name: first.GetName()}}}
	if ns := first.GetNamespace(); ns != "" {
		sel.Namespace, sel.NamespaceExplicit = ns, true
	}
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, sel)
	if err != nil {
		return err
	}
	// names are what the objects are called in the output; existing are the rendered ids of those
	// that the target already has (the others are created). Both are redone when a rejected push
	// plans the change again on the remote's head.
	var names []string
	var existing []*render.ObjectID
	req := o.request(o.IOStreams, t, targets)
	req.FileName = o.fileName
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		names, existing = names[:0], existing[:0]
		var out []change.ObjectChange
		for _, u := range o.objects {
			gk := u.GroupVersionKind().GroupKind()
			found := r.Find(gk, u.GetNamespace(), u.GetName())
			if len(found) > 1 {
				return nil, fmt.Errorf("%s %s is defined more than once in target path %s: set metadata.namespace in the file", strings.ToLower(gk.Kind), u.GetName(), r.Path)
			}
			name := strings.ToLower(gk.Kind)
			if gk.Group != "" {
				name += "." + gk.Group
			}
			names = append(names, name+"/"+u.GetName())
			if len(found) == 0 {
				existing = append(existing, nil)
				clean := u.DeepCopy()
				unstructured.RemoveNestedField(clean.Object, "status")
				out = append(out, change.ObjectChange{Desired: clean.Object})
				continue
			}
			existing = append(existing, &found[0].ID)
			desired := found[0].Obj().DeepCopy()
			applied := u.DeepCopy()
			unstructured.RemoveNestedField(applied.Object, "status")
			if applied.GetNamespace() == "" {
				applied.SetNamespace(desired.GetNamespace())
			}
			patch, err := applied.MarshalJSON()
			if err != nil {
				return nil, err
			}
			patchType := "strategic"
			if !mutate.HasStrategicMerge(desired) {
				patchType = "merge"
			}
			if err := mutate.Patch(desired, patchType, patch); err != nil {
				return nil, fmt.Errorf("%s: %w", found[0].ID, err)
			}
			out = append(out, change.ObjectChange{Object: found[0], Desired: desired.Object})
		}
		return out, nil
	}
	req.Subject = func(objs []*render.Object) string {
		return "apply " + describeObjects(objs)
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	var nc *workflow.NoChangeError
	if errors.As(err, &nc) && (o.Output == "" || o.Output == "name") {
		// Every object is already as the files say: kubectl apply's "unchanged", no failure.
		for _, n := range names {
			if o.Output == "name" {
				fmt.Fprintln(o.Out, n)
			} else {
				fmt.Fprintf(o.Out, "%s unchanged\n", n)
			}
		}
		return o.settle(ctx, o.IOStreams)
	}
	if noChange(o.ErrOut, err) {
		return o.settle(ctx, o.IOStreams)
	}
	if err != nil {
		return err
	}
	return o.finishEach(ctx, o.IOStreams, res, names, applyVerbs(res, existing))
}

// applyVerbs says, as kubectl apply does, what became of each object: created when the target did
// not render it, configured when its fields changed, unchanged otherwise.
func applyVerbs(res *workflow.Result, existing []*render.ObjectID) []string {
	changed := map[string]bool{}
	for _, o := range res.Objects {
		changed[o.Object] = true
	}
	verbs := make([]string, len(existing))
	for i, id := range existing {
		switch {
		case id == nil:
			verbs[i] = "created"
		case changed[id.String()]:
			verbs[i] = "configured"
		default:
			verbs[i] = "unchanged"
		}
	}
	return verbs
}
