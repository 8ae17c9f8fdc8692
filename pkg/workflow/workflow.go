// Package workflow runs one command's change from the target to the commit: it renders the
// repository, finds the objects, lets the command mutate them, plans the edits through the closed
// loop, then commits (or, with dry-run, prints the diff). It is the road every change command
// takes; the commands only say which objects and how they change.
package workflow

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/providers"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// Request is one command's change.
type Request struct {
	Target *target.Target
	// Targets are every target of the repository, for the closed loop.
	Targets []target.Target
	// Discovery, when set, is what discovering the repository's targets learned, which the
	// closed loop and the render cache take instead of reading it again.
	Discovery *target.Snapshot
	// Select finds the objects to change in the target's render.
	Select func(*render.Result) ([]*render.Object, error)
	// Mutate changes a copy of one rendered object into what the user asked for.
	Mutate func(obj *unstructured.Unstructured) error
	// Changes, when set, replaces Select and Mutate: it lists the changes directly, creations
	// (Object nil) and deletions (Desired nil) included, with the names to report.
	Changes func(*render.Result) ([]change.ObjectChange, error)
	// Subject is the commit subject for the objects changed.
	Subject func(objs []*render.Object) string
	// Secrets encrypt every Secret the change writes; nil means the providers the
	// repository's configuration alone decides (no flags, no cluster).
	Secrets *providers.Set
	// FileName names the file of a new object that its change does not name; nil means
	// <kind>-<name>.yaml.
	FileName func(kind, name, namespace string) (string, error)

	Message string // replaces the generated subject when set
	// MessagePrefix is put before the subject (the repository configuration's commit.messagePrefix).
	MessagePrefix string
	// Signoff adds a Signed-off-by trailer for the committer (commit.signoff in the config).
	Signoff bool
	Branch  string
	// BranchFor, when Branch is empty, names a new branch for the commit from the changed
	// objects (--pr's gitops/<verb>-<kind>-<name>-<id>); it is called again, and must answer
	// the same, when a rejected push makes the change again.
	BranchFor func(objs []change.ObjectResult) string
	// PlanAt, when set, is the commit whose files the change is planned on instead of the
	// working tree's: the tip of Branch when it exists and is not checked out.
	PlanAt string
	Push   bool
	DryRun bool
	// ServerDryRun (with DryRun) also asks the API server of Cluster, which must be set.
	ServerDryRun bool
	// Cluster is the API server of the target's cluster, when known: the changed objects
	// pass a server-side dry run there before anything is written. Nil checks offline only.
	Cluster *validate.Cluster
	// Lookup and RenderCluster, when set, let the renders read the target's cluster (see
	// render.Options): valuesFrom and credentials Secrets, charts source-controller holds.
	Lookup        func(kind, namespace, name string) (map[string]string, error)
	RenderCluster render.Cluster
	// NoVerify skips the repository's pre-commit and commit-msg hooks, as git commit
	// --no-verify does.
	NoVerify bool
	// ErrOut receives warnings and what the repository's hooks print.
	ErrOut io.Writer
	// Out receives the dry-run diff.
	Out io.Writer
}

// Result is what a change produced: the commit (empty for dry-run), files and field changes.
type Result struct {
	Commit  string         `json:"commit,omitempty"`
	Branch  string         `json:"branch,omitempty"`
	Target  string         `json:"target"`
	Files   []string       `json:"files"`
	Objects []ObjectResult `json:"objects"`
	DryRun  bool           `json:"dryRun,omitempty"`
	Pushed  bool           `json:"pushed,omitempty"`
	// Diff is the repository change of a dry run, for machine output.
	Diff    string `json:"diff,omitempty"`
	plan    *change.Plan
	eng     *change.Engine
	subject string
}

// ObjectResult is one object's change, for -o json|yaml.
type ObjectResult struct {
	Object  string   `json:"object"`
	Layer   string   `json:"layer"`
	Changes []string `json:"changes"`
}

// NoChangeError says the objects already are as asked; commands report it like kubectl's
// "(no change)" without failing.
type NoChangeError struct{ Objects []string }

