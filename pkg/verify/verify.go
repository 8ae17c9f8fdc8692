// Package verify checks that a repository's targets can be applied as they are: every target
// renders, every object passes a server-side dry-run apply (the API server's validation and
// admission, nothing persisted), the cluster holds what Git says (pkg/diff), and no file holds
// secret material in the clear (the secrets guard). Offline, without a cluster, it renders,
// checks each object's schema client-side and runs the guard.
package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// The checks a finding can come from.
const (
	CheckRender  = "render"
	CheckSchema  = "schema"
	CheckDryRun  = "dry-run"
	CheckDrift   = "drift"
	CheckMissing = "missing"
	CheckDiff    = "diff"
)

// Options say what to verify and against which cluster.
type Options struct {
	// Repo is the repository's work tree; its files go through the secrets guard.
	Repo string
	// Targets are the targets to verify; each renders from its RepoDir.
	Targets []target.Target
	// Offline checks without a cluster: render, schema and the secrets guard.
	Offline bool
	// Clusters reaches each target's cluster: its Context, else the context in use. Required
	// unless Offline.
	Clusters Clusters
	// Namespace is the namespace of namespaced objects when neither they nor their target name
	// one; default "default".
	Namespace string
	// Allow lets files through the secrets guard (the configuration's guard.allow).
	Allow func(path string) (reason string, ok bool)
	// FieldManager of the dry-run applies; default DefaultFieldManager.
	FieldManager string
}

// Report is the outcome of a verification.
type Report struct {
	Offline bool           `json:"offline"`
	Targets []TargetReport `json:"targets"`
	Secrets SecretsReport  `json:"secrets"`
}

// TargetReport is one target's outcome.
type TargetReport struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Context is the kubeconfig context the target was checked against; "" offline.
	Context string `json:"context,omitempty"`
	// RenderError says why the target does not render.
	RenderError string `json:"renderError,omitempty"`
	// Unchecked says why the target could not be checked here, which is no finding: its
	// Helm chart's repository does not answer and the chart cache lacks it.
	Unchecked string `json:"unchecked,omitempty"`
	// Rendered counts the objects the target renders.
	Rendered int `json:"rendered"`
	// Objects are the objects with findings or notes, in the render's order.
	Objects []ObjectReport `json:"objects"`
}

