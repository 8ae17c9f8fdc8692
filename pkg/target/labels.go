package target

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The labels and annotations that the reconcilers put on the objects they apply.
const (
	FluxKustomizationNameLabel      = fluxKustomizeGroup + "/name"
	FluxKustomizationNamespaceLabel = fluxKustomizeGroup + "/namespace"
	FluxHelmReleaseNameLabel        = fluxHelmGroup + "/name"
	FluxHelmReleaseNamespaceLabel   = fluxHelmGroup + "/namespace"
	ArgoCDTrackingIDAnnotation      = "argocd.argoproj.io/tracking-id"
	ArgoCDInstanceLabel             = "app.kubernetes.io/instance"
	// helmChartLabel is the label Helm's chart scaffold gives every object: NAME-VERSION.
	helmChartLabel = "helm.sh/chart"
)

// The reconcilers' kinds, at the versions current Flux and Argo CD serve.
var (
	fluxKustomizationGVR = schema.GroupVersionResource{Group: fluxKustomizeGroup, Version: "v1", Resource: "kustomizations"}
	gitRepositoryGVR     = schema.GroupVersionResource{Group: fluxSourceGroup, Version: "v1", Resource: "gitrepositories"}
	helmReleaseGVR       = schema.GroupVersionResource{Group: fluxHelmGroup, Version: "v2", Resource: "helmreleases"}
	applicationGVR       = schema.GroupVersionResource{Group: argoGroup, Version: "v1alpha1", Resource: "applications"}
)

// kinds names the resources above for messages and for the RESTMapper.
var kinds = map[schema.GroupVersionResource]string{
	fluxKustomizationGVR: "Kustomization",
	gitRepositoryGVR:     "GitRepository",
	helmReleaseGVR:       "HelmRelease",
	applicationGVR:       "Application",
}

// fluxDefaultBranch is the branch a GitRepository without ref follows.
const fluxDefaultBranch = "master"

var commitSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// fromLive follows the live object's GitOps labels to the reconciler's object. It returns no
// target and a note on what it found when the object carries no label that leads anywhere.
func (r *resolver) fromLive(ctx context.Context) (*Target, string, error) {
	live := r.o.Live
	if live == nil {
		return nil, "labels: no live object to read them from", nil
	}
	obj := objectName(live)
	labels, annotations := live.GetLabels(), live.GetAnnotations()

	if name := labels[FluxKustomizationNameLabel]; name != "" {
		ns := labels[FluxKustomizationNamespaceLabel]
		if ns == "" {
			ns = live.GetNamespace()
		}
		t, err := r.fromFluxKustomization(ctx, ns, name, fmt.Sprintf("%s is labelled %s=%s", obj, FluxKustomizationNameLabel, name))
		return t, "", err
	}
	if name := labels[FluxHelmReleaseNameLabel]; name != "" {
		ns := labels[FluxHelmReleaseNamespaceLabel]
		if ns == "" {
			ns = live.GetNamespace()
		}
		ref := ObjectRef{APIVersion: helmReleaseGVR.GroupVersion().String(), Kind: "HelmRelease", Namespace: ns, Name: name}
		hr, err := r.get(ctx, helmReleaseGVR, ns, name, fmt.Sprintf("%s is labelled %s=%s", obj, FluxHelmReleaseNameLabel, name))
		if err != nil {
			return nil, "", err
		}
		ref.APIVersion = hr.GetAPIVersion()
		hrLabels := hr.GetLabels()
		ksName, ksNs := hrLabels[FluxKustomizationNameLabel], hrLabels[FluxKustomizationNamespaceLabel]
		if ksName == "" {
			return nil, "", fmt.Errorf("%s was made by %s, which has no %s label: it is not applied from Git by a Flux Kustomization; give its repository with --repo DIR --path PATH", obj, ref, FluxKustomizationNameLabel)
		}
		if ksNs == "" {
			ksNs = ns
		}
		t, err := r.fromFluxKustomization(ctx, ksNs, ksName, fmt.Sprintf("%s, which made %s, is labelled %s=%s", ref, obj, FluxKustomizationNameLabel, ksName))
		if err != nil {
			return nil, "", err
		}
		t.HelmRelease = &ref
		return t, "", nil
	}
	if id := annotations[ArgoCDTrackingIDAnnotation]; id != "" {
		app, _, ok := strings.Cut(id, ":")
		if !ok || app == "" {
			return nil, "", fmt.Errorf("%s has annotation %s=%q, which is not <app>:<group>/<kind>:<namespace>/<name>", obj, ArgoCDTrackingIDAnnotation, id)
		}
		ns := r.o.ArgoNamespace
		// Applications outside Argo CD's own namespace are tracked as <namespace>_<name>.
		if appNs, appName, ok := strings.Cut(app, "_"); ok {
			ns, app = appNs, appName
		}
		t, err := r.fromArgoApplication(ctx, ns, app, fmt.Sprintf("%s has annotation %s=%s", obj, ArgoCDTrackingIDAnnotation, id))
		return t, "", err
	}
	if app := labels[ArgoCDInstanceLabel]; app != "" {
		// Helm charts set this label too: only an existing Application counts.
		ns := r.o.ArgoNamespace
		if appNs, appName, ok := strings.Cut(app, "_"); ok {
			ns, app = appNs, appName
		}
		t, err := r.fromArgoApplication(ctx, ns, app, "")
		if err == nil || !apierrors.IsNotFound(err) {
			return t, "", err
		}
		return nil, fmt.Sprintf("labels: %s has label %s=%s, but there is no Argo CD Application %s/%s (set the Argo CD namespace if it is not %s)", obj, ArgoCDInstanceLabel, labels[ArgoCDInstanceLabel], ns, app, ns), nil
	}
	return nil, fmt.Sprintf("labels: %s has none of the labels %s, %s, %s or the annotation %s: no Flux or Argo CD object applies it", obj, FluxKustomizationNameLabel, FluxHelmReleaseNameLabel, ArgoCDInstanceLabel, ArgoCDTrackingIDAnnotation), nil
}

