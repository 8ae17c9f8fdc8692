package guard

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	sscrypto "github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/decrypt"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "regenerate the corpus files that hold real ciphertext and keys under testdata/secrets/guard")

const corpusDir = "../../../testdata/secrets/guard"

// marker is in every plaintext value of the corpus, so a test can tell that none reached the
// output; markerB64 is how base64 begins it.
const (
	marker    = "Pl41nT3xt"
	markerB64 = "UGw0MW5UM3h0"
)

// TestGenerateCorpus writes the corpus files that need real cryptography: sops files encrypted
// for age identities made here and thrown away, SealedSecrets sealed with kubeseal's own code
// for certificates made here, and test-only private keys. Every sops file is decrypted again
// before it is written, so the twins are what sops itself produces.
//
//	go test ./pkg/secrets/guard -run TestGenerateCorpus -update
func TestGenerateCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the generated corpus files")
	}
	isolateHome(t)
	g := &corpusGen{t: t, files: map[string][]byte{}}
	g.sopsCases()
	g.forgedCases()
	g.generatorCases()
	g.sealedCases()
	g.keyCases()
	for name, data := range g.files {
		p := filepath.Join(corpusDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d files", len(g.files))
}

// isolateHome points HOME and XDG_CONFIG_HOME at a temporary directory, so sops and git never
// read the user's keys or configuration.
func isolateHome(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(home, "no-such-key-file"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, "gitconfig"))
}

type corpusGen struct {
	t          *testing.T
	files      map[string][]byte
	identities []string
}

func (g *corpusGen) put(name string, data []byte) {
	g.files[name] = data
}

// recipient makes a new age identity, keeps it in memory to decrypt with, and returns its
// recipient.
func (g *corpusGen) recipient() string {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		g.t.Fatal(err)
	}
	g.identities = append(g.identities, id.String())
	g.t.Setenv("SOPS_AGE_KEY", strings.Join(g.identities, "\n"))
	return id.Recipient().String()
}

type sopsOpts struct {
	format            string // yaml, json, dotenv, binary
	encryptedRegex    string
	unencryptedSuffix string
	groups            int // key groups, one recipient each unless recipients says otherwise
	recipients        int // recipients in the first group
}

