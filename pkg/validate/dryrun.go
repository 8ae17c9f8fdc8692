package validate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

// DefaultFieldManager is the field manager of the dry-run applies. They are never persisted,
// so it never appears in an object's managedFields.
const DefaultFieldManager = "kubectl-gitops"

// DefaultConcurrency bounds the dry-run requests in flight.
const DefaultConcurrency = 16

// The client-side rate limits of the dry-runs, raised from client-go's defaults (5 QPS, burst
// 10) that kubectl's factory gives: at those, the 200 objects of a namespace's capture waited
// 40 s for the limiter with the API server idle. Concurrency still bounds what is in flight.
const (
	minQPS   = 100
	minBurst = 200
)

// DryRunOptions say how to dry-run objects.
type DryRunOptions struct {
	// Namespace is the namespace of namespaced objects that name none; default "default".
	Namespace string
	// FieldManager of the applies; default DefaultFieldManager.
	FieldManager string
	// Concurrency bounds the requests in flight; default DefaultConcurrency.
	Concurrency int
	// Served, when set, tells whether a CustomResourceDefinition outside objs (the
	// repository's) defines a kind: objects of such a kind the cluster does not serve yet are
	// skipped rather than not served.
	Served func(schema.GroupKind) bool
}

// DryRunOutcome is how the API server answered the dry run of one object.
type DryRunOutcome string

const (
	// DryRunAccepted: the API server would take the object.
	DryRunAccepted DryRunOutcome = "accepted"
	// DryRunRefused: the API server refuses it (validation, admission, a conflict).
	DryRunRefused DryRunOutcome = "refused"
	// DryRunForbidden: RBAC forbids the caller the dry run itself.
	DryRunForbidden DryRunOutcome = "forbidden"
	// DryRunNotServed: the cluster does not serve the object's kind, and no known
	// CustomResourceDefinition defines it.
	DryRunNotServed DryRunOutcome = "not-served"
	// DryRunNoNamespace: the object's namespace does not exist in the cluster, and the objects
	// do not create it.
	DryRunNoNamespace DryRunOutcome = "no-namespace"
	// DryRunSkipped: not sent, because the objects themselves create what it needs (its
	// namespace, its CustomResourceDefinition), which a dry run does not persist.
	DryRunSkipped DryRunOutcome = "skipped"
)

// DryRunResult is the API server's answer to the dry-run apply of one object.
type DryRunResult struct {
	// ID names the object, its namespace defaulted as the API server reads it.
	ID      diff.ObjectID
	Outcome DryRunOutcome
	// Message is the API server's answer as it gave it (Secret values masked), or why the
	// object was not sent; "" when accepted.
	Message string
	// Field is the field a refusal names, when it names one.
	Field string
}

