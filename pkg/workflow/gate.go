package workflow

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// checkPlan is the gate's last stage, on the plan about to be committed (or shown): every
// changed object, as each target that reads a changed file renders it, must be valid: against
// its schema (built-in kinds, and the CRDs those targets render), and through a server-side dry
// run when the request names the target's cluster. A problem the object already had before the
// change is reported as a warning, not a refusal: the command did not cause it.
func checkPlan(ctx context.Context, req Request, p *change.Plan) error {
	if err := checkSecrets(req, p); err != nil {
		return err
	}
	after, before, crds := changedObjects(p)
	if len(after) == 0 {
		return nil
	}
	opts := validate.Options{CRDs: crds, Cluster: req.Cluster, Namespace: req.Target.Namespace}
	rep, err := validate.Objects(ctx, after, opts)
	if err != nil {
		return err
	}
	warn := warnings(req)
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

// checkSecrets runs the secrets guard on the exact bytes about to be committed (the changed
// files) and on the changed objects as every target that reads a changed file renders them:
// a plaintext Secret value, a secretGenerator literal or a private key the change brings in
// refuses it, whatever file shape carries it. What the repository held before the change is a
// warning: the command did not bring it in.
func checkSecrets(req Request, p *change.Plan) error {
	root := req.Target.RepoDir
	opts := guard.Options{ReadFile: func(name string) ([]byte, error) {
		if b, ok := p.Files[name]; ok {
			if b == nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return b, nil
		}
		return os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	}}
	if cfg, err := target.LoadConfig(root); err == nil && cfg != nil {
		opts.Allow = cfg.Guard.Allowed
	}
	var now, was []guard.File
	for _, f := range p.Paths() {
		if b := p.Files[f]; b != nil {
			now = append(now, guard.File{Path: f, Data: b})
		}
		if b := p.Original[f]; b != nil {
			was = append(was, guard.File{Path: f, Data: b})
		}
	}
	after, before := changedSecrets(p)
	found := guard.Check(now, opts).Findings
	found = append(found, guard.CheckRendered(after, opts).Findings...)
	if len(found) == 0 {
		return nil
	}
	old := map[string]bool{}
	for _, f := range append(guard.Check(was, opts).Findings, guard.CheckRendered(before, opts).Findings...) {
		old[findingKey(f)] = true
	}
	var introduced []guard.Finding
	for _, f := range found {
		if old[findingKey(f)] {
			fmt.Fprintf(warnings(req), "Warning: %s: %s (already so before this change)\n", findingWhere(f), f.Reason)
			continue
		}
		introduced = append(introduced, f)
	}
	if len(introduced) == 0 {
		return nil
	}
	var b strings.Builder
	_ = guard.Format(&b, introduced)
	return &SecretsError{Findings: introduced, text: strings.TrimRight(b.String(), "\n")}
}

// SecretsError refuses a change that would commit a plaintext secret or a private key.
type SecretsError struct {
	Findings []guard.Finding
	text     string
}

func (e *SecretsError) Error() string {
	return "the change would commit secrets in plain text:\n" + e.text + "\nnothing was written"
}

func findingKey(f guard.Finding) string {
	return f.File + "\x00" + f.Object + "\x00" + f.Path + "\x00" + f.Reason
}

func findingWhere(f guard.Finding) string {
	where := f.File
	if f.Object != "" {
		where = f.Object + " (" + f.File + ")"
	}
	if f.Path != "" {
		where += " " + f.Path
	}
	return where
}

func warnings(req Request) io.Writer {
	if req.ErrOut == nil {
		return io.Discard
	}
	return req.ErrOut
}

// changedSecrets are the plan's changed Secrets and SealedSecrets as each target that reads a
// changed file renders them, after and before the change, for the guard.
func changedSecrets(p *change.Plan) (after, before []guard.Rendered) {
	for _, t := range sortedTargets(p) {
		for _, o := range p.Objects {
			if o.Deleted || !((o.ID.Kind == "Secret" && o.ID.Group == "") || (o.ID.Kind == "SealedSecret" && o.ID.Group == "bitnami.com")) {
				continue
			}
			if obj := p.After[t].Get(o.ID); obj != nil {
				after = append(after, asRendered(obj))
			}
			if b := p.Before[t]; b != nil {
				if obj := b.Get(o.ID); obj != nil {
					before = append(before, asRendered(obj))
				}
			}
		}
	}
	return after, before
}

func asRendered(o *render.Object) guard.Rendered {
	origin := o.Origin.File
	if origin == "" {
		origin = o.Origin.Generated
	}
	return guard.Rendered{ID: o.ID.String(), Origin: origin, Object: o.Obj().Object}
}

func sortedTargets(p *change.Plan) []string {
	targets := make([]string, 0, len(p.After))
	for t := range p.After {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	return targets
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
	targets := sortedTargets(p)
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
