package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/capture"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var captureLong = templates.LongDesc(`
	Capture live objects into the GitOps repository, as one commit.

	Objects the target does not have yet are written as clean manifests: without status, the
	server's metadata, controllers' annotations and ownerReferences, allocated cluster IPs,
	injected service-account token volumes, and without any value that is the API server's
	default (the server itself is asked, with dry-run creates). Each object gets a file of its
	own in the target's directory, kind-NAME.yaml or the name --filename-template gives it,
	registered in its kustomization; a bulk capture (-l, --all) groups the files by namespace:
	NAMESPACE/kind-NAME.yaml. Secrets are encrypted with the target's provider before they
	are written, and named for what is written: a SealedSecret's file is
	sealedsecret-NAME.yaml, and its .Kind in the template is sealedsecret.

	A bulk capture skips the objects that something else owns (the Pods and ReplicaSets of
	controllers, Endpoints, EndpointSlices, Events, Leases, service-account tokens,
	kube-root-ca.crt, the default ServiceAccount) and counts them; name one to capture it.

	With --drift, the objects the target has are compared instead: the live values of the
	fields Git sets are written back into Git through the same placement rules as every
	change (an emergency 'kubectl scale' in staging becomes a replicas: entry in the staging
	overlay, never a change of the shared base).`)

var captureExample = templates.Examples(`
	# Capture a Deployment made by hand into the target
	kubectl gitops capture deployment/web -n shop --repo . --path overlays/staging

	# Capture everything of a namespace, one file per object under shop/
	kubectl gitops capture -n shop --all --repo . --path clusters/prod/shop

	# Name the new file <name>.<kind>.yaml
	kubectl gitops capture configmap/settings -n shop --filename-template '{{.Name}}.{{.Kind}}.yaml'

	# Record an emergency scale, showing the diff only
	kubectl gitops capture --drift deployment/web -n shop --dry-run`)

// CaptureOptions are the options of `kubectl gitops capture`.
type CaptureOptions struct {
	changeFlags
	fileNameFlag
	Selector      string
	All           bool
	AllNamespaces bool
	Drift         bool

	args []string
	sel  workflow.Selection
	genericiooptions.IOStreams
}

// NewCmdCapture builds `kubectl gitops capture`.
func NewCmdCapture(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CaptureOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "capture [TYPE/NAME ...] [-l SELECTOR | --all] [--drift]",
		DisableFlagsInUseLine: true,
		Short:                 "Write live objects, or their drift, into Git",
		Long:                  captureLong,
		Example:               captureExample,
	}
	o.changeFlags.addFlagSet(cmd, writeFlagSet{certAlias: true, scope: true})
	o.fileNameFlag.addFlag(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Selector, "selector", "l", "", "Capture the objects with these labels (of every type, or of TYPE).")
	fl.BoolVar(&o.All, "all", false, "Capture every object of the namespace (or, with -A, of every namespace).")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Look in every namespace.")
	fl.BoolVar(&o.Drift, "drift", false, "Write the live values of the fields the target manages back into Git, for the objects it has.")
	return writeCommand(f, cmd, o)
}

// Complete reads what to capture.
func (o *CaptureOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.args = args
	if o.Drift {
		if o.All || o.AllNamespaces {
			return usageErrorf(cmd, "--drift looks at the objects the target has: give TYPE/NAME, -l SELECTOR, or nothing for all of them; not --all or -A")
		}
		if o.FilenameTemplate != "" {
			return usageErrorf(cmd, "--drift writes into the files the target has: --filename-template names new files, leave it out")
		}
	} else if len(args) == 0 && o.Selector == "" && !o.All {
		return usageErrorf(cmd, "name the objects to capture: TYPE/NAME, -l SELECTOR or --all")
	}
	if len(args) == 1 && !strings.Contains(args[0], "/") && o.Selector == "" && !o.All && !o.Drift {
		return usageErrorf(cmd, "resource(s) were provided, but no name was specified: give TYPE/NAME, -l SELECTOR or --all")
	}
	if err := o.fileNameFlag.complete(cmd); err != nil {
		return err
	}
	if len(args) > 0 {
		sel, err := selection(f, cmd, args, o.Selector, o.All)
		if err != nil {
			return err
		}
		o.sel = sel
	} else {
		ns, _, err := f.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return err
		}
		nsFlag := cmd.Flags().Lookup("namespace")
		o.sel = workflow.Selection{Selector: o.Selector, All: o.All, Namespace: ns, NamespaceExplicit: nsFlag != nil && nsFlag.Changed}
	}
	return nil
}

// Validate checks the flag values.
func (o *CaptureOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run captures the live objects, or with --drift their live values.
func (o *CaptureOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	if o.Drift {
		return o.runDrift(f, cmd)
	}
	return o.runCapture(f, cmd)
}

// captureItem is one live object on its way into the repository.
type captureItem struct {
	live     *unstructured.Unstructured
	manifest *unstructured.Unstructured
	fileName string
	named    bool
}

func (o *CaptureOptions) runCapture(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, o.sel)
	if err != nil {
		return err
	}
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return err
	}
	// The lists of a bulk capture and the dry-runs that decide defaults come in bursts, a
	// bounded number in flight (capture.List, Defaults.Manifests): kubectl's client-side limit
	// of five a second made a namespace take minutes, and 200 a second still held the 700
	// dry-runs of 200 objects for 2 s, so there is none.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = -1
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	live, named, err := o.readLive(ctx, f, dyn)
	if err != nil {
		return err
	}
	var items []*captureItem
	skippedOwned := 0
	for _, u := range live {
		if !named && capture.OwnedReason(u) != "" {
			skippedOwned++
			continue
		}
		items = append(items, &captureItem{live: u, named: named})
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return err
	}
	defaults := capture.NewDefaults(capture.ServerDryRun{Client: dyn, Mapper: mapper})
	defaults.OnlyBuiltin = capture.OnlyBuiltinDefaulting(ctx, dyn, mapper)
	if err := o.clean(ctx, defaults, items); err != nil {
		return err
	}
	kustNS, _, err := targetKustomization(t.RepoDir, t.Path)
	if err != nil {
		return err
	}
	var names, present []string
	req := o.request(o.IOStreams, t, targets)
	// A bulk capture groups the new files by namespace; the written kind names a Secret's file
	// (a SealedSecret's is sealedsecret-NAME.yaml).
	req.FileName = func(kind, name, namespace string) (string, error) {
		fn, err := o.fileName(kind, name, namespace)
		if err != nil || items[0].named || namespace == "" {
			return fn, err
		}
		return namespace + "/" + fn, nil
	}
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		names, present = names[:0], present[:0]
		var out []change.ObjectChange
		for _, it := range items {
			u := it.manifest
			gk := u.GroupVersionKind().GroupKind()
			name := capture.LiveName(u)
			if len(r.Find(gk, u.GetNamespace(), u.GetName())) > 0 {
				present = append(present, name)
				continue
			}
			if kustNS != "" && u.GetNamespace() != "" && u.GetNamespace() != kustNS {
				return nil, fmt.Errorf("target %s puts every object in namespace %s (its kustomization's namespace:), and %s lives in %s: choose another target with --path or --target", t, kustNS, name, u.GetNamespace())
			}
			out = append(out, change.ObjectChange{Desired: u.Object})
			names = append(names, name)
		}
		if len(out) == 0 {
			return nil, &workflow.NoChangeError{Objects: present}
		}
		return out, nil
	}
	req.Subject = func(objs []*render.Object) string {
		if len(objs) == 1 {
			return "capture " + describeObjects(objs)
		}
		return fmt.Sprintf("capture %d objects%s", len(objs), o.where())
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	if len(present) > 0 {
		how := "use --drift to record their live values"
		fmt.Fprintf(o.ErrOut, "skipped %d %s the target already has (%s)\n", len(present), plural(len(present), "object", "objects"), how)
	}
	if skippedOwned > 0 {
		fmt.Fprintf(o.ErrOut, "skipped %d owned %s (use TYPE/NAME to capture one)\n", skippedOwned, plural(skippedOwned, "object", "objects"))
	}
	if noChange(o.ErrOut, err) {
		return o.settle(ctx, o.IOStreams)
	}
	if err != nil {
		return err
	}
	return o.finish(ctx, o.IOStreams, "captured", res, names)
}

func (o *CaptureOptions) where() string {
	switch {
	case o.AllNamespaces:
		return " from all namespaces"
	case o.sel.Namespace != "":
		return " from namespace " + o.sel.Namespace
	}
	return ""
}

// readLive reads the objects to capture: the named ones (named is true), or a bulk selection.
func (o *CaptureOptions) readLive(ctx context.Context, f cmdutil.Factory, dyn dynamic.Interface) ([]*unstructured.Unstructured, bool, error) {
	ns := o.sel.Namespace
	if len(o.args) == 0 {
		disc, err := f.ToDiscoveryClient()
		if err != nil {
			return nil, false, err
		}
		if o.AllNamespaces {
			ns = ""
		}
		objs, err := capture.List(ctx, disc, dyn, capture.ListOptions{Namespace: ns, Selector: o.Selector})
		return objs, false, err
	}
	r := f.NewBuilder().Unstructured().NamespaceParam(ns).DefaultNamespace().AllNamespaces(o.AllNamespaces).
		LabelSelectorParam(o.Selector).SelectAllParam(o.All && o.Selector == "").
		ResourceTypeOrNameArgs(true, o.args...).Flatten().Latest().Do()
	infos, err := r.Infos()
	if err != nil {
		return nil, false, err
	}
	var out []*unstructured.Unstructured
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, false, fmt.Errorf("unexpected object type %T", info.Object)
		}
		out = append(out, u)
	}
	// TYPE -l or TYPE --all is a bulk capture; TYPE/NAME names objects.
	named := o.Selector == "" && !o.All
	return out, named, nil
}

// clean turns the live objects into manifests.
func (o *CaptureOptions) clean(ctx context.Context, d *capture.Defaults, items []*captureItem) error {
	lives := make([]*unstructured.Unstructured, len(items))
	for i, it := range items {
		lives[i] = it.live
	}
	manifests, err := d.Manifests(ctx, lives)
	if err != nil {
		return err
	}
	for i, m := range manifests {
		items[i].manifest = m
	}
	return nil
}

func (o *CaptureOptions) runDrift(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, o.sel)
	if err != nil {
		return err
	}
	if hr := t.HelmRelease; hr != nil {
		// The chart's objects: their drift is written as the values that drive them.
		rt, rtargets, err := helmReleaseTarget(t, targets)
		if err != nil {
			return fmt.Errorf("the objects are made by HelmRelease %s/%s, and capture --drift finds the values keys that drive them by rendering its chart: %w", hr.Namespace, hr.Name, err)
		}
		if rt == nil {
			return fmt.Errorf("the objects are made by HelmRelease %s/%s, which target %s applies but does not render: name the release's target with --target", hr.Namespace, hr.Name, t)
		}
		t, targets, o.resolved = rt, rtargets, rt
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		return err
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return err
	}
	defaultNS := firstNonEmpty(t.Namespace, o.sel.Namespace, "default")
	instance := diff.ArgoCDInstanceOf(t.Applied)
	var names, summary []string
	req := o.request(o.IOStreams, t, targets)
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		names, summary = names[:0], summary[:0]
		objs := r.Objects
		if len(o.args) > 0 || o.Selector != "" {
			var err error
			if objs, err = o.sel.Select(r); err != nil {
				return nil, err
			}
		}
		var out []change.ObjectChange
		for _, obj := range objs {
			if workflow.IsSecretKind(obj) || obj.Origin.Generated != "" {
				// Encrypted or generated: Git's bytes are not the live values.
				continue
			}
			live, err := readRendered(ctx, dyn, mapper, obj, defaultNS)
			if err != nil {
				return nil, err
			}
			if live == nil {
				continue
			}
			if diff.ArgoCDTracked(obj.Obj(), live, instance) {
				// Argo CD's tracking label over the manifest's value is not a change to record.
				live = live.DeepCopy()
				l := live.GetLabels()
				l[target.ArgoCDInstanceLabel] = obj.Obj().GetLabels()[target.ArgoCDInstanceLabel]
				live.SetLabels(l)
			}
			meta := placement.PatchMeta(obj.Obj().GroupVersionKind())
			desired := capture.LiveValues(obj.Obj(), live, meta)
			fields := placement.Diff(obj.Obj().Object, desired.Object, meta)
			if len(fields) == 0 {
				continue
			}
			var cs []string
			for _, fc := range fields {
				cs = append(cs, fc.String())
			}
			summary = append(summary, describeObjects([]*render.Object{obj})+": "+strings.ReplaceAll(strings.Join(cs, ", "), ": ", " "))
			names = append(names, resourceName(obj))
			out = append(out, change.ObjectChange{Object: obj, Desired: desired.Object})
		}
		if len(out) == 0 {
			return nil, &workflow.NoChangeError{Objects: []string{"target " + t.Name}}
		}
		return out, nil
	}
	req.Subject = func(objs []*render.Object) string {
		s := "record drift of " + strings.Join(summary, "; ")
		if len(summary) > 1 {
			s = fmt.Sprintf("record drift of %d objects: %s", len(summary), strings.Join(summary, "; "))
		}
		if len(s) > 200 {
			s = s[:197] + "..."
		}
		return s
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	var nc *workflow.NoChangeError
	if errors.As(err, &nc) {
		fmt.Fprintf(o.ErrOut, "no drift: the cluster holds what %s says for the fields it sets\n", t)
		return o.settle(ctx, o.IOStreams)
	}
	if err != nil {
		return err
	}
	return o.finish(ctx, o.IOStreams, "drift recorded", res, names)
}

// readRendered reads the live object of a rendered one, or nil when the cluster has none.
func readRendered(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *render.Object, defaultNS string) (*unstructured.Unstructured, error) {
	gvk := obj.Obj().GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(firstNonEmpty(obj.ID.Namespace, defaultNS))
	}
	live, err := ri.Get(ctx, obj.ID.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s from the cluster: %w", obj.ID, err)
	}
	return live, nil
}
