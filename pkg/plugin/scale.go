package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var scaleLong = templates.LongDesc(`
	Set a new size for a deployment, replica set, replication controller, stateful set, or a
	custom resource with a scale subresource, in the GitOps repository that renders it.

	The change becomes one commit in the layer that owns the replica count: the object's own file
	when only this target renders it, else this target's overlay (a kustomize replicas: entry).
	A custom resource keeps its count where its CRD's scale subresource says (specReplicasPath):
	the CRD in the target's render tells, or, connected to the target's cluster, discovery and
	the cluster's CRD.
	If --current-replicas is given, Git must hold that count, or nothing is written.`)

var scaleExample = templates.Examples(`
	# Scale the deployment web to 5 replicas, in the repository Flux or Argo CD renders it from
	kubectl gitops scale deploy/web --replicas=5

	# Only if Git says 2 now; in a given repository and overlay, without the cluster
	kubectl gitops scale --current-replicas=2 --replicas=3 deployment/web --repo . --path overlays/staging

	# Show the commit it would make
	kubectl gitops scale deploy/web deploy/worker --replicas=0 --dry-run

	# Every deployment labelled tier=batch, pushed
	kubectl gitops scale deploy -l tier=batch --replicas=1 --push

	# Pushed, then applied by Flux or Argo CD now: it returns once the cluster runs 5 replicas
	kubectl gitops scale deploy/web --replicas=5 --push --wait --timeout=2m`)

// scalableKinds are the built-in kinds with a replica count kubectl scale knows, in spec.replicas.
var scalableKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "ReplicaSet"}: true,
	{Kind: "ReplicationController"}: true, {Group: "apps", Kind: "StatefulSet"}: true,
}

// ScaleOptions are the options of `kubectl gitops scale`.
type ScaleOptions struct {
	changeFlags
	objectSelectionFlags
	Replicas        int
	CurrentReplicas int

	selection workflow.Selection
	// replicas is where each selected kind keeps its replica count (check fills it).
	replicas map[schema.GroupKind][]string
	genericiooptions.IOStreams
}

// NewScaleOptions returns the defaults of scale.
func NewScaleOptions(streams genericiooptions.IOStreams) *ScaleOptions {
	return &ScaleOptions{Replicas: -1, CurrentReplicas: -1, IOStreams: streams}
}

// NewCmdScale builds `kubectl gitops scale`.
func NewCmdScale(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewScaleOptions(streams)
	cmd := &cobra.Command{
		Use:                   "scale [--current-replicas=count] --replicas=COUNT (-f FILENAME | TYPE NAME | TYPE/NAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Set a new size for a deployment, replica set, stateful set or scalable custom resource, in Git",
		Long:                  scaleLong,
		Example:               scaleExample,
	}
	o.changeFlags.addFlags(cmd)
	o.objectSelectionFlags.addFlags(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.Replicas, "replicas", o.Replicas, "The new desired number of replicas. Required.")
	fl.IntVar(&o.CurrentReplicas, "current-replicas", o.CurrentReplicas, "Precondition for the current size: Git must hold this count. -1 (default) for no condition.")
	_ = cmd.MarkFlagRequired("replicas")
	return writeCommand(f, cmd, o)
}

// Complete turns the arguments (or -f's manifests) into an object selection.
func (o *ScaleOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	sel, _, err := o.selectObjects(f, cmd, o.IOStreams, args, func(string) bool { return false })
	if err != nil {
		return err
	}
	o.selection = sel
	return nil
}

// Validate checks the flag values.
func (o *ScaleOptions) Validate(cmd *cobra.Command) error {
	if o.Replicas < 0 {
		return usageErrorf(cmd, "the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0 (got %d)", o.Replicas)
	}
	if o.CurrentReplicas < -1 {
		return usageErrorf(cmd, "--current-replicas must be -1 (no condition) or a count, not %d", o.CurrentReplicas)
	}
	return o.changeFlags.validate(cmd)
}

