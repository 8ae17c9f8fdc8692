package sealed_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	"github.com/bitnami-labs/sealed-secrets/pkg/kubeseal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testKey is a sealing key pair made once per test binary (RSA key generation is slow).
type testKey struct {
	priv    *rsa.PrivateKey
	certPEM []byte
}

// file writes the key's certificate into the test's directory.
func (k testKey) file(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, k.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	keysOnce sync.Once
	keys     [2]testKey
	keysErr  error
)

func sealingKeys(t *testing.T) [2]testKey {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			priv, cert, err := crypto.GeneratePrivateKeyAndCert(2048, time.Hour, "test")
			if err != nil {
				keysErr = err
				return
			}
			keys[i] = testKey{priv: priv, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

func noEnv(string) (string, bool) { return "", false }

// unseal decrypts a SealedSecret document as the controller would, with priv.
func unseal(t *testing.T, doc []byte, priv *rsa.PrivateKey) *corev1.Secret {
	t.Helper()
	var ss ssv1alpha1.SealedSecret
	if err := sigsyaml.Unmarshal(doc, &ss); err != nil {
		t.Fatal(err)
	}
	secret, err := ss.Unseal(scheme.Codecs, map[string]*rsa.PrivateKey{"test": priv})
	if err != nil {
		t.Fatalf("unsealing: %v\n%s", err, doc)
	}
	return secret
}

func dataOf(s *corev1.Secret) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		parts = append(parts, k+"="+string(s.Data[k]))
	}
	return strings.Join(parts, " ")
}

func fixture() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "db",
			Namespace: "shop",
			Labels:    map[string]string{"app": "db"},
			Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: `{"stringData":{"password":"hunter2"}}`,
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("hunter2"), "username": []byte("admin")},
		StringData: map[string]string{"token": "correct horse battery staple"},
	}
}

func TestEncryptScopes(t *testing.T) {
	k := sealingKeys(t)[0]
	p := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv})
	for _, tc := range []struct {
		scope      secrets.Scope
		annotation string
		// a rename that the scope allows
		name, namespace string
	}{
		{secrets.ScopeStrict, "", "db", "shop"},
		{secrets.ScopeNamespaceWide, "sealedsecrets.bitnami.com/namespace-wide", "other-name", "shop"},
		{secrets.ScopeClusterWide, "sealedsecrets.bitnami.com/cluster-wide", "other-name", "other-namespace"},
	} {
		t.Run(string(tc.scope), func(t *testing.T) {
			doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture(), Scope: tc.scope})
			if err != nil {
				t.Fatal(err)
			}
			text := string(doc)
			for _, bad := range []string{"hunter2", "last-applied", "managedFields", "creationTimestamp", "null"} {
				if strings.Contains(text, bad) {
					t.Errorf("document holds %q:\n%s", bad, text)
				}
			}
			for _, want := range []string{"apiVersion: bitnami.com/v1alpha1\n", "kind: SealedSecret\n", "  name: db\n", "  namespace: shop\n", "app: db", "type: Opaque"} {
				if !strings.Contains(text, want) {
					t.Errorf("document lacks %q:\n%s", want, text)
				}
			}
			if (tc.annotation != "") != strings.Contains(text, tc.annotation+`: "true"`) {
				t.Errorf("scope annotation %q: \n%s", tc.annotation, text)
			}
			if !p.Encrypted(doc) || secrets.Detect(doc) != secrets.ProviderSealedSecrets {
				t.Errorf("Encrypted=%v Detect=%q", p.Encrypted(doc), secrets.Detect(doc))
			}
			in, err := p.Inspect(t.Context(), doc)
			if err != nil {
				t.Fatal(err)
			}
			if in.Scope != tc.scope || strings.Join(in.Keys, ",") != "password,token,username" || in.Values != nil || in.Name != "db" {
				t.Errorf("Inspect = %+v", in)
			}
			if got := dataOf(unseal(t, doc, k.priv)); got != "password=hunter2 token=correct horse battery staple username=admin" {
				t.Errorf("unsealed %s", got)
			}
			moved := bytes.ReplaceAll(bytes.ReplaceAll(doc, []byte("name: db"), []byte("name: "+tc.name)), []byte("namespace: shop"), []byte("namespace: "+tc.namespace))
			if got := dataOf(unseal(t, moved, k.priv)); !strings.Contains(got, "password=hunter2") {
				t.Errorf("the %s scope does not allow %s/%s: %s", tc.scope, tc.namespace, tc.name, got)
			}
		})
	}
}

