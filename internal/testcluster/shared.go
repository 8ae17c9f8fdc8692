package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// E2EEnv, when set, turns missing binaries into test failures instead of skips (CI sets it).
const E2EEnv = "KUBECTL_GITOPS_E2E"

// sharedStartTimeout bounds starting the shared cluster, on a loaded two-CPU CI machine.
const sharedStartTimeout = 3 * time.Minute

// shared is the one cluster of a test binary.
var shared struct {
	mu      sync.Mutex
	inMain  bool
	once    sync.Once
	cluster *Cluster
	err     error

	sealedOnce sync.Once
	sealedErr  error
}

// RunMain runs the tests, stops the shared cluster and runs cleanups (it exits the process,
// so TestMain cannot defer them). Call it from TestMain:
//
//	func TestMain(m *testing.M) { testcluster.RunMain(m) }
//
// SIGINT and SIGTERM stop the cluster too; if the test binary is killed outright, the
// processes die with it but the temporary directory stays.
func RunMain(m *testing.M, cleanups ...func()) {
	cleanup := func() {
		for _, c := range cleanups {
			c()
		}
	}
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-signals
		_ = stopShared()
		cleanup()
		fmt.Fprintf(os.Stderr, "testcluster: stopped the shared cluster on %v\n", sig)
		os.Exit(2)
	}()

	code := m.Run()
	signal.Stop(signals)
	cleanup()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: stopping the shared cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func stopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil {
		return nil
	}
	return shared.cluster.Stop()
}

// Shared returns the test binary's cluster, starting it on first use. It skips the test when
// the binaries are not built, unless $KUBECTL_GITOPS_E2E is set, when it fails instead.
// Tests share the cluster: give each its own namespace.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the test that needs the control plane")
	}
	shared.mu.Lock()
	inMain := shared.inMain
	shared.mu.Unlock()
	if !inMain {
		t.Fatal("testcluster.Shared needs the package's TestMain to call testcluster.RunMain(m), which stops the cluster")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		defer cancel()
		c, err := Start(ctx, Options{Timeout: sharedStartTimeout})
		shared.mu.Lock()
		shared.cluster, shared.err = c, err
		shared.mu.Unlock()
	})
	if shared.err != nil {
		skipOrFail(t, "starting the shared test cluster", shared.err)
	}
	return shared.cluster
}

// SharedWithSealedSecrets returns the shared cluster with the sealed-secrets controller
// running. It skips the test when the controller cannot run here (not root, no unshare).
func SharedWithSealedSecrets(t testing.TB) *Cluster {
	t.Helper()
	c := Shared(t)
	if err := sealedSecretsSupport(); err != nil {
		t.Skip(err)
	}
	shared.sealedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		defer cancel()
		shared.sealedErr = c.StartSealedSecrets(ctx)
	})
	if shared.sealedErr != nil {
		skipOrFail(t, "starting the sealed-secrets controller", shared.sealedErr)
	}
	return c
}

func skipOrFail(t testing.TB, what string, err error) {
	t.Helper()
	if errors.Is(err, ErrBinaryMissing) && os.Getenv(E2EEnv) == "" {
		t.Skipf("%s: %v (set %s=1 to fail instead of skipping)", what, err, E2EEnv)
	}
	t.Fatalf("%s: %v", what, err)
}