func (e *NoChangeError) Error() string {
	return strings.Join(e.Objects, ", ") + ": no change"
}

// Run plans the change and commits it (or prints the diff with DryRun). It is the one way a
// command writes to a repository: every change passes the gate (see sealer) before anything is
// written. Encrypted Secret values are masked in the diff, the result and errors, as kubectl
// diff masks them.
func Run(ctx context.Context, req Request) (*Result, error) {
	res, err := run(ctx, req)
	maskResult(res)
	if err != nil {
		err = &maskedError{err}
	}
	return res, err
}

func run(ctx context.Context, req Request) (*Result, error) {
	// What a killed run left in its private directory (an edit's decrypted buffer) goes now.
	privtmp.Sweep()
	if req.ServerDryRun && req.Cluster == nil {
		return nil, fmt.Errorf("--dry-run=server asks the target's API server, and no cluster is known for target %s: pass --context (or --kubeconfig) for its cluster, or use --dry-run=client", req.Target)
	}
	t := req.Target
	repo, err := gitrepo.Open(t.RepoDir)
	if err != nil {
		return nil, err
	}
	var res *Result
	// reapply plans the same change again on the remote's new head after a rejected push.
	reapply := func(ctx context.Context, base string) (gitrepo.CommitRequest, error) {
		r, err := planAt(ctx, req, base)
		if err != nil {
			return gitrepo.CommitRequest{}, err
		}
		res.Files, res.Objects, res.plan = r.Files, r.Objects, r.plan
		return commitRequest(req, r), nil
	}
	if req.DryRun {
		var r *Result
		if req.PlanAt != "" {
			r, err = planAt(ctx, req, req.PlanAt)
		} else {
			r, err = plan(ctx, req)
		}
		if err != nil {
			return nil, err
		}
		r.eng.Remember(false)
		r.DryRun = true
		var b strings.Builder
		if err := WriteDiff(&b, r.plan); err != nil {
			return nil, err
		}
		r.Diff = maskDiff(b.String())
		if req.Out != nil {
			if _, err := io.WriteString(req.Out, r.Diff); err != nil {
				return nil, err
			}
		}
		return r, nil
	}

	unlock, err := repo.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	repo.WarmCommit(ctx)
	if req.PlanAt != "" {
		res, err = planAt(ctx, req, req.PlanAt)
	} else {
		res, err = plan(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	cr := commitRequest(req, res)
	// A commit to the checked-out branch checks the files it writes itself, under the index
	// lock (gitrepo.Commit's *DirtyError); one to another branch leaves the working tree alone,
	// so what the plan read there is checked here.
	if cr.Branch != "" || req.PlanAt != "" {
		if err := repo.CheckClean(res.Files); err != nil {
			res.eng.Remember(false)
			return nil, err
		}
	}
	// The render cache is written on another core while the commit is made: an entry is
	// checked against the files' contents when loaded, so one that assumed a commit that then
	// failed only costs the next command a refresh, and is replaced by the renders before.
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		res.eng.Remember(true)
	}()
	out, err := repo.Commit(ctx, cr)
	<-stored
	if err != nil {
		res.eng.Remember(false)
		return nil, err
	}
	res.Commit, res.Branch = out.Hash, out.Branch
	if req.Push || t.Cached {
		if err := repo.Push(ctx, gitrepo.PushRequest{Remote: "origin", Branch: out.Branch, Reapply: reapply}); err != nil {
			return res, fmt.Errorf("committed %s but the push failed: %w", short(res.Commit), err)
		}
		res.Pushed = true
	}
	return res, nil
}

// planAt plans the change on the files of commit, exported to a private directory and rendered
// there: the remote's new head after a rejected push, the tip of a branch that is not checked
// out.
func planAt(ctx context.Context, req Request, commit string) (*Result, error) {
	t := req.Target
	dir, remove, err := privtmp.MkdirTemp("plan-")
	if err != nil {
		return nil, err
	}
	defer remove()
	if err := gitrepo.ExportTree(ctx, t.RepoDir, commit, dir); err != nil {
		return nil, err
	}
	again := req
	moved := *t
	moved.RepoDir = dir
	again.Target = &moved
	return plan(ctx, again)
}

// RenderCache is the render cache of the repository with the working tree dir: none when dir
// is not one (a tree exported for a push retry).
func RenderCache(dir string) render.Cache {
	repo, err := gitrepo.Open(dir)
	if err != nil {
		return render.Cache{}
	}
	return render.Cache{Dir: repo.CacheDir()}
}

// targetCache is RenderCache of t's repository for a plan, which renders, with the stats
// discovery took of it while no commit has been made since (another invocation may have
// committed while this one waited for the lock).
func targetCache(t *target.Target, stats *target.FileStats) render.Cache {
	repo, err := gitrepo.Open(t.RepoDir)
	if err != nil {
		return render.Cache{}
	}
	c := render.Cache{Dir: repo.CacheDir(), Renders: true}
	if stats != nil && !t.Cached && repo.IndexStamp() == stats.Index {
		c.Seen = stats.Files
	}
	return c
}

func plan(ctx context.Context, req Request) (*Result, error) {
	t := req.Target
	targets := []change.Target{{Path: t.Path, Applied: t.Applied}}
	for _, o := range req.Targets {
		targets = append(targets, change.Target{Path: o.Path, Applied: o.Applied})
	}
	var d target.Snapshot // none: the engine and the cache read what discovery would have
	if req.Discovery != nil {
		d = *req.Discovery
	}
	eng := change.NewEngine(t.RepoDir, targets, change.Options{Includes: d.Includes, Cache: targetCache(t, d.Stats), DeferStore: true,
		Lookup: req.Lookup, Cluster: req.RenderCluster})
	rendered, err := eng.Rendered(t.Key())
	if err != nil {
		return nil, err
	}
	// The gate validates the changed objects after the plan: the document it validates by is
	// parsed on another core while the change is planned, not before, where it would compete
	// with the parse of kustomize's schema that the render waits for.
	validate.Warm()
	var objs []*render.Object
	var changes []change.ObjectChange
	if req.Changes != nil {
		if changes, err = req.Changes(rendered); err != nil {
			return nil, err
		}
		for i := range changes {
			// A change may name another target of the repository: a Helm target's values are
			// written in the HelmRelease that the Kustomization's render holds.
			if changes[i].Target == "" {
				changes[i].Target = t.Key()
			}
		}
		if err := sealSecrets(ctx, req, rendered, changes); err != nil {
			return nil, err
		}
		for _, ch := range changes {
			if ch.Object != nil {
				objs = append(objs, ch.Object)
			} else {
				u := &unstructured.Unstructured{Object: ch.Desired}
				gvk := u.GroupVersionKind()
				objs = append(objs, render.NewObject(render.ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}, render.Origin{}, u))
			}
		}
	} else {
		if objs, err = req.Select(rendered); err != nil {
			return nil, err
		}
		for _, o := range objs {
			cp := o.Obj().DeepCopy()
			if err := req.Mutate(cp); err != nil {
				return nil, fmt.Errorf("%s: %w", o.ID, err)
			}
			changes = append(changes, change.ObjectChange{Target: t.Key(), Object: o, Desired: cp.Object})
		}
		if err := sealSecrets(ctx, req, rendered, changes); err != nil {
			return nil, err
		}
	}
	p, err := eng.Plan(changes)
	if err != nil {
		return nil, err
	}
	if len(p.Files) == 0 {
		var names []string
		for _, o := range objs {
			names = append(names, o.ID.String())
		}
		return nil, &NoChangeError{Objects: names}
	}
	for _, msg := range p.Skipped {
		fmt.Fprintf(warnings(req), "Warning: %s\n", msg)
	}
	if err := checkPlan(ctx, req, p); err != nil {
		return nil, err
	}
	res := &Result{Target: t.Name, Files: p.Paths(), plan: p, eng: eng}
	for _, o := range p.Objects {
		var cs []string
		switch {
		case o.Created:
			cs = append(cs, "created")
		case o.Deleted:
			cs = append(cs, "deleted")
		}
		for _, c := range o.Changes {
			cs = append(cs, describeChange(o.ID.Kind, c))
		}
		res.Objects = append(res.Objects, ObjectResult{Object: o.ID.String(), Layer: o.Layer, Changes: cs})
	}
	res.subject = req.subject(objs)
	return res, nil
}