func TestEncryptNeedsNamespace(t *testing.T) {
	k := sealingKeys(t)[0]
	s := fixture()
	s.Namespace = ""
	_, err := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv}).Encrypt(t.Context(), secrets.EncryptRequest{Secret: s})
	if err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("strict without a namespace: %v", err)
	}
	doc, err := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv, DefaultNamespace: "shop"}).Encrypt(t.Context(), secrets.EncryptRequest{Secret: s, Indent: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "\n    namespace: shop\n") {
		t.Errorf("want the default namespace, four spaces in:\n%s", doc)
	}
}

func TestCertSources(t *testing.T) {
	k := sealingKeys(t)
	k0, k1 := k[0].file(t), k[1].file(t)
	env := func(v string) func(string) (string, bool) {
		return func(name string) (string, bool) { return v, name == sealed.CertEnv && v != "" }
	}
	for _, tc := range []struct {
		name string
		opts sealed.Options
		want int
	}{
		{"--cert wins", sealed.Options{Cert: k0, ConfigCert: k1, LookupEnv: env(k1)}, 0},
		{"then the environment", sealed.Options{ConfigCert: k0, LookupEnv: env(k1)}, 1},
		{"then the configuration", sealed.Options{ConfigCert: k1, LookupEnv: env("")}, 1},
		{"a file URL", sealed.Options{Cert: "file://" + k0, LookupEnv: noEnv}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, source, err := sealed.New(tc.opts).PublicKey(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !pub.Equal(&k[tc.want].priv.PublicKey) {
				t.Errorf("key from %s, want certificate %d", source, tc.want)
			}
		})
	}
	_, _, err := sealed.New(sealed.Options{LookupEnv: noEnv}).PublicKey(t.Context())
	for _, want := range []string{"--cert", sealed.CertEnv, "secrets.sealedSecrets.cert", "kubeconfig"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no source: error %v lacks %q", err, want)
		}
	}
}

// changedKeys returns the keys of the lines that differ between two documents of as many lines.
func changedKeys(t *testing.T, before, after []byte) string {
	t.Helper()
	a, b := strings.Split(string(before), "\n"), strings.Split(string(after), "\n")
	if len(a) != len(b) {
		t.Fatalf("line count changed from %d to %d", len(a), len(b))
	}
	var keys []string
	for i := range a {
		if a[i] != b[i] {
			key, _, _ := strings.Cut(strings.TrimSpace(b[i]), ":")
			keys = append(keys, key)
		}
	}
	return strings.Join(keys, ",")
}

func TestUpdate(t *testing.T) {
	k := sealingKeys(t)[0]
	p := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv})
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture(), Scope: secrets.ScopeNamespaceWide})
	if err != nil {
		t.Fatal(err)
	}

	after, err := p.Update(t.Context(), doc, map[string][]byte{"password": []byte("correct horse")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, doc, after); got != "password" {
		t.Errorf("changed lines %s, want password", got)
	}
	if got := dataOf(unseal(t, after, k.priv)); got != "password=correct horse token=correct horse battery staple username=admin" {
		t.Errorf("unsealed %s", got)
	}

	after, err = p.Update(t.Context(), after, map[string][]byte{"api-key": []byte("k")}, []string{"token", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if got := dataOf(unseal(t, after, k.priv)); got != "api-key=k password=correct horse username=admin" {
		t.Errorf("unsealed %s", got)
	}
	if i, j := bytes.Index(after, []byte("    api-key:")), bytes.Index(after, []byte("    password:")); i < 0 || i > j {
		t.Errorf("api-key not inserted in order:\n%s", after)
	}

	same, err := p.Update(t.Context(), after, nil, []string{"absent"})
	if err != nil || !bytes.Equal(same, after) {
		t.Errorf("an update that changes nothing: %v", err)
	}
}

// noCluster is the kubeconfig of kubeseal run with a Secret that names its namespace.
type noCluster struct{}

func (noCluster) ClientConfig() (*rest.Config, error) { return nil, errors.New("no cluster") }
func (noCluster) Namespace() (string, bool, error)    { return "", false, nil }

// TestUpdateKubesealOutput edits what kubeseal itself writes, a strict SealedSecret whose
// template has neither labels nor annotations.
func TestUpdateKubesealOutput(t *testing.T) {
	k := sealingKeys(t)[0]
	in, err := sigsyaml.Marshal(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Data:       map[string][]byte{"password": []byte("hunter2"), "username": []byte("admin")},
	})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kubeseal.ParseKey(bytes.NewReader(k.certPEM))
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := kubeseal.Seal(noCluster{}, "yaml", bytes.NewReader(in), &doc, scheme.Codecs, pub, ssv1alpha1.StrictScope, false, "", ""); err != nil {
		t.Fatal(err)
	}
	p := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv})
	after, err := p.Update(t.Context(), doc.Bytes(), map[string][]byte{"username": []byte("root")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, doc.Bytes(), after); got != "username" {
		t.Errorf("changed lines %s, want username", got)
	}
	if got := dataOf(unseal(t, after, k.priv)); got != "password=hunter2 username=root" {
		t.Errorf("unsealed %s", got)
	}
}

