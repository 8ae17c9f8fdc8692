package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/editsession"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var editLong = templates.LongDesc(`
	Edit a resource as the GitOps repository renders it, in your editor; saving makes one commit.

	The editor is the one KUBE_EDITOR or EDITOR names, else vi. It opens the object as the target
	renders it (no status, no server fields), under a comment saying which repository, target and
	files a save will change. Every field you change is written into the layer of the repository
	that owns it. An invalid edit, a changed name, kind or namespace, or a change the closed loop
	refuses reopens the editor with the error on top; saving an unchanged or empty file cancels.

	A Secret is edited on its own (secret/NAME). Encrypted with sops, its values are decrypted in
	memory and shown decoded, and only the values you change are encrypted again; a SealedSecret
	shows its keys, and a key given a new value is sealed again. The editor's file lives in a
	private directory that is removed when the edit ends or is interrupted.`)

var editExample = templates.Examples(`
	# Edit deployment web as the staging target renders it
	kubectl gitops edit deploy/web

	# Several objects in one session, as JSON
	kubectl gitops edit deploy/web svc/web -o json

	# Show the repository change a save would make, without committing
	kubectl gitops edit deploy/web --dry-run

	# Change values of an encrypted Secret
	kubectl gitops edit secret/db -n shop`)

// EditOptions are the options of `kubectl gitops edit`.
type EditOptions struct {
	changeFlags
	objectSelectionFlags
	OutputPatch        bool
	WindowsLineEndings bool
	EditFormat         string

	selection workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdEdit builds `kubectl gitops edit`.
func NewCmdEdit(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &EditOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "edit (RESOURCE/NAME | -f FILENAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Edit a resource in Git, in your editor",
		Long:                  editLong,
		Example:               editExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&o.OutputPatch, "output-patch", false, "Print the patch of the edited objects' fields.")
	fl.BoolVar(&o.WindowsLineEndings, "windows-line-endings", false, "Use Windows line endings in the editor's file.")
	cmd.Flags().Lookup("output").Usage = "Output format of the editor's text: yaml (default) or json; of the result: name."
	return writeCommand(f, cmd, o)
}

// Complete reads the objects to edit.
func (o *EditOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, _, err := o.selectObjects(f, cmd, o.IOStreams, args, func(string) bool { return false })
	if err != nil {
		return err
	}
	o.selection = sel
	if o.Output == "json" {
		o.EditFormat, o.Output = "json", ""
	}
	return nil
}

// Validate checks the flag values.
func (o *EditOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run opens the editor and writes what is saved into the repository.
func (o *EditOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, o.selection)
	if err != nil {
		return err
	}
	engTargets := []change.Target{{Path: t.Path, Applied: t.Applied}}
	for _, o := range targets {
		engTargets = append(engTargets, change.Target{Path: o.Path, Applied: o.Applied})
	}
	r, err := change.NewEngine(t.RepoDir, engTargets, change.Options{Includes: o.discovered.Includes}).Rendered(t.Key())
	if err != nil {
		return err
	}
	if routed, err := o.secretEdit(ctx, f, cmd, t, targets, r); routed {
		return err
	}
	objs, err := o.selection.Select(r)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if workflow.IsSecretKind(obj) {
			return fmt.Errorf("%s is a Secret: edit it on its own, as `kubectl gitops edit secret/%s`, which decrypts its values for the editor only and encrypts what changes", obj.ID, obj.ID.Name)
		}
	}
	text, err := o.encode(objs)
	if err != nil {
		return err
	}
	files := map[string]bool{}
	for _, obj := range objs {
		if obj.Origin.File != "" {
			files[obj.Origin.File] = true
		}
	}
	var fileList []string
	for f := range files {
		fileList = append(fileList, f)
	}
	header := []string{
		"Please edit the object below. Lines beginning with a '#' will be ignored,",
		"and an empty file will abort the edit.",
		fmt.Sprintf("Saving commits to %s, target %s (path %s);", t.RepoDir, t.Name, t.Path),
		"each changed field goes into the layer that owns it: the object's file " + strings.Join(fileList, ", "),
		"if only this target renders it, else this target's overlay.",
	}
	ext := "yaml"
	if o.EditFormat == "json" {
		ext = "json"
	}
	session := &editsession.Session{
		Editor:             editsession.EnvEditor("KUBE_EDITOR", "EDITOR"),
		Header:             header,
		FileName:           "edit." + ext,
		WindowsLineEndings: o.WindowsLineEndings,
	}
	var result *workflow.Result
	err = session.Run(ctx, text, func(edited []byte) error {
		desired, err := matchEdited(objs, edited)
		if err != nil {
			return &editsession.RetryError{Err: err}
		}
		req := o.request(o.IOStreams, t, targets)
		req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
			var out []change.ObjectChange
			for i, obj := range objs {
				now := r.Get(obj.ID)
				if now == nil {
					return nil, fmt.Errorf("%s no longer renders in target %s", obj.ID, r.Path)
				}
				out = append(out, change.ObjectChange{Object: now, Desired: desired[i]})
			}
			return out, nil
		}
		req.Subject = func(objs []*render.Object) string { return "edit " + describeObjects(objs) }
		forRelease(&req)
		res, err := workflow.Run(ctx, req)
		var refused *change.RefusedError
		var invalid *workflow.InvalidError
		if errors.As(err, &refused) || errors.As(err, &invalid) {
			return &editsession.RetryError{Err: err}
		}
		var nc *workflow.NoChangeError
		if errors.As(err, &nc) {
			return editsession.ErrCancelled
		}
		result = res
		return err
	})
	if errors.Is(err, editsession.ErrCancelled) {
		fmt.Fprintln(o.ErrOut, err.Error())
		return nil
	}
	if err != nil {
		return interruptedExit(err)
	}
	if o.OutputPatch {
		for _, obj := range result.Objects {
			fmt.Fprintf(o.Out, "Patch for %s: %s\n", obj.Object, strings.Join(obj.Changes, "; "))
		}
	}
	var names []string
	for _, obj := range objs {
		names = append(names, resourceName(obj))
	}
	return o.finish(ctx, o.IOStreams, "edited", result, names)
}

// encode shows the objects as the target renders them, one YAML document each (or JSON).
func (o *EditOptions) encode(objs []*render.Object) ([]byte, error) {
	var b bytes.Buffer
	for i, obj := range objs {
		clean := obj.Obj().DeepCopy()
		unstructured.RemoveNestedField(clean.Object, "status")
		if o.EditFormat == "json" {
			js, err := json.MarshalIndent(clean.Object, "", "    ")
			if err != nil {
				return nil, err
			}
			b.Write(js)
			b.WriteString("\n")
			continue
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(clean.Object)
		if err != nil {
			return nil, err
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// matchEdited reads the edited documents and pairs them with the objects, which must keep their
// kind, name and namespace.
func matchEdited(objs []*render.Object, edited []byte) ([]map[string]any, error) {
	docs, err := decodeObjects("the edited file", edited)
	if err != nil {
		return nil, fmt.Errorf("the edited file is not valid YAML or JSON: %w", err)
	}
	if len(docs) != len(objs) {
		return nil, fmt.Errorf("the edit has %d objects, the session opened %d: objects cannot be added or removed in edit (use apply or delete)", len(docs), len(objs))
	}
	out := make([]map[string]any, len(docs))
	for i, u := range docs {
		want := objs[i].ID
		gvk := u.GroupVersionKind()
		if gvk.Kind != want.Kind || gvk.Group != want.Group || u.GetName() != want.Name || u.GetNamespace() != want.Namespace {
			return nil, fmt.Errorf("the kind, name and namespace of an object cannot change in edit: %s became %s %s/%s", want, gvk.Kind, u.GetNamespace(), u.GetName())
		}
		out[i] = u.Object
	}
	return out, nil
}