// encrypt encrypts plain the way `sops --encrypt` does and checks that sops decrypts it.
func (g *corpusGen) encrypt(plain string, o sopsOpts) []byte {
	t := g.t
	t.Helper()
	type store interface {
		sops.PlainFileLoader
		sops.EncryptedFileEmitter
	}
	var st store
	switch o.format {
	case "", "yaml":
		o.format = "yaml"
		st = sopsyaml.NewStore(&config.YAMLStoreConfig{Indent: 2})
	case "json":
		st = sopsjson.NewStore(&config.JSONStoreConfig{Indent: 2})
	case "dotenv":
		st = dotenv.NewStore(&config.DotenvStoreConfig{})
	case "binary":
		st = sopsjson.NewBinaryStore(&config.JSONBinaryStoreConfig{Indent: 2})
	}
	branches, err := st.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatalf("sops cannot load the plaintext: %v", err)
	}
	if o.groups == 0 {
		o.groups = 1
	}
	if o.recipients == 0 {
		o.recipients = 1
	}
	var groups []sops.KeyGroup
	for i := 0; i < o.groups; i++ {
		var group sops.KeyGroup
		n := 1
		if i == 0 {
			n = o.recipients
		}
		for j := 0; j < n; j++ {
			mk, err := sopsage.MasterKeyFromRecipient(g.recipient())
			if err != nil {
				t.Fatal(err)
			}
			group = append(group, mk)
		}
		groups = append(groups, group)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups:         groups,
		EncryptedRegex:    o.encryptedRegex,
		UnencryptedSuffix: o.unencryptedSuffix,
		Version:           version.Version,
	}}
	if o.groups > 1 {
		tree.Metadata.ShamirThreshold = o.groups
	}
	dataKey, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()})
	if len(errs) > 0 {
		t.Fatalf("sops data key: %v", errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: dataKey}); err != nil {
		t.Fatalf("sops encrypt: %v", err)
	}
	out, err := st.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decrypt.Data(out, o.format); err != nil {
		t.Fatalf("sops cannot decrypt what was encrypted: %v", err)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// plainSecret is a Secret whose values all hold the marker.
func plainSecret(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: prod
type: Opaque
data:
  username: %s
  password: %s
`, name, b64(marker+"-user-"+name), b64(marker+"-password-"+name))
}

const stringDataSecret = `apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: prod
type: Opaque
stringData:
  api-token: ` + marker + `-token
  config.yaml: |
    database:
      password: ` + marker + `-multiline
  port: 5432
  empty: ""
`

func (g *corpusGen) sopsCases() {
	g.put("pass-sops-age.yaml", g.encrypt(plainSecret("db"), sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	g.put("pass-sops-stringdata.yaml", g.encrypt(stringDataSecret, sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	jsonSecret := fmt.Sprintf(`{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "json", "namespace": "prod"},
  "data": {"password": %q}
}`, b64(marker+"-json"))
	g.put("pass-sops-json.json", g.encrypt(jsonSecret, sopsOpts{format: "json", encryptedRegex: "^(data|stringData)$"}))
	list := "apiVersion: v1\nkind: List\nitems:\n" + indent(plainSecret("one"), "  - ", "    ") + indent(plainSecret("two"), "  - ", "    ")
	g.put("pass-sops-list.yaml", g.encrypt(list, sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	g.put("pass-sops-multidoc.yaml", g.encrypt(plainSecret("first")+"---\n"+plainSecret("second"), sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	g.put("pass-sops-key-groups.yaml", g.encrypt(plainSecret("shamir"), sopsOpts{encryptedRegex: "^(data|stringData)$", groups: 2}))
	g.put("pass-sops-two-recipients.yaml", g.encrypt(plainSecret("team"), sopsOpts{encryptedRegex: "^(data|stringData)$", recipients: 2}))
	g.put("pass-sops-default-rules.yaml", g.encrypt(plainSecret("all"), sopsOpts{}))

	encrypted := g.encrypt(plainSecret("mixed-encrypted"), sopsOpts{encryptedRegex: "^(data|stringData)$"})
	g.put("fail-mixed-encrypted-and-plain.yaml", append(append(encrypted, "---\n"...), plainSecret("mixed-plain")...))
	g.put("fail-sops-encrypted-regex-metadata.yaml", g.encrypt(plainSecret("regex"), sopsOpts{encryptedRegex: "^metadata$"}))
	g.put("fail-sops-unencrypted-suffix.yaml", g.encrypt(`apiVersion: v1
kind: Secret
metadata:
  name: suffix
stringData:
  user: `+marker+`-user
  password_unencrypted: `+marker+`-suffix
`, sopsOpts{unencryptedSuffix: "_unencrypted"}))
	lastApplied := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: applied
  namespace: prod
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","data":{"password":%q},"kind":"Secret","metadata":{"annotations":{},"name":"applied","namespace":"prod"}}
data:
  password: %s
`, b64(marker+"-applied"), b64(marker+"-applied"))
	g.put("fail-last-applied-annotation.yaml", g.encrypt(lastApplied, sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	g.put("fail-last-applied-annotation-encrypted.yaml", g.encrypt(lastApplied, sopsOpts{encryptedRegex: `^(data|stringData|kubectl\.kubernetes\.io/last-applied-configuration)$`}))

	base := g.encrypt(plainSecret("meta"), sopsOpts{encryptedRegex: "^(data|stringData)$"})
	g.put("fail-sops-missing-mac.yaml", editYAML(g.t, base, func(root *yaml.Node) { deleteKey(field(root, "sops"), "mac") }))
	g.put("fail-sops-missing-lastmodified.yaml", editYAML(g.t, base, func(root *yaml.Node) { deleteKey(field(root, "sops"), "lastmodified") }))
	g.put("fail-sops-missing-version.yaml", editYAML(g.t, base, func(root *yaml.Node) { deleteKey(field(root, "sops"), "version") }))
	g.put("fail-sops-missing-keys.yaml", editYAML(g.t, base, func(root *yaml.Node) { deleteKey(field(root, "sops"), "age") }))
	g.put("fail-sops-mac-not-enc.yaml", editYAML(g.t, base, func(root *yaml.Node) {
		field(field(root, "sops"), "mac").Value = "7A1B3F0C9E2D4B6A8C0E2F4A6B8D0F1E3A5C7E9B1D3F5A7C9E1B3D5F7A9C1E3B"
	}))
	g.put("fail-sops-block-stripped.yaml", editYAML(g.t, base, func(root *yaml.Node) { deleteKey(root, "sops") }))
	g.put("fail-fake-sops-block.yaml", editYAML(g.t, base, func(root *yaml.Node) {
		data := field(root, "data")
		data.Content[1].Value = b64(marker + "-fake-user")
		data.Content[3].Value = b64(marker + "-fake-password")
	}))
}

// forgedCases replace one value of a real encrypted Secret with a forged one, so the forgery
// is the only thing wrong.
func (g *corpusGen) forgedCases() {
	base := g.encrypt(plainSecret("forged"), sopsOpts{encryptedRegex: "^(data|stringData)$"})
	r := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	forged := map[string]string{
		"fail-forged-enc-bad-base64.yaml":      "ENC[AES256_GCM,data:" + marker + "-not*base64,iv:" + r(32) + ",tag:" + r(16) + ",type:str]",
		"fail-forged-enc-missing-tag.yaml":     "ENC[AES256_GCM,data:" + r(24) + ",iv:" + r(32) + ",type:str]",
		"fail-forged-enc-wrong-iv-length.yaml": "ENC[AES256_GCM,data:" + r(24) + ",iv:" + r(12) + ",tag:" + r(16) + ",type:str]",
		"fail-forged-enc-short-tag.yaml":       "ENC[AES256_GCM,data:" + r(24) + ",iv:" + r(32) + ",tag:" + r(8) + ",type:str]",
		"fail-forged-enc-unknown-type.yaml":    "ENC[AES256_GCM,data:" + r(24) + ",iv:" + r(32) + ",tag:" + r(16) + ",type:" + marker + "]",
		"fail-forged-enc-prefix-only.yaml":     "ENC[" + marker + "-prefix]",
		"fail-forged-enc-trailing-text.yaml":   "ENC[AES256_GCM,data:" + r(24) + ",iv:" + r(32) + ",tag:" + r(16) + ",type:str] " + marker + "-trailing",
		"fail-forged-enc-other-cipher.yaml":    "ENC[AES128_CBC,data:" + r(24) + ",iv:" + r(16) + ",tag:" + r(16) + ",type:str]",
	}
	for name, v := range forged {
		g.put(name, editYAML(g.t, base, func(root *yaml.Node) {
			field(root, "data").Content[3].Value = v
		}))
	}
}

func (g *corpusGen) generatorCases() {
	kust := func(body string) []byte {
		return []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body)
	}
	env := "DB_USER=" + marker + "-env-user\nDB_PASSWORD=" + marker + "-env-password\n"
	g.put("pass-generator-env-sops/kustomization.yaml", kust("secretGenerator:\n  - name: db\n    envs:\n      - secret.env\n"))
	g.put("pass-generator-env-sops/secret.env", g.encrypt(env, sopsOpts{format: "dotenv"}))
	g.put("fail-generator-env-sops-regex/kustomization.yaml", kust("secretGenerator:\n  - name: db\n    envs:\n      - secret.env\n"))
	g.put("fail-generator-env-sops-regex/secret.env", g.encrypt(env, sopsOpts{format: "dotenv", encryptedRegex: "^(data|stringData)$"}))
	g.put("pass-generator-files-sops-yaml/kustomization.yaml", kust("secretGenerator:\n  - name: app-config\n    files:\n      - config.yaml=app-config.sops.yaml\n"))
	g.put("pass-generator-files-sops-yaml/app-config.sops.yaml", g.encrypt("database:\n  user: app\n  password: "+marker+"-file\n", sopsOpts{}))
	g.put("pass-generator-files-sops-binary/kustomization.yaml", kust("secretGenerator:\n  - name: token\n    type: Opaque\n    files:\n      - token=token.bin\n"))
	g.put("pass-generator-files-sops-binary/token.bin", g.encrypt(marker+"-binary-token\n", sopsOpts{format: "binary"}))
	// The other files of the hand-written kustomize cases that need ciphertext.
	g.put("pass-builtin-secretgenerator-sops/secret.env", g.encrypt(env, sopsOpts{format: "dotenv"}))
	g.put("pass-inline-patches-other-kinds/secret.yaml", g.encrypt(plainSecret("db"), sopsOpts{encryptedRegex: "^(data|stringData)$"}))
	g.put("pass-resource-any-name/db-secret.enc", g.encrypt(plainSecret("db"), sopsOpts{encryptedRegex: "^(data|stringData)$"}))
}

