package sync

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// fakeClients serves the given YAML objects as the cluster's reconciler objects.
func fakeClients(t *testing.T, docs ...string) clients {
	t.Helper()
	var objs []runtime.Object
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	lists := map[schema.GroupVersionResource]string{}
	for gk, gvr := range defaultVersions {
		lists[gvr] = gk.Kind + "List"
	}
	return clients{dyn: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)}
}

const (
	fleetRepo = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec: {url: "ssh://git@git.example.com/platform/fleet.git", ref: {branch: main}}`
	taggedRepo = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: tagged, namespace: flux-system}
spec: {url: "https://git.example.com/platform/fleet", ref: {tag: v1.0.0}}`
	stagingKs = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {path: ./apps/staging, targetNamespace: shop, sourceRef: {kind: GitRepository, name: fleet}}`
	productionKs = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: prod, namespace: flux-system}
spec: {path: apps/production, sourceRef: {kind: GitRepository, name: fleet}}`
	taggedKs = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: pinned, namespace: flux-system}
spec: {path: ./apps/staging, sourceRef: {kind: GitRepository, name: tagged}}`
	headApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  source: {repoURL: "https://git.example.com/platform/fleet.git", targetRevision: HEAD, path: apps/staging}
  destination: {namespace: shop}`
	otherBranchApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: next, namespace: argocd}
spec:
  source: {repoURL: "https://git.example.com/platform/fleet.git", targetRevision: next, path: apps/staging}`
	otherRepoApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: other, namespace: argocd}
spec:
  sources:
    - {repoURL: "https://charts.example.com", chart: web}
    - {repoURL: "https://git.example.com/platform/other.git", targetRevision: main, path: apps/staging}`
)

// A target's reconcilers are those that apply the same repository (however its URL is spelled),
// branch and path; an Application following HEAD follows any branch of it.
func TestFindMatchesRepositoryBranchAndPath(t *testing.T) {
	c := fakeClients(t, fleetRepo, taggedRepo, stagingKs, productionKs, taggedKs, headApp, otherBranchApp, otherRepoApp)
	found, err := c.find(context.Background(), &target.Target{RemoteURL: "git@git.example.com:platform/fleet.git", Branch: "main", Path: "apps/staging"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.String()+" ns="+f.namespace)
	}
	want := []string{"Kustomization flux-system/apps ns=shop", "Application argocd/shop ns=shop"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("found %q, want %q", got, want)
	}
}

