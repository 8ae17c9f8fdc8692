package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/mutate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// NewCmdSet builds `kubectl gitops set image|env|resources|secret`.
func NewCmdSet(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Set specific features on objects, in Git",
		Long: templates.LongDesc(`
			Configure objects as kubectl set does, as a commit in the GitOps repository that
			renders them.`),
		Run: runHelp,
	}
	cmd.AddCommand(NewCmdSetImage(f, streams), NewCmdSetEnv(f, streams), NewCmdSetResources(f, streams), NewCmdSetSecret(f, streams))
	return cmd
}

// objectSelectionFlags are the object-selection flags of the commands that change objects
// the target renders: TYPE/NAME arguments, -l, --all, or -f (-R) naming them in manifests.
type objectSelectionFlags struct {
	Selector  string
	All       bool
	Filenames []string
	Recursive bool
}

func (s *objectSelectionFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&s.Selector, "selector", "l", s.Selector, "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.")
	fl.BoolVar(&s.All, "all", s.All, "Select all resources of the given type in the target.")
	fl.StringSliceVarP(&s.Filenames, "filename", "f", s.Filenames, "Filename, directory, or - for stdin, naming the objects.")
	fl.BoolVarP(&s.Recursive, "recursive", "R", s.Recursive, "Process the directories given with -f recursively.")
}

// selectObjects splits the arguments into object arguments and the rest (KEY=VALUE pairs), as
// kubectl does: object arguments come first. With -f, the manifests name the objects, each in
// the namespace its manifest gives.
func (s *objectSelectionFlags) selectObjects(f cmdutil.Factory, cmd *cobra.Command, streams genericiooptions.IOStreams, args []string, isValue func(string) bool) (workflow.Selection, []string, error) {
	var objArgs, values []string
	for i, a := range args {
		if isValue(a) {
			values = args[i:]
			break
		}
		objArgs = append(objArgs, a)
	}
	if len(s.Filenames) == 0 {
		sel, err := selection(f, cmd, objArgs, s.Selector, s.All)
		return sel, values, err
	}
	if len(objArgs) > 0 || s.Selector != "" || s.All {
		return workflow.Selection{}, nil, usageErrorf(cmd, "-f names the objects: give no TYPE/NAME arguments, -l or --all with it")
	}
	sel, err := fileSelection(f, cmd, streams, s.Filenames, s.Recursive)
	return sel, values, err
}

// fileSelection selects the objects of the manifests -f gives.
func fileSelection(f cmdutil.Factory, cmd *cobra.Command, streams genericiooptions.IOStreams, files []string, recursive bool) (workflow.Selection, error) {
	objs, err := readManifests(f, streams.In, files, recursive)
	if err != nil {
		return workflow.Selection{}, err
	}
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return workflow.Selection{}, err
	}
	nsFlag := cmd.Flags().Lookup("namespace")
	sel := workflow.Selection{Namespace: ns, NamespaceExplicit: nsFlag != nil && nsFlag.Changed}
	for _, u := range objs {
		resource := strings.ToLower(u.GetKind())
		if g := u.GroupVersionKind().Group; g != "" {
			resource += "." + g
		}
		if sel.NamespaceExplicit && u.GetNamespace() != "" && u.GetNamespace() != ns {
			return workflow.Selection{}, fmt.Errorf("the namespace from the provided object %q does not match the namespace %q: you must pass '--namespace=%s' to perform this operation", u.GetNamespace(), ns, u.GetNamespace())
		}
		sel.Refs = append(sel.Refs, workflow.ObjectRef{Resource: resource, Name: u.GetName(), Namespace: u.GetNamespace()})
	}
	return sel, nil
}

var setImageExample = templates.Examples(`
	# Set the web container's image of deployment web, in the layer of Git that owns it
	kubectl gitops set image deployment/web web=registry.example.com/shop/web:1.6.0

	# Every container (init containers included) of the cronjob
	kubectl gitops set image cronjob/cache-warmup '*=registry.example.com/shop/web:1.6.0'

	# Show the commit it would make
	kubectl gitops set image deploy/web web=registry.example.com/shop/web:1.6.0 --dry-run`)