// get reads a reconciler's object. because says why it is read, for the error when it is
// missing; with an empty because, a missing object's error is returned as the API gave it.
func (r *resolver) get(ctx context.Context, gvr schema.GroupVersionResource, ns, name, because string) (*unstructured.Unstructured, error) {
	kind := kinds[gvr]
	if r.o.Client == nil {
		return nil, fmt.Errorf("reading %s %s/%s needs a cluster client", kind, ns, name)
	}
	if r.o.Mapper != nil {
		if m, err := r.o.Mapper.RESTMapping(schema.GroupKind{Group: gvr.Group, Kind: kind}); err == nil {
			gvr = m.Resource
		}
	}
	obj, err := r.o.Client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return obj, nil
	case apierrors.IsNotFound(err) && because == "":
		return nil, err
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%s, but %s %s/%s does not exist: %w", because, kind, ns, name, err)
	}
	return nil, fmt.Errorf("failed to read %s %s/%s: %w", kind, ns, name, err)
}

// fromFluxKustomization reads a Flux Kustomization and its GitRepository.
func (r *resolver) fromFluxKustomization(ctx context.Context, ns, name, because string) (*Target, error) {
	ks, err := r.get(ctx, fluxKustomizationGVR, ns, name, because)
	if err != nil {
		return nil, err
	}
	ksRef := fmt.Sprintf("Kustomization %s/%s", ns, name)
	rawPath, _, _ := unstructured.NestedString(ks.Object, "spec", "path")
	p, err := cleanRepoPath(rawPath)
	if err != nil {
		return nil, fmt.Errorf("%s: spec.path: %w", ksRef, err)
	}
	srcKind, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "kind")
	srcName, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "name")
	srcNs, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "namespace")
	if srcNs == "" {
		srcNs = ns
	}
	if srcKind != "GitRepository" {
		return nil, fmt.Errorf("%s takes its source from %s %s/%s, not from a Git repository: give the repository with --repo DIR --path PATH", ksRef, srcKind, srcNs, srcName)
	}
	gr, err := r.get(ctx, gitRepositoryGVR, srcNs, srcName, ksRef+" takes its source from GitRepository "+srcNs+"/"+srcName)
	if err != nil {
		return nil, err
	}
	grRef := fmt.Sprintf("GitRepository %s/%s", srcNs, srcName)
	url, _, _ := unstructured.NestedString(gr.Object, "spec", "url")
	if url == "" {
		return nil, fmt.Errorf("%s has no spec.url", grRef)
	}
	ref, _, _ := unstructured.NestedStringMap(gr.Object, "spec", "ref")
	branch := ref["branch"]
	if branch == "" {
		if b, ok := strings.CutPrefix(ref["name"], "refs/heads/"); ok {
			branch = b
		}
	}
	if branch == "" {
		for _, k := range []string{"name", "tag", "semver", "commit"} {
			if v := ref[k]; v != "" {
				return nil, fmt.Errorf("%s follows %s %s, not a branch: a change cannot be pushed to it; give a checkout with --repo DIR --path PATH", grRef, k, v)
			}
		}
		branch = fluxDefaultBranch
	}
	targetNs, _, _ := unstructured.NestedString(ks.Object, "spec", "targetNamespace")
	return &Target{
		Name:      name,
		Path:      p,
		Branch:    branch,
		RemoteURL: url,
		Context:   r.o.Context,
		Namespace: targetNs,
		Source:    SourceFlux,
		Applied:   &reconciler.Applied{Reconciler: reconciler.Object{Obj: ks}, URL: url, Branch: branch, Path: p},
	}, nil
}

