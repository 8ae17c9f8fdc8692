// Package diff compares the objects a repository renders with the objects in the cluster: the
// fields a manifest sets that the cluster holds differently (drift), the objects Git has and the
// cluster lacks (missing), and the objects the reconciler owns that Git no longer has (extra).
//
// It is fast because it reads: one LIST per kind and namespace, compared locally on each
// manifest's own field set with structured-merge-diff and the API server's OpenAPI v3 schema.
// It is right because it confirms: every candidate difference is checked with a server-side
// dry-run apply of the manifest (forced, under a field manager of its own, never persisted), and
// only what survives the API server's defaulting, mutating webhooks and normalisation is drift.
//
// Kubernetes' semantics decide what differs, not text: fields the manifest does not set (server
// defaults, fields of other managers, status) are never drift; associative lists (containers by
// name, ports by port and protocol, env by name) compare by key, so a reorder alone is not drift,
// while atomic lists (args, command) compare in order; quantities compare by value ("500m" is
// 0.5); null is absent, and so are empty lists and maps of built-in kinds, which the API server
// does not store. Int-or-string fields keep their type: "8080" is a port name, not 8080, and the
// API server refuses it where a port name must hold a letter (reported as StatusError).
package diff

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// DefaultFieldManager is the field manager of the dry-run applies. They are never persisted, so
// it never appears in an object's managedFields.
const DefaultFieldManager = "kubectl-gitops-diff"

// DefaultConcurrency bounds the requests in flight.
const DefaultConcurrency = 16

// The client-side rate limits diff raises client-go's defaults (5 QPS, burst 10) to: a diff is a
// short burst of reads and dry-runs.
const (
	minQPS   = 100
	minBurst = 200
)

// Options say what to compare and how to reach the cluster.
type Options struct {
	// Config reaches the cluster. Required.
	Config *rest.Config
	// Mapper and Discovery, when set, are used instead of ones built from Config (kubectl's
	// factory has cached ones).
	Mapper    meta.RESTMapper
	Discovery discovery.CachedDiscoveryInterface

	// Objects are the rendered manifests. They are not modified.
	Objects []*unstructured.Unstructured
	// Namespace is the namespace of namespaced objects that name none; default "default".
	Namespace string

	// Prune also looks for objects the reconciler owns that Git no longer has: the objects
	// labelled with all of PruneLabels (Flux: kustomize.toolkit.fluxcd.io/name and /namespace;
	// Argo CD: app.kubernetes.io/instance). Without PruneLabels they are read from the live
	// objects of the manifests, which must agree on one owner.
	Prune       bool
	PruneLabels map[string]string

	// ArgoCDInstance, for the objects of an Argo CD Application, is the value its label
	// tracking gives app.kubernetes.io/instance (ArgoCDInstance): a live object carrying it
	// where the manifest sets another value holds what Argo CD applied, not drift.
	ArgoCDInstance string

	// FieldManager of the dry-run applies; default DefaultFieldManager.
	FieldManager string
	// Concurrency bounds the requests in flight; default DefaultConcurrency.
	Concurrency int
}

// item is one manifest on its way through the comparison.
type item struct {
	id      ObjectID
	obj     *unstructured.Unstructured // the manifest, namespace defaulted, stringData folded
	mapping *meta.RESTMapping          // nil when the cluster does not serve the kind
	builtin bool

	live   *unstructured.Unstructured
	want   *typed.TypedValue
	liveTV *typed.TypedValue
	set    *fieldpath.Set

	result *Object // nil: no difference
}

type listKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

type engine struct {
	o   Options
	dyn dynamic.Interface
	// ownedDyn lists every resource type for Prune, without the deprecation warnings of the
	// types nobody asked for.
	ownedDyn dynamic.Interface
	mapper   meta.RESTMapper
	disc     discovery.CachedDiscoveryInterface
	typer    *typer
}

// Compare compares the manifests with the cluster.
func Compare(ctx context.Context, o Options) (*Report, error) {
	e, err := newEngine(o)
	if err != nil {
		return nil, err
	}
	items, err := e.prepare()
	if err != nil {
		return nil, err
	}
	report := &Report{Compared: len(items)}
	if err := e.read(ctx, items); err != nil {
		return nil, err
	}
	for _, it := range items {
		if ArgoCDTracked(it.obj, it.live, e.o.ArgoCDInstance) {
			l := it.obj.GetLabels()
			l[target.ArgoCDInstanceLabel] = e.o.ArgoCDInstance
			it.obj.SetLabels(l)
		}
	}
	var extras []Object
	if e.o.Prune {
		labels := e.o.PruneLabels
		if len(labels) == 0 {
			if labels, err = inferOwner(items); err != nil {
				return nil, err
			}
		}
		report.PruneLabels = labels
		if extras, report.Warnings, err = e.owned(ctx, labels, items); err != nil {
			return nil, err
		}
	}
	if err := e.compareLocally(ctx, items); err != nil {
		return nil, err
	}
	if err := e.confirm(ctx, items); err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.result != nil {
			report.Objects = append(report.Objects, *it.result)
		}
	}
	report.Objects = append(report.Objects, extras...)
	return report, nil
}

