// Package sync asks the reconciler of a target to act now and, when asked to, waits until the
// cluster holds what the pushed commit renders.
//
// Flux is asked through the reconcile.fluxcd.io/requestedAt annotation on the Kustomization and
// on its source (so that source-controller fetches the pushed commit first), Argo CD through the
// argocd.argoproj.io/refresh annotation on the Application: what `flux reconcile` and
// `argocd app get --refresh` do. Waiting does not trust the reconciler's status: it fetches the
// head of the branch the reconciler follows, renders the target's path at that commit, and
// compares the render with the live objects as `diff` does, until nothing differs.
package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// Defaults of Options.
const (
	DefaultTimeout  = 5 * time.Minute
	DefaultInterval = time.Second
)

// Options say which reconciler to ask, and how to wait.
type Options struct {
	// Config reaches the cluster. Required.
	Config *rest.Config
	// Mapper and Discovery, when set, are used instead of ones built from Config.
	Mapper    meta.RESTMapper
	Discovery discovery.CachedDiscoveryInterface

	// Target is what is synced: its repository (RepoDir, RemoteURL, Branch) and Path. Nil
	// with Reconcilers: the wait then renders what they apply.
	Target *target.Target
	// Reconcilers are asked to act; empty means every Flux Kustomization and Argo CD
	// Application of the cluster that applies Target (same repository, branch and path).
	Reconcilers []Reconciler
	// Namespace is the namespace of rendered objects that name none, unless the target or the
	// reconciler (targetNamespace, destination) names one; default "default".
	Namespace string

	// Wait waits until the live objects match the render of the branch head, for at most
	// Timeout (default DefaultTimeout), comparing every Interval (default DefaultInterval).
	Wait     bool
	Timeout  time.Duration
	Interval time.Duration

	// Progress receives what is going on (nil: nothing); Terminal rewrites one status line
	// instead of printing a line per change.
	Progress io.Writer
	Terminal bool

	// Git runs git; default target.ExecGit.
	Git target.Git
	// Now is the clock of the reconcile request; default time.Now.
	Now func() time.Time
}

// Result is what a sync did.
type Result struct {
	// Reconcilers were asked to act.
	Reconcilers []Reconciler
	// Commit is the branch head waited for, with Wait.
	Commit string
	// Objects counts the rendered objects compared, with Wait.
	Objects int
	// Elapsed is how long the wait took.
	Elapsed time.Duration
}

// TimeoutError says the cluster did not come to match the commit in time, and what still
// differs.
type TimeoutError struct {
	Commit  string
	Path    string
	Timeout time.Duration
	// Report is the last comparison.
	Report *diff.Report
	// Status is what each reconciler reported last.
	Status []string
}

func (e *TimeoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "timed out after %s waiting for the cluster to match %s at commit %s", e.Timeout, e.Path, short(e.Commit))
	if e.Report != nil {
		fmt.Fprintf(&b, ": %d of %d objects still differ (cluster -> commit):", len(e.Report.Objects), e.Report.Compared)
		for _, o := range e.Report.Objects {
			b.WriteString("\n  " + describe(o))
		}
	}
	for _, s := range e.Status {
		b.WriteString("\n  " + s)
	}
	return b.String()
}

// describe says in one line how an object differs.
func describe(o diff.Object) string {
	switch o.Status {
	case diff.StatusMissing:
		return o.ObjectID.String() + ": missing from the cluster"
	case diff.StatusError:
		return o.ObjectID.String() + ": " + o.Message
	}
	var fields []string
	for _, f := range o.Fields {
		fields = append(fields, f.String())
	}
	return o.ObjectID.String() + ": " + strings.Join(fields, ", ")
}

// Run asks the reconcilers to act now and, with Wait, waits until the cluster matches the
// render of the branch head. A wait that times out returns a *TimeoutError.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Config == nil {
		return nil, errors.New("sync: no cluster configuration")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Git == nil {
		o.Git = target.ExecGit{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	c, err := newClients(&o)
	if err != nil {
		return nil, err
	}
	t, recs := o.Target, o.Reconcilers
	if len(recs) == 0 {
		if t == nil {
			return nil, errors.New("sync: neither a target nor a reconciler")
		}
		found, err := c.find(ctx, t)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no Flux Kustomization or Argo CD Application in the cluster applies path %s of %s%s: name the reconciler, as in `kubectl gitops sync kustomization/NAME -n NAMESPACE`",
				t.Path, orNone(t.RemoteURL), onBranch(t.Branch))
		}
		for _, f := range found {
			recs = append(recs, f.Reconciler)
		}
	}

	res := &Result{Reconcilers: recs}
	now := o.Now().Format(time.RFC3339Nano)
	for _, r := range recs {
		asked, err := c.request(ctx, r, now)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Progress, "reconcile requested: %s\n", strings.Join(asked, ", "))
	}
	if !o.Wait {
		return res, nil
	}

	start := time.Now()
	src, err := c.waitFor(ctx, t, recs)
	if err != nil {
		return nil, err
	}
	if src.namespace != "" {
		o.Namespace = src.namespace
	}
	p, err := fetchPushed(ctx, o.Git, src)
	if err != nil {
		return nil, err
	}
	res.Commit, res.Objects = p.commit, len(p.objects)
	w := &waiter{o: o, c: c, recs: recs, path: src.path, pushed: p, progress: newProgress(o.Progress, o.Terminal, short(p.commit), len(p.objects))}
	err = w.wait(ctx)
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, err
	}
	w.progress.done(src.path, recs, res.Elapsed)
	return res, nil
}

