package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Kind is the kind of a reconciler's object.
type Kind string

// The reconcilers' objects sync knows how to poke.
const (
	FluxKustomization Kind = "Kustomization"
	ArgoCDApplication Kind = "Application"
)

// The annotations that ask a reconciler to act now, as `flux reconcile` and `argocd app get
// --refresh` set them.
const (
	FluxRequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt"
	ArgoCDRefreshAnnotation   = "argocd.argoproj.io/refresh"
	// ArgoCDRefreshNormal asks Argo CD to compare with Git again (a "hard" refresh would also
	// drop its manifest cache).
	ArgoCDRefreshNormal = "normal"
)

// Reconciler names the Flux Kustomization or Argo CD Application that applies a target.
type Reconciler struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (r Reconciler) String() string {
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// The kinds at the versions current Flux and Argo CD serve; a RESTMapper, when given, picks the
// version the cluster serves.
var (
	kustomizationGK = schema.GroupKind{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}
	applicationGK   = schema.GroupKind{Group: "argoproj.io", Kind: "Application"}
	fluxSourceGroup = "source.toolkit.fluxcd.io"

	defaultVersions = map[schema.GroupKind]schema.GroupVersionResource{
		kustomizationGK: {Group: kustomizationGK.Group, Version: "v1", Resource: "kustomizations"},
		applicationGK:   {Group: applicationGK.Group, Version: "v1alpha1", Resource: "applications"},
		{Group: fluxSourceGroup, Kind: "GitRepository"}: {Group: fluxSourceGroup, Version: "v1", Resource: "gitrepositories"},
		{Group: fluxSourceGroup, Kind: "OCIRepository"}: {Group: fluxSourceGroup, Version: "v1", Resource: "ocirepositories"},
		{Group: fluxSourceGroup, Kind: "Bucket"}:        {Group: fluxSourceGroup, Version: "v1", Resource: "buckets"},
	}
)

// fluxDefaultBranch is the branch a GitRepository without spec.ref follows.
const fluxDefaultBranch = "master"

// clients reach the reconcilers' objects.
type clients struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func (c clients) resource(gk schema.GroupKind) (schema.GroupVersionResource, error) {
	if c.mapper != nil {
		if m, err := c.mapper.RESTMapping(gk); err == nil {
			return m.Resource, nil
		} else if !meta.IsNoMatchError(err) {
			return schema.GroupVersionResource{}, fmt.Errorf("failed to find the resource of %s: %w", gk, err)
		}
	}
	gvr, ok := defaultVersions[gk]
	if !ok {
		return gvr, fmt.Errorf("the cluster does not serve %s", gk)
	}
	return gvr, nil
}

func (c clients) get(ctx context.Context, gk schema.GroupKind, ns, name string) (*unstructured.Unstructured, error) {
	gvr, err := c.resource(gk)
	if err != nil {
		return nil, err
	}
	obj, err := c.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to read %s %s/%s: %w", gk.Kind, ns, name, err)
	}
	return obj, nil
}

func (c clients) annotate(ctx context.Context, gk schema.GroupKind, ns, name, key, value string) error {
	gvr, err := c.resource(gk)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	if _, err := c.dyn.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("failed to annotate %s %s/%s with %s: %w", gk.Kind, ns, name, key, err)
	}
	return nil
}

// fluxSource is the source a Kustomization takes its manifests from.
func fluxSource(ks *unstructured.Unstructured) (gk schema.GroupKind, ns, name string) {
	kind, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "kind")
	name, _, _ = unstructured.NestedString(ks.Object, "spec", "sourceRef", "name")
	ns, _, _ = unstructured.NestedString(ks.Object, "spec", "sourceRef", "namespace")
	if ns == "" {
		ns = ks.GetNamespace()
	}
	return schema.GroupKind{Group: fluxSourceGroup, Kind: kind}, ns, name
}

// request asks the reconciler to act now: Flux reconciles the Kustomization's source first (so
// that it fetches the pushed commit) and then the Kustomization; Argo CD refreshes the
// Application. It returns what it annotated.
func (c clients) request(ctx context.Context, r Reconciler, now string) ([]string, error) {
	switch r.Kind {
	case FluxKustomization:
		ks, err := c.get(ctx, kustomizationGK, r.Namespace, r.Name)
		if err != nil {
			return nil, err
		}
		var done []string
		if gk, ns, name := fluxSource(ks); name != "" {
			if err := c.annotate(ctx, gk, ns, name, FluxRequestedAtAnnotation, now); err != nil {
				return nil, err
			}
			done = append(done, fmt.Sprintf("%s %s/%s", gk.Kind, ns, name))
		}
		if err := c.annotate(ctx, kustomizationGK, r.Namespace, r.Name, FluxRequestedAtAnnotation, now); err != nil {
			return nil, err
		}
		return append(done, r.String()), nil
	case ArgoCDApplication:
		if err := c.annotate(ctx, applicationGK, r.Namespace, r.Name, ArgoCDRefreshAnnotation, ArgoCDRefreshNormal); err != nil {
			return nil, err
		}
		return []string{r.String()}, nil
	}
	return nil, fmt.Errorf("%s: sync knows Flux Kustomizations and Argo CD Applications only", r)
}

