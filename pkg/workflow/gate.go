package workflow

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// checkPlan is the gate's last stage, on the plan about to be committed (or shown): every
// changed object, as each target that reads a changed file renders it, must be valid: against
// its schema (built-in kinds, and the CRDs those targets render), and through a server-side dry
// run when the request names the target's cluster. A problem the object already had before the
// change is reported as a warning, not a refusal: the command did not cause it.
func checkPlan(ctx context.Context, req Request, p *change.Plan) error {
	after, before, crds := changedObjects(p)
	if len(after) == 0 {
		return nil
	}
	opts := validate.Options{CRDs: crds, Cluster: req.Cluster, Namespace: req.Target.Namespace}
	rep, err := validate.Objects(ctx, after, opts)
	if err != nil {
		return err
	}
	warn := req.ErrOut
	if warn == nil {
		warn = io.Discard
	}
	if req.ServerDryRun && len(rep.Notices) > 0 {
		return fmt.Errorf("--dry-run=server could not ask the API server about every changed object:\n  %s", strings.Join(rep.Notices, "\n  "))
	}
	for _, n := range rep.Notices {
		fmt.Fprintf(warn, "Warning: %s\n", n)
	}
	if len(rep.Problems) == 0 {
		return nil
	}
	old := map[string]bool{}
	if len(before) > 0 {
		prev, err := validate.Objects(ctx, before, validate.Options{CRDs: crds})
		if err != nil {
			return err
		}
		for _, pr := range prev.Problems {
			old[pr.String()] = true
		}
	}
	var introduced []validate.Problem
	for _, pr := range rep.Problems {
		if old[pr.String()] {
			fmt.Fprintf(warn, "Warning: %s (already so before this change)\n", pr)
			continue
		}
		introduced = append(introduced, pr)
	}
	if len(introduced) == 0 {
		return nil
	}
	return &InvalidError{Err: &validate.InvalidError{Problems: introduced}}
}

// InvalidError refuses a change that would commit objects the API server rejects.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string {
	return e.Err.Error() + "\nnothing was written; change the command or the repository so that the objects are valid"
}

func (e *InvalidError) Unwrap() error { return e.Err }

// asApplied is an object as its reconciler applies it: a sops-encrypted document is decrypted
// first (Flux's kustomize-controller does), so its sops block is gone and its values are
// plaintext of their type. Placeholders of each value's type stand for them here: the
// validation is about the object's shape, and no value is decrypted for it.
func asApplied(u *unstructured.Unstructured) *unstructured.Unstructured {
	if _, ok := u.Object["sops"].(map[string]any); !ok {
		return u
	}
	c := u.DeepCopy()
	delete(c.Object, "sops")
	c.Object = placeholders(c.Object, c.GetKind() == "Secret" && c.GetAPIVersion() == "v1", nil).(map[string]any)
	return c
}

// placeholders replaces the sops ciphertexts below v by values of their type; under a Secret's
// data, by base64 (what the decrypted value is).
func placeholders(v any, secret bool, path []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = placeholders(e, secret, append(path, k))
		}
	case []any:
		for i, e := range x {
			x[i] = placeholders(e, secret, path)
		}
	case string:
		if !sopsprovider.WellFormed(x) {
			return x
		}
		switch {
		case secret && len(path) == 2 && path[0] == "data":
			return "AA=="
		case strings.Contains(x, ",type:int]"):
			return int64(0)
		case strings.Contains(x, ",type:float]"):
			return float64(0)
		case strings.Contains(x, ",type:bool]"):
			return false
		}
		return ""
	}
	return v
}

// changedObjects are the plan's changed objects as each target that reads a changed file
// renders them, after and (where they existed) before the change, and the CRDs those targets
// render when a changed object is of a kind client-go does not know.
func changedObjects(p *change.Plan) (after, before, crds []*unstructured.Unstructured) {
	targets := make([]string, 0, len(p.After))
	for t := range p.After {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	custom := false
	for _, t := range targets {
		for _, o := range p.Objects {
			if o.Deleted {
				continue
			}
			obj := p.After[t].Get(o.ID)
			if obj == nil {
				continue
			}
			u := asApplied(obj.Obj())
			after = append(after, u)
			if !scheme.Scheme.Recognizes(u.GroupVersionKind()) {
				custom = true
			}
			if b := p.Before[t]; b != nil {
				if prev := b.Get(o.ID); prev != nil {
					before = append(before, asApplied(prev.Obj()))
				}
			}
		}
	}
	if custom {
		for _, t := range targets {
			for _, o := range p.After[t].Objects {
				if o.ID.Kind == "CustomResourceDefinition" && o.ID.Group == "apiextensions.k8s.io" {
					crds = append(crds, o.Obj())
				}
			}
		}
	}
	return after, before, crds
}