// sealSecrets runs the gate's first stage (see sealer) on the changes of target t's render r.
func sealSecrets(ctx context.Context, req Request, r *render.Result, changes []change.ObjectChange) error {
	t := req.Target
	root, err := filepath.Abs(t.RepoDir)
	if err != nil {
		return err
	}
	sp := req.Secrets
	if sp == nil {
		sp = providers.New(providers.Options{RepoDir: t.RepoDir, Config: t.Secrets.Provider, ConfigCert: t.Secrets.SealedSecrets.Cert,
			ControllerNamespace: t.Secrets.SealedSecrets.ControllerNamespace, ControllerName: t.Secrets.SealedSecrets.ControllerName})
	}
	s := &sealer{ctx: ctx, providers: sp, root: root, r: r, fileName: req.FileName, namespace: t.Namespace}
	return s.seal(changes)
}

func (req Request) subject(objs []*render.Object) string {
	if req.Message != "" {
		return req.MessagePrefix + req.Message
	}
	s := req.Subject(objs)
	if name := req.Target.ShortName(); name != "" {
		s += " (" + name + ")"
	}
	return req.MessagePrefix + s
}

func commitRequest(req Request, r *Result) gitrepo.CommitRequest {
	var body []string
	var trailers [][2]string
	for _, o := range r.plan.Objects {
		switch {
		case o.Created:
			body = append(body, fmt.Sprintf("%s created in %s", o.ID, o.Layer))
		case o.Deleted:
			body = append(body, fmt.Sprintf("%s deleted from %s", o.ID, o.Layer))
		}
		for _, c := range o.Changes {
			body = append(body, fmt.Sprintf("%s %s", o.ID, describeChange(o.ID.Kind, c)))
		}
		trailers = append(trailers, [2]string{"Gitops-Object", objectTrailer(o)})
	}
	trailers = append(trailers, [2]string{"Gitops-Target", req.Target.Name})
	branch := req.Branch
	if branch == "" && req.BranchFor != nil {
		branch = req.BranchFor(r.plan.Objects)
	}
	var files []gitrepo.Change
	for _, p := range r.plan.Paths() {
		files = append(files, gitrepo.Change{Path: p, Content: r.plan.Files[p], Delete: r.plan.Files[p] == nil})
	}
	return gitrepo.CommitRequest{
		Changes:  files,
		Message:  gitrepo.FormatMessage(r.subject, body, trailers),
		Branch:   branch,
		Signoff:  req.Signoff,
		NoVerify: req.NoVerify,
		HookOut:  req.ErrOut,
	}
}

// objectTrailer names an object as `history` reads it: "apps/v1 Deployment shop/web".
func objectTrailer(o change.ObjectResult) string {
	id := o.ID
	ns := ""
	if id.Namespace != "" {
		ns = id.Namespace + "/"
	}
	return fmt.Sprintf("%s %s %s%s", o.APIVersion, id.Kind, ns, id.Name)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// describeChange is a field change as commit messages and -o output show it; a Secret's values,
// even encrypted, are not repeated: only which key changed.
func describeChange(kind string, c placement.FieldChange) string {
	if kind != "Secret" && kind != "SealedSecret" {
		return c.String()
	}
	// Masked as kubectl diff masks Secret values.
	switch {
	case c.Delete:
		return c.Path.String() + ": *** (before) → (removed)"
	case c.Added:
		return c.Path.String() + ": (unset) → *** (after)"
	}
	return c.Path.String() + ": *** (before) → *** (after)"
}
