// Package validate says whether Kubernetes objects about to be committed would be accepted.
//
// Offline, it refuses what `kubectl apply --validate=strict` and the API server's most common
// rules refuse, without a cluster:
//   - built-in kinds (client-go's scheme, k8s.io/api v0.37) decode strictly into their typed
//     structs: unknown fields, values of the wrong type, integers out of their int32/int64 range;
//   - required fields and quantities from the OpenAPI document kustomize carries (Kubernetes
//     v1.21.2, see builtin.go): a field is required only if it still is in later versions;
//   - metadata as the API server validates it: the name per kind (names.go), the namespace,
//     label keys and values, annotation keys, finalizers, owner references;
//   - the API server rules users hit most, listed in rules.go;
//   - custom resources against the openAPIV3Schema of their CustomResourceDefinition, taken
//     from the CRDs the caller gives (the repository's) and, when connected, the cluster's.
//
// Objects of kinds with no schema at all are not refused: the report lists them as unchecked.
// With a cluster, the objects the offline checks pass then go through a server-side dry-run
// apply, which adds what only the API server knows (admission, policies, CEL rules); where RBAC
// forbids the dry run or the cluster does not answer, the report says so in one line and the
// offline result stands.
//
// A problem never carries a value of a Secret or SealedSecret, nor of a field that may hold one
// in other kinds (see redact.go).
package validate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

// The checks a problem can come from.
const (
	// CheckSchema: the object's shape (typed decoding, required fields, quantities, metadata).
	CheckSchema = "schema"
	// CheckRule: one of the API server's rules applied offline (rules.go).
	CheckRule = "rule"
	// CheckCRD: a custom resource against its CustomResourceDefinition's schema.
	CheckCRD = "crd"
	// CheckDryRun: the API server's answer to a server-side dry-run apply.
	CheckDryRun = "dry-run"
)

// Options say what to validate against.
type Options struct {
	// CRDs are CustomResourceDefinition manifests (apiextensions.k8s.io/v1) whose schemas
	// validate custom resources: the repository's rendered CRDs. They take precedence over the
	// cluster's.
	CRDs []*unstructured.Unstructured
	// Cluster, when set, adds the cluster's CRDs for kinds CRDs does not define and a server-side
	// dry run of the objects the offline checks pass.
	Cluster *Cluster
	// Namespace is the namespace of namespaced objects that name none, for the dry run;
	// default "default".
	Namespace string
	// FieldManager of the dry-run applies; default DefaultFieldManager.
	FieldManager string
}

// Cluster is the API server to ask.
type Cluster struct {
	Config *rest.Config
	Mapper meta.RESTMapper
}

// Problem is one reason the API server (or kubectl) would refuse an object.
type Problem struct {
	Object diff.ObjectID `json:"object"`
	// Field is the path of the field at fault, as the API server writes it
	// ("spec.template.spec.containers[0].image"); "" when the problem has no single field.
	Field string `json:"field,omitempty"`
	// Message says what is wrong as the API server says it: the field, the kind of error, the
	// value (never for a Secret or a field that may hold one) and why.
	Message string `json:"message"`
	// Check is CheckSchema, CheckRule, CheckCRD or CheckDryRun.
	Check string `json:"check"`
}

// String names the object and the problem: "Deployment.apps shop/web: spec.replicas: ...".
func (p Problem) String() string { return p.Object.String() + ": " + p.Message }

// Unchecked is an object no schema covers: neither a built-in kind nor one a known
// CustomResourceDefinition defines.
type Unchecked struct {
	Object diff.ObjectID `json:"object"`
	Reason string        `json:"reason"`
}

// Report is the outcome of a validation.
type Report struct {
	Problems []Problem `json:"problems"`
	// Notices say, one line each, what could not be checked and why (a dry run RBAC forbids, a
	// cluster that does not answer): they do not fail the validation.
	Notices   []string    `json:"notices,omitempty"`
	Unchecked []Unchecked `json:"unchecked,omitempty"`
}

// Err is nil when there is no problem, else an *InvalidError listing them.
func (r *Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return &InvalidError{Problems: r.Problems}
}

