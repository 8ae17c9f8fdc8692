package sealed_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
)

// unsealTimeout bounds the wait for the controller to act on an applied SealedSecret.
const unsealTimeout = 30 * time.Second

var sealedSecretsResource = schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}

func namespace(t *testing.T, c *testcluster.Cluster, prefix string) string {
	t.Helper()
	name := prefix + "-" + utilrand.String(6)
	if err := c.CreateNamespace(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	return name
}

func plainSecret(name, ns string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{},
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// waitForData waits until the controller's Secret holds exactly want.
func waitForData(t *testing.T, c *testcluster.Cluster, ns, name string, want map[string]string) {
	t.Helper()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	wantText := fmt.Sprint(want)
	var last string
	err := poll(t.Context(), unsealTimeout, func(ctx context.Context) error {
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got := map[string]string{}
		for k, v := range s.Data {
			got[k] = string(v)
		}
		if last = fmt.Sprint(got); last != wantText {
			return fmt.Errorf("data %s", last)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Secret %s/%s never held %s: %v; SealedSecret status: %s", ns, name, wantText, err, sealedStatus(c, ns, name))
	}
}

// waitForRefusal waits until the controller reports that it cannot unseal the SealedSecret.
func waitForRefusal(t *testing.T, c *testcluster.Cluster, ns, name string) {
	t.Helper()
	client := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(sealedSecretsResource).Namespace(ns)
	err := poll(t.Context(), unsealTimeout, func(ctx context.Context) error {
		ss, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conditions, _, _ := unstructuredSlice(ss.Object, "status", "conditions")
		for _, cond := range conditions {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Synced" && m["status"] == "False" {
				return nil
			}
		}
		return fmt.Errorf("not refused yet")
	})
	if err != nil {
		t.Fatalf("the controller did not refuse %s/%s: %v", ns, name, err)
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

func sealedStatus(c *testcluster.Cluster, ns, name string) string {
	ss, err := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(sealedSecretsResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(ss.Object["status"])
}

func apply(t *testing.T, c *testcluster.Cluster, doc []byte) {
	t.Helper()
	if _, err := c.ApplyYAML(t.Context(), "kubectl-gitops-test", doc); err != nil {
		t.Fatal(err)
	}
}

// renamed returns doc as a SealedSecret of another name and namespace.
func renamed(t *testing.T, doc []byte, name, ns string) []byte {
	t.Helper()
	var ss ssv1alpha1.SealedSecret
	if err := sigsyaml.Unmarshal(doc, &ss); err != nil {
		t.Fatal(err)
	}
	ss.Name, ss.Namespace = name, ns
	ss.Spec.Template.Name, ss.Spec.Template.Namespace = name, ns
	out, err := sigsyaml.Marshal(&ss)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestE2ECertURL seals with the certificate fetched from the controller's URL, as
// `--cert http://…/v1/cert.pem` does, in each scope, and has the real controller unseal.
func TestE2ECertURL(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	p := sealed.New(sealed.Options{Cert: c.SealedSecretsCertURL, LookupEnv: noEnv})
	data := map[string]string{"password": "hunter2", "token": "correct horse battery staple", "username": "admin"}

	for _, scope := range []secrets.Scope{secrets.ScopeStrict, secrets.ScopeNamespaceWide, secrets.ScopeClusterWide} {
		t.Run(string(scope), func(t *testing.T) {
			ns := namespace(t, c, "sealed")
			doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: plainSecret("db", ns, data), Scope: scope})
			if err != nil {
				t.Fatal(err)
			}
			apply(t, c, doc)
			waitForData(t, c, ns, "db", data)

			// Edit one key: only its line changes, and the controller's Secret follows.
			edited, err := p.Update(t.Context(), doc, map[string][]byte{"password": []byte("s3cret")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := changedKeys(t, doc, edited); got != "password" {
				t.Errorf("changed lines %s, want password", got)
			}
			apply(t, c, edited)
			waitForData(t, c, ns, "db", map[string]string{"password": "s3cret", "token": "correct horse battery staple", "username": "admin"})

			// Delete a key: the controller's Secret loses it.
			trimmed, err := p.Update(t.Context(), edited, nil, []string{"token"})
			if err != nil {
				t.Fatal(err)
			}
			apply(t, c, trimmed)
			waitForData(t, c, ns, "db", map[string]string{"password": "s3cret", "username": "admin"})

			// The scope decides where the same ciphertexts may be unsealed.
			other := namespace(t, c, "moved")
			for _, move := range []struct {
				name, ns string
				allowed  bool
			}{
				{"renamed", ns, scope != secrets.ScopeStrict},
				{"db", other, scope == secrets.ScopeClusterWide},
			} {
				apply(t, c, renamed(t, trimmed, move.name, move.ns))
				if move.allowed {
					waitForData(t, c, move.ns, move.name, map[string]string{"password": "s3cret", "username": "admin"})
				} else {
					waitForRefusal(t, c, move.ns, move.name)
				}
			}
		})
	}
}

// TestE2ERotate has the controller re-seal every value: all ciphertexts change, nothing else
// in the document does, and the Secret keeps its data.
func TestE2ERotate(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	ns := namespace(t, c, "rotate")
	controller := strings.TrimSuffix(c.SealedSecretsCertURL, "/v1/cert.pem")
	p := sealed.New(sealed.Options{ControllerURL: controller, LookupEnv: noEnv})
	data := map[string]string{"password": "hunter2", "username": "admin"}
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: plainSecret("db", ns, data), Scope: secrets.ScopeNamespaceWide})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := p.Rotate(t.Context(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, doc, rotated); got != "password,username" {
		t.Errorf("changed lines %s, want password,username", got)
	}
	apply(t, c, rotated)
	waitForData(t, c, ns, "db", data)
}

// TestE2EServiceProxy fetches the certificate and rotates through the API server's service
// proxy, as kubeseal does without --cert. The controller runs on loopback, outside any pod,
// and the API server proxies only to the IP of a pod that an EndpointSlice names (never to
// loopback). So the test gives the controller what a cluster would: a forwarder on this
// machine's non-loopback address, a Pod object whose status holds that address, the Service
// and its EndpointSlice.
func TestE2EServiceProxy(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	serveThroughProxy(t, c)

	viaURL, _, err := sealed.New(sealed.Options{Cert: c.SealedSecretsCertURL, LookupEnv: noEnv}).PublicKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var p *sealed.Provider
	var source string
	err = poll(t.Context(), unsealTimeout, func(ctx context.Context) error {
		p = sealed.New(sealed.Options{RESTConfig: c.RESTConfig(), LookupEnv: noEnv})
		var pub *rsa.PublicKey
		pub, source, err = p.PublicKey(ctx)
		if err == nil && !viaURL.Equal(pub) {
			return errors.New("the proxy served another certificate")
		}
		return err
	})
	if err != nil {
		t.Fatalf("fetching the certificate through the service proxy: %v", err)
	}
	if !strings.Contains(source, "through the API server") {
		t.Errorf("source %q", source)
	}

	ns := namespace(t, c, "proxy")
	data := map[string]string{"password": "hunter2"}
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: plainSecret("db", ns, data)})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := p.Rotate(t.Context(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, doc, rotated); got != "password" {
		t.Errorf("rotation changed lines %s, want password", got)
	}
	apply(t, c, rotated)
	waitForData(t, c, ns, "db", data)
}

// serveThroughProxy makes the controller reachable through the API server's service proxy, as
// kube-system/sealed-secrets-controller, port "http" (see the harness); it skips the test on a
// machine without a non-loopback IPv4 address.
func serveThroughProxy(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	c.ServeSealedSecretsThroughProxy(t, sealed.DefaultControllerNamespace, sealed.DefaultControllerName, sealed.DefaultControllerName+"-0")
}

func poll(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
