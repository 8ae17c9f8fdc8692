package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// DryRunner creates an object on the API server without persisting it and returns what the
// server would have stored: its defaults, its admission plugins and its validation applied.
type DryRunner interface {
	DryRunCreate(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
}

// ServerDryRun is the DryRunner of a real API server.
type ServerDryRun struct {
	Client dynamic.Interface
	Mapper meta.RESTMapper
}

// DryRunCreate runs a server-side dry-run create.
func (s ServerDryRun) DryRunCreate(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	m, err := s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = s.Client.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = s.Client.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	return ri.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// Defaults decides which values of an object are the API server's defaults, by asking it: an
// object is created in dry-run under a probe name without a subtree; when the server gives the
// subtree back exactly, the subtree is a default. Decisions are cached per kind, path and value,
// so that many objects of a kind cost a dry-run or two each.
type Defaults struct {
	Server DryRunner
	// OnlyBuiltin says the server changes objects on creation by its own defaulting only
	// (OnlyBuiltinDefaulting): the fields it never sets need no dry-run.
	OnlyBuiltin bool

	mu    sync.Mutex
	cache map[string]bool
	// asking holds the decisions a dry-run is deciding now: an object that needs one waits
	// for it, as it would have found it cached a moment later. Until a path has had its first
	// answer, which may say it is required whatever its value, the path is decided there.
	asking   map[string]chan struct{}
	answered map[string]bool
	// Probes counts the dry-runs made, for tests and benchmarks.
	Probes int
}

// NewDefaults returns a Defaults asking server.
func NewDefaults(server DryRunner) *Defaults {
	return &Defaults{Server: server, cache: map[string]bool{}, asking: map[string]chan struct{}{}, answered: map[string]bool{}}
}

// step is one key of a map or one index of a list.
type step struct {
	key   string
	index int // -1 for a map key
}

type path []step

func (p path) String() string {
	var b strings.Builder
	for _, s := range p {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// skipTop are the top-level fields that are the object's identity, never defaults to drop.
var skipTop = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "status": true}

// Prune returns a copy of a cleaned live object (Clean) without the values the server would
// default.
func (d *Defaults) Prune(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	kind := obj.GroupVersionKind().GroupKind().String()
	// First with the cached decisions, checked; without them when the check fails.
	work, st, err := d.pass(ctx, kind, obj, true)
	if err != nil || !st.fromCache {
		return work, err
	}
	if !st.pruned {
		// Nothing was dropped: the check below would dry-run the object itself, an answer it
		// can only accept.
		return work, nil
	}
	// The live object is the first reference: when the pruned one is stored as it is, the
	// manifest reproduces it, and one dry-run has decided. Otherwise (a default that depends
	// on a sibling, or the server's defaults changed since it was stored) a dry-run of the
	// original is, and the cached decisions are dropped when that differs too.
	got, err := d.dryRun(ctx, probe(work))
	if err == nil && reflect.DeepEqual(comparable(Clean(got)), comparable(obj)) {
		return work, nil
	}
	reference, err2 := d.dryRun(ctx, probe(obj))
	if err2 != nil {
		return nil, fmt.Errorf("dry-run create of %s %s: %w", strings.ToLower(kind), obj.GetName(), err2)
	}
	if err == nil && reflect.DeepEqual(comparable(got), comparable(reference)) {
		return work, nil
	}
	work, _, err = d.pass(ctx, kind, obj, false)
	return work, err
}

// walked is what a pass learned: whether a decision came from the cache, whether a subtree
// was dropped.
type walked struct {
	fromCache, pruned bool
}

// pass walks every top-level field but the object's identity.
func (d *Defaults) pass(ctx context.Context, kind string, obj *unstructured.Unstructured, useCache bool) (*unstructured.Unstructured, walked, error) {
	work := obj.DeepCopy()
	var st walked
	for _, k := range sortedKeys(work.Object) {
		if skipTop[k] {
			continue
		}
		if err := d.walk(ctx, kind, work, path{{key: k, index: -1}}, useCache, &st); err != nil {
			return nil, walked{}, err
		}
	}
	return work, st, nil
}

// walk decides the subtree at p of work: removes it when it is a default, else descends.
func (d *Defaults) walk(ctx context.Context, kind string, work *unstructured.Unstructured, p path, useCache bool, st *walked) error {
	val, ok := get(work.Object, p)
	if !ok {
		return nil
	}
	isDefault, fromCache, err := d.decide(ctx, kind, work, p, val, useCache)
	if err != nil {
		return err
	}
	st.fromCache = st.fromCache || fromCache
	if isDefault {
		remove(work.Object, p)
		st.pruned = true
		return nil
	}
	switch v := val.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if err := d.walk(ctx, kind, work, append(append(path{}, p...), step{key: k, index: -1}), useCache, st); err != nil {
				return err
			}
		}
	case []any:
		for i, item := range v {
			if _, ok := item.(map[string]any); !ok {
				continue
			}
			// An item's fields, not the item: removing an item shifts the others.
			m, _ := get(work.Object, append(append(path{}, p...), step{index: i}))
			for _, k := range sortedKeys(m.(map[string]any)) {
				if err := d.walk(ctx, kind, work, append(append(path{}, p...), step{index: i}, step{key: k, index: -1}), useCache, st); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decide tells whether val, at p of work, is the server's default: from the cache when
// useCache and it knows, else by a dry-run of work without p.
func (d *Defaults) decide(ctx context.Context, kind string, work *unstructured.Unstructured, p path, val any, useCache bool) (isDefault, fromCache bool, err error) {
	if useCache && d.OnlyBuiltin && userField(kind, p) {
		return false, true, nil
	}
	// A subtree the server refuses to go without is required whatever its value; whether a
	// value is the default depends on the value.
	required := kind + "|" + p.String()
	key := required + "|" + jsonString(val)
	if scope, ok := siblingScope(work, p); ok {
		// Decided where its sibling is the same only: with objects decided at once, which
		// object answered first would otherwise decide the others' manifests.
		key += "|" + scope
	}
	d.mu.Lock()
	for useCache {
		if isDefault, known := d.cache[key]; known {
			d.mu.Unlock()
			return isDefault, true, nil
		}
		if _, req := d.cache[required]; req {
			d.mu.Unlock()
			return false, true, nil
		}
		wait, busy := d.asking[key]
		if !busy && !d.answered[required] {
			wait, busy = d.asking[required]
		}
		if !busy {
			break
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, false, ctx.Err()
		}
		d.mu.Lock()
	}
	slot := key
	if !d.answered[required] {
		slot = required
	}
	done, mine := d.asking[slot], false
	if done == nil {
		done, mine = make(chan struct{}), true
		d.asking[slot] = done
	}
	d.mu.Unlock()
	if mine {
		defer func() {
			d.mu.Lock()
			delete(d.asking, slot)
			d.mu.Unlock()
			close(done)
		}()
	}

	without := work.DeepCopy()
	remove(without.Object, p)
	got, err := d.dryRun(ctx, probe(without))
	switch {
	case err == nil:
		if restored, ok := get(got.Object, p); ok && reflect.DeepEqual(restored, val) {
			isDefault = true
		}
	case isStatusError(err):
		d.mu.Lock()
		d.cache[required] = false
		d.mu.Unlock()
	default:
		return false, false, fmt.Errorf("dry-run create of %s %s without %s: %w", strings.ToLower(kind), work.GetName(), p, err)
	}
	d.mu.Lock()
	d.cache[key] = isDefault
	d.answered[required] = true
	d.mu.Unlock()
	return isDefault, false, nil
}

// isStatusError tells an answer of the API server (the object without the subtree is invalid,
// forbidden by a policy, ...) from a failure to reach it.
func isStatusError(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s)
}

func (d *Defaults) dryRun(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	d.mu.Lock()
	d.Probes++
	d.mu.Unlock()
	return d.Server.DryRunCreate(ctx, u)
}

// probe is the object under a name of its own: a dry-run create of the original name would
// find the live object.
func probe(u *unstructured.Unstructured) *unstructured.Unstructured {
	p := u.DeepCopy()
	name := u.GetName()
	if len(name) > 40 {
		name = name[:40]
	}
	p.SetName("gitops-capture-probe-" + strings.Trim(strings.ToLower(name), ".-"))
	p.SetResourceVersion("")
	return p
}

// comparable is what a dry-run result says about an object, without its identity and status.
func comparable(u *unstructured.Unstructured) map[string]any {
	out := map[string]any{}
	for k, v := range u.Object {
		if k != "metadata" && k != "status" {
			out[k] = v
		}
	}
	return out
}

func get(obj any, p path) (any, bool) {
	cur := obj
	for _, s := range p {
		if s.index >= 0 {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return nil, false
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// remove deletes the map key at the end of p (p never ends in a list index).
func remove(obj map[string]any, p path) {
	parent, ok := get(obj, p[:len(p)-1])
	if !ok {
		return
	}
	if m, ok := parent.(map[string]any); ok {
		delete(m, p[len(p)-1].key)
	}
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Manifest is the manifest a person would have written for a live object: Clean, then without
// the server's defaults.
func (d *Defaults) Manifest(ctx context.Context, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return d.Prune(ctx, Clean(live))
}

// manifestConcurrency bounds the objects decided at once: each waits on its dry-runs in turn,
// and on the two cores of the benchmark 16 kept the API server busier than 8 (200 objects:
// 0.8-1.2 s against 1.5 s).
const manifestConcurrency = 16

// Manifests is the Manifest of each live object, in their order, a few objects at a time: the
// dry-runs are the cost. The error names the first object that failed.
func (d *Defaults) Manifests(ctx context.Context, lives []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(lives))
	errs := make([]error, len(lives))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(manifestConcurrency, len(lives)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = d.Manifest(ctx, lives[i])
				if errs[i] != nil {
					errs[i] = fmt.Errorf("capturing %s: %w", LiveName(lives[i]), errs[i])
				}
			}
		})
	}
	for i := range lives {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LiveName is kubectl's TYPE/NAME of a live object: deployment.apps/web.
func LiveName(u *unstructured.Unstructured) string {
	gk := u.GroupVersionKind().GroupKind()
	kind := strings.ToLower(gk.Kind)
	if gk.Group != "" {
		kind += "." + gk.Group
	}
	return kind + "/" + u.GetName()
}