// InvalidError refuses objects with problems.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	objects := map[diff.ObjectID]bool{}
	for _, p := range e.Problems {
		objects[p.Object] = true
	}
	var b strings.Builder
	if len(objects) == 1 {
		b.WriteString("the object is invalid:")
	} else {
		fmt.Fprintf(&b, "%d objects are invalid:", len(objects))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Objects validates objs: offline always, and through a server-side dry run when
// opts.Cluster is set (of the objects the offline checks pass). Problems follow the order of
// objs, the offline ones first; so do unchecked objects. The error is for a cancelled ctx
// only: a cluster that cannot be asked is a notice.
func Objects(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	crds := newCRDIndex(opts.CRDs)
	if opts.Cluster != nil {
		notices, err := crds.addFromCluster(ctx, opts.Cluster, objs)
		if err != nil {
			return nil, err
		}
		rep.Notices = append(rep.Notices, notices...)
	}
	var passed []*unstructured.Unstructured
	for _, u := range objs {
		res := check(u, crds)
		rep.Problems = append(rep.Problems, res.problems...)
		if res.unchecked != "" {
			rep.Unchecked = append(rep.Unchecked, Unchecked{Object: objectID(u), Reason: res.unchecked})
		}
		if len(res.problems) == 0 {
			passed = append(passed, u)
		}
	}
	if opts.Cluster == nil || len(passed) == 0 {
		return rep, nil
	}
	results, err := DryRun(ctx, opts.Cluster, passed, DryRunOptions{
		Namespace: opts.Namespace, FieldManager: opts.FieldManager, Served: crds.defines,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rep.Notices = append(rep.Notices, fmt.Sprintf("no server-side dry run (the objects were checked offline only): %v", err))
		return rep, nil
	}
	p, n := fromDryRun(results)
	rep.Problems = append(rep.Problems, p...)
	rep.Notices = append(rep.Notices, n...)
	return rep, nil
}

// result is what the offline checks found about one object.
type result struct {
	problems []Problem
	// unchecked says why no schema covered the object; "" when one did.
	unchecked string
}

// check validates one object offline.
// asDecrypted is a sops-encrypted Secret as the reconciler applies it, decrypted: without its
// sops metadata, and with its encrypted data values (ENC[...], not base64) standing for values
// of their own, which the validation cannot see. Any other object is u.
func asDecrypted(u *unstructured.Unstructured) *unstructured.Unstructured {
	if _, ok := u.Object["sops"]; !ok || u.GetAPIVersion() != "v1" || u.GetKind() != "Secret" {
		return u
	}
	c := u.DeepCopy()
	delete(c.Object, "sops")
	if data, ok := c.Object["data"].(map[string]any); ok {
		for k, v := range data {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "ENC[") {
				data[k] = ""
			}
		}
	}
	return c
}

func check(u *unstructured.Unstructured, crds *crdIndex) result {
	u = asDecrypted(u)
	id := objectID(u)
	var res result
	add := func(check string, errs field.ErrorList) {
		for _, e := range redact(u, errs) {
			res.problems = append(res.problems, Problem{Object: id, Field: e.Field, Message: message(e), Check: check})
		}
	}
	gvk := u.GroupVersionKind()
	if errs := identity(u); len(errs) > 0 {
		add(CheckSchema, errs)
		return res
	}
	def := builtinDefinition(gvk)
	walk := walkBuiltin(u, def)
	typed, typedErrs, isBuiltin := decodeBuiltin(u, def, walk.unplaced)
	schemaErrs := append(typedErrs, walk.errs...)
	if !isBuiltin {
		schemaErrs = append(schemaErrs, decodeMetadata(u)...)
	}
	crd := crds.lookup(gvk)
	metaErrs := validateMeta(u, nameRule(gvk, crd != nil))
	add(CheckSchema, append(schemaErrs, metaErrs...))
	if typed != nil {
		add(CheckRule, rules(typed))
	}
	switch {
	case crd != nil:
		add(CheckCRD, crd.validate(u))
	case !isBuiltin && def == "":
		res.unchecked = crds.whyUnchecked(gvk)
	}
	res.problems = dedupeProblems(res.problems)
	// In the order of the fields: the walks go through maps.
	sort.SliceStable(res.problems, func(i, j int) bool {
		a, b := res.problems[i], res.problems[j]
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	return res
}

// identity checks what an object needs before anything else can be read: apiVersion and kind.
func identity(u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if u.GetAPIVersion() == "" {
		errs = append(errs, field.Required(field.NewPath("apiVersion"), ""))
	}
	if u.GetKind() == "" {
		errs = append(errs, field.Required(field.NewPath("kind"), ""))
	}
	return errs
}

// dedupeProblems drops problems said twice: a required field both the schema and a rule miss.
func dedupeProblems(ps []Problem) []Problem {
	seen := map[string]bool{}
	var out []Problem
	for _, p := range ps {
		if !seen[p.Message] {
			seen[p.Message] = true
			out = append(out, p)
		}
	}
	return out
}

func objectID(u *unstructured.Unstructured) diff.ObjectID {
	gvk := u.GroupVersionKind()
	return diff.ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}