// source is what a wait renders: a branch of a repository, and a path in it.
type source struct {
	// repoDir is a local clone to fetch into; "" means a temporary one.
	repoDir           string
	url, branch, path string
	// namespace is where the reconciler puts objects that name none, when it says.
	namespace string
	// applied is what the reconciler applies, to render as it does (nil: kustomize's build).
	applied *reconciler.Applied
}

// waitFor says what to render: the target's repository, branch and path when there is a
// target, else what the reconcilers apply, which must then be one and the same.
func (c clients) waitFor(ctx context.Context, t *target.Target, recs []Reconciler) (source, error) {
	if t != nil && t.RemoteURL != "" {
		return source{repoDir: t.RepoDir, url: t.RemoteURL, branch: t.Branch, path: t.Path, namespace: t.Namespace, applied: t.Applied}, nil
	}
	var src *source
	for _, r := range recs {
		cand, err := c.source(ctx, r)
		if err != nil {
			return source{}, err
		}
		s := source{url: cand.url, branch: cand.branch, path: cand.path, namespace: cand.namespace, applied: cand.applied}
		if t != nil {
			s.repoDir, s.path, s.namespace, s.applied = t.RepoDir, t.Path, t.Namespace, t.Applied
		}
		if src != nil && (!target.SameRepository(s.url, src.url) || s.branch != src.branch || s.path != src.path) {
			return source{}, fmt.Errorf("%s and %s apply different sources (%s%s path %s, %s%s path %s): sync one at a time",
				recs[0], r, src.url, onBranch(src.branch), src.path, s.url, onBranch(s.branch), s.path)
		}
		src = &s
	}
	if src == nil || src.url == "" {
		return source{}, errors.New("sync: nothing to wait for: no target with a remote and no reconciler")
	}
	return *src, nil
}

func newClients(o *Options) (clients, error) {
	cfg := rest.CopyConfig(o.Config)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return clients{}, fmt.Errorf("failed to create a client for the cluster: %w", err)
	}
	if o.Discovery == nil {
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return clients{}, fmt.Errorf("failed to create a discovery client for the cluster: %w", err)
		}
		o.Discovery = memory.NewMemCacheClient(dc)
	}
	if o.Mapper == nil {
		o.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(o.Discovery)
	}
	return clients{dyn: dyn, mapper: o.Mapper}, nil
}

// waiter compares the render with the cluster until they match or the time is up.
type waiter struct {
	o        Options
	c        clients
	recs     []Reconciler
	path     string
	pushed   *pushed
	progress *progress
}

func (w *waiter) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	tick := time.NewTicker(w.o.Interval)
	defer tick.Stop()
	var last *diff.Report
	for {
		report, err := diff.Compare(ctx, diff.Options{
			Config:    w.o.Config,
			Mapper:    w.o.Mapper,
			Discovery: w.o.Discovery,
			Objects:   w.pushed.objects,
			Namespace: w.o.Namespace,
		})
		switch {
		case err == nil:
			last = report
			w.progress.update(report)
			if len(report.Objects) == 0 {
				return nil
			}
		case ctx.Err() == nil:
			return fmt.Errorf("failed to compare %s with the cluster: %w", w.path, err)
		}
		select {
		case <-ctx.Done():
			return w.timeout(ctx, last)
		case <-tick.C:
		}
	}
}

// timeout reports what still differs, with what the reconcilers say, or the caller's
// cancellation as it is.
func (w *waiter) timeout(ctx context.Context, last *diff.Report) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	w.progress.stop()
	// The wait's context is over; the reconcilers' status gets a few seconds of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e := &TimeoutError{Commit: w.pushed.commit, Path: w.path, Timeout: w.o.Timeout, Report: last}
	for _, r := range w.recs {
		e.Status = append(e.Status, w.c.status(sctx, r, w.pushed.commit))
	}
	return e
}

func orNone(url string) string {
	if url == "" {
		return "the repository (it has no remote)"
	}
	return url
}

func onBranch(b string) string {
	if b == "" {
		return ""
	}
	return " (branch " + b + ")"
}