func newEngine(o Options) (*engine, error) {
	if o.Config == nil {
		return nil, errors.New("diff: no cluster configuration")
	}
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	cfg := rest.CopyConfig(o.Config)
	cfg.QPS = max(cfg.QPS, minQPS)
	cfg.Burst = max(cfg.Burst, minBurst)
	e := &engine{o: o, disc: o.Discovery, mapper: o.Mapper}
	var err error
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("failed to create a client for the cluster: %w", err)
	}
	quiet := rest.CopyConfig(cfg)
	quiet.WarningHandler = rest.NoWarnings{}
	if e.ownedDyn, err = dynamic.NewForConfig(quiet); err != nil {
		return nil, fmt.Errorf("failed to create a client for the cluster: %w", err)
	}
	if e.disc == nil {
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("failed to create a discovery client for the cluster: %w", err)
		}
		e.disc = memory.NewMemCacheClient(dc)
	}
	if e.mapper == nil {
		e.mapper = restmapper.NewDeferredDiscoveryRESTMapper(e.disc)
	}
	return e, nil
}

// prepare maps each manifest to its resource and completes it as the API server would read it.
func (e *engine) prepare() ([]*item, error) {
	items := make([]*item, 0, len(e.o.Objects))
	for _, src := range e.o.Objects {
		u := src.DeepCopy()
		gvk := u.GroupVersionKind()
		if gvk.Kind == "" || gvk.Version == "" {
			return nil, fmt.Errorf("a manifest has no apiVersion or kind (metadata.name %q)", u.GetName())
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("%s %s has no metadata.name", u.GetAPIVersion(), gvk.Kind)
		}
		it := &item{obj: u, builtin: clientgoscheme.Scheme.Recognizes(gvk)}
		mapping, err := e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		switch {
		case meta.IsNoMatchError(err):
			it.id = idOf(u)
			it.result = &Object{ObjectID: it.id, Status: StatusMissing, Git: display(u),
				Message: fmt.Sprintf("the cluster does not serve %s %s", u.GetAPIVersion(), gvk.Kind)}
		case err != nil:
			return nil, fmt.Errorf("failed to find the resource of %s %s: %w", u.GetAPIVersion(), gvk.Kind, err)
		default:
			it.mapping = mapping
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				if u.GetNamespace() == "" {
					u.SetNamespace(e.o.Namespace)
				}
			} else {
				u.SetNamespace("")
			}
			it.id = idOf(u)
		}
		foldStringData(u)
		items = append(items, it)
	}
	return items, nil
}

// read lists each kind in each namespace the manifests name, and reads the schemas of their
// group versions, all at once.
func (e *engine) read(ctx context.Context, items []*item) error {
	lists := map[listKey][]*item{}
	gvs := map[schema.GroupVersion]bool{}
	for _, it := range items {
		if it.mapping == nil {
			continue
		}
		k := listKey{gvr: it.mapping.Resource, namespace: it.obj.GetNamespace()}
		lists[k] = append(lists[k], it)
		gvs[it.mapping.GroupVersionKind.GroupVersion()] = true
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	g.Go(func() error {
		var gvList []schema.GroupVersion
		for gv := range gvs {
			gvList = append(gvList, gv)
		}
		t, err := newTyper(gctx, e.disc.OpenAPIV3(), gvList, e.o.Concurrency)
		e.typer = t
		return err
	})
	for k, its := range lists {
		g.Go(func() error {
			list, err := e.dyn.Resource(k.gvr).Namespace(k.namespace).List(gctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("failed to list %s%s: %w", k.gvr.GroupResource(), inNamespace(k.namespace), err)
			}
			byName := make(map[string]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				byName[list.Items[i].GetName()] = &list.Items[i]
			}
			for _, it := range its {
				it.live = byName[it.obj.GetName()]
			}
			return nil
		})
	}
	return g.Wait()
}

func inNamespace(ns string) string {
	if ns == "" {
		return ""
	}
	return " in namespace " + ns
}

// compareLocally compares each manifest with its live object on the manifest's field set.
func (e *engine) compareLocally(ctx context.Context, items []*item) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, it := range items {
		if it.result != nil {
			continue
		}
		if it.live == nil {
			it.result = &Object{ObjectID: it.id, Status: StatusMissing, Git: display(it.obj)}
			if isSecret(it.obj) {
				maskSecrets(nil, it.result.Git)
			}
			continue
		}
		g.Go(func() error {
			var err error
			if it.want, err = e.typer.toTyped(it.obj); err != nil {
				// The API server reads the manifest with the same schema: the dry-run tells
				// the user what is wrong with it.
				it.result = &Object{ObjectID: it.id, Status: StatusError, Message: scrubSecret(err.Error(), it.obj)}
				return nil
			}
			if it.liveTV, err = e.typer.toTyped(it.live); err != nil {
				return fmt.Errorf("failed to read %s from the cluster: %w", it.id, err)
			}
			if it.set, err = manifestFields(it.want); err != nil {
				return fmt.Errorf("failed to read the fields of %s: %w", it.id, err)
			}
			fields, err := fieldDiff(it.set, it.want, it.liveTV, it.builtin)
			if err != nil {
				return fmt.Errorf("failed to compare %s: %w", it.id, err)
			}
			if len(fields) > 0 {
				it.result = &Object{ObjectID: it.id, Status: StatusDrift, Fields: fields}
			}
			return nil
		})
	}
	return g.Wait()
}

