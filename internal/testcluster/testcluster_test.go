package testcluster_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

func TestMain(m *testing.M) {
	if os.Getenv(gitServerEnv) != "" {
		os.Exit(serveGit(os.Args[1:]))
	}
	testcluster.RunMain(m)
}

// namespace creates a namespace of its own for the test, unique across -count runs.
func namespace(t *testing.T, c *testcluster.Cluster, prefix string) string {
	t.Helper()
	name := prefix + "-" + utilrand.String(6)
	if err := c.CreateNamespace(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestDeploymentRoundTrip(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	ns := namespace(t, c, "deploy")

	labels := map[string]string{"app": "web"}
	replicas := int32(3)
	want := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, want, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the deployment: %v", err)
	}
	got, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the deployment back: %v", err)
	}
	if *got.Spec.Replicas != 3 || got.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("read back replicas=%d image=%q, want 3 and nginx:1.27", *got.Spec.Replicas, got.Spec.Template.Spec.Containers[0].Image)
	}
}

func TestKubeconfig(t *testing.T) {
	c := testcluster.Shared(t)
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if cluster := cfg.Clusters["testcluster"]; cfg.CurrentContext != "testcluster" || cluster == nil || cluster.Server != c.Host {
		t.Errorf("kubeconfig context %q clusters %v, want testcluster at %s", cfg.CurrentContext, cfg.Clusters, c.Host)
	}
	rest, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	review, err := kubernetes.NewForConfigOrDie(rest).AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("asking who the kubeconfig's user is: %v", err)
	}
	if user := review.Status.UserInfo; user.Username != "admin" || !slices.Contains(user.Groups, "system:masters") {
		t.Errorf("kubeconfig user is %q in %v, want admin in system:masters", user.Username, user.Groups)
	}
}

func TestApplyYAML(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := t.Context()
	ns := namespace(t, c, "apply")
	manifest := func(color string) []byte {
		return fmt.Appendf(nil, `# leading comment document
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: %[1]s
data:
  color: %[2]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: apply-test-%[1]s
rules: []
`, ns, color)
	}
	objs, err := c.ApplyYAML(ctx, "apply-test", manifest("blue"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("applied %d objects, want 2", len(objs))
	}
	if _, err := c.ApplyYAML(ctx, "apply-test", manifest("green")); err != nil {
		t.Fatalf("applying again: %v", err)
	}
	cm, err := kubernetes.NewForConfigOrDie(c.RESTConfig()).CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["color"] != "green" {
		t.Errorf("color = %q after the second apply, want green", cm.Data["color"])
	}
	if managers := cm.GetManagedFields(); len(managers) != 1 || managers[0].Manager != "apply-test" || managers[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields %+v, want one Apply entry by apply-test", managers)
	}
}

func TestInstallCRDs(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := t.Context()
	group := "widgets-" + utilrand.String(6) + ".example.com"
	crd := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(crd, fmt.Appendf(nil, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, group), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCRDs(ctx, crd); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, c, "crd")
	if _, err := c.ApplyYAML(ctx, "", fmt.Appendf(nil, "apiVersion: %s/v1\nkind: Widget\nmetadata: {name: w, namespace: %s}\nsize: 3\n", group, ns)); err != nil {
		t.Fatalf("applying a Widget right after installing its CRD: %v", err)
	}
}

func TestSealedSecretsController(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())

	keys, err := kube.CoreV1().Secrets(testcluster.SealedSecretsNamespace).List(ctx, metav1.ListOptions{LabelSelector: testcluster.SealedSecretsKeyLabel + "=active"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) == 0 {
		t.Fatalf("the controller created no active sealing key Secret in %s", testcluster.SealedSecretsNamespace)
	}

	pub := fetchSealingKey(t, c.SealedSecretsCertURL)
	ns := namespace(t, c, "sealed")
	sealed := seal(t, pub, ns, "db", "hunter2")
	manifest := fmt.Appendf(nil, `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  namespace: %s
spec:
  encryptedData:
    password: %s
  template:
    metadata:
      name: db
`, ns, sealed)
	if _, err := c.ApplyYAML(ctx, "", manifest); err != nil {
		t.Fatal(err)
	}

	var secret *corev1.Secret
	err = poll(ctx, 30*time.Second, func(ctx context.Context) error {
		secret, err = kube.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err
	})
	if err != nil {
		status, _ := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}).
			Namespace(ns).Get(context.Background(), "db", metav1.GetOptions{})
		t.Fatalf("the controller did not unseal the SealedSecret: %v; SealedSecret: %v", err, status)
	}
	if got := string(secret.Data["password"]); got != "hunter2" {
		t.Errorf("unsealed password = %q, want hunter2", got)
	}
}

func fetchSealingKey(t *testing.T, certURL string) *rsa.PublicKey {
	t.Helper()
	resp, err := http.Get(certURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("%s served no PEM: %q", certURL, body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("sealing certificate has a %T key, want RSA", cert.PublicKey)
	}
	return pub
}

// seal encrypts a value for a strict-scope SealedSecret the way kubeseal does: an AES-256-GCM
// session key, RSA-OAEP-encrypted with "namespace/name" as label, prefixed by its length. Doing
// it by hand keeps sealed-secrets' dependencies out of the main module.
func seal(t *testing.T, pub *rsa.PublicKey, namespace, name, value string) string {
	t.Helper()
	sessionKey := make([]byte, 32)
	if _, err := rand.Read(sessionKey); err != nil {
		t.Fatal(err)
	}
	encryptedKey, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, sessionKey, []byte(namespace+"/"+name))
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(sessionKey)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(encryptedKey)))
	out = append(out, encryptedKey...)
	// The session key is used once, so a zero nonce is safe.
	out = gcm.Seal(out, make([]byte, gcm.NonceSize()), []byte(value), nil)
	return base64.StdEncoding.EncodeToString(out)
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
