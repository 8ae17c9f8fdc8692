package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

const (
	// FluxNamespace is the controllers' runtime namespace, where Flux's own objects usually live.
	FluxNamespace = "flux-system"
	// fluxGONOSUMDB lists the modules of the Flux tools modules that the checksum database does
	// not answer for (the Makefile's rules use the same list).
	fluxGONOSUMDB = "k8s.io/kubernetes,github.com/fluxcd/pkg/helmtestserver,github.com/fluxcd/pkg/gittestserver,github.com/fluxcd/pkg/http/transport,github.com/google/go-containerregistry/pkg/authn/k8schain"

	sourceControllerBinary    = "source-controller"
	kustomizeControllerBinary = "kustomize-controller"
	helmControllerBinary      = "helm-controller"

	// fluxStorageDir in the cluster's directory is source-controller's artifact storage.
	fluxStorageDir = "flux-storage"

	sourceController    = "github.com/fluxcd/source-controller"
	kustomizeController = "github.com/fluxcd/kustomize-controller"
	helmController      = "github.com/fluxcd/helm-controller"
)

// httpRetry is for the controllers that fetch source-controller's artifacts. Their default of 9
// retries, with backoff, keeps a worker busy for many seconds on an artifact URL of a Flux stopped
// earlier (a previous test's objects stay in the shared cluster), and a worker busy at SIGTERM
// holds the controller until its SIGKILL 10 s later. Here the storage is on loopback: a failed
// fetch is a gone storage, not a flaky network.
const httpRetry = "--http-retry=1"

// fluxModule is a Flux controller's module and the tools module that pins it.
type fluxModule struct{ module, toolsDir string }

// fluxModules are the modules of the controllers StartFlux runs.
var fluxModules = []fluxModule{
	{sourceController, "flux-source"},
	{kustomizeController, "flux-kustomize"},
}

// helmModule is helm-controller's, which StartHelmController runs.
var helmModule = fluxModule{helmController, "flux-helm"}

// served numbers the repositories ServeRepo serves, across the Flux instances of this process,
// so that no two ever share a URL path (target.SameRepository ignores ports).
var served atomic.Int64

// running records the Flux of each cluster: two sets of controllers watching every namespace
// would fight over the same objects.
var running = struct {
	sync.Mutex
	flux map[*Cluster]*Flux
}{flux: map[*Cluster]*Flux{}}

// Flux is Flux's source-controller and kustomize-controller (and helm-controller on request)
// running out of cluster against a Cluster, and a Git server on loopback for them to fetch from
// (see ServeRepo).
type Flux struct {
	c   *Cluster
	dir string // the source-controller's artifact storage

	git     *http.Server
	gitURL  string
	gitPath string

	mu    sync.Mutex // guards procs
	mux   *http.ServeMux
	procs []*process
}