// SetImageOptions are the options of `set image`.
type SetImageOptions struct {
	changeFlags
	objectSelectionFlags
	images    map[string]string
	selection workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdSetImage builds `kubectl gitops set image`.
func NewCmdSetImage(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SetImageOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "image (-f FILENAME | TYPE NAME) CONTAINER_NAME_1=CONTAINER_IMAGE_1 ... CONTAINER_NAME_N=CONTAINER_IMAGE_N",
		DisableFlagsInUseLine: true,
		Short:                 "Update the image of a pod template, in Git",
		Example:               setImageExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	return writeCommand(f, cmd, o)
}

// Complete reads the objects and the CONTAINER=IMAGE arguments.
func (o *SetImageOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, pairs, err := o.selectObjects(f, cmd, o.IOStreams, args, func(a string) bool { return strings.Contains(a, "=") })
	if err != nil {
		return err
	}
	if len(pairs) == 0 {
		return usageErrorf(cmd, "at least one image update is required: CONTAINER=IMAGE")
	}
	images := map[string]string{}
	for _, p := range pairs {
		name, img, ok := strings.Cut(p, "=")
		if !ok || name == "" || img == "" {
			return usageErrorf(cmd, "invalid image update %q: want CONTAINER=IMAGE", p)
		}
		images[name] = img
	}
	o.selection, o.images = sel, images
	return nil
}

// Validate checks the flag values.
func (o *SetImageOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run writes the images into the repository.
func (o *SetImageOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      "image updated",
		mutate:    func(u *unstructured.Unstructured) error { return mutate.SetImages(u, o.images) },
		subject: func(objs []*render.Object) string {
			var parts []string
			for c, img := range o.images {
				parts = append(parts, c+"="+img)
			}
			sort.Strings(parts)
			return fmt.Sprintf("set image %s %s", describeObjects(objs), strings.Join(parts, " "))
		},
	})
}

var setEnvExample = templates.Examples(`
	# Add or change variables of every container of deployment web
	kubectl gitops set env deployment/web LOG_LEVEL=debug CACHE_TTL_SECONDS=60

	# Remove one, in the web container only
	kubectl gitops set env deployment/web -c web LOG_LEVEL-

	# Reference every key of a ConfigMap the target renders
	kubectl gitops set env deployment/web --from=configmap/web-config`)

// SetEnvOptions are the options of `set env`.
type SetEnvOptions struct {
	changeFlags
	objectSelectionFlags
	Container string
	From      string
	Prefix    string
	Keys      []string
	Env       []string

	change    mutate.EnvChange
	selection workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdSetEnv builds `kubectl gitops set env`.
func NewCmdSetEnv(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SetEnvOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "env RESOURCE/NAME KEY_1=VAL_1 ... KEY_N=VAL_N",
		DisableFlagsInUseLine: true,
		Short:                 "Update environment variables on a pod template, in Git",
		Example:               setEnvExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Container, "containers", "c", "*", "The names of containers in the selected pod templates to change; wildcards allowed.")
	fl.StringVar(&o.From, "from", "", "The name of a ConfigMap or Secret of the target (configmap/NAME, secret/NAME) whose keys become variables.")
	fl.StringVar(&o.Prefix, "prefix", "", "Prefix to append to variable names taken with --from.")
	fl.StringSliceVar(&o.Keys, "keys", nil, "Comma-separated list of keys to take with --from.")
	fl.StringArrayVarP(&o.Env, "env", "e", nil, "Specify a key-value pair for an environment variable to set into each container.")
	return writeCommand(f, cmd, o)
}

func isEnvArg(a string) bool {
	return strings.Contains(a, "=") || strings.HasSuffix(a, "-") && !strings.Contains(a, "/")
}

// Complete reads the objects and the KEY=VALUE and KEY- arguments.
func (o *SetEnvOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, pairs, err := o.selectObjects(f, cmd, o.IOStreams, args, isEnvArg)
	if err != nil {
		return err
	}
	o.selection = sel
	o.change = mutate.EnvChange{Container: o.Container}
	for _, p := range append(pairs, o.Env...) {
		if k, v, ok := strings.Cut(p, "="); ok {
			o.change.Set = append(o.change.Set, [2]string{k, v})
		} else {
			o.change.Remove = append(o.change.Remove, strings.TrimSuffix(p, "-"))
		}
	}
	if len(o.change.Set) == 0 && len(o.change.Remove) == 0 && o.From == "" {
		return usageErrorf(cmd, "at least one environment variable change is required: KEY=VALUE, KEY- or --from")
	}
	return nil
}

// Validate checks the flag values.
func (o *SetEnvOptions) Validate(cmd *cobra.Command) error {
	if o.From != "" {
		kind, _, ok := strings.Cut(o.From, "/")
		if !ok || (kind != "configmap" && kind != "cm" && kind != "secret") {
			return usageErrorf(cmd, "--from must be configmap/NAME or secret/NAME, not %q", o.From)
		}
	}
	return o.changeFlags.validate(cmd)
}