// TestUpdateGolden edits documents of several shapes; the golden files show the result with
// each new sealed value replaced by <sealed KEY>.
func TestUpdateGolden(t *testing.T) {
	k := sealingKeys(t)[0]
	p := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv})
	dir := filepath.Join("..", "..", "..", "testdata", "secrets", "providers", "sealed")
	for _, tc := range []struct {
		file  string
		set   []string
		del   []string
		label string
	}{
		{"kubeseal.yaml", []string{"password", "port"}, []string{"token"}, "shop/db"},
		{"indent4.yaml", []string{"m-key"}, nil, "shop"},
		{"commented.yaml", []string{"apiKey"}, nil, "shop/payments"},
		{"empty-encrypted-data.yaml", []string{"token"}, nil, "shop/empty"},
		{"no-encrypted-data.yaml", []string{"token"}, nil, "shop/bare"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			set := map[string][]byte{}
			for _, key := range tc.set {
				set[key] = []byte("value of " + key)
			}
			out, err := p.Update(t.Context(), doc, set, tc.del)
			if err != nil {
				t.Fatal(err)
			}
			var ss ssv1alpha1.SealedSecret
			if err := sigsyaml.Unmarshal(out, &ss); err != nil {
				t.Fatal(err)
			}
			masked := out
			for _, key := range tc.set {
				ct, err := base64.StdEncoding.DecodeString(ss.Spec.EncryptedData[key])
				if err != nil {
					t.Fatal(err)
				}
				plain, err := crypto.HybridDecrypt(rand.Reader, map[string]*rsa.PrivateKey{"k": k.priv}, ct, []byte(tc.label))
				if err != nil || string(plain) != "value of "+key {
					t.Errorf("%s is not sealed for %q: %q %v", key, tc.label, plain, err)
				}
				masked = bytes.ReplaceAll(masked, []byte(ss.Spec.EncryptedData[key]), []byte("<sealed "+key+">"))
			}
			golden := filepath.Join(dir, strings.TrimSuffix(tc.file, ".yaml")+".golden")
			if *update {
				if err := os.WriteFile(golden, masked, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(masked, want) {
				t.Errorf("result differs from %s:\n%s", golden, masked)
			}
		})
	}
}

func TestEncrypted(t *testing.T) {
	k := sealingKeys(t)[0]
	p := sealed.New(sealed.Options{Cert: k.file(t), LookupEnv: noEnv})
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture()})
	if err != nil {
		t.Fatal(err)
	}
	var ss ssv1alpha1.SealedSecret
	if err := sigsyaml.Unmarshal(doc, &ss); err != nil {
		t.Fatal(err)
	}
	good := ss.Spec.EncryptedData["password"]
	raw, _ := base64.StdEncoding.DecodeString(good)
	for name, mutate := range map[string]func(string) string{
		"plaintext value": func(s string) string { return strings.Replace(s, good, "aHVudGVyMg==", 1) },
		"not base64":      func(s string) string { return strings.Replace(s, good, "hunter2!", 1) },
		"odd key length": func(s string) string {
			return strings.Replace(s, good, base64.StdEncoding.EncodeToString(append([]byte{1, 1}, raw[2:]...)), 1)
		},
		"truncated": func(s string) string {
			return strings.Replace(s, good, base64.StdEncoding.EncodeToString(raw[:2+256+8]), 1)
		},
		"template plaintext": func(s string) string {
			return strings.Replace(s, "    type: Opaque\n", "    type: Opaque\n    data:\n      password: hunter2\n", 1)
		},
		"a Secret":         func(s string) string { return strings.Replace(s, "kind: SealedSecret", "kind: Secret", 1) },
		"no encryptedData": func(s string) string { return strings.Replace(s, "encryptedData:", "encrypted:", 1) },
	} {
		mutated := mutate(string(doc))
		if mutated == string(doc) {
			t.Fatalf("%s: the mutation did nothing", name)
		}
		if p.Encrypted([]byte(mutated)) {
			t.Errorf("%s: Encrypted = true", name)
		}
	}
	if !p.Encrypted(doc) {
		t.Errorf("Encrypted = false for a good document")
	}
}

func TestWellFormed(t *testing.T) {
	for _, size := range []int{128, 256, 384, 512} {
		b := append([]byte{byte(size >> 8), byte(size)}, make([]byte, size+16)...)
		if !sealed.WellFormed(base64.StdEncoding.EncodeToString(b)) {
			t.Errorf("a %d-byte RSA block refused", size)
		}
	}
}