// StartFlux installs Flux's CRDs (replacing the minimal fixtures of testdata/crds), then runs
// source-controller and kustomize-controller against the cluster, with the cluster's admin
// kubeconfig ($KUBECONFIG), without leader election, watching every namespace, and returns once both report ready. Their logs are
// DIR/source-controller.log and DIR/kustomize-controller.log. ctx bounds the startup only.
//
// The controllers are the binaries hack/testbin/flux-source and hack/testbin/flux-kustomize
// build, and the CRDs come from the same modules' config/crd/bases in the module cache, so the
// two always match. The controllers of a Detached cluster outlive this program, as its other
// processes do, but ServeRepo's Git server lives in this process: StartGitServer serves Git
// from a process of the cluster's own. One Flux runs per cluster at a time.
func (c *Cluster) StartFlux(ctx context.Context) (_ *Flux, err error) {
	testbin, err := testbinDir(c.opts.TestbinDir)
	if err != nil {
		return nil, err
	}
	source, err := binary(testbin, sourceControllerBinary)
	if err != nil {
		return nil, err
	}
	kustomize, err := binary(testbin, kustomizeControllerBinary)
	if err != nil {
		return nil, err
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("serving Git repositories to source-controller: %w", err)
	}

	f := &Flux{c: c, mux: http.NewServeMux(), gitPath: gitPath}
	running.Lock()
	if running.flux[c] != nil || c.FluxRunning() {
		running.Unlock()
		return nil, errors.New("Flux already runs against this cluster: stop it first")
	}
	running.flux[c] = f
	running.Unlock()
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Stop())
		}
	}()

	crds, err := fluxCRDs(fluxModules...)
	if err != nil {
		return nil, err
	}
	if err := c.InstallCRDs(ctx, crds...); err != nil {
		return nil, err
	}
	if err := c.CreateNamespace(ctx, FluxNamespace); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	// In the cluster's directory, so that `devcluster down` removes it with the rest.
	f.dir = filepath.Join(c.Dir, fluxStorageDir)
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the artifact storage: %w", err)
	}
	if err := f.serveGit(); err != nil {
		return nil, err
	}

	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	sourceProc, kustomizeProc, err := f.startControllers(source, kustomize, addr)
	if err != nil {
		return nil, err
	}
	for i, p := range []*process{sourceProc, kustomizeProc} {
		readyz := "http://" + addr(2+2*i) + "/readyz"
		if err := waitUntil(ctx, c.opts.Timeout, p, "waiting for "+p.name, func(ctx context.Context) error {
			return httpOK(ctx, http.DefaultClient, readyz)
		}); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// startControllers starts source-controller (artifact storage, metrics and health on addr(0),
// addr(1), addr(2)) and kustomize-controller (metrics and health on addr(3), addr(4)).
func (f *Flux) startControllers(source, kustomize string, addr func(int) string) (_, _ *process, err error) {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	sourceProc, err := f.startController(sourceControllerBinary, source,
		"--storage-path="+f.dir,
		"--storage-addr="+addr(0),
		"--storage-adv-addr="+addr(0),
		"--metrics-addr="+addr(1),
		"--health-addr="+addr(2),
	)
	if err != nil {
		return nil, nil, err
	}
	kustomizeProc, err := f.startController(kustomizeControllerBinary, kustomize,
		httpRetry,
		"--metrics-addr="+addr(3),
		"--health-addr="+addr(4),
	)
	if err != nil {
		return nil, nil, err
	}
	return sourceProc, kustomizeProc, nil
}

// startController starts one controller with the flags and environment all of them share, and
// records it among the Flux's processes. c.mu and f.mu must be held.
func (f *Flux) startController(name, path string, args ...string) (*process, error) {
	common := []string{
		"--watch-all-namespaces=true",
		"--enable-leader-election=false",
		"--log-encoding=console",
	}
	// Out of cluster, the controllers learn their namespace from the environment, and their
	// kubeconfig too: controller-runtime's --kubeconfig flag is not on their command line.
	env := []string{"RUNTIME_NAMESPACE=" + FluxNamespace, "KUBECONFIG=" + f.c.KubeconfigPath}
	p, err := f.c.startProcess(name, path, append(common, args...), env)
	if err != nil {
		return nil, err
	}
	f.procs = append(f.procs, p)
	return p, nil
}

// StartHelmController installs helm-controller's CRD (replacing the minimal fixture of
// testdata/crds) and runs helm-controller beside source- and kustomize-controller, as they run
// (same kubeconfig, namespace and flags; metrics and health on two more loopback ports; log
// DIR/helm-controller.log), and returns once it reports ready. StopControllers and Stop stop it
// with them. StartFlux leaves it out because it reconciles every HelmRelease of the cluster,
// fixtures included (finalizers, failed fetches), and only the tests of HelmRelease-made objects
// need it. ctx bounds the startup only.
//
// No kubelet runs pods here, so nothing a chart makes becomes ready: a HelmRelease must set
// spec.install.disableWait and spec.upgrade.disableWait (helm-controller has no flag for it), or
// its install waits until spec.timeout and fails.
func (f *Flux) StartHelmController(ctx context.Context) (err error) {
	c := f.c
	testbin, err := testbinDir(c.opts.TestbinDir)
	if err != nil {
		return err
	}
	helm, err := binary(testbin, helmControllerBinary)
	if err != nil {
		return err
	}
	if f.HelmControllerRunning() {
		return errors.New("helm-controller already runs against this cluster")
	}
	crds, err := fluxCRDs(helmModule)
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(ctx, crds...); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	metrics, health := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])

	c.mu.Lock()
	f.mu.Lock()
	p, err := f.startController(helmControllerBinary, helm, httpRetry, "--metrics-addr="+metrics, "--health-addr="+health)
	f.mu.Unlock()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, c.opts.Timeout, p, "waiting for "+p.name, func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, "http://"+health+"/readyz")
	}); err != nil {
		return errors.Join(err, f.stopController(p))
	}
	return nil
}

