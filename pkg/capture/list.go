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

	"golang.org/x/sync/errgroup"
)

// listConcurrency bounds the list requests in flight.
const listConcurrency = 8

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
	var gvrs []schema.GroupVersionResource
	var kinds []string
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
			gvrs = append(gvrs, gv.WithResource(r.Name))
			kinds = append(kinds, r.Kind)
		}
	}
	// The lists are independent; a few at a time, as a namespace has some forty types.
	found := make([][]*unstructured.Unstructured, len(gvrs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for i, gvr := range gvrs {
		g.Go(func() error {
			items, err := dyn.Resource(gvr).Namespace(o.Namespace).List(gctx, metav1.ListOptions{LabelSelector: o.Selector})
			if err != nil {
				return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
			}
			for j := range items.Items {
				u := items.Items[j]
				if u.GetAPIVersion() == "" {
					u.SetAPIVersion(gvr.GroupVersion().String())
					u.SetKind(kinds[i])
				}
				found[i] = append(found[i], &u)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range found {
		out = append(out, f...)
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