// Run writes the new replica count into the repository.
func (o *ScaleOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	return o.runChange(f, cmd, o.IOStreams, changeSpec{
		selection: o.selection,
		verb:      "scaled",
		check: func(r *render.Result, objs []*render.Object, cluster *validate.Cluster) error {
			o.replicas = map[schema.GroupKind][]string{}
			for _, obj := range objs {
				gk := schema.GroupKind{Group: obj.ID.Group, Kind: obj.ID.Kind}
				if _, ok := o.replicas[gk]; ok || scalableKinds[gk] {
					continue
				}
				p, err := customReplicasPath(r, obj, cluster)
				if err != nil {
					return err
				}
				o.replicas[gk] = p
			}
			return nil
		},
		mutate: func(u *unstructured.Unstructured) error {
			gk := u.GroupVersionKind().GroupKind()
			field, ok := o.replicas[gk]
			if scalableKinds[gk] {
				field, ok = []string{"spec", "replicas"}, true
			}
			if !ok {
				return fmt.Errorf("%s cannot be changed this way: scale changes %s", gk, scalableNames)
			}
			if o.CurrentReplicas >= 0 {
				cur, found, _ := unstructured.NestedInt64(u.Object, field...)
				if !found {
					cur = 1
				}
				if cur != int64(o.CurrentReplicas) {
					return fmt.Errorf("expected replicas to be %d, was %d in Git", o.CurrentReplicas, cur)
				}
			}
			return unstructured.SetNestedField(u.Object, int64(o.Replicas), field...)
		},
		subject: func(objs []*render.Object) string {
			return fmt.Sprintf("scale %s to %d replicas", describeObjects(objs), o.Replicas)
		},
		inspect: func(r *render.Result, objs []*render.Object) []string {
			var warnings []string
			for _, obj := range objs {
				if w := hpaWarning(r, obj, o.Replicas); w != "" {
					warnings = append(warnings, w)
				}
			}
			return warnings
		},
	})
}