// HelmControllerRunning reports whether helm-controller runs against the Flux's cluster (see
// StartHelmController).
func (f *Flux) HelmControllerRunning() bool {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running(helmControllerBinary)
}

// stopController stops one of the Flux's controllers that failed to start.
func (f *Flux) stopController(p *process) error {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs = slices.DeleteFunc(f.procs, func(q *process) bool { return q == p })
	return c.forget(p)
}

// FluxRunning reports whether the cluster's source-controller and kustomize-controller run,
// started by this program or, for a cluster found with Open, by another.
func (c *Cluster) FluxRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running(sourceControllerBinary) && c.running(kustomizeControllerBinary)
}

// WithFlux runs Flux against c for one test (see StartFlux) and stops it when the test ends. It
// skips the test when the controllers are not built, unless $KUBECTL_GITOPS_E2E is set, when it
// fails instead.
func WithFlux(t testing.TB, c *Cluster) *Flux {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
	defer cancel()
	f, err := c.StartFlux(ctx)
	if err != nil {
		skipOrFail(t, "starting Flux", err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stopping Flux: %v", err)
		}
	})
	return f
}

// WithHelmController runs Flux with helm-controller against c for one test (see WithFlux and
// StartHelmController) and stops them when the test ends.
func WithHelmController(t testing.TB, c *Cluster) *Flux {
	t.Helper()
	f := WithFlux(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
	defer cancel()
	if err := f.StartHelmController(ctx); err != nil {
		skipOrFail(t, "starting helm-controller", err)
	}
	return f
}

// ServeRepo serves the bare repository bareDir to source-controller (and to anyone) over HTTP on
// loopback, fetch and push, and returns its URL for a GitRepository's spec.url.
func (f *Flux) ServeRepo(bareDir string) string {
	root := "/" + strconv.FormatInt(served.Add(1), 10)
	f.mux.Handle(root+"/", gitBackend(f.gitPath, filepath.Dir(bareDir), root))
	return f.gitURL + root + "/" + filepath.Base(bareDir)
}

func (f *Flux) serveGit() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for the Git server: %w", err)
	}
	f.gitURL = "http://" + l.Addr().String()
	f.git = &http.Server{Handler: f.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.git.Serve(l) }()
	return nil
}

// StopControllers stops the controllers and keeps the Git server, so that what the cluster
// does without a reconciler can be observed. It may be called more than once.
func (f *Flux) StopControllers() error {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i := len(f.procs) - 1; i >= 0; i-- {
		p := f.procs[i]
		if slices.Contains(c.procs, p) {
			errs = append(errs, c.forget(p))
		} else {
			errs = append(errs, p.stop(c.Dir)) // the cluster stopped it already
		}
	}
	f.procs = nil
	return errors.Join(errs...)
}

// Stop stops the controllers and the Git server and removes the artifact storage. It may be
// called more than once.
func (f *Flux) Stop() error {
	err := f.StopControllers()
	if f.git != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
		defer cancel()
		err = errors.Join(err, f.git.Shutdown(ctx))
	}
	if f.dir != "" {
		err = errors.Join(err, os.RemoveAll(f.dir))
	}
	running.Lock()
	if running.flux[f.c] == f {
		delete(running.flux, f.c)
	}
	running.Unlock()
	return err
}

// fluxCRDs locates the CRDs of the Flux controllers of modules in the module cache, at the
// versions pinned by their tools modules.
func fluxCRDs(modules ...fluxModule) ([]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	var crds []string
	for _, m := range modules {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", m.module)
		cmd.Dir = filepath.Join(root, "hack", "testbin", m.toolsDir)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GONOSUMDB="+fluxGONOSUMDB)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("locating the %s module from %s: %w: %s", m.module, cmd.Dir, err, bytes.TrimSpace(stderr.Bytes()))
		}
		dir := strings.TrimSpace(string(out))
		found, _ := filepath.Glob(filepath.Join(dir, "config", "crd", "bases", "*.yaml"))
		if dir == "" || len(found) == 0 {
			return nil, fmt.Errorf("locating the CRDs of %s: none in %s (run `make testbin` to download the module)", m.module, filepath.Join(dir, "config", "crd", "bases"))
		}
		crds = append(crds, found...)
	}
	return crds, nil
}