func (g *corpusGen) sealedCases() {
	t := g.t
	seal := func(key *rsa.PrivateKey, ns, name string, scope ssv1alpha1.SealingScope, value string) string {
		out, err := sscrypto.HybridEncrypt(rand.Reader, &key.PublicKey, []byte(value), ssv1alpha1.EncryptionLabel(ns, name, scope))
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(out)
	}
	k2048, k3072, k4096 := rsaKey(t, 2048), rsaKey(t, 3072), rsaKey(t, 4096)
	sealed := func(name, annotations, spec string) []byte {
		return []byte(fmt.Sprintf("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: %s\n  namespace: prod\n%sspec:\n%s", name, annotations, spec))
	}
	strict := func(name, value string) string { return seal(k2048, "prod", name, ssv1alpha1.StrictScope, value) }
	g.put("pass-sealedsecret-strict.yaml", sealed("db", "", fmt.Sprintf(
		"  encryptedData:\n    username: %s\n    password: %s\n  template:\n    metadata:\n      name: db\n      namespace: prod\n    type: Opaque\n",
		strict("db", marker+"-sealed-user"), strict("db", marker+"-sealed-password"))))
	g.put("pass-sealedsecret-namespace-wide.yaml", sealed("ns", "  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n", fmt.Sprintf(
		"  encryptedData:\n    token: %s\n", seal(k3072, "prod", "ns", ssv1alpha1.NamespaceWideScope, marker+"-ns"))))
	g.put("pass-sealedsecret-cluster-wide.yaml", sealed("cw", "  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n", fmt.Sprintf(
		"  encryptedData:\n    token: %s\n", seal(k4096, "", "", ssv1alpha1.ClusterWideScope, marker+"-cw"))))
	g.put("pass-sealedsecret-template.yaml", sealed("tpl", "", fmt.Sprintf(`  encryptedData:
    password: %s
  template:
    metadata:
      labels:
        app: web
      annotations:
        reloader.stakater.com/match: "true"
    type: kubernetes.io/basic-auth
    data:
      password-copy: '{{ index . "password" }}'
`, strict("tpl", marker+"-tpl"))))
	// Before encryptedData, the whole Secret was sealed into spec.data.
	legacy := seal(k2048, "prod", "legacy", ssv1alpha1.StrictScope, plainSecret("legacy"))
	g.put("pass-sealedsecret-legacy-data.yaml", sealed("legacy", "", "  data: "+legacy+"\n"))

	raw, _ := base64.StdEncoding.DecodeString(strict("trunc", marker+"-trunc"))
	n := int(binary.BigEndian.Uint16(raw))
	truncated := base64.StdEncoding.EncodeToString(raw[:2+n+8])
	g.put("fail-sealedsecret-truncated.yaml", sealed("trunc", "", fmt.Sprintf("  encryptedData:\n    username: %s\n    password: %s\n", strict("trunc", marker+"-ok"), truncated)))
	bad := append([]byte{0, 100}, raw[2:]...)
	g.put("fail-sealedsecret-bad-length.yaml", sealed("badlen", "", fmt.Sprintf("  encryptedData:\n    password: %s\n", base64.StdEncoding.EncodeToString(bad))))
	g.put("fail-sealedsecret-legacy-data-truncated.yaml", sealed("legacy", "", "  data: "+base64.StdEncoding.EncodeToString(raw[:100])+"\n"))
	g.put("fail-sealedsecret-template-data.yaml", sealed("tpl", "", fmt.Sprintf(`  encryptedData:
    password: %s
  template:
    metadata:
      name: tpl
    data:
      username: %s
      dsn: 'postgres://app:{{ index . "password" }}@db/%s'
`, strict("tpl", marker+"-tpl"), b64(marker+"-template-user"), marker)))
	g.put("fail-sealedsecret-template-stringdata.yaml", sealed("tpl", "", fmt.Sprintf(`  encryptedData:
    password: %s
  template:
    stringData:
      api-key: %s-template-string
`, strict("tpl", marker+"-tpl"), marker)))
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemBytes(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func (g *corpusGen) keyCases() {
	t := g.t
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	g.put("fail-age-identity.txt", []byte(fmt.Sprintf("# created: 2026-01-01T00:00:00Z\n# public key: %s\n%s\n", id.Recipient(), id)))
	plugin := make([]byte, 52)
	for i := range plugin {
		plugin[i] = bech32[int(randByte())%len(bech32)]
	}
	g.put("fail-age-plugin-identity.txt", []byte("# Serial: 12345678, Slot: 1\n# Recipient: age1yubikey1qfake\nAGE-PLUGIN-YUBIKEY-1"+string(plugin)+"\n"))
	g.put("fail-age-identity-in-comment.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
# age key for the demo: %s
data:
  recipient: %s
`, must(age.GenerateX25519Identity()).String(), id.Recipient())))

	rk := rsaKey(t, 2048)
	g.put("fail-rsa-private-key.pem", []byte(pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))))
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	g.put("fail-ec-private-key.pem", []byte(pemBytes("EC PRIVATE KEY", ecDER)))
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(edk)
	if err != nil {
		t.Fatal(err)
	}
	g.put("fail-pkcs8-private-key.pem", []byte(pemBytes("PRIVATE KEY", p8)))
	sshBlock, err := ssh.MarshalPrivateKey(edk, "test-only")
	if err != nil {
		t.Fatal(err)
	}
	g.put("fail-openssh-private-key", pem.EncodeToMemory(sshBlock))
	encBlock := make([]byte, 180)
	_, _ = rand.Read(encBlock)
	g.put("fail-encrypted-private-key.pem", []byte(pemBytes("ENCRYPTED PRIVATE KEY", encBlock)))

	ent, err := openpgp.NewEntity("Test Only", "guard corpus", "test@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pgp bytes.Buffer
	w, err := armor.Encode(&pgp, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	pgp.WriteString("\n")
	g.put("fail-pgp-private-key.asc", pgp.Bytes())

	tlsKey := pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))
	cert := selfSigned(t, rk)
	g.put("fail-sealed-secrets-key.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: sealed-secrets-keyabcde
  namespace: kube-system
  labels:
    sealedsecrets.bitnami.com/sealed-secrets-key: active
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, b64(cert), b64(tlsKey))))
	ecPEM := pemBytes("EC PRIVATE KEY", ecDER)
	g.put("fail-tls-key-in-secret.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: ingress-tls
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, b64(selfSigned(t, rk)), b64(ecPEM))))
	g.put("fail-private-key-in-configmap.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssh\ndata:\n  id_rsa: |\n"+indent(tlsKey, "    ", "    ")))
	g.put("fail-kubeconfig-client-key-data.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: prod
    cluster:
      server: https://prod.example.invalid:6443
      certificate-authority-data: %s
users:
  - name: admin
    user:
      client-certificate-data: %s
      client-key-data: %s
contexts:
  - name: prod
    context: {cluster: prod, user: admin}
current-context: prod
`, b64(cert), b64(cert), b64(ecPEM))))
	g.put("fail-private-key-json-escaped.json", []byte(fmt.Sprintf(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "escaped"}, "data": {"key.pem": %q}}`+"\n", ecPEM)))

	pub, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(edk.Public())
	if err != nil {
		t.Fatal(err)
	}
	g.put("pass-public-material.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: public
data:
  ca.crt: |
%s  key.pub: |
%s  authorized_keys: %s
  age-recipient: %s
  sealed-secrets-cert: %s
`, indent(cert, "    ", "    "), indent(pemBytes("PUBLIC KEY", pub), "    ", "    "), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), id.Recipient(), b64(cert))))
}

func selfSigned(t *testing.T, k *rsa.PrivateKey) string {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sealed-secret", Organization: []string{"test only"}},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBytes("CERTIFICATE", der)
}

func randByte() byte {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return b[0]
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// indent prefixes the first line of s with first and the others with rest.
func indent(s, first, rest string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString(first)
		} else {
			b.WriteString(rest)
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// editYAML edits the first document of data.
func editYAML(t *testing.T, data []byte, edit func(root *yaml.Node)) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc.Content[0])
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