// describeObjects names objects for a commit subject: "deployment shop/web", "3 deployments
// (web, worker, api)", or "2 objects (configmap/banner, deployment/web)".
func describeObjects(objs []*render.Object) string {
	if len(objs) == 1 {
		id := objs[0].ID
		ns := ""
		if id.Namespace != "" {
			ns = id.Namespace + "/"
		}
		return strings.ToLower(id.Kind) + " " + ns + id.Name
	}
	sameKind := true
	for _, o := range objs {
		sameKind = sameKind && o.ID.Kind == objs[0].ID.Kind
	}
	var parts []string
	for _, o := range objs {
		if sameKind {
			parts = append(parts, o.ID.Name)
		} else {
			parts = append(parts, strings.ToLower(o.ID.Kind)+"/"+o.ID.Name)
		}
	}
	if !sameKind {
		return fmt.Sprintf("%d objects (%s)", len(objs), strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%d %ss (%s)", len(objs), strings.ToLower(objs[0].ID.Kind), strings.Join(parts, ", "))
}

// hpaWarning says when a HorizontalPodAutoscaler of the target scales the object: the HPA, not
// Git, then decides the replica count outside its range.
func hpaWarning(r *render.Result, obj *render.Object, replicas int) string {
	for _, h := range r.Objects {
		if h.ID.Kind != "HorizontalPodAutoscaler" || h.ID.Namespace != obj.ID.Namespace {
			continue
		}
		kind, _, _ := unstructured.NestedString(h.Obj().Object, "spec", "scaleTargetRef", "kind")
		name, _, _ := unstructured.NestedString(h.Obj().Object, "spec", "scaleTargetRef", "name")
		if kind != obj.ID.Kind || name != obj.ID.Name {
			continue
		}
		minR, found, _ := unstructured.NestedInt64(h.Obj().Object, "spec", "minReplicas")
		if !found {
			minR = 1
		}
		maxR, _, _ := unstructured.NestedInt64(h.Obj().Object, "spec", "maxReplicas")
		outside := ""
		if int64(replicas) < minR || (maxR > 0 && int64(replicas) > maxR) {
			outside = fmt.Sprintf("; %d is outside that range, so the HPA will not keep it", replicas)
		}
		return fmt.Sprintf("%s/%s is scaled by HorizontalPodAutoscaler %s (min %d, max %d): the HPA, not Git, sets its replica count%s; change the bounds with `kubectl gitops patch hpa/%s`",
			strings.ToLower(obj.ID.Kind), obj.ID.Name, h.ID.Name, minR, maxR, outside, h.ID.Name)
	}
	return ""
}

// scalableNames says which objects scale changes, for its refusals.
const scalableNames = "Deployment, ReplicaSet, ReplicationController, StatefulSet, and custom resources whose CRD has a scale subresource"

// customReplicasPath is the field a custom resource keeps its replica count in: the
// specReplicasPath of its CRD's scale subresource. The CRD is the one in the target's render;
// when the target's render has none and the cluster is known, discovery tells whether the
// resource has a scale subresource, and the cluster's CRD where it keeps the count.
func customReplicasPath(r *render.Result, obj *render.Object, cluster *validate.Cluster) ([]string, error) {
	gvk := obj.Obj().GroupVersionKind()
	refuse := func(why string) error {
		return fmt.Errorf("%s cannot be changed this way: %s; scale changes %s", obj.ID, why, scalableNames)
	}
	if !strings.Contains(gvk.Group, ".") {
		// A custom resource's group has a dot: this is a built-in kind without replicas.
		return nil, fmt.Errorf("%s cannot be changed this way: scale changes %s", obj.ID, scalableNames)
	}
	for _, c := range r.Objects {
		if c.ID.Kind != "CustomResourceDefinition" || c.ID.Group != "apiextensions.k8s.io" {
			continue
		}
		if p, found, err := crdReplicasPath(c.Obj().Object, gvk); found {
			if err != nil {
				return nil, refuse(fmt.Sprintf("its CRD %s in %s: %v", c.ID.Name, c.Origin.File, err))
			}
			return p, nil
		}
	}
	if cluster == nil {
		return nil, refuse("no CRD in this target's render defines it with a scale subresource (connected to its cluster, discovery would tell)")
	}
	mapping, err := cluster.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, refuse(fmt.Sprintf("the cluster does not know it: %v", err))
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		return nil, err
	}
	list, err := dc.ServerResourcesForGroupVersion(mapping.Resource.GroupVersion().String())
	if err != nil {
		return nil, refuse(fmt.Sprintf("discovery of %s: %v", mapping.Resource.GroupVersion(), err))
	}
	scale := false
	for _, res := range list.APIResources {
		scale = scale || res.Name == mapping.Resource.Resource+"/scale"
	}
	if !scale {
		return nil, refuse(fmt.Sprintf("%s has no scale subresource in the cluster", mapping.Resource.GroupResource()))
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		return nil, err
	}
	crdName := mapping.Resource.GroupResource().String()
	crd, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
		Get(context.Background(), crdName, metav1.GetOptions{})
	if err != nil {
		return nil, refuse(fmt.Sprintf("reading its CRD %s from the cluster, to find its specReplicasPath: %v", crdName, err))
	}
	p, found, err := crdReplicasPath(crd.Object, gvk)
	if !found || err != nil {
		return nil, refuse(fmt.Sprintf("the cluster's CRD %s: no specReplicasPath for version %s (%v)", crdName, gvk.Version, err))
	}
	return p, nil
}

// crdReplicasPath reads, from a CRD that defines gvk's kind, the specReplicasPath of the scale
// subresource of gvk's version as field names. found says the CRD defines the kind; err then
// says why the version has no usable scale subresource.
func crdReplicasPath(crd map[string]any, gvk schema.GroupVersionKind) (path []string, found bool, err error) {
	group, _, _ := unstructured.NestedString(crd, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd, "spec", "names", "kind")
	if group != gvk.Group || kind != gvk.Kind {
		return nil, false, nil
	}
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] != gvk.Version {
			continue
		}
		p, ok, _ := unstructured.NestedString(m, "subresources", "scale", "specReplicasPath")
		if !ok {
			return nil, true, fmt.Errorf("version %s has no scale subresource", gvk.Version)
		}
		// The API server takes a simple JSON path of fields under .spec here.
		fields := strings.Split(strings.TrimPrefix(p, "."), ".")
		if len(fields) < 2 || fields[0] != "spec" || slices.Contains(fields, "") || strings.ContainsAny(p, "[]*") {
			return nil, true, fmt.Errorf("specReplicasPath %q is not a path of fields under .spec", p)
		}
		return fields, true, nil
	}
	return nil, true, fmt.Errorf("it defines no version %s", gvk.Version)
}
