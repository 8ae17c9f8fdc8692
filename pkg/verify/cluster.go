package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The client-side rate limits of the dry-runs: client-go's defaults (5 QPS, burst 10) would
// make a target of a few hundred objects take a minute.
const (
	minQPS   = 100
	minBurst = 200
)

// probeTimeout bounds the request that tells whether a cluster answers at all.
const probeTimeout = 15 * time.Second

// Cluster is a cluster to check against, reached through one kubeconfig context.
type Cluster struct {
	// Context names the kubeconfig context, for messages.
	Context   string
	Config    *rest.Config
	Mapper    meta.RESTMapper
	Discovery discovery.CachedDiscoveryInterface
}

// Clusters gives the cluster of a kubeconfig context.
type Clusters interface {
	// Cluster returns the cluster of the named context, "" for the context in use, once it
	// has answered; an *UnreachableError when it does not.
	Cluster(ctx context.Context, name string) (*Cluster, error)
}

// UnreachableError says that a cluster did not answer.
type UnreachableError struct {
	Context string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the cluster of kubeconfig context %q: %v", e.Context, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Kubeconfig is Clusters over a kubeconfig: the context in use with the command line's
// overrides (--server, --token, ...), any other context as the kubeconfig describes it.
type Kubeconfig struct {
	// Raw is the merged kubeconfig.
	Raw clientcmdapi.Config
	// Current is the context in use: --context, else the kubeconfig's current-context.
	Current string
	// CurrentConfig returns the client configuration of Current; nil builds it from Raw.
	CurrentConfig func() (*rest.Config, error)

	mu      sync.Mutex
	clients map[string]*Cluster
	errs    map[string]error
}

// Cluster implements Clusters. A context is probed once; its answer (or failure) is kept.
func (k *Kubeconfig) Cluster(ctx context.Context, name string) (*Cluster, error) {
	if name == "" {
		name = k.Current
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.clients[name]; ok {
		return c, nil
	}
	if err, ok := k.errs[name]; ok {
		return nil, err
	}
	c, err := k.open(ctx, name)
	if k.clients == nil {
		k.clients, k.errs = map[string]*Cluster{}, map[string]error{}
	}
	if err != nil {
		k.errs[name] = err
		return nil, err
	}
	k.clients[name] = c
	return c, nil
}

func (k *Kubeconfig) open(ctx context.Context, name string) (*Cluster, error) {
	var cfg *rest.Config
	var err error
	if name == k.Current && k.CurrentConfig != nil {
		cfg, err = k.CurrentConfig()
	} else {
		if _, ok := k.Raw.Contexts[name]; !ok && name != "" {
			return nil, fmt.Errorf("the kubeconfig has no context %q", name)
		}
		cfg, err = clientcmd.NewNonInteractiveClientConfig(k.Raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the kubeconfig for context %q: %w", name, err)
	}
	return Connect(ctx, name, cfg)
}

// Connect returns the cluster cfg reaches, once it has answered a version request; an
// *UnreachableError when it does not.
func Connect(ctx context.Context, name string, cfg *rest.Config) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = max(cfg.QPS, minQPS)
	cfg.Burst = max(cfg.Burst, minBurst)
	probe := rest.CopyConfig(cfg)
	if probe.Timeout == 0 || probe.Timeout > probeTimeout {
		probe.Timeout = probeTimeout
	}
	pc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for context %q: %w", name, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pc.ServerVersion()
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return nil, &UnreachableError{Context: name, Err: err}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for context %q: %w", name, err)
	}
	disc := memory.NewMemCacheClient(dc)
	return &Cluster{Context: name, Config: cfg, Discovery: disc, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(disc)}, nil
}

// IsUnreachable tells whether err says a cluster did not answer.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}