// confirm dry-runs the manifest of every candidate difference and keeps what the API server's
// answer still shows.
func (e *engine) confirm(ctx context.Context, items []*item) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, it := range items {
		if it.result == nil || it.live == nil || it.mapping == nil {
			continue
		}
		if it.result.Status != StatusDrift && it.result.Status != StatusError {
			continue
		}
		g.Go(func() error { return e.confirmOne(gctx, it) })
	}
	return g.Wait()
}

func (e *engine) confirmOne(ctx context.Context, it *item) error {
	res := e.dyn.Resource(it.mapping.Resource)
	var ri dynamic.ResourceInterface = res
	if ns := it.obj.GetNamespace(); ns != "" {
		ri = res.Namespace(ns)
	}
	merged, err := ri.Apply(ctx, it.obj.GetName(), it.obj, metav1.ApplyOptions{
		FieldManager: e.o.FieldManager,
		Force:        true,
		DryRun:       []string{metav1.DryRunAll},
	})
	switch {
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsConflict(err):
		it.result.Status = StatusError
		it.result.Message = err.Error()
		e.finish(it, nil)
		return nil
	case apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err):
		if it.result.Status == StatusDrift {
			it.result.Message = "not confirmed by a server-side dry-run: " + err.Error()
		}
		e.finish(it, nil)
		return nil
	case err != nil:
		return fmt.Errorf("failed to dry-run %s: %w", it.id, err)
	}
	if it.want == nil {
		// The manifest did not fit the schema but the API server took it.
		if it.want, err = e.typer.toTyped(it.obj); err != nil {
			return fmt.Errorf("failed to read %s: %w", it.id, err)
		}
		if it.set, err = manifestFields(it.want); err != nil {
			return fmt.Errorf("failed to read the fields of %s: %w", it.id, err)
		}
		if it.liveTV, err = e.typer.toTyped(it.live); err != nil {
			return fmt.Errorf("failed to read %s from the cluster: %w", it.id, err)
		}
	}
	mergedTV, err := e.typer.toTyped(merged)
	if err != nil {
		return fmt.Errorf("failed to read the dry-run of %s: %w", it.id, err)
	}
	fields, err := fieldDiff(it.set, mergedTV, it.liveTV, it.builtin)
	if err != nil {
		return fmt.Errorf("failed to compare the dry-run of %s: %w", it.id, err)
	}
	if len(fields) == 0 {
		it.result = nil
		return nil
	}
	it.result = &Object{ObjectID: it.id, Status: StatusDrift, Fields: fields}
	e.finish(it, merged)
	return nil
}

// finish completes a drifted object's report with its two sides, ready to show.
func (e *engine) finish(it *item, merged *unstructured.Unstructured) {
	live := display(it.live)
	var git *unstructured.Unstructured
	if merged != nil {
		git = display(merged)
		// A dry-run bumps these; they are not what differs.
		for _, f := range []string{"generation", "resourceVersion"} {
			if v, ok, _ := unstructured.NestedFieldCopy(live.Object, "metadata", f); ok {
				_ = unstructured.SetNestedField(git.Object, v, "metadata", f)
			}
		}
	} else if it.want != nil && it.liveTV != nil {
		if m, err := it.liveTV.Merge(it.want); err == nil {
			if u, ok := m.AsValue().Unstructured().(map[string]any); ok {
				git = display(&unstructured.Unstructured{Object: u})
			}
		}
	}
	if isSecret(it.obj) {
		maskSecrets(live, git)
		maskFields(it.result.Fields)
		it.result.Message = scrubSecret(it.result.Message, it.obj)
	}
	it.result.Live, it.result.Git = live, git
}

// display is a copy of u to show: without managedFields, as kubectl diff shows objects.
func display(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	return c
}

// sortObjects orders extra objects by kind, namespace and name.
func sortObjects(objs []Object) {
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i].ObjectID, objs[j].ObjectID
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
