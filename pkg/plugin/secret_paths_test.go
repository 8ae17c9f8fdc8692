package plugin

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

// manifestFile writes a manifest outside the repository, for -f.
func manifestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(os.Getenv("HOME"), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Every command that can write a Secret hands it to sops: apply -f (new and existing), patch
// (strategic, merge, json), label and annotate (sops' MAC covers metadata, so the file must
// still decrypt), rollout undo and delete. The plaintext reaches no git object, file, temporary
// directory or output (secretTest.run checks after every command), and the guard passes on
// every commit.
func TestSecretWritePathsSops(t *testing.T) {
	s := newSecretTest(t, "sops")
	s.plains = []string{plainPassword, plainToken, plainAPIKey, plainNewPass, plainEdited}
	recipient, key := s.ageKey("a.agekey")
	s.useKey(key)
	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipient)})
	args := func(a ...string) []string { return append(a, "--repo", s.dir, "--target", "staging") }
	const file = "apps/staging/secret-api.yaml"

	manifest := manifestFile(t, "api.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\ntype: Opaque\nstringData:\n  key: "+plainAPIKey+"\n  token: "+plainToken+"\n")
	out, _ := s.mustRun("", args("apply", "-f", manifest, "--dry-run")...)
	if !strings.Contains(out, "+++ b/"+file) || !strings.Contains(out, "  key: ***\n") {
		t.Errorf("apply --dry-run of a Secret did not show the masked new file:\n%s", out)
	}
	start := s.head()
	out, _ = s.mustRun("", args("apply", "-f", manifest)...)
	if out != "secret/api created\n" {
		t.Errorf("apply printed %q", out)
	}
	wantData(t, "apply -f of a new Secret", sopsData(t, s.show("HEAD", file)), map[string]string{"key": plainAPIKey, "token": plainToken})
	s.guardPasses()

	// apply -f of the Secret with one value changed: only that value is encrypted again.
	before := s.show("HEAD", file)
	manifest = manifestFile(t, "api.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\nstringData:\n  token: "+plainNewPass+"\n")
	s.mustRun("", args("apply", "-f", manifest)...)
	wantValueLine(t, "apply -f of a changed value", before, s.show("HEAD", file), "token")
	wantData(t, "apply -f of a changed value", sopsData(t, s.show("HEAD", file)), map[string]string{"key": plainAPIKey, "token": plainNewPass})

	for _, tc := range []struct {
		what  string
		args  []string
		value string
	}{
		{"patch (strategic)", []string{"patch", "secret/api", "-p", `{"stringData":{"token":"` + plainEdited + `"}}`}, plainEdited},
		{"patch --type merge", []string{"patch", "secret/api", "--type", "merge", "-p", `{"data":{"token":"` + b64(plainPassword) + `"}}`}, plainPassword},
		{"patch --type json", []string{"patch", "secret/api", "--type", "json", "-p", `[{"op":"replace","path":"/stringData/token","value":"` + plainToken + `"}]`}, plainToken},
	} {
		before := s.show("HEAD", file)
		s.mustRun("", args(tc.args...)...)
		after := s.show("HEAD", file)
		wantValueLine(t, tc.what, before, after, "token")
		wantData(t, tc.what, sopsData(t, after), map[string]string{"key": plainAPIKey, "token": tc.value})
		s.guardPasses()
	}

	// Metadata too goes through sops, whose MAC covers it: the file still decrypts.
	s.mustRun("", args("label", "secret/api", "tier=backend")...)
	s.mustRun("", args("annotate", "secret/api", "owner=payments")...)
	after := s.show("HEAD", file)
	if !strings.Contains(after, "tier: backend") || !strings.Contains(after, "owner: payments") {
		t.Errorf("label and annotate are missing:\n%s", after)
	}
	wantData(t, "label and annotate", sopsData(t, after), map[string]string{"key": plainAPIKey, "token": plainToken})

	// rollout undo brings an earlier revision back whole: its own ciphertext and MAC.
	s.mustRun("", args("rollout", "undo", "secret/api", "--to-revision=1")...)
	wantData(t, "rollout undo", sopsData(t, s.show("HEAD", file)), map[string]string{"key": plainAPIKey, "token": plainToken})
	s.guardPasses()

	s.mustRun("", args("delete", "secret/api")...)
	if got := s.committedFiles(); !strings.Contains(got, file) {
		t.Errorf("delete changed %s", got)
	}
	if s.head() == start {
		t.Fatal("nothing was committed")
	}
}

var (
	sealingOnce sync.Once
	sealingPriv *rsa.PrivateKey
	sealingCert []byte
	sealingErr  error
)

