// Package testcluster runs a real etcd and kube-apiserver on loopback, and on request the
// sealed-secrets controller, Flux's source-, kustomize- and helm-controllers and a Git server
// for them, for the tests that prove the product works against a real API server.
// hack/devcluster runs the same control plane for people.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names in the cluster's directory. Stop removes exactly these, so a user-given directory
// keeps whatever else it holds.
const (
	kubeconfigFile       = "kubeconfig"
	pidsFile             = "pids"
	pkiDir               = "pki"
	etcdDataDir          = "etcd-data"
	serviceAccountDir    = "serviceaccount"
	sealedSecretsURLFile = "sealed-secrets-cert-url"

	// contextName names the kubeconfig's cluster, user and context.
	contextName = "testcluster"
)

var stateEntries = []string{
	kubeconfigFile, pidsFile, pkiDir, etcdDataDir, serviceAccountDir, sealedSecretsURLFile,
	fluxStorageDir, gitURLFile,
	etcdBinary + ".log", apiserverBinary + ".log", sealedSecretsBinary + ".log",
	sourceControllerBinary + ".log", kustomizeControllerBinary + ".log", helmControllerBinary + ".log",
	gitServerName + ".log",
}

// Options configures Start.
type Options struct {
	// Dir holds the cluster's state. Empty means a new temporary directory, removed by Stop.
	Dir string
	// TestbinDir holds etcd, kube-apiserver and sealed-secrets-controller. Empty means
	// $KUBECTL_GITOPS_TESTBIN, else bin/testbin in the repository.
	TestbinDir string
	// SealedSecrets also starts the sealed-secrets controller; see StartSealedSecrets.
	SealedSecrets bool
	// Detached starts the processes in their own session so that they outlive this program
	// (hack/devcluster). Otherwise they are killed when it dies, even by SIGKILL.
	Detached bool
	// Timeout bounds each wait for a component to become ready; zero means one minute.
	Timeout time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the state: kubeconfig, pids, certificates, etcd data and one log per process.
	Dir string
	// Host is the kube-apiserver's URL, https://127.0.0.1:PORT.
	Host string
	// KubeconfigPath is DIR/kubeconfig; its cluster, user and context are named "testcluster"
	// and the user is a member of system:masters.
	KubeconfigPath string
	// SealedSecretsCertURL serves the controller's sealing certificate once it runs.
	SealedSecretsCertURL string
	// GitURL is the Git server's URL once StartGitServer runs it, http://127.0.0.1:PORT.
	GitURL string

	opts    Options
	ownDir  bool
	caPEM   []byte
	config  *rest.Config
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	mapper  meta.ResettableRESTMapper

	mu    sync.Mutex // guards procs, SealedSecretsCertURL and GitURL while processes start and stop
	procs []*process
}