// fromEntries turns the keys of the --from ConfigMap or Secret of the render into valueFrom
// entries, as kubectl set env --from does.
func (o *SetEnvOptions) fromEntries(r *render.Result, ns string) ([]map[string]any, error) {
	kindArg, name, _ := strings.Cut(o.From, "/")
	kind, refKey := "ConfigMap", "configMapKeyRef"
	if kindArg == "secret" {
		kind, refKey = "Secret", "secretKeyRef"
	}
	var src *render.Object
	for _, obj := range r.Objects {
		if obj.ID.Kind == kind && obj.ID.Namespace == ns && (obj.ID.Name == name || obj.Origin.Name == name) {
			src = obj
		}
	}
	if src == nil {
		return nil, fmt.Errorf("%s %s/%s not found in target path %s", strings.ToLower(kind), ns, name, r.Path)
	}
	var keys []string
	for _, field := range []string{"data", "stringData", "binaryData"} {
		m, _, _ := unstructured.NestedMap(src.Obj().Object, field)
		for k := range m {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []map[string]any
	for _, k := range keys {
		if len(o.Keys) > 0 && !containsString(o.Keys, k) {
			continue
		}
		envName := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(o.Prefix + k))
		out = append(out, map[string]any{"name": envName, "valueFrom": map[string]any{refKey: map[string]any{"name": src.ID.Name, "key": k}}})
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Run writes the variables into the repository.
func (o *SetEnvOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	var rendered *render.Result
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      "env updated",
		inspect: func(r *render.Result, _ []*render.Object) []string {
			rendered = r
			return nil
		},
		mutate: func(u *unstructured.Unstructured) error {
			ch := o.change
			if o.From != "" {
				from, err := o.fromEntries(rendered, u.GetNamespace())
				if err != nil {
					return err
				}
				ch.From = from
			}
			return mutate.SetEnv(u, ch)
		},
		subject: func(objs []*render.Object) string {
			var parts []string
			for _, kv := range o.change.Set {
				parts = append(parts, kv[0])
			}
			for _, k := range o.change.Remove {
				parts = append(parts, k+"-")
			}
			if o.From != "" {
				parts = append(parts, "from "+o.From)
			}
			return fmt.Sprintf("set env %s %s", describeObjects(objs), strings.Join(parts, " "))
		},
	})
}

var setResourcesExample = templates.Examples(`
	# Limits and requests of every container of deployment web
	kubectl gitops set resources deployment/web --limits=cpu=500m,memory=512Mi --requests=cpu=100m,memory=256Mi

	# Only the web container's CPU limit
	kubectl gitops set resources deployment/web -c web --limits=cpu=1`)

// SetResourcesOptions are the options of `set resources`.
type SetResourcesOptions struct {
	changeFlags
	objectSelectionFlags
	Container string
	Limits    string
	Requests  string

	limits, requests map[string]any
	selection        workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdSetResources builds `kubectl gitops set resources`.
func NewCmdSetResources(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SetResourcesOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "resources (-f FILENAME | TYPE NAME) ([--limits=LIMITS & --requests=REQUESTS]",
		DisableFlagsInUseLine: true,
		Short:                 "Update resource requests/limits on objects with pod templates, in Git",
		Example:               setResourcesExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Container, "containers", "c", "*", "The names of containers in the selected pod templates to change.")
	fl.StringVar(&o.Limits, "limits", "", "The resource requirement limits for this container, e.g. cpu=200m,memory=512Mi.")
	fl.StringVar(&o.Requests, "requests", "", "The resource requirement requests for this container, e.g. cpu=100m,memory=256Mi.")
	return writeCommand(f, cmd, o)
}

// Complete reads the objects and the resource lists.
func (o *SetResourcesOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, _, err := o.selectObjects(f, cmd, o.IOStreams, args, func(string) bool { return false })
	if err != nil {
		return err
	}
	o.selection = sel
	if o.limits, err = mutate.ParseResourceList(o.Limits); err != nil {
		return usageErrorf(cmd, "--limits: %v", err)
	}
	if o.requests, err = mutate.ParseResourceList(o.Requests); err != nil {
		return usageErrorf(cmd, "--requests: %v", err)
	}
	return nil
}

// Validate checks the flag values.
func (o *SetResourcesOptions) Validate(cmd *cobra.Command) error {
	if o.Limits == "" && o.Requests == "" {
		return usageErrorf(cmd, "you must specify an update to requests or limits (in the form of --requests/--limits)")
	}
	return o.changeFlags.validate(cmd)
}

// Run writes the resource requirements into the repository.
func (o *SetResourcesOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      "resource requirements updated",
		mutate: func(u *unstructured.Unstructured) error {
			return mutate.SetResources(u, o.Container, o.limits, o.requests)
		},
		subject: func(objs []*render.Object) string {
			var parts []string
			if o.Limits != "" {
				parts = append(parts, "limits "+o.Limits)
			}
			if o.Requests != "" {
				parts = append(parts, "requests "+o.Requests)
			}
			return fmt.Sprintf("set resources %s %s", describeObjects(objs), strings.Join(parts, ", "))
		},
	})
}
