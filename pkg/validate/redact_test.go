package validate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A message about a Secret or a SealedSecret never carries its values, as written or
// base64-decoded; other kinds' messages are left alone.
func TestScrubSecret(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "db"},
		"data":       map[string]any{"token": "c2VjcmV0LXRva2Vu"}, // secret-token
		"stringData": map[string]any{"password": "hunter2-pw", "x": "ab"},
	}}
	msg := `Secret "db" is invalid: data[token]: "c2VjcmV0LXRva2Vu" (secret-token), password hunter2-pw, ab`
	got := scrubSecret(msg, secret)
	for _, v := range []string{"c2VjcmV0LXRva2Vu", "secret-token", "hunter2-pw"} {
		if strings.Contains(got, v) {
			t.Errorf("%q left in %q", v, got)
		}
	}
	if !strings.HasSuffix(got, ", ab") || !strings.HasPrefix(got, `Secret "db" is invalid: data[token]: "***"`) {
		t.Errorf("got %q", got)
	}
	cm := secret.DeepCopy()
	cm.SetKind("ConfigMap")
	if scrubSecret(msg, cm) != msg {
		t.Error("a ConfigMap's message was changed")
	}

	sealed := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
		"metadata": map[string]any{"name": "db"},
		"spec": map[string]any{
			"encryptedData": map[string]any{"password": "AgBy3i4OJSWK+PiTySYZZA=="},
			"template":      map[string]any{"data": map[string]any{"user": "YWRtaW4tdXNlcg=="}}, // admin-user
		},
	}}
	got = scrubSecret(`sealed AgBy3i4OJSWK+PiTySYZZA== for admin-user`, sealed)
	if got != "sealed *** for ***" {
		t.Errorf("got %q", got)
	}
}
