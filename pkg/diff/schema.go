package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

const gvkExtension = "x-kubernetes-group-version-kind"

// typer turns objects into typed values: with the API server's OpenAPI v3 schema when it
// publishes one for the kind, else with a deduced schema (every map and list atomic).
type typer struct {
	tc      managedfields.TypeConverter
	known   map[schema.GroupVersionKind]bool
	deduced managedfields.TypeConverter
}

// newTyper fetches the OpenAPI v3 documents of the group versions gvs, concurrently, and builds
// one type converter over them. Group versions the server publishes no document for (an
// aggregated API without one) fall back to the deduced schema.
func newTyper(ctx context.Context, client openapi.Client, gvs []schema.GroupVersion, limit int) (*typer, error) {
	root := openapi3.NewRoot(client)
	var mu sync.Mutex
	all := map[string]*spec.Schema{}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, gv := range gvs {
		g.Go(func() error {
			doc, err := root.GVSpec(gv)
			var notFound *openapi3.GroupVersionNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("failed to read the OpenAPI schema of %s: %w", gv, err)
			}
			if doc.Components == nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for name, s := range doc.Components.Schemas {
				all[name] = s
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	t := &typer{known: map[schema.GroupVersionKind]bool{}, deduced: managedfields.NewDeducedTypeConverter()}
	for _, s := range all {
		for _, gvk := range schemaGVKs(s) {
			t.known[gvk] = true
		}
	}
	if len(all) > 0 {
		tc, err := managedfields.NewTypeConverter(all, true)
		if err != nil {
			return nil, fmt.Errorf("failed to read the API server's OpenAPI schema: %w", err)
		}
		t.tc = tc
	}
	return t, nil
}

// schemaGVKs reads the kinds a schema is the type of.
func schemaGVKs(s *spec.Schema) []schema.GroupVersionKind {
	raw, ok := s.Extensions[gvkExtension]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var list []struct{ Group, Version, Kind string }
	if json.Unmarshal(b, &list) != nil {
		return nil
	}
	out := make([]schema.GroupVersionKind, 0, len(list))
	for _, k := range list {
		out = append(out, schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
	}
	return out
}

func (t *typer) toTyped(u *unstructured.Unstructured) (*typed.TypedValue, error) {
	if t.tc != nil && t.known[u.GroupVersionKind()] {
		return t.tc.ObjectToTyped(u, typed.AllowDuplicates)
	}
	return t.deduced.ObjectToTyped(u, typed.AllowDuplicates)
}