// Flux is asked on the source first, then the Kustomization, with the same timestamp that
// `flux reconcile` writes; Argo CD through its refresh annotation.
func TestRequestAnnotates(t *testing.T) {
	c := fakeClients(t, fleetRepo, stagingKs, headApp)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).Format(time.RFC3339Nano)
	asked, err := c.request(ctx, Reconciler{FluxKustomization, "flux-system", "apps"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(asked, ", "); got != "GitRepository flux-system/fleet, Kustomization flux-system/apps" {
		t.Errorf("asked %s", got)
	}
	for _, gk := range []schema.GroupKind{kustomizationGK, {Group: fluxSourceGroup, Kind: "GitRepository"}} {
		name := "apps"
		if gk.Kind == "GitRepository" {
			name = "fleet"
		}
		obj, err := c.get(ctx, gk, "flux-system", name)
		if err != nil {
			t.Fatal(err)
		}
		if got := obj.GetAnnotations()[FluxRequestedAtAnnotation]; got != "2026-01-02T03:04:05.000000006Z" {
			t.Errorf("%s %s: %s = %q", gk.Kind, name, FluxRequestedAtAnnotation, got)
		}
	}
	if _, err := c.request(ctx, Reconciler{ArgoCDApplication, "argocd", "shop"}, now); err != nil {
		t.Fatal(err)
	}
	app, err := c.get(ctx, applicationGK, "argocd", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got := app.GetAnnotations()[ArgoCDRefreshAnnotation]; got != ArgoCDRefreshNormal {
		t.Errorf("Application: %s = %q", ArgoCDRefreshAnnotation, got)
	}
	if _, err := c.request(ctx, Reconciler{FluxKustomization, "flux-system", "missing"}, now); err == nil || !strings.Contains(err.Error(), "Kustomization flux-system/missing") {
		t.Errorf("a missing Kustomization: %v", err)
	}
}

// A named reconciler tells what to wait for; one pinned to a tag has no branch to wait for.
func TestSourceOfNamedReconciler(t *testing.T) {
	c := fakeClients(t, fleetRepo, taggedRepo, stagingKs, taggedKs, otherRepoApp)
	ctx := context.Background()
	cand, err := c.source(ctx, Reconciler{FluxKustomization, "flux-system", "apps"})
	if err != nil {
		t.Fatal(err)
	}
	if cand.url != "ssh://git@git.example.com/platform/fleet.git" || cand.branch != "main" || cand.path != "apps/staging" || cand.namespace != "shop" {
		t.Errorf("Kustomization apps applies %+v", cand)
	}
	if _, err := c.source(ctx, Reconciler{FluxKustomization, "flux-system", "pinned"}); err == nil || !strings.Contains(err.Error(), "not from a Git branch") {
		t.Errorf("a Kustomization of a tag: %v", err)
	}
	cand, err = c.source(ctx, Reconciler{ArgoCDApplication, "argocd", "other"})
	if err != nil {
		t.Fatal(err)
	}
	if cand.url != "https://git.example.com/platform/other.git" || cand.path != "apps/staging" {
		t.Errorf("Application other applies %+v (the Git source, not the chart)", cand)
	}
}

func TestTimeoutErrorNamesWhatDiffers(t *testing.T) {
	e := &TimeoutError{
		Commit:  "0123456789abcdef0123456789abcdef01234567",
		Path:    "apps/staging",
		Timeout: 2 * time.Minute,
		Report: &diff.Report{Compared: 3, Objects: []diff.Object{
			{ObjectID: diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, Status: diff.StatusDrift,
				Fields: []diff.Field{{Path: ".spec.replicas", Want: int64(3), Live: int64(1)}}},
			{ObjectID: diff.ObjectID{Version: "v1", Kind: "Service", Namespace: "shop", Name: "web"}, Status: diff.StatusMissing},
		}},
		Status: []string{"Kustomization flux-system/apps: Ready=False (BuildFailed): kustomize build failed"},
	}
	want := `timed out after 2m0s waiting for the cluster to match apps/staging at commit 0123456789ab: 2 of 3 objects still differ (cluster -> commit):
  Deployment.apps shop/web: .spec.replicas: 1 -> 3
  Service shop/web: missing from the cluster
  Kustomization flux-system/apps: Ready=False (BuildFailed): kustomize build failed`
	if got := e.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestProgress(t *testing.T) {
	pending := &diff.Report{Compared: 5, Objects: []diff.Object{
		{ObjectID: diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "a"}},
		{ObjectID: diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "b"}},
		{ObjectID: diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "c"}},
		{ObjectID: diff.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "d"}},
	}}
	recs := []Reconciler{{FluxKustomization, "flux-system", "apps"}}

	var plain bytes.Buffer
	p := newProgress(&plain, false, "0123456789ab", 5)
	p.update(pending)
	p.update(pending) // unchanged: not printed again
	p.update(&diff.Report{Compared: 5})
	p.done("apps/staging", recs, 1500*time.Millisecond)
	want := "waiting for 0123456789ab: 1/5 objects synced, 4 pending (Deployment.apps shop/a, Deployment.apps shop/b, Deployment.apps shop/c, and 1 more)\n" +
		"synced 0123456789ab: the 5 objects of apps/staging match the cluster (Kustomization flux-system/apps) after 1.5s\n"
	if plain.String() != want {
		t.Errorf("without a terminal:\n%q\nwant\n%q", plain.String(), want)
	}

	var term bytes.Buffer
	p = newProgress(&term, true, "0123456789ab", 5)
	p.update(pending)
	p.done("apps/staging", recs, time.Second)
	got := term.String()
	if !strings.HasPrefix(got, "\r\x1b[Kwaiting for 0123456789ab: 1/5 objects synced, 4 pending") || !strings.Contains(got, "\r\x1b[Ksynced 0123456789ab") || strings.Count(got, "\n") != 1 {
		t.Errorf("on a terminal: %q", got)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{"./apps/staging": "apps/staging", "": ".", "./": ".", "/apps/": "apps", "apps//x/": "apps/x"} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// On a timeout, what the reconciler reports says why: not ready, or not at the commit yet.
func TestStatusSaysWhyNotSynced(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	c := fakeClients(t, fleetRepo, stagingKs+`
status:
  lastAppliedRevision: main@sha1:fedcba9876543210fedcba9876543210fedcba98
  conditions: [{type: Ready, status: "False", reason: BuildFailed, message: "kustomize build failed: missing resource"}]`,
		productionKs+`
status:
  lastAppliedRevision: main@sha1:`+commit+`
  conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision"}]`,
		headApp+`
status: {sync: {status: OutOfSync, revision: fedcba9876543210fedcba9876543210fedcba98}}`,
		otherBranchApp)
	ctx := context.Background()
	for r, want := range map[Reconciler]string{
		{FluxKustomization, "flux-system", "apps"}: "Kustomization flux-system/apps: Ready=False (BuildFailed): kustomize build failed: missing resource; has not applied 0123456789ab (last applied main@sha1:fedcba9876543210fedcba9876543210fedcba98)",
		{FluxKustomization, "flux-system", "prod"}: "Kustomization flux-system/prod: Ready; applied 0123456789ab",
		{ArgoCDApplication, "argocd", "shop"}:      "Application argocd/shop: sync OutOfSync; has not applied 0123456789ab (last applied fedcba9876543210fedcba9876543210fedcba98)",
		{ArgoCDApplication, "argocd", "next"}:      "Application argocd/next: reports no status (does its controller run?)",
	} {
		if got := c.status(ctx, r, commit); got != want {
			t.Errorf("status of %s:\n got %s\nwant %s", r, got, want)
		}
	}
}
