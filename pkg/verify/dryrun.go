package verify

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// DefaultFieldManager is the field manager of verify's dry-run applies. They are never
// persisted, so it never appears in an object's managedFields.
const DefaultFieldManager = "kubectl-gitops-verify"

// DryRunOptions say how to dry-run a render.
type DryRunOptions struct {
	// Namespace is the namespace of namespaced objects that name none; default "default".
	Namespace string
	// FieldManager of the applies; default DefaultFieldManager.
	FieldManager string
	// Concurrency bounds the requests in flight; default validate.DefaultConcurrency.
	Concurrency int
}

// DryRunResult is the API server's answer to the dry-run apply of one object.
type DryRunResult struct {
	// ID names the object, its namespace defaulted as the API server reads it.
	ID diff.ObjectID
	// Error is the API server's refusal, its message as the API gave it (Secret values
	// masked); "" when the object was accepted or skipped. A render verify promises to pass a
	// dry run fails it too when RBAC forbids the dry run, its kind is not served or its
	// namespace does not exist.
	Error string
	// Skipped says why the object was not sent: the render itself creates what it needs
	// (its namespace, its CustomResourceDefinition), which a dry-run does not persist.
	Skipped string
}

// DryRun server-side applies every object of a render with dryRun=All (validate.DryRun).
// Results follow the order of objs. Refusals are results; the error is for a cluster that
// cannot be asked (unauthorised, unavailable, gone).
func DryRun(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured, o DryRunOptions) ([]DryRunResult, error) {
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	answers, err := validate.DryRun(ctx, &validate.Cluster{Config: cl.Config, Mapper: cl.Mapper}, objs, validate.DryRunOptions{
		Namespace: o.Namespace, FieldManager: o.FieldManager, Concurrency: o.Concurrency,
	})
	if err != nil {
		return nil, err
	}
	results := make([]DryRunResult, len(answers))
	for i, a := range answers {
		results[i].ID = a.ID
		switch a.Outcome {
		case validate.DryRunAccepted:
		case validate.DryRunSkipped:
			results[i].Skipped = a.Message
		default:
			results[i].Error = a.Message
		}
	}
	return results, nil
}

func idOf(u *unstructured.Unstructured) diff.ObjectID {
	gvk := u.GroupVersionKind()
	return diff.ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}
