package capture

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

// ListOptions choose the live objects of a bulk capture.
type ListOptions struct {
	// Namespace is the namespace to list; empty lists every namespace.
	Namespace string
	// Selector is a label selector; empty selects everything.
	Selector string
}

// List reads every namespaced object the user could have created (the resource types that
// serve list and create) in a namespace or in all of them, sorted by namespace, kind and name.
// Kinds served by more than one group (events) are read once, from the preferred group.
func List(ctx context.Context, disc discovery.DiscoveryInterface, dyn dynamic.Interface, o ListOptions) ([]*unstructured.Unstructured, error) {
	lists, err := discovery.ServerPreferredNamespacedResources(disc)
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering the resource types: %w", err)
	}
	seenKind := map[string]bool{}
	var out []*unstructured.Unstructured
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !sets.New(r.Verbs...).HasAll("list", "create", "get") {
				continue
			}
			if seenKind[r.Kind] && gv.Group != "" {
				continue
			}
			seenKind[r.Kind] = true
			gvr := gv.WithResource(r.Name)
			items, err := dyn.Resource(gvr).Namespace(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
			}
			for i := range items.Items {
				u := items.Items[i]
				if u.GetAPIVersion() == "" {
					u.SetAPIVersion(gv.String())
					u.SetKind(r.Kind)
				}
				out = append(out, &u)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if a.GetKind() != b.GetKind() {
			return a.GetKind() < b.GetKind()
		}
		return a.GetName() < b.GetName()
	})
	return out, nil
}