// sealingKey is a sealed-secrets key pair, as the controller makes one (made once per binary:
// RSA key generation is slow).
func sealingKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	sealingOnce.Do(func() {
		priv, cert, err := crypto.GeneratePrivateKeyAndCert(2048, time.Hour, "test")
		sealingPriv, sealingErr = priv, err
		if err == nil {
			sealingCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		}
	})
	if sealingErr != nil {
		t.Fatal(sealingErr)
	}
	return sealingPriv, sealingCert
}

// unsealed is a SealedSecret's data as the controller would unseal it.
func unsealed(t *testing.T, doc string, priv *rsa.PrivateKey) map[string]string {
	t.Helper()
	var ss ssv1alpha1.SealedSecret
	if err := sigsyaml.Unmarshal([]byte(doc), &ss); err != nil {
		t.Fatal(err)
	}
	secret, err := ss.Unseal(scheme.Codecs, map[string]*rsa.PrivateKey{"test": priv})
	if err != nil {
		t.Fatalf("unsealing: %v\n%s", err, doc)
	}
	out := map[string]string{}
	for k, v := range secret.Data {
		out[k] = string(v)
	}
	return out
}

// The same with sealed-secrets: a Secret applied where the target has its SealedSecret re-seals
// the keys it gives; a new Secret follows the target's SealedSecrets; patching a Secret that is
// sealed says how to change it.
func TestSecretWritePathsSealed(t *testing.T) {
	s := newSecretTest(t, "sealed")
	s.plains = []string{plainPassword, plainToken, plainAPIKey, plainNewPass}
	priv, certPEM := sealingKey(t)
	cert := filepath.Join(os.Getenv("HOME"), "cert.pem")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(a ...string) []string {
		return append(a, "--repo", s.dir, "--target", "staging", "--sealed-secrets-cert", cert)
	}
	const dbFile, apiFile = "apps/staging/sealedsecret-db.yaml", "apps/staging/sealedsecret-api.yaml"
	s.mustRun("", args("create", "secret", "generic", "db", "-n", "shop", "--secrets", "sealed-secrets",
		"--from-literal=username=admin", "--from-literal=password="+plainPassword)...)

	manifest := manifestFile(t, "db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: "+plainNewPass+"\n")
	before := s.show("HEAD", dbFile)
	s.mustRun("", args("apply", "-f", manifest)...)
	after := s.show("HEAD", dbFile)
	if got := changedLines(t, before, after); strings.Join(got, ",") != "password" {
		t.Errorf("apply -f re-sealed the lines %v, want password", got)
	}
	wantData(t, "apply -f into the SealedSecret", unsealed(t, after, priv), map[string]string{"username": "admin", "password": plainNewPass})

	manifest = manifestFile(t, "api.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\ndata:\n  key: "+b64(plainAPIKey)+"\n")
	s.mustRun("", args("apply", "-f", manifest)...)
	wantData(t, "apply -f of a new Secret", unsealed(t, s.show("HEAD", apiFile), priv), map[string]string{"key": plainAPIKey})
	s.guardPasses()

	head := s.head()
	_, errOut, code := s.run("", args("patch", "secret/db", "-p", `{"stringData":{"password":"`+plainToken+`"}}`)...)
	if code == 0 || !strings.Contains(errOut, "SealedSecret") || !strings.Contains(errOut, "kubectl gitops set secret db") {
		t.Errorf("patch of a sealed Secret: exit %d\n%s", code, errOut)
	}
	if s.head() != head {
		t.Error("the refused patch committed")
	}

	// The SealedSecret's own metadata is not secret; its values stay sealed through label,
	// rollout undo (an earlier revision's ciphertext) and delete.
	s.mustRun("", args("label", "sealedsecret/db", "tier=backend")...)
	if doc := s.show("HEAD", dbFile); !strings.Contains(doc, "tier: backend") {
		t.Errorf("label is missing:\n%s", doc)
	}
	wantData(t, "label", unsealed(t, s.show("HEAD", dbFile), priv), map[string]string{"username": "admin", "password": plainNewPass})
	s.mustRun("", args("rollout", "undo", "sealedsecret/db", "--to-revision=1")...)
	wantData(t, "rollout undo", unsealed(t, s.show("HEAD", dbFile), priv), map[string]string{"username": "admin", "password": plainPassword})
	s.guardPasses()
	s.mustRun("", args("delete", "sealedsecret/api")...)
	if _, err := os.Stat(filepath.Join(s.dir, apiFile)); !os.IsNotExist(err) {
		t.Errorf("delete left %s (%v)", apiFile, err)
	}
}