// DryRun server-side applies every object with dryRun=All, forcing conflicts under its own
// field manager, as `kubectl apply --server-side --dry-run=server --force-conflicts` does:
// admission (validation, webhooks, policies) answers as it would for the real apply, and
// nothing is persisted. Results follow the order of objs. Answers about the objects are
// results; the error is for a cluster that cannot be asked (unreachable, unauthorised,
// overloaded).
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
	if o.Served == nil {
		o.Served = func(schema.GroupKind) bool { return false }
	}
	cfg := rest.CopyConfig(cl.Config)
	cfg.QPS = max(cfg.QPS, minQPS)
	cfg.Burst = max(cfg.Burst, minBurst)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for the cluster: %w", err)
	}
	created := createdBy(objs)
	results := make([]DryRunResult, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, src := range objs {
		u := src.DeepCopy()
		gvk := u.GroupVersionKind()
		r := &results[i]
		r.ID = objectID(u)
		mapping, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			if created.crds[gvk.GroupKind()] || o.Served(gvk.GroupKind()) {
				r.Outcome = DryRunSkipped
				r.Message = fmt.Sprintf("its CustomResourceDefinition is applied along with it; the cluster does not serve %s %s yet", u.GetAPIVersion(), gvk.Kind)
			} else {
				r.Outcome = DryRunNotServed
				r.Message = fmt.Sprintf("the cluster does not serve %s %s", u.GetAPIVersion(), gvk.Kind)
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
		r.ID = objectID(u)
		if msgs := path.IsValidPathSegmentName(u.GetName()); u.GetName() == "" || len(msgs) > 0 {
			// The client cannot even name it in a request.
			r.Outcome = DryRunRefused
			r.Field = "metadata.name"
			if u.GetName() == "" {
				r.Message = "metadata.name: Required value"
			} else {
				r.Message = field.Invalid(field.NewPath("metadata", "name"), u.GetName(), strings.Join(msgs, ", ")).Error()
			}
			continue
		}
		g.Go(func() error {
			_, err := ri.Apply(gctx, u.GetName(), u, metav1.ApplyOptions{
				FieldManager: o.FieldManager,
				Force:        true,
				DryRun:       []string{metav1.DryRunAll},
			})
			switch {
			case err == nil:
				r.Outcome = DryRunAccepted
			case isNamespaceNotFound(err, u.GetNamespace()) && created.namespaces[u.GetNamespace()]:
				r.Outcome = DryRunSkipped
				r.Message = fmt.Sprintf("its namespace %s is created along with it", u.GetNamespace())
			case isNamespaceNotFound(err, u.GetNamespace()):
				r.Outcome = DryRunNoNamespace
				r.Message = scrubSecret(err.Error(), src)
			case isRBACForbidden(err):
				r.Outcome = DryRunForbidden
				r.Message = err.Error()
			case refusal(err):
				r.Outcome = DryRunRefused
				r.Message = scrubSecret(err.Error(), src)
				r.Field = causeField(err)
			default:
				return fmt.Errorf("failed to dry-run %s: %w", r.ID, err)
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

// rbacForbidden is how the API server words an authorisation refusal (the authorizer's, not
// admission's, which is also a 403: a quota, a terminating namespace, a webhook).
var rbacForbidden = regexp.MustCompile(`is forbidden: User ".*" cannot [a-z]+ (resource|path) `)

func isRBACForbidden(err error) bool {
	return apierrors.IsForbidden(err) && rbacForbidden.MatchString(err.Error())
}

func isNamespaceNotFound(err error, ns string) bool {
	var se *apierrors.StatusError
	if !apierrors.IsNotFound(err) || !errors.As(err, &se) {
		return false
	}
	d := se.ErrStatus.Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}

// causeField is the field a refusal names, when it names exactly one.
func causeField(err error) string {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Details == nil {
		return ""
	}
	fields := map[string]bool{}
	for _, c := range se.ErrStatus.Details.Causes {
		fields[c.Field] = true
	}
	if len(fields) != 1 {
		return ""
	}
	for f := range fields {
		return f
	}
	return ""
}

type creates struct {
	namespaces map[string]bool
	crds       map[schema.GroupKind]bool
}

// createdBy lists the namespaces and the custom kinds the objects themselves create.
func createdBy(objs []*unstructured.Unstructured) creates {
	c := creates{namespaces: map[string]bool{}, crds: map[schema.GroupKind]bool{}}
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

// fromDryRun turns dry-run answers into problems (refusals) and notices, one line for each
// reason an object was not checked by the API server.
func fromDryRun(results []DryRunResult) ([]Problem, []string) {
	var problems []Problem
	type group struct {
		reason  string
		objects []string
	}
	var groups []*group
	byReason := map[string]*group{}
	note := func(reason string, id diff.ObjectID) {
		g := byReason[reason]
		if g == nil {
			g = &group{reason: reason}
			byReason[reason] = g
			groups = append(groups, g)
		}
		g.objects = append(g.objects, id.String())
	}
	var forbidden []DryRunResult
	for _, r := range results {
		switch r.Outcome {
		case DryRunRefused:
			problems = append(problems, Problem{Object: r.ID, Field: r.Field, Message: r.Message, Check: CheckDryRun})
		case DryRunForbidden:
			forbidden = append(forbidden, r)
		case DryRunNotServed, DryRunNoNamespace, DryRunSkipped:
			note(r.Message, r.ID)
		}
	}
	var notices []string
	if len(forbidden) > 0 {
		var ids []string
		for _, r := range forbidden {
			ids = append(ids, r.ID.String())
		}
		notices = append(notices, fmt.Sprintf("RBAC forbids the server-side dry run of %s (%s); checked offline only", strings.Join(ids, ", "), forbidden[0].Message))
	}
	for _, g := range groups {
		notices = append(notices, fmt.Sprintf("no server-side dry run of %s: %s; checked offline only", strings.Join(g.objects, ", "), g.reason))
	}
	return problems, notices
}