// fromArgoApplication reads an Argo CD Application.
func (r *resolver) fromArgoApplication(ctx context.Context, ns, name, because string) (*Target, error) {
	app, err := r.get(ctx, applicationGVR, ns, name, because)
	if err != nil {
		return nil, err
	}
	appRef := fmt.Sprintf("Application %s/%s", ns, name)
	var src map[string]any
	index := 0
	if s, ok, _ := unstructured.NestedMap(app.Object, "spec", "source"); ok {
		src = s
	} else if srcs, ok, _ := unstructured.NestedSlice(app.Object, "spec", "sources"); ok {
		// A chart of a Helm repository made the object when it carries the chart's
		// conventional helm.sh/chart label, NAME-VERSION.
		if ci, ref := chartValuesRef(srcs); ref != nil && r.o.Live != nil {
			chart, _ := srcs[ci].(map[string]any)
			if r.o.Live.GetLabels()[helmChartLabel] == fmt.Sprintf("%v-%v", chart["chart"], chart["targetRevision"]) {
				return r.argoChartTarget(app, appRef, ci, ref)
			}
		}
		// Of several sources, the first Git path renders the manifests; the others are Helm
		// charts or value references.
		for i, s := range srcs {
			if m, ok := s.(map[string]any); ok && m["path"] != nil && m["chart"] == nil {
				src, index = m, i
				break
			}
		}
	}
	if src == nil {
		srcs, _, _ := unstructured.NestedSlice(app.Object, "spec", "sources")
		if ci, ref := chartValuesRef(srcs); ref != nil {
			return r.argoChartTarget(app, appRef, ci, ref)
		}
		return nil, fmt.Errorf("%s has no source with a path in Git", appRef)
	}
	repoURL, _ := src["repoURL"].(string)
	if chart, _ := src["chart"].(string); chart != "" {
		// Its values are the Application's own: its file is in the repository of the
		// Application that applies it (app of apps), which Argo CD's tracking on it names.
		if parent := r.appliedBy(ctx, app); parent != nil {
			return r.argoChartTarget(app, appRef, index, parent)
		}
		return nil, fmt.Errorf("%s renders Helm chart %s from %s, not a path in Git, and no Application applies it from Git: give the repository of its values with --repo DIR --target NAME", appRef, chart, repoURL)
	}
	if repoURL == "" {
		return nil, fmt.Errorf("%s has no spec.source.repoURL", appRef)
	}
	rawPath, _ := src["path"].(string)
	p, err := cleanRepoPath(rawPath)
	if err != nil {
		return nil, fmt.Errorf("%s: spec.source.path: %w", appRef, err)
	}
	rev, _ := src["targetRevision"].(string)
	branch := strings.TrimPrefix(rev, "refs/heads/")
	switch {
	case branch == "HEAD":
		branch = "" // the remote's default branch, found when the repository is
	case commitSHA.MatchString(branch):
		return nil, fmt.Errorf("%s is pinned to commit %s, not a branch: a change cannot be pushed to it; give a checkout with --repo DIR --path PATH", appRef, rev)
	}
	destNs, _, _ := unstructured.NestedString(app.Object, "spec", "destination", "namespace")
	return &Target{
		Name:      name,
		Path:      p,
		Branch:    branch,
		RemoteURL: repoURL,
		Context:   r.o.Context,
		Namespace: destNs,
		Source:    SourceArgoCD,
		Applied:   &reconciler.Applied{Reconciler: reconciler.Object{Obj: app}, Source: index, URL: repoURL, Branch: rev, Path: p},
	}, nil
}

// chartValuesRef finds, among an Application's sources, a chart of a Helm or OCI repository
// whose value files are $REF/... of a source of this kind in Git: its index and that source.
func chartValuesRef(srcs []any) (int, map[string]any) {
	refs := map[string]map[string]any{}
	for _, s := range srcs {
		if m, ok := s.(map[string]any); ok {
			if ref, _ := m["ref"].(string); ref != "" && m["repoURL"] != nil {
				refs[ref] = m
			}
		}
	}
	for i, s := range srcs {
		m, _ := s.(map[string]any)
		if m["chart"] == nil {
			continue
		}
		helm, _ := m["helm"].(map[string]any)
		files, _ := helm["valueFiles"].([]any)
		for _, f := range files {
			name, _ := f.(string)
			ref, _, ok := strings.Cut(strings.TrimPrefix(name, "$"), "/")
			if ok && strings.HasPrefix(name, "$") && refs[ref] != nil {
				return i, refs[ref]
			}
		}
	}
	return -1, nil
}

