package diff

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// FluxLabels are the labels Flux's kustomize-controller puts on what Kustomization ns/name applies.
func FluxLabels(namespace, name string) map[string]string {
	return map[string]string{target.FluxKustomizationNameLabel: name, target.FluxKustomizationNamespaceLabel: namespace}
}

// ArgoCDLabels are the labels Argo CD puts on what Application app applies (label tracking).
func ArgoCDLabels(app string) map[string]string {
	return map[string]string{target.ArgoCDInstanceLabel: app}
}

// ArgoCDInstance is the value Argo CD's label tracking gives app.kubernetes.io/instance on what
// Application ns/name applies: its name, or NAMESPACE_NAME for an Application outside Argo CD's
// own namespace.
func ArgoCDInstance(namespace, name string) string {
	if namespace != "" && namespace != target.DefaultArgoNamespace {
		return namespace + "_" + name
	}
	return name
}

// ArgoCDInstanceOf is ArgoCDInstance of the Application that applies a target; "" when no Argo CD
// Application does.
func ArgoCDInstanceOf(a *reconciler.Applied) string {
	if a == nil || !reconciler.IsArgoApplication(a.Reconciler) {
		return ""
	}
	return ArgoCDInstance(a.Reconciler.Namespace(), a.Reconciler.Name())
}

// ArgoCDTracked tells whether live carries Argo CD's tracking label for instance where the
// manifest sets that label to something else (a Helm chart's release name, most often): Argo CD
// with label tracking writes its own value over the manifest's, so the difference is Argo CD's,
// not drift.
func ArgoCDTracked(manifest, live *unstructured.Unstructured, instance string) bool {
	if instance == "" || live == nil {
		return false
	}
	want, set := manifest.GetLabels()[target.ArgoCDInstanceLabel]
	return set && want != instance && live.GetLabels()[target.ArgoCDInstanceLabel] == instance
}

// inferOwner reads the reconciler that owns the live objects of the manifests from their labels.
func inferOwner(items []*item) (map[string]string, error) {
	flux, argo, tracked := map[string]bool{}, map[string]bool{}, false
	for _, it := range items {
		if it.live == nil {
			continue
		}
		l := it.live.GetLabels()
		if name := l[target.FluxKustomizationNameLabel]; name != "" {
			flux[l[target.FluxKustomizationNamespaceLabel]+"/"+name] = true
		} else if app := l[target.ArgoCDInstanceLabel]; app != "" {
			argo[app] = true
		} else if it.live.GetAnnotations()[target.ArgoCDTrackingIDAnnotation] != "" {
			tracked = true
		}
	}
	switch {
	case len(flux) == 1:
		for k := range flux {
			ns, name, _ := strings.Cut(k, "/")
			return FluxLabels(ns, name), nil
		}
	case len(flux) > 1:
		return nil, fmt.Errorf("the objects are applied by several Flux Kustomizations (%s): to prune, give the owner's labels", strings.Join(sortedKeys(flux), ", "))
	case len(argo) == 1:
		for app := range argo {
			return ArgoCDLabels(app), nil
		}
	case len(argo) > 1:
		return nil, fmt.Errorf("the objects are labelled with several Argo CD applications (%s=%s): to prune, give the owner's labels", target.ArgoCDInstanceLabel, strings.Join(sortedKeys(argo), ", "))
	case tracked:
		return nil, fmt.Errorf("Argo CD tracks these objects by the %s annotation, which the API server cannot select on: to prune, give labels that mark the application's objects", target.ArgoCDTrackingIDAnnotation)
	}
	return nil, fmt.Errorf("no live object of the target carries a Flux (%s) or Argo CD (%s) label: to prune, give the owner's labels", target.FluxKustomizationNameLabel, target.ArgoCDInstanceLabel)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// skippedResources are never pruned by a reconciler: events are written by controllers (and
// listed under two groups).
var skippedResources = map[string]bool{"events": true}

// owned lists, for every resource type the cluster serves, the objects carrying all of
// ownerLabels, and returns those no manifest names.
func (e *engine) owned(ctx context.Context, ownerLabels map[string]string, items []*item) ([]Object, []string, error) {
	var warnings []string
	lists, err := e.disc.ServerPreferredResources()
	if err != nil {
		if !discovery.IsGroupDiscoveryFailedError(err) {
			return nil, nil, fmt.Errorf("failed to list the cluster's resource types: %w", err)
		}
		warnings = append(warnings, "some resource types were not searched for extra objects: "+err.Error())
	}
	inGit := map[ObjectID]bool{}
	services := map[string]bool{}
	for _, it := range items {
		inGit[versionless(it.id)] = true
		if it.id.Group == "" && it.id.Kind == "Service" {
			services[it.id.Namespace+"/"+it.id.Name] = true
		}
	}
	selector := labels.SelectorFromSet(ownerLabels).String()

	var mu sync.Mutex
	var found []*unstructured.Unstructured
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || skippedResources[r.Name] || !slices.Contains(r.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			g.Go(func() error {
				l, err := e.ownedDyn.Resource(gvr).List(gctx, metav1.ListOptions{LabelSelector: selector})
				switch {
				case apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
					mu.Lock()
					warnings = append(warnings, fmt.Sprintf("%s not searched for extra objects: %v", gvr.GroupResource(), err))
					mu.Unlock()
					return nil
				case err != nil:
					return fmt.Errorf("failed to list %s labelled %s: %w", gvr.GroupResource(), selector, err)
				}
				mu.Lock()
				defer mu.Unlock()
				for i := range l.Items {
					found = append(found, &l.Items[i])
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for _, u := range found {
		if u.GetKind() == "Service" && u.GroupVersionKind().Group == "" {
			services[u.GetNamespace()+"/"+u.GetName()] = true
		}
	}
	var extras []Object
	for _, u := range found {
		id := idOf(u)
		if inGit[versionless(id)] || controlled(u) {
			continue
		}
		// The endpoints controller copies a Service's labels onto its Endpoints.
		if id.Group == "" && id.Kind == "Endpoints" && services[id.Namespace+"/"+id.Name] {
			continue
		}
		live := display(u)
		if isSecret(live) {
			maskSecrets(live, nil)
		}
		extras = append(extras, Object{ObjectID: id, Status: StatusExtra, Live: live})
	}
	sortObjects(extras)
	sort.Strings(warnings)
	return extras, warnings, nil
}

func versionless(id ObjectID) ObjectID {
	id.Version = ""
	return id
}

// controlled tells whether a controller made the object (a ReplicaSet of a Deployment, an
// EndpointSlice of a Service): it inherits labels but is its controller's, not Git's.
func controlled(u *unstructured.Unstructured) bool {
	for _, ref := range u.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}