// candidate is a reconciler with the repository, branch and path it applies, and the namespace
// it puts objects without one in.
type candidate struct {
	Reconciler
	url, branch, path, namespace string
	// applied is what the live reconciler object applies, to render as it does.
	applied *reconciler.Applied
}

// find lists the Flux Kustomizations and Argo CD Applications of the cluster that apply path
// t.Path of t's repository and branch. A kind the cluster does not serve is skipped.
func (c clients) find(ctx context.Context, t *target.Target) ([]candidate, error) {
	var all []candidate
	ks, err := c.list(ctx, kustomizationGK)
	if err != nil {
		return nil, err
	}
	sources := map[string]*unstructured.Unstructured{}
	for i := range ks {
		cand, ok, err := c.fluxCandidate(ctx, &ks[i], sources)
		if err != nil {
			return nil, err
		}
		if ok {
			all = append(all, cand)
		}
	}
	apps, err := c.list(ctx, applicationGK)
	if err != nil {
		return nil, err
	}
	for i := range apps {
		all = append(all, appCandidates(&apps[i])...)
	}
	var out []candidate
	for _, cand := range all {
		if cand.path != t.Path || !target.SameRepository(cand.url, t.RemoteURL) {
			continue
		}
		// An Application following the remote's default branch ("HEAD") matches any branch
		// the target names: the target was resolved against the same remote.
		if cand.branch != "" && t.Branch != "" && cand.branch != t.Branch {
			continue
		}
		out = append(out, cand)
	}
	return out, nil
}

// source reads what a named reconciler applies.
func (c clients) source(ctx context.Context, r Reconciler) (candidate, error) {
	switch r.Kind {
	case FluxKustomization:
		ks, err := c.get(ctx, kustomizationGK, r.Namespace, r.Name)
		if err != nil {
			return candidate{}, err
		}
		cand, ok, err := c.fluxCandidate(ctx, ks, map[string]*unstructured.Unstructured{})
		if err != nil {
			return candidate{}, err
		}
		if !ok {
			gk, ns, name := fluxSource(ks)
			return candidate{}, fmt.Errorf("%s takes its manifests from %s %s/%s, not from a Git branch: sync can ask it to reconcile, not wait for it", r, gk.Kind, ns, name)
		}
		return cand, nil
	case ArgoCDApplication:
		app, err := c.get(ctx, applicationGK, r.Namespace, r.Name)
		if err != nil {
			return candidate{}, err
		}
		cands := appCandidates(app)
		if len(cands) == 0 {
			return candidate{}, fmt.Errorf("%s has no source with a path in Git: sync can ask it to refresh, not wait for it", r)
		}
		return cands[0], nil
	}
	return candidate{}, fmt.Errorf("%s: sync knows Flux Kustomizations and Argo CD Applications only", r)
}

// fluxCandidate reads the Git branch and path a Kustomization applies, through its
// GitRepository (read once per sources key). It reports false when the source is no Git branch
// or does not exist.
func (c clients) fluxCandidate(ctx context.Context, ks *unstructured.Unstructured, sources map[string]*unstructured.Unstructured) (candidate, bool, error) {
	gk, ns, name := fluxSource(ks)
	if gk.Kind != "GitRepository" || name == "" {
		return candidate{}, false, nil
	}
	key := ns + "/" + name
	src, seen := sources[key]
	if !seen {
		var err error
		src, err = c.get(ctx, gk, ns, name)
		if err != nil && !apierrors.IsNotFound(err) {
			return candidate{}, false, err
		}
		sources[key] = src
	}
	if src == nil {
		return candidate{}, false, nil
	}
	url, _, _ := unstructured.NestedString(src.Object, "spec", "url")
	ref, _, _ := unstructured.NestedStringMap(src.Object, "spec", "ref")
	branch := ref["branch"]
	if branch == "" {
		branch, _ = strings.CutPrefix(ref["name"], "refs/heads/")
	}
	if branch == "" {
		if ref["tag"] != "" || ref["semver"] != "" || ref["commit"] != "" || ref["name"] != "" {
			return candidate{}, false, nil
		}
		branch = fluxDefaultBranch
	}
	p, _, _ := unstructured.NestedString(ks.Object, "spec", "path")
	targetNs, _, _ := unstructured.NestedString(ks.Object, "spec", "targetNamespace")
	return candidate{Reconciler{FluxKustomization, ks.GetNamespace(), ks.GetName()}, url, branch, cleanPath(p), targetNs,
		&reconciler.Applied{Reconciler: reconciler.Object{Obj: ks}, URL: url, Branch: branch, Path: cleanPath(p)}}, true, nil
}