// Start runs etcd and kube-apiserver and returns once the API server is ready. ctx bounds the
// startup only; the processes run until Stop.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	testbin, err := testbinDir(opts.TestbinDir)
	if err != nil {
		return nil, err
	}
	etcd, err := binary(testbin, etcdBinary)
	if err != nil {
		return nil, err
	}
	apiserver, err := binary(testbin, apiserverBinary)
	if err != nil {
		return nil, err
	}
	if opts.SealedSecrets {
		if _, err := binary(testbin, sealedSecretsBinary); err != nil {
			return nil, err
		}
	}

	c := &Cluster{opts: opts}
	if opts.Dir == "" {
		c.Dir, err = os.MkdirTemp("", "testcluster-")
		c.ownDir = true
	} else {
		c.Dir, err = filepath.Abs(opts.Dir)
		if err == nil {
			err = os.MkdirAll(c.Dir, 0o755)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating the cluster directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.Host = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	p, err := newPKI(filepath.Join(c.Dir, pkiDir))
	if err != nil {
		return nil, fmt.Errorf("creating certificates: %w", err)
	}
	c.caPEM = p.caPEM

	etcdProc, err := c.startProcess(etcdBinary, etcd, []string{
		"--name=testcluster",
		"--data-dir=" + filepath.Join(c.Dir, etcdDataDir),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testcluster=" + peerURL,
		"--log-level=warn",
		// A throwaway cluster does not need durable writes, and fsync dominates its latency.
		"--unsafe-no-fsync=true",
	}, nil)
	if err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, opts.Timeout, etcdProc, "waiting for etcd", func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, etcdURL+"/health")
	}); err != nil {
		return nil, err
	}

	apiProc, err := c.startProcess(apiserverBinary, apiserver, []string{
		"--etcd-servers=" + etcdURL,
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(c.Dir, pkiDir),
		"--tls-cert-file=" + p.servingCert,
		"--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + filepath.Join(c.Dir, pkiDir, "ca.crt"),
		"--service-account-key-file=" + p.saPublic,
		"--service-account-signing-key-file=" + p.saPrivate,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// Without a controller-manager no namespace gets its default ServiceAccount, and the
		// ServiceAccount admission plugin would refuse every pod.
		"--disable-admission-plugins=ServiceAccount",
		// The endpoint reconciler refuses a loopback address, and nothing here needs the
		// endpoints of the kubernetes Service.
		"--endpoint-reconciler-type=none",
	}, nil)
	if err != nil {
		return nil, err
	}

	if err := c.writeKubeconfig(p); err != nil {
		return nil, err
	}
	if err := c.loadKubeconfig(); err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, opts.Timeout, apiProc, "waiting for kube-apiserver", c.checkReady); err != nil {
		return nil, err
	}

	if opts.SealedSecrets {
		if err := c.StartSealedSecrets(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Open finds the cluster whose state is in opts.Dir, started with Detached by another program.
// It returns an error matching fs.ErrNotExist when no cluster was started there. The processes
// may have died since: check with Ready.
func Open(opts Options) (*Cluster, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	opts.Detached = true
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	procs, err := readPids(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster state in %s: %w", dir, err)
	}
	c := &Cluster{Dir: dir, opts: opts, procs: procs}
	// A cluster that died while starting may lack a kubeconfig; Ready then fails and Stop
	// still cleans up.
	if err := c.loadKubeconfig(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// The URLs of the servers that still run (c is not shared yet: no lock).
	for _, s := range []struct {
		file, proc string
		url        *string
	}{
		{sealedSecretsURLFile, sealedSecretsBinary, &c.SealedSecretsCertURL},
		{gitURLFile, gitServerName, &c.GitURL},
	} {
		if data, err := os.ReadFile(filepath.Join(dir, s.file)); err == nil && c.running(s.proc) {
			*s.url = string(data)
		}
	}
	return c, nil
}

// Ready reports whether the API server answers /readyz.
func (c *Cluster) Ready(ctx context.Context) error {
	if c.config == nil {
		return fmt.Errorf("no kubeconfig in %s", c.Dir)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("checking %s/readyz: %w", c.Host, err)
	}
	return nil
}

// checkReady waits for /readyz and for the namespaces the API server creates itself.
func (c *Cluster) checkReady(ctx context.Context) error {
	if err := c.Ready(ctx); err != nil {
		return err
	}
	for _, ns := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem} {
		if _, err := c.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("waiting for namespace %s: %w", ns, err)
		}
	}
	return nil
}

// RESTConfig returns a new copy of the admin's client configuration.
func (c *Cluster) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.config)
}

// Stop ends the processes (SIGTERM, then SIGKILL after a grace period) and removes the state.
// It may be called more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(c.Dir))
	}
	c.procs = nil
	c.SealedSecretsCertURL, c.GitURL = "", ""
	if err := errors.Join(errs...); err != nil {
		return err // keep the state so that another down can find the survivors
	}
	if c.ownDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			return fmt.Errorf("removing %s: %w", c.Dir, err)
		}
		return nil
	}
	for _, name := range stateEntries {
		if err := os.RemoveAll(filepath.Join(c.Dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("removing the cluster state: %w", err))
		}
	}
	_ = os.Remove(c.Dir) // only if nothing else is in it
	return errors.Join(errs...)
}

func (c *Cluster) writeKubeconfig(p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCert, ClientKeyData: p.adminKey}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	path := filepath.Join(c.Dir, kubeconfigFile)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return nil
}

// loadKubeconfig builds the clients from the kubeconfig file, so that every test goes through
// the same file a user of hack/devcluster would.
func (c *Cluster) loadKubeconfig() error {
	path := filepath.Join(c.Dir, kubeconfigFile)
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	config, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	// Tests issue bursts of requests; client-side throttling would only slow them down.
	config.QPS, config.Burst = 200, 400
	if cluster := raw.Clusters[contextName]; cluster != nil {
		c.caPEM = cluster.CertificateAuthorityData
	}
	if c.kube, err = kubernetes.NewForConfig(config); err != nil {
		return err
	}
	if c.dynamic, err = dynamic.NewForConfig(config); err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	c.config = config
	c.Host = config.Host
	c.KubeconfigPath = path
	return nil
}

func httpOK(ctx context.Context, client *http.Client, rawURL string) error {
	_, err := httpGet(ctx, client, rawURL)
	return err
}

func httpGet(ctx context.Context, client *http.Client, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	return body, nil
}
