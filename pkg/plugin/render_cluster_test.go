package plugin

import (
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// An artifact URL maps to the API server's service proxy: the Service its in-cluster host names
// (the port named http unless the URL gives one), else Flux's source-controller Service.
func TestArtifactProxyPath(t *testing.T) {
	cases := map[string]string{
		"http://source-controller.flux-system.svc.cluster.local./helmchart/apps/apps-web/web-0.3.0.tgz": "/api/v1/namespaces/flux-system/services/http:source-controller:http/proxy/helmchart/apps/apps-web/web-0.3.0.tgz",
		"http://source-controller.flux.svc:9090/ocirepository/apps/web/sha256:ab.tar.gz":                "/api/v1/namespaces/flux/services/http:source-controller:9090/proxy/ocirepository/apps/web/sha256:ab.tar.gz",
		"http://127.0.0.1:40123/helmchart/apps/apps-web/web-0.3.0.tgz":                                  "/api/v1/namespaces/flux-system/services/http:source-controller:http/proxy/helmchart/apps/apps-web/web-0.3.0.tgz",
	}
	for in, want := range cases {
		if got, err := artifactProxyPath(in); err != nil || got != want {
			t.Errorf("artifactProxyPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"oci://ghcr.io/x", "/helmchart/x.tgz", "http://%zz"} {
		if _, err := artifactProxyPath(bad); err == nil {
			t.Errorf("artifactProxyPath(%q) gave no error", bad)
		}
	}
}

// A cluster that does not answer costs one timeout, not one per read: after the first network
// error the later reads fail at once with it.
func TestRenderClusterDownOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = conn.Close()
		}
	}()
	defer ln.Close()
	cfg := &rest.Config{Host: "http://" + ln.Addr().String()}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &renderCluster{kube: kube, errOut: io.Discard, warned: map[string]bool{}}
	if _, err := c.Lookup("ConfigMap", "flux-system", "cluster-settings"); err == nil {
		t.Fatal("a read of a cluster that closes every connection succeeded")
	}
	before := accepted.Load()
	if before == 0 {
		t.Fatal("the first read never reached the server")
	}
	_, err = c.Lookup("Secret", "flux-system", "cluster-secrets")
	if err == nil || !strings.Contains(err.Error(), "the cluster does not answer") {
		t.Errorf("second read: %v, want the first read's failure", err)
	}
	if n := accepted.Load(); n != before {
		t.Errorf("the second read connected again (%d connections, %d before it)", n, before)
	}
}
