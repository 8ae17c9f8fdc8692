package verify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

// DefaultFieldManager is the field manager of verify's dry-run applies. They are never
// persisted, so it never appears in an object's managedFields.
const DefaultFieldManager = "kubectl-gitops-verify"

// DefaultConcurrency bounds the dry-run requests in flight.
const DefaultConcurrency = 16

// DryRunOptions say how to dry-run a render.
type DryRunOptions struct {
	// Namespace is the namespace of namespaced objects that name none; default "default".
	Namespace string
	// FieldManager of the applies; default DefaultFieldManager.
	FieldManager string
	// Concurrency bounds the requests in flight; default DefaultConcurrency.
	Concurrency int
}

// DryRunResult is the API server's answer to the dry-run apply of one object.
type DryRunResult struct {
	// ID names the object, its namespace defaulted as the API server reads it.
	ID diff.ObjectID
	// Error is the API server's refusal, its message as the API gave it (Secret values
	// masked); "" when the object was accepted or skipped.
	Error string
	// Skipped says why the object was not sent: the render itself creates what it needs
	// (its namespace, its CustomResourceDefinition), which a dry-run does not persist.
	Skipped string
}

// DryRun server-side applies every object with dryRun=All, forcing conflicts under its own
// field manager: admission (validation, webhooks, policies) answers as it would for the real
// apply, and nothing is persisted. Results follow the order of objs. Refusals are results; the
// error is for a cluster that cannot be asked (unauthorised, unavailable, gone).
func DryRun(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, o DryRunOptions) ([]DryRunResult, error) {
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for the cluster: %w", err)
	}
	created := createdByRender(objs)
	results := make([]DryRunResult, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, src := range objs {
		u := src.DeepCopy()
		gvk := u.GroupVersionKind()
		results[i].ID = idOf(u)
		mapping, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			if created.crds[gvk.GroupKind()] {
				results[i].Skipped = fmt.Sprintf("its CustomResourceDefinition is part of this render; the cluster does not serve %s %s yet", u.GetAPIVersion(), gvk.Kind)
			} else {
				results[i].Error = fmt.Sprintf("the cluster does not serve %s %s", u.GetAPIVersion(), gvk.Kind)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to find the resource of %s %s: %w", u.GetAPIVersion(), gvk.Kind, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if u.GetNamespace() == "" {
				u.SetNamespace(o.Namespace)
			}
			ri = dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
		} else {
			u.SetNamespace("")
		}
		results[i].ID = idOf(u)
		g.Go(func() error {
			_, err := ri.Apply(gctx, u.GetName(), u, metav1.ApplyOptions{
				FieldManager: o.FieldManager,
				Force:        true,
				DryRun:       []string{metav1.DryRunAll},
			})
			switch {
			case err == nil:
			case isNamespaceNotFound(err, u.GetNamespace()) && created.namespaces[u.GetNamespace()]:
				results[i].Skipped = fmt.Sprintf("its namespace %s is created by this render", u.GetNamespace())
			case refusal(err):
				results[i].Error = scrubSecret(err.Error(), src)
			default:
				return fmt.Errorf("failed to dry-run %s: %w", results[i].ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// refusal tells whether err is the API server's answer about the object (invalid, refused by
// admission, conflicting) rather than about the request (unauthorised, overloaded, timed out).
func refusal(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	switch {
	case apierrors.IsUnauthorized(err), apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err),
		apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return false
	}
	return true
}

func isNamespaceNotFound(err error, ns string) bool {
	var se *apierrors.StatusError
	if !apierrors.IsNotFound(err) || !errors.As(err, &se) {
		return false
	}
	d := se.ErrStatus.Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}

type renderCreates struct {
	namespaces map[string]bool
	crds       map[schema.GroupKind]bool
}

// createdByRender lists the namespaces and the custom kinds the objects themselves create.
func createdByRender(objs []*unstructured.Unstructured) renderCreates {
	c := renderCreates{namespaces: map[string]bool{}, crds: map[schema.GroupKind]bool{}}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		switch {
		case gvk.Group == "" && gvk.Kind == "Namespace":
			c.namespaces[u.GetName()] = true
		case gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition":
			group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
			c.crds[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	return c
}

func idOf(u *unstructured.Unstructured) diff.ObjectID {
	gvk := u.GroupVersionKind()
	return diff.ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// scrubSecret masks the values of a Secret manifest (as written and base64-decoded) in an API
// message: an answer about a Secret must not print what it holds.
func scrubSecret(msg string, u *unstructured.Unstructured) string {
	if u.GroupVersionKind().Group != "" || u.GetKind() != "Secret" {
		return msg
	}
	var values []string
	for _, field := range []string{"data", "stringData"} {
		m, _ := u.Object[field].(map[string]any)
		for _, v := range m {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			values = append(values, s)
			if dec, err := base64.StdEncoding.DecodeString(s); err == nil && field == "data" {
				values = append(values, string(dec))
			}
		}
	}
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		if len(v) >= minScrubbed {
			msg = strings.ReplaceAll(msg, v, secretMask)
		}
	}
	return msg
}

// secretMask stands for a Secret value in a message, as kubectl diff masks them.
const secretMask = "***"

// minScrubbed is the shortest value masked in messages: shorter ones would mask unrelated words.
const minScrubbed = 3
