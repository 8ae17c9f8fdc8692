package helm

import (
	"strings"
	"testing"
)

func TestFluxRelease(t *testing.T) {
	long := strings.Repeat("a", 30) + "-" + strings.Repeat("b", 30)
	for _, c := range []struct {
		name, namespace, releaseName, targetNamespace string
		wantRelease, wantNamespace                    string
	}{
		{"web", "apps", "", "", "web", "apps"},
		{"web", "flux-system", "", "prod", "prod-web", "prod"},
		{"web", "flux-system", "shop", "prod", "shop", "prod"},
		// 61 characters: the first 40, "-", and 12 hex digits of sha256(name) (computed with sha256sum).
		{long, "apps", "", "", strings.Repeat("a", 30) + "-" + strings.Repeat("b", 9) + "-" + "0d5805a5e727", "apps"},
	} {
		r, ns := FluxRelease(c.name, c.namespace, c.releaseName, c.targetNamespace)
		if r != c.wantRelease || ns != c.wantNamespace {
			t.Errorf("FluxRelease(%q, %q, %q, %q) = %q, %q; want %q, %q", c.name, c.namespace, c.releaseName, c.targetNamespace, r, ns, c.wantRelease, c.wantNamespace)
		}
		if len(r) > 53 {
			t.Errorf("release name %q longer than 53", r)
		}
	}
}
