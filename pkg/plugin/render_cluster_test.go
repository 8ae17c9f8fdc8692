package plugin

import "testing"

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
