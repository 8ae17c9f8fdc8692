package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// The editor's text and what a save asks for; mistakes are reported without the values.
func TestSecretEditText(t *testing.T) {
	shown := secretShown{Name: "db", Namespace: "shop", Type: "Opaque"}
	in := &secrets.Inspection{Keys: []string{"bin", "cert", "password"}, Values: map[string][]byte{
		"password": []byte(plainPassword), "cert": []byte("line 1\nline 2\n"), "bin": {0xff, 0x00},
	}}
	text, err := shown.text(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ntype: Opaque\nstringData:\n  cert: |\n    line 1\n    line 2\n  password: " + plainPassword + "\ndata:\n  bin: /wA=\n"
	if string(text) != want {
		t.Fatalf("text:\n%s\nwant:\n%s", text, want)
	}
	edited := strings.Replace(string(text), plainPassword, plainNewPass, 1)
	edited = strings.Replace(edited, "  bin: /wA=\n", "", 1) + "  added: YQ==\n"
	set, del, what, err := shown.edits(in, []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || string(set["password"]) != plainNewPass || string(set["added"]) != "a" || len(del) != 1 || del[0] != "bin" {
		t.Errorf("edits: set %d keys, del %v", len(set), del)
	}
	if what != "added, password set; bin removed" {
		t.Errorf("summary %q", what)
	}

	for name, bad := range map[string]string{
		"metadata":   strings.Replace(string(text), "name: db", "name: other", 1),
		"unknown":    string(text) + "extra: " + plainPassword + "\n",
		"nested":     strings.Replace(string(text), "password: "+plainPassword, "password: {a: "+plainPassword+"}", 1),
		"not base64": strings.Replace(string(text), "bin: /wA=", "bin: "+plainPassword+"!", 1),
		"duplicate":  string(text) + "  password: " + plainPassword + "\n",
		"syntax":     strings.Replace(string(text), "password: "+plainPassword, "password: \""+plainPassword, 1),
	} {
		_, _, _, err := shown.edits(in, []byte(bad))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), plainPassword) {
			t.Errorf("%s: the error shows the value: %v", name, err)
		}
	}

	// Sealed: placeholders are unchanged keys.
	sealedIn := &secrets.Inspection{Keys: []string{"password", "token"}}
	text, err = shown.text(sealedIn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "  password: \"<sealed: unchanged>\"\n") {
		t.Fatalf("sealed text:\n%s", text)
	}
	edited = strings.Replace(string(text), `token: "<sealed: unchanged>"`, "token: "+plainToken, 1)
	set, del, _, err = shown.edits(sealedIn, []byte(edited))
	if err != nil || len(set) != 1 || string(set["token"]) != plainToken || len(del) != 0 {
		t.Errorf("sealed edits: %d keys set, del %v, %v", len(set), del, err)
	}
}

func TestSecretEditNameRouting(t *testing.T) {
	for args, want := range map[string]string{"secret/db": "db", "secrets db": "db", "sealedsecret/db": "db", "deploy/web": "", "secret/db deploy/web": "error", "secret/a secret/b": "error"} {
		refs, typeOnly, err := workflow.ParseObjectArgs(strings.Fields(args))
		if err != nil {
			t.Fatal(err)
		}
		sel := workflow.Selection{Refs: refs, TypeOnly: typeOnly}
		name, ok, err := secretEditName(sel)
		got := name
		if err != nil {
			got = "error"
		} else if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("%s: %q, want %q", args, got, want)
		}
	}
}

// tlsPair writes a self-signed certificate and its key.
func tlsPair(t *testing.T, dir string) (certFile, keyFile string, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shop.example.com"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, keyPEM
}

// create secret tls and docker-registry build the Secret with kubectl's own code (its checks
// included) and write it encrypted.
func TestSecretCreateTLSAndDockerRegistry(t *testing.T) {
	s := newSecretTest(t, "sops")
	recipient, key := s.ageKey("a.agekey")
	s.useKey(key)
	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipient)})
	certFile, keyFile, keyPEM := tlsPair(t, os.Getenv("HOME"))
	s.plains = []string{strings.Split(keyPEM, "\n")[1], plainPassword}
	args := func(a ...string) []string {
		return append(a, "--repo", s.dir, "--target", "staging", "--secrets", "sops", "-n", "shop")
	}

	_, errOut, code := s.run("", args("create", "secret", "tls", "web-tls", "--cert", certFile)...)
	if code == 0 || !strings.Contains(errOut, "key and cert must be specified") {
		t.Errorf("tls without --key: exit %d, %s", code, errOut)
	}
	_, errOut, code = s.run("", args("create", "secret", "tls", "web-tls", "--cert", keyFile, "--key", keyFile)...)
	if code == 0 || !strings.Contains(errOut, "tls: ") {
		t.Errorf("tls with a key for a certificate: exit %d, %s", code, errOut)
	}
	s.mustRun("", args("create", "secret", "tls", "web-tls", "--cert", certFile, "--key", keyFile)...)
	doc := s.show("HEAD", "apps/staging/secret-web-tls.yaml")
	if !strings.Contains(doc, "type: kubernetes.io/tls") {
		t.Errorf("the TLS Secret's type:\n%s", doc)
	}
	data := sopsData(t, doc)
	if data["tls.key"] != keyPEM || !strings.HasPrefix(data["tls.crt"], "-----BEGIN CERTIFICATE-----") {
		t.Errorf("the TLS Secret holds keys %v", slices.Sorted(maps.Keys(data)))
	}

	_, errOut, code = s.run("", args("create", "secret", "docker-registry", "regcred", "--docker-username=ci")...)
	if code == 0 || !strings.Contains(errOut, "--docker-password") {
		t.Errorf("docker-registry without a password: exit %d, %s", code, errOut)
	}
	s.mustRun("", args("create", "secret", "docker-registry", "regcred", "--docker-server=registry.example.com", "--docker-username=ci", "--docker-password="+plainPassword)...)
	doc = s.show("HEAD", "apps/staging/secret-regcred.yaml")
	if !strings.Contains(doc, "type: kubernetes.io/dockerconfigjson") {
		t.Errorf("the registry Secret's type:\n%s", doc)
	}
	var cfg struct {
		Auths map[string]struct{ Username, Password string } `json:"auths"`
	}
	if err := json.Unmarshal([]byte(sopsData(t, doc)[".dockerconfigjson"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if a := cfg.Auths["registry.example.com"]; a.Username != "ci" || a.Password != plainPassword {
		t.Errorf("the docker config does not hold the credentials given")
	}
	s.guardPasses()
}
