package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// DefaultFieldManager is the field manager of applies that name none.
const DefaultFieldManager = "testcluster"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyFile server-side applies the objects of a (multi-document) YAML file; see ApplyYAML.
func (c *Cluster) ApplyFile(ctx context.Context, fieldManager, path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	objs, err := c.ApplyYAML(ctx, fieldManager, data)
	if err != nil {
		return objs, fmt.Errorf("applying %s: %w", path, err)
	}
	return objs, nil
}

// ApplyYAML server-side applies each object of a multi-document YAML or JSON manifest, forcing
// ownership of conflicting fields, and returns the objects as the server stored them.
// Namespaced objects without a namespace go to "default"; an empty fieldManager means
// DefaultFieldManager.
func (c *Cluster) ApplyYAML(ctx context.Context, fieldManager string, manifest []byte) ([]*unstructured.Unstructured, error) {
	if fieldManager == "" {
		fieldManager = DefaultFieldManager
	}
	objs, err := decodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	applied := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		out, err := c.apply(ctx, fieldManager, obj)
		if err != nil {
			return applied, fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		applied = append(applied, out)
	}
	return applied, nil
}

func (c *Cluster) apply(ctx context.Context, fieldManager string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset() // the type may be a CRD installed since discovery was cached
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	resource := c.dynamic.Resource(mapping.Resource)
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return resource.Apply(ctx, obj.GetName(), obj, opts)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(metav1.NamespaceDefault)
	}
	return resource.Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, opts)
}

func decodeManifest(manifest []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML document %d: %w", i, err)
		}
		data, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("parsing YAML document %d: %w", i, err)
		}
		if data = bytes.TrimSpace(data); len(data) == 0 || bytes.Equal(data, []byte("null")) {
			continue // empty or comment-only document
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("decoding YAML document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
}

// CreateNamespace creates a namespace; it fails if the namespace exists.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// InstallCRDs applies the CustomResourceDefinitions in the given YAML files and waits until
// the API server serves them.
func (c *Cluster) InstallCRDs(ctx context.Context, paths ...string) error {
	var names []string
	for _, path := range paths {
		objs, err := c.ApplyFile(ctx, DefaultFieldManager, path)
		if err != nil {
			return fmt.Errorf("installing CRDs: %w", err)
		}
		for _, obj := range objs {
			if obj.GetKind() == "CustomResourceDefinition" {
				names = append(names, obj.GetName())
			}
		}
	}
	for _, name := range names {
		if err := c.waitEstablished(ctx, name); err != nil {
			return err
		}
	}
	c.mapper.Reset()
	return nil
}

func (c *Cluster) waitEstablished(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		crd, err := c.dynamic.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err == nil && established(crd) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for CRD %s to be established: %w (last error: %v)", name, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cond := range conditions {
		if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