// ObjectReport is what the checks found about one object.
type ObjectReport struct {
	diff.ObjectID
	// Source is the file (and document) the object was rendered from.
	Source   string    `json:"source,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
	// Notes say what was not checked, and why.
	Notes []string `json:"notes,omitempty"`
}

// Finding is one problem with an object.
type Finding struct {
	// Check is CheckSchema, CheckDryRun, CheckDrift, CheckMissing or CheckDiff.
	Check string `json:"check"`
	// Message is the problem; for a dry-run, the API server's answer.
	Message string `json:"message,omitempty"`
	// Fields are the drifted fields, Secret values masked.
	Fields []diff.Field `json:"fields,omitempty"`
}

// SecretsReport is the secrets guard's outcome over the repository's files.
type SecretsReport struct {
	Files    int             `json:"files"`
	Findings []guard.Finding `json:"findings"`
	Allowed  []guard.Allowed `json:"allowed,omitempty"`
}

// Findings counts everything that fails the verification.
func (r *Report) Findings() int {
	n := len(r.Secrets.Findings)
	for _, t := range r.Targets {
		n += t.Findings()
	}
	return n
}

// Findings counts the target's problems: its render, or its objects' findings.
func (t *TargetReport) Findings() int {
	if t.RenderError != "" {
		return 1
	}
	n := 0
	for _, o := range t.Objects {
		n += len(o.Findings)
	}
	return n
}

// Passed tells whether nothing was found.
func (r *Report) Passed() bool { return r.Findings() == 0 }

// Run verifies the targets and the repository's files. Findings are in the report; the error
// is for what kept the checks from running (an unreachable cluster, an unreadable repository).
func Run(ctx context.Context, o Options) (*Report, error) {
	if !o.Offline && o.Clusters == nil {
		return nil, fmt.Errorf("verify: no cluster to check against")
	}
	rep := &Report{Offline: o.Offline, Targets: []TargetReport{}}
	for _, t := range o.Targets {
		tr, err := verifyTarget(ctx, o, t)
		if err != nil {
			return nil, err
		}
		rep.Targets = append(rep.Targets, *tr)
	}
	if o.Repo != "" {
		files, err := RepoFiles(ctx, o.Repo)
		if err != nil {
			return nil, err
		}
		g := guard.Check(files, guard.Options{Allow: o.Allow, ReadFile: readRepoFile(o.Repo)})
		rep.Secrets = SecretsReport{Files: g.Files, Findings: g.Findings, Allowed: g.Allowed}
	}
	if rep.Secrets.Findings == nil {
		rep.Secrets.Findings = []guard.Finding{}
	}
	return rep, nil
}

// checked is one rendered object on its way through the checks.
type checked struct {
	src    *render.Object
	report ObjectReport
	// apply: the object has what an apply needs, and goes to the cluster.
	apply bool
}

func verifyTarget(ctx context.Context, o Options, t target.Target) (*TargetReport, error) {
	tr := &TargetReport{Name: t.Name, Path: t.Path, Objects: []ObjectReport{}}
	res, err := render.Render(t.RepoDir, t.Path, render.Options{Applied: t.Applied})
	var unavailable *render.ChartUnavailableError
	if errors.As(err, &unavailable) {
		tr.Unchecked = err.Error()
		return tr, nil
	}
	if err != nil {
		tr.RenderError = err.Error()
		return tr, nil
	}
	tr.Rendered = len(res.Objects)
	var problems map[diff.ObjectID][]string
	if o.Offline {
		manifests := make([]*unstructured.Unstructured, len(res.Objects))
		for i, ro := range res.Objects {
			manifests[i] = ro.Obj()
		}
		if problems, err = schemaProblems(ctx, manifests); err != nil {
			return nil, fmt.Errorf("failed to verify %s: %w", t, err)
		}
	}
	objs := make([]*checked, len(res.Objects))
	for i, ro := range res.Objects {
		c := &checked{src: ro, report: ObjectReport{ObjectID: idOf(ro.Obj()), Source: source(ro.Origin)}}
		objs[i] = c
		if o.Offline {
			for _, p := range problems[c.report.ObjectID] {
				c.report.Findings = append(c.report.Findings, Finding{Check: CheckSchema, Message: p})
			}
			// An object named twice in a render is reported once.
			delete(problems, c.report.ObjectID)
			continue
		}
		if p := identityProblems(ro.Obj()); len(p) > 0 {
			c.report.Findings = append(c.report.Findings, Finding{Check: CheckSchema, Message: strings.Join(p, ", ")})
			continue
		}
		c.apply = true
	}
	if !o.Offline {
		cl, err := o.Clusters.Cluster(ctx, t.Context)
		if err != nil {
			return nil, fmt.Errorf("failed to verify %s: %w", t, err)
		}
		tr.Context = cl.Context
		if err := checkCluster(ctx, o, t, cl, objs); err != nil {
			return nil, fmt.Errorf("failed to verify %s: %w", t, err)
		}
	}
	for _, c := range objs {
		if len(c.report.Findings) > 0 || len(c.report.Notes) > 0 {
			tr.Objects = append(tr.Objects, c.report)
		}
	}
	return tr, nil
}

// checkCluster dry-runs every object and compares the render with the cluster, at once.
func checkCluster(ctx context.Context, o Options, t target.Target, cl *Cluster, objs []*checked) error {
	var manifests []*unstructured.Unstructured
	var applied []*checked
	for _, c := range objs {
		if c.apply {
			manifests = append(manifests, c.src.Obj())
			applied = append(applied, c)
		}
	}
	ns := t.Namespace
	if ns == "" {
		ns = o.Namespace
	}
	var dry []DryRunResult
	var report *diff.Report
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		dry, err = DryRun(gctx, cl, manifests, DryRunOptions{Namespace: ns, FieldManager: o.FieldManager})
		return err
	})
	g.Go(func() error {
		var err error
		report, err = diff.Compare(gctx, diff.Options{
			Config: cl.Config, Mapper: cl.Mapper, Discovery: cl.Discovery, Objects: manifests, Namespace: ns,
			ArgoCDInstance: diff.ArgoCDInstanceOf(t.Applied),
		})
		if err != nil {
			return fmt.Errorf("failed to compare with the cluster: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	byID := map[diff.ObjectID]*checked{}
	for i, c := range applied {
		c.report.ObjectID = dry[i].ID
		byID[dry[i].ID] = c
		switch {
		case dry[i].Error != "":
			c.report.Findings = append(c.report.Findings, Finding{Check: CheckDryRun, Message: dry[i].Error})
		case dry[i].Skipped != "":
			c.report.Notes = append(c.report.Notes, "dry-run skipped: "+dry[i].Skipped)
		}
	}
	for _, d := range report.Objects {
		c := byID[d.ObjectID]
		if c == nil {
			continue
		}
		if hasCheck(c.report.Findings, CheckDryRun) {
			// The API server's refusal says it better than the comparison can.
			continue
		}
		switch d.Status {
		case diff.StatusDrift:
			c.report.Findings = append(c.report.Findings, Finding{Check: CheckDrift, Message: d.Message, Fields: d.Fields})
		case diff.StatusMissing:
			msg := d.Message
			if msg == "" {
				msg = "in Git, not in the cluster"
			}
			c.report.Findings = append(c.report.Findings, Finding{Check: CheckMissing, Message: msg})
		case diff.StatusError:
			c.report.Findings = append(c.report.Findings, Finding{Check: CheckDiff, Message: d.Message})
		}
	}
	return nil
}

func hasCheck(fs []Finding, check string) bool {
	for _, f := range fs {
		if f.Check == check {
			return true
		}
	}
	return false
}

// source names where an object was written: "file" or "file#doc" (1-based), or the
// kustomization whose generator made it.
func source(o render.Origin) string {
	switch {
	case o.Generated != "":
		return o.Generated + " (generated)"
	case o.File == "":
		return ""
	case o.Doc > 0:
		return fmt.Sprintf("%s#%d", o.File, o.Doc+1)
	}
	return o.File
}