// appliedBy is the Git source (repoURL, targetRevision) of the Application that applies
// Application app, as Argo CD's tracking annotation or label on app names it; nil when none
// does, or it has no path in Git.
func (r *resolver) appliedBy(ctx context.Context, app *unstructured.Unstructured) map[string]any {
	name := app.GetLabels()[ArgoCDInstanceLabel]
	if id := app.GetAnnotations()[ArgoCDTrackingIDAnnotation]; id != "" {
		name, _, _ = strings.Cut(id, ":")
	}
	ns := r.o.ArgoNamespace
	if appNs, appName, ok := strings.Cut(name, "_"); ok {
		ns, name = appNs, appName
	}
	if name == "" || (ns == app.GetNamespace() && name == app.GetName()) {
		return nil
	}
	parent, err := r.get(ctx, applicationGVR, ns, name, "")
	if err != nil {
		return nil
	}
	srcs, _, _ := unstructured.NestedSlice(parent.Object, "spec", "sources")
	if s, ok, _ := unstructured.NestedMap(parent.Object, "spec", "source"); ok {
		srcs = []any{s}
	}
	for _, s := range srcs {
		if m, ok := s.(map[string]any); ok && m["path"] != nil && m["chart"] == nil && m["repoURL"] != nil {
			return m
		}
	}
	return nil
}

// argoChartTarget is the target of chart source index of Application app, whose values come from
// the repository of ref, a source in Git (its $values source, or the Application that applies
// it): the Application's file is in that repository, where discovery finds its path
// (definedHere); the path is empty until then.
func (r *resolver) argoChartTarget(app *unstructured.Unstructured, appRef string, index int, ref map[string]any) (*Target, error) {
	repoURL, _ := ref["repoURL"].(string)
	rev, _ := ref["targetRevision"].(string)
	branch := strings.TrimPrefix(rev, "refs/heads/")
	switch {
	case branch == "HEAD" || branch == "":
		branch = ""
	case commitSHA.MatchString(branch):
		return nil, fmt.Errorf("%s takes its values from commit %s of %s, not a branch: a change cannot be pushed to it; give a checkout with --repo DIR --target NAME", appRef, rev, repoURL)
	}
	destNs, _, _ := unstructured.NestedString(app.Object, "spec", "destination", "namespace")
	return &Target{
		Name:      app.GetName(),
		Branch:    branch,
		RemoteURL: repoURL,
		Context:   r.o.Context,
		Namespace: destNs,
		Source:    SourceArgoCD,
		Applied:   &reconciler.Applied{Reconciler: reconciler.Object{Obj: app}, Source: index, URL: repoURL, Branch: rev},
	}, nil
}

// definedHere gives a target found through the cluster the reconciler object as its
// repository defines it, when the repository defines that object (kind, namespace, name) with
// the same path: its name names it as discovery does, and a render reads the object from its
// file, so that a change to that file is seen. Of several definitions (one per cluster
// directory), the one whose spec is the live object's is taken, else the first. A repository
// that does not define it keeps the live object, named by its reference.
func definedHere(t *Target) {
	live := t.Applied
	if live == nil {
		return
	}
	s, _, err := discover(t.RepoDir, &Config{}, openScanMemo(t.RepoDir))
	var match *Target
	if err == nil {
		for i := range s.Targets {
			d := &s.Targets[i]
			// A chart source's path is where the repository defines the Application: any.
			if d.Applied == nil || d.Applied.Release != nil || d.Applied.Reconciler.Ref() != live.Reconciler.Ref() || (t.Path != "" && d.Path != t.Path) || d.Applied.Source != live.Source {
				continue
			}
			if match == nil || reflect.DeepEqual(d.Applied.Reconciler.Obj.Object["spec"], live.Reconciler.Obj.Object["spec"]) {
				match = d
			}
		}
	}
	if match == nil {
		t.Name = live.Reconciler.Ref()
		return
	}
	t.Name, t.Applied, t.Path = match.Name, match.Applied, match.Path
}

// objectName names an object the way kubectl's messages do ("Deployment shop/web").
func objectName(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}