// appCandidates are the Git paths an Application renders.
func appCandidates(a *unstructured.Unstructured) []candidate {
	destNs, _, _ := unstructured.NestedString(a.Object, "spec", "destination", "namespace")
	var out []candidate
	for i, src := range appSources(a) {
		if src == nil {
			continue
		}
		url, _ := src["repoURL"].(string)
		p, _ := src["path"].(string)
		rev, _ := src["targetRevision"].(string)
		branch := strings.TrimPrefix(rev, "refs/heads/")
		if branch == "HEAD" {
			branch = ""
		}
		out = append(out, candidate{Reconciler{ArgoCDApplication, a.GetNamespace(), a.GetName()}, url, branch, cleanPath(p), destNs,
			&reconciler.Applied{Reconciler: reconciler.Object{Obj: a}, Source: i, URL: url, Branch: rev, Path: cleanPath(p)}})
	}
	return out
}

func (c clients) list(ctx context.Context, gk schema.GroupKind) ([]unstructured.Unstructured, error) {
	gvr, err := c.resource(gk)
	if err != nil {
		return nil, err
	}
	l, err := c.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil // the cluster runs no such reconciler
	case err != nil:
		return nil, fmt.Errorf("failed to list the %ss of the cluster: %w", gk.Kind, err)
	}
	return l.Items, nil
}

// appSources are the Git paths an Application renders, by the index of the source that names
// them: spec.source, or those of spec.sources that are not Helm charts (nil for the others).
func appSources(a *unstructured.Unstructured) []map[string]any {
	if s, ok, _ := unstructured.NestedMap(a.Object, "spec", "source"); ok {
		return []map[string]any{s}
	}
	srcs, _, _ := unstructured.NestedSlice(a.Object, "spec", "sources")
	out := make([]map[string]any, len(srcs))
	for i, s := range srcs {
		if m, ok := s.(map[string]any); ok && m["path"] != nil && m["chart"] == nil {
			out[i] = m
		}
	}
	return out
}

// cleanPath is a reconciler's path as a target's: "./apps/staging" is "apps/staging", "" and
// "./" are ".".
func cleanPath(p string) string {
	return path.Clean(strings.TrimLeft(strings.TrimSpace(p), "/"))
}

// status summarises what the reconciler reports about commit, for a timeout.
func (c clients) status(ctx context.Context, r Reconciler, commit string) string {
	gk := kustomizationGK
	if r.Kind == ArgoCDApplication {
		gk = applicationGK
	}
	obj, err := c.get(ctx, gk, r.Namespace, r.Name)
	if err != nil {
		return fmt.Sprintf("%s: %v", r, err)
	}
	var parts []string
	applied := func(rev string) {
		switch {
		case rev == "":
		case strings.HasSuffix(rev, commit):
			parts = append(parts, "applied "+short(commit))
		default:
			parts = append(parts, fmt.Sprintf("has not applied %s (last applied %s)", short(commit), rev))
		}
	}
	if r.Kind == ArgoCDApplication {
		if s, _, _ := unstructured.NestedString(obj.Object, "status", "sync", "status"); s != "" {
			parts = append(parts, "sync "+s)
		}
		rev, _, _ := unstructured.NestedString(obj.Object, "status", "sync", "revision")
		applied(rev)
		if msg, _, _ := unstructured.NestedString(obj.Object, "status", "operationState", "message"); msg != "" {
			parts = append(parts, msg)
		}
	} else {
		if ready := readyCondition(obj); ready != "" {
			parts = append(parts, ready)
		}
		rev, _, _ := unstructured.NestedString(obj.Object, "status", "lastAppliedRevision")
		applied(rev)
		if gk, ns, name := fluxSource(obj); name != "" {
			if src, err := c.get(ctx, gk, ns, name); err == nil {
				if ready := readyCondition(src); ready != "" && ready != "Ready" {
					parts = append(parts, fmt.Sprintf("%s %s/%s %s", gk.Kind, ns, name, ready))
				}
			}
		}
	}
	if len(parts) == 0 {
		return r.String() + ": reports no status (does its controller run?)"
	}
	return r.String() + ": " + strings.Join(parts, "; ")
}

// readyCondition is the Ready condition of a Flux object: "Ready", or "Ready=False (Reason):
// message".
func readyCondition(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		if m["status"] == "True" {
			return "Ready"
		}
		s := fmt.Sprintf("Ready=%v", m["status"])
		if reason, _ := m["reason"].(string); reason != "" {
			s += " (" + reason + ")"
		}
		if msg, _ := m["message"].(string); msg != "" {
			s += ": " + msg
		}
		return s
	}
	return ""
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
