package sealed_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
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
// kube-system/sealed-secrets-controller, port "http"; it skips the test on a machine without a
// non-loopback IPv4 address.
func serveThroughProxy(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	ip := externalIPv4()
	if ip == "" {
		t.Skip("no non-loopback IPv4 address: the API server's service proxy refuses loopback endpoints, so the controller cannot be reached through it here")
	}
	certURL, err := url.Parse(c.SealedSecretsCertURL)
	if err != nil {
		t.Fatal(err)
	}
	port := forward(t, ip, certURL.Host)

	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	const ns, name = sealed.DefaultControllerNamespace, sealed.DefaultControllerName
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-0", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "docker.io/bitnami/sealed-secrets-controller"}}},
	}
	service := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(port)}}},
	}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-test", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port, Protocol: ptr(corev1.ProtocolTCP)}},
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = kube.DiscoveryV1().EndpointSlices(ns).Delete(ctx, slice.Name, metav1.DeleteOptions{})
		_ = kube.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
		_ = kube.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	})
	created, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the controller's Pod object: %v", err)
	}
	created.Status.PodIP = ip
	created.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("giving the Pod its IP: %v", err)
	}
	if _, err := kube.CoreV1().Services(ns).Create(ctx, service, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the Service: %v", err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the EndpointSlice: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func externalIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// forward relays connections from ip:PORT to target until the test ends, and returns PORT.
func forward(t *testing.T, ip, target string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s, the address the API server would proxy to: %v", ip, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				out, err := net.Dial("tcp", target)
				if err != nil {
					in.Close()
					return
				}
				// Whichever side ends first ends both.
				go func() { _, _ = io.Copy(out, in); in.Close(); out.Close() }()
				_, _ = io.Copy(in, out)
				in.Close()
				out.Close()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	return int32(n)
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
