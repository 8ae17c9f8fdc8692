package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// clusterTimeout bounds each read a render makes of the cluster.
const clusterTimeout = 30 * time.Second

// renderCluster is the cluster a render reads when the command is connected to the target's
// cluster: render.Options' Lookup and Cluster. Warnings go to errOut, each once.
type renderCluster struct {
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	errOut io.Writer

	mu     sync.Mutex
	warned map[string]bool
	// down is why the cluster did not answer a read: the later reads fail at once with it
	// instead of each waiting for clusterTimeout (a kubeconfig whose server is off the network).
	down error
}

var _ render.Cluster = (*renderCluster)(nil)

// newRenderCluster reads the cluster the factory's kubeconfig reaches.
func newRenderCluster(f cmdutil.Factory, errOut io.Writer) (*renderCluster, error) {
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		return nil, err
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	return &renderCluster{kube: kube, dyn: dyn, mapper: mapper, errOut: errOut, warned: map[string]bool{}}, nil
}

func (c *renderCluster) resource(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	var m *meta.RESTMapping
	err = c.read(func(context.Context) (err error) {
		m, err = c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
		if meta.IsNoMatchError(err) {
			return nil
		}
		return err
	})
	if m == nil && err == nil {
		// The cluster does not know the kind (Flux's CRDs are not installed): no such object.
		return schema.GroupVersionResource{}, false, nil
	}
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, true, nil
}

// Get reads one object; nil when it or its kind does not exist.
func (c *renderCluster) Get(apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	gvr, ok, err := c.resource(apiVersion, kind)
	if err != nil || !ok {
		return nil, err
	}
	var u *unstructured.Unstructured
	err = c.read(func(ctx context.Context) (err error) {
		u, err = c.dyn.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// read runs one request with clusterTimeout; once a request has found the cluster not
// answering (a network error or the timeout), the later ones fail at once with it.
func (c *renderCluster) read(do func(ctx context.Context) error) error {
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
	if down != nil {
		return down
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	err := do(ctx)
	var netErr net.Error
	if err != nil && (errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)) {
		c.mu.Lock()
		if c.down == nil {
			c.down = fmt.Errorf("the cluster does not answer: %w", err)
		}
		c.mu.Unlock()
	}
	return err
}

// List reads the objects labelSelector selects.
func (c *renderCluster) List(apiVersion, kind, namespace, labelSelector string) ([]unstructured.Unstructured, error) {
	gvr, ok, err := c.resource(apiVersion, kind)
	if err != nil || !ok {
		return nil, err
	}
	var l *unstructured.UnstructuredList
	if err := c.read(func(ctx context.Context) (err error) {
		l, err = c.dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelSelector})
		return err
	}); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Lookup reads a ConfigMap's or Secret's data, decoded; nil when it does not exist.
func (c *renderCluster) Lookup(kind, namespace, name string) (map[string]string, error) {
	switch kind {
	case "ConfigMap":
		var cm *corev1.ConfigMap
		err := c.read(func(ctx context.Context) (err error) {
			cm, err = c.kube.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for k, v := range cm.BinaryData {
			out[k] = string(v)
		}
		for k, v := range cm.Data {
			out[k] = v
		}
		return out, nil
	case "Secret":
		var s *corev1.Secret
		err := c.read(func(ctx context.Context) (err error) {
			s, err = c.kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("reading a %s from the cluster: only ConfigMaps and Secrets are read", kind)
}

// Artifact reads a source-controller artifact through the API server's service proxy, as the
// sealed-secrets certificate is read: the artifact's URL names the controller's in-cluster
// address, which a workstation does not reach.
func (c *renderCluster) Artifact(artifactURL string) ([]byte, error) {
	p, err := artifactProxyPath(artifactURL)
	if err != nil {
		return nil, err
	}
	var b []byte
	if err := c.read(func(ctx context.Context) (err error) {
		b, err = c.kube.CoreV1().RESTClient().Get().AbsPath(p).DoRaw(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("through the API server's service proxy (%s): %w", p, err)
	}
	return b, nil
}

// Warn prints msg as a warning, once.
func (c *renderCluster) Warn(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned[msg] {
		return
	}
	c.warned[msg] = true
	fmt.Fprintf(c.errOut, "Warning: %s\n", msg)
}

// artifactProxyPath is the API server's service proxy path of a source-controller artifact
// URL: http://NAME.NAMESPACE.svc[.cluster.local][.][:PORT]/PATH goes to that Service (the port
// named http when the URL gives none, as Flux's Service names it); another host (a storage
// address advertised outside the cluster's DNS) goes to Flux's flux-system/source-controller
// Service, which serves the same paths.
func artifactProxyPath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("artifact URL %q is not http(s)://HOST/PATH", raw)
	}
	svc, ns, port := "source-controller", "flux-system", "http"
	labels := strings.Split(strings.TrimSuffix(u.Hostname(), "."), ".")
	if len(labels) >= 3 && labels[2] == "svc" {
		svc, ns = labels[0], labels[1]
		if p := u.Port(); p != "" {
			port = p
		}
	}
	return "/api/v1/namespaces/" + ns + "/services/" + u.Scheme + ":" + svc + ":" + port + "/proxy" + u.EscapedPath(), nil
}

// renderCluster is the cluster the change's renders read, when the command knows its kubeconfig
// reaches the target's cluster (the target was found through the live object's labels, or its
// configured context is the current one); nil otherwise, and when the kubeconfig does not load.
func (c *changeFlags) renderCluster(t *target.Target, errOut io.Writer) *renderCluster {
	if c.factory == nil || !(c.fromLive || (t.Context != "" && t.Context == c.kubeContext)) {
		return nil
	}
	rc, err := newRenderCluster(c.factory, errOut)
	if err != nil {
		return nil
	}
	return rc
}

// connectedRender is the cluster a render command reads, when it knows its kubeconfig reaches
// the target's cluster: --context or --kubeconfig names it, or the target's configured context
// is the current one. Nil otherwise.
func connectedRender(f cmdutil.Factory, cmd *cobra.Command, t *target.Target, errOut io.Writer) *renderCluster {
	if f == nil {
		return nil
	}
	named := false
	for _, name := range []string{"context", "kubeconfig"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			named = true
		}
	}
	if !named {
		raw, err := f.ToRawKubeConfigLoader().RawConfig()
		named = err == nil && t.Context != "" && t.Context == raw.CurrentContext
	}
	if !named {
		return nil
	}
	rc, err := newRenderCluster(f, errOut)
	if err != nil {
		return nil
	}
	return rc
}
