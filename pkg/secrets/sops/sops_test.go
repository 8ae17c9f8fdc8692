package sops_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3/decrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
)

// keyEnv are the variables through which sops finds age keys; tests clear them all, so that
// nothing of the user's is read.
var keyEnv = []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD"}

// isolate points HOME and XDG_CONFIG_HOME at a temporary directory and clears sops' key
// variables. It returns the new home.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GNUPGHOME", filepath.Join(home, ".gnupg"))
	for _, name := range keyEnv {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
	return home
}

// identity makes an age identity and writes it to a key file under dir.
func identity(t *testing.T, dir, name string) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, path
}

// repo makes a repository whose .sops.yaml holds rules (one per string, YAML list items).
func repo(t *testing.T, sopsYAML string) string {
	t.Helper()
	dir := t.TempDir()
	if sopsYAML != "" {
		if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(sopsYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func ageRule(recipients ...string) string {
	return fmt.Sprintf("creation_rules:\n  - path_regex: ^clusters/.*\\.ya?ml$\n    age: %s\n", strings.Join(recipients, ","))
}

// fixture is a Secret as kubectl would hand it over after an apply: with the last-applied
// annotation holding the plaintext, and managedFields.
func fixture() *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "db",
			Namespace: "shop",
			Labels:    map[string]string{"app": "db"},
			Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"hunter2"}}`,
				"team":                             "payments",
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"password": []byte("hunter2"),
			"username": []byte("admin"),
			"url":      []byte("postgres://db:5432/shop"),
		},
	}
}

var plaintexts = []string{"hunter2", "postgres://db:5432/shop", "correct horse battery staple"}

func encrypt(t *testing.T, p *sops.Provider, dir string, secret *corev1.Secret) ([]byte, string) {
	t.Helper()
	path := filepath.Join(dir, "clusters", "prod", "db-secret.yaml")
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: secret, Path: path, Indent: 2})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	noPlaintext(t, doc)
	return doc, path
}

// noPlaintext fails if doc holds a test value, plain or base64-encoded.
func noPlaintext(t *testing.T, doc []byte) {
	t.Helper()
	for _, p := range plaintexts {
		for _, form := range []string{p, base64.StdEncoding.EncodeToString([]byte(p))} {
			if bytes.Contains(doc, []byte(form)) {
				t.Fatalf("the encrypted document holds %q:\n%s", form, doc)
			}
		}
	}
}

// decryptWithSops decrypts doc with sops' decrypt package, as Flux's kustomize-controller
// does, and returns the Secret's data.
func decryptWithSops(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	plain, err := decrypt.Data(doc, "yaml")
	if err != nil {
		t.Fatalf("sops' decrypt package refused the document: %v\n%s", err, doc)
	}
	var s corev1.Secret
	if err := sigsyaml.UnmarshalStrict(plain, &s); err != nil {
		t.Fatalf("decrypted document is not a Secret: %v", err)
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out["stringData."+k] = v
	}
	return out
}

func TestEncryptRoundTrip(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	dir := repo(t, ageRule(id.Recipient().String()))
	p := sops.New(sops.Options{})

	doc, _ := encrypt(t, p, dir, fixture())
	text := string(doc)
	for _, want := range []string{"apiVersion: v1\n", "kind: Secret\n", "  name: db\n", "  namespace: shop\n", "    app: db\n", "    team: payments\n",
		"  password: ENC[AES256_GCM,", "encrypted_regex: ^(data|stringData)$", "recipient: " + id.Recipient().String()} {
		if !strings.Contains(text, want) {
			t.Errorf("document lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"last-applied-configuration", "managedFields", "creationTimestamp"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("document holds %q:\n%s", unwanted, text)
		}
	}
	if !p.Encrypted(doc) {
		t.Errorf("Encrypted(our own document) = false")
	}
	if got := secrets.Detect(doc); got != secrets.ProviderSOPS {
		t.Errorf("Detect = %q, want sops", got)
	}

	got := decryptWithSops(t, doc)
	want := map[string]string{"password": "hunter2", "username": "admin", "url": "postgres://db:5432/shop"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decrypted data %v, want %v", got, want)
	}

	in, err := p.Inspect(t.Context(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "db" || in.Namespace != "shop" || in.Type != corev1.SecretTypeOpaque || strings.Join(in.Keys, ",") != "password,url,username" {
		t.Errorf("Inspect = %+v", in)
	}
	if string(in.Values["password"]) != "hunter2" {
		t.Errorf("Inspect password = %q", in.Values["password"])
	}
}

// TestKeySources decrypts with the identity found each way sops finds one.
func TestKeySources(t *testing.T) {
	for _, source := range []string{"SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "default key file"} {
		t.Run(source, func(t *testing.T) {
			home := isolate(t)
			id, keyFile := identity(t, home, "age.txt")
			t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
			dir := repo(t, ageRule(id.Recipient().String()))
			doc, _ := encrypt(t, sops.New(sops.Options{}), dir, fixture())
			os.Unsetenv("SOPS_AGE_KEY_FILE")

			switch source {
			case "SOPS_AGE_KEY_FILE":
				t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
			case "SOPS_AGE_KEY":
				t.Setenv("SOPS_AGE_KEY", id.String())
			default:
				// sops' own lookup: $XDG_CONFIG_HOME/sops/age/keys.txt
				keys := filepath.Join(home, ".config", "sops", "age", "keys.txt")
				if err := os.MkdirAll(filepath.Dir(keys), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(keys, []byte(id.String()+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			in, err := sops.New(sops.Options{}).Inspect(t.Context(), doc)
			if err != nil {
				t.Fatalf("Inspect with the key from %s: %v", source, err)
			}
			if string(in.Values["username"]) != "admin" {
				t.Errorf("username = %q", in.Values["username"])
			}
		})
	}
}

func TestWrongKeyCannotDecrypt(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	doc, _ := encrypt(t, sops.New(sops.Options{}), repo(t, ageRule(id.Recipient().String())), fixture())
	_, other := identity(t, home, "other.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", other)
	if _, err := sops.New(sops.Options{}).Inspect(t.Context(), doc); err == nil {
		t.Fatal("Inspect decrypted with another identity")
	}
}

// nextSecond waits for the wall clock's next second: sops' lastmodified has a resolution of a
// second, and the tests want to see it change.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// changedLines returns the numbers of the lines that differ; both documents must have as many.
func changedLines(t *testing.T, before, after []byte) []string {
	t.Helper()
	a, b := strings.Split(string(before), "\n"), strings.Split(string(after), "\n")
	if len(a) != len(b) {
		t.Fatalf("line count changed from %d to %d:\n%s\n---\n%s", len(a), len(b), before, after)
	}
	var keys []string
	for i := range a {
		if a[i] != b[i] {
			key, _, _ := strings.Cut(strings.TrimSpace(b[i]), ":")
			keys = append(keys, key)
		}
	}
	return keys
}

func TestUpdateChangesOnlyThatValue(t *testing.T) {
	for _, macOnlyEncrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("mac_only_encrypted=%v", macOnlyEncrypted), func(t *testing.T) {
			home := isolate(t)
			id, keyFile := identity(t, home, "age.txt")
			t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
			rule := ageRule(id.Recipient().String())
			if macOnlyEncrypted {
				rule += "    mac_only_encrypted: true\n"
			}
			p := sops.New(sops.Options{})
			before, _ := encrypt(t, p, repo(t, rule), fixture())
			if macOnlyEncrypted && !bytes.Contains(before, []byte("mac_only_encrypted: true")) {
				t.Fatalf("the rule's mac_only_encrypted was dropped:\n%s", before)
			}

			nextSecond()
			after, err := p.Update(t.Context(), before, map[string][]byte{"password": []byte("correct horse battery staple")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			noPlaintext(t, after)
			if got := strings.Join(changedLines(t, before, after), ","); got != "password,lastmodified,mac" {
				t.Errorf("changed lines: %s, want password,lastmodified,mac\n%s", got, after)
			}
			got := decryptWithSops(t, after)
			if got["password"] != "correct horse battery staple" || got["username"] != "admin" {
				t.Errorf("decrypted after the edit: %v", got)
			}

			same, err := p.Update(t.Context(), after, map[string][]byte{"username": []byte("admin")}, []string{"absent"})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(same, after) {
				t.Errorf("an update that changes nothing rewrote the document")
			}
		})
	}
}

func TestUpdateAddsAndDeletesKeys(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	p := sops.New(sops.Options{})
	before, _ := encrypt(t, p, repo(t, ageRule(id.Recipient().String())), fixture())

	after, err := p.Update(t.Context(), before, map[string][]byte{"port": []byte("5432")}, []string{"url"})
	if err != nil {
		t.Fatal(err)
	}
	got := decryptWithSops(t, after)
	if want := "map[password:hunter2 port:5432 username:admin]"; fmt.Sprint(got) != want {
		t.Errorf("decrypted %v, want %s", got, want)
	}
	for _, key := range []string{"password", "username"} {
		if line := lineOf(before, key); line == "" || lineOf(after, key) != line {
			t.Errorf("the %s line changed:\n%s\n%s", key, line, lineOf(after, key))
		}
	}
	if strings.Index(string(after), "  password:") > strings.Index(string(after), "  port:") {
		t.Errorf("port was not inserted in key order:\n%s", after)
	}
}

func TestUpdateStringData(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	p := sops.New(sops.Options{})
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "api"},
		"stringData": map[string]any{"token": "hunter2"},
	}}
	doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: secret, Path: filepath.Join(repo(t, ageRule(id.Recipient().String())), "clusters", "api.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, doc)
	after, err := p.Update(t.Context(), doc, map[string][]byte{"token": []byte("correct horse battery staple")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptWithSops(t, after); got["stringData.token"] != "correct horse battery staple" || len(got) != 1 {
		t.Errorf("decrypted %v", got)
	}
}

func lineOf(doc []byte, key string) string {
	for line := range strings.Lines(string(doc)) {
		if strings.HasPrefix(strings.TrimSpace(line), key+":") {
			return line
		}
	}
	return ""
}

func TestRules(t *testing.T) {
	isolate(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipient := id.Recipient().String()
	for _, tc := range []struct {
		name, sopsYAML, file, wantErr string
	}{
		{"no .sops.yaml", "", "clusters/db.yaml", "no .sops.yaml in"},
		{"no creation rules", "stores:\n  yaml:\n    indent: 2\n", "clusters/db.yaml", "has no creation_rules"},
		{"no rule matches", ageRule(recipient), "apps/db.yaml", "no matching creation rules found"},
		{"rule without keys", "creation_rules:\n  - path_regex: .*\n", "clusters/db.yaml", "names no keys"},
		{"first matching rule wins", "creation_rules:\n  - path_regex: ^clusters/\n    age: " + recipient + "\n    encrypted_regex: ^data$\n  - path_regex: .*\n    age: " + recipient + "\n", "clusters/db.yaml", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(repo(t, tc.sopsYAML), tc.file)
			doc, err := sops.New(sops.Options{}).Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture(), Path: path})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(doc, []byte("encrypted_regex: ^data$")) {
					t.Errorf("not encrypted by the first rule:\n%s", doc)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), ".sops.yaml") {
				t.Fatalf("error %v, want one naming .sops.yaml and saying %q", err, tc.wantErr)
			}
		})
	}
	if _, err := sops.New(sops.Options{}).Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture(), Path: "clusters/db.yaml"}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("a relative path: error %v", err)
	}
}

func TestIndent(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	rule := ageRule(id.Recipient().String())
	for _, tc := range []struct {
		name      string
		sopsYAML  string
		reqIndent int
		want      string
	}{
		{"the repository's", rule, 4, "\n    name: db\n"},
		{"two by default", rule, 0, "\n  name: db\n"},
		{".sops.yaml's stores setting", rule + "stores:\n  yaml:\n    indent: 3\n", 2, "\n   name: db\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sops.New(sops.Options{})
			doc, err := p.Encrypt(t.Context(), secrets.EncryptRequest{Secret: fixture(), Path: filepath.Join(repo(t, tc.sopsYAML), "clusters", "db.yaml"), Indent: tc.reqIndent})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(doc), tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, doc)
			}
			nextSecond()
			after, err := p.Update(t.Context(), doc, map[string][]byte{"password": []byte("correct horse battery staple")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(changedLines(t, doc, after), ","); got != "password,lastmodified,mac" {
				t.Errorf("changed lines: %s", got)
			}
		})
	}
}

func TestUpdateKeys(t *testing.T) {
	home := isolate(t)
	alice, aliceFile := identity(t, home, "alice.txt")
	bob, bobFile := identity(t, home, "bob.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", aliceFile)
	dir := repo(t, ageRule(alice.Recipient().String()))
	p := sops.New(sops.Options{})
	doc, path := encrypt(t, p, dir, fixture())

	same, changed, err := p.UpdateKeys(t.Context(), doc, path)
	if err != nil || changed || !bytes.Equal(same, doc) {
		t.Fatalf("UpdateKeys with unchanged recipients: changed=%v err=%v", changed, err)
	}

	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(ageRule(bob.Recipient().String())), 0o644); err != nil {
		t.Fatal(err)
	}
	rotated, changed, err := p.UpdateKeys(t.Context(), doc, path)
	if err != nil || !changed {
		t.Fatalf("UpdateKeys: changed=%v err=%v", changed, err)
	}
	if strings.Contains(string(rotated), alice.Recipient().String()) || !strings.Contains(string(rotated), bob.Recipient().String()) {
		t.Errorf("recipients not replaced:\n%s", rotated)
	}
	for _, key := range []string{"password", "username", "url", "mac", "lastmodified"} {
		if lineOf(rotated, key) != lineOf(doc, key) {
			t.Errorf("the %s line changed; updatekeys leaves values alone", key)
		}
	}
	t.Setenv("SOPS_AGE_KEY_FILE", bobFile)
	if got := decryptWithSops(t, rotated); got["password"] != "hunter2" {
		t.Errorf("bob decrypted %v", got)
	}
}

func TestEncrypted(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	p := sops.New(sops.Options{})
	doc, _ := encrypt(t, p, repo(t, ageRule(id.Recipient().String())), fixture())
	enc := lineOf(doc, "password")

	for name, mutate := range map[string]func(string) string{
		"plaintext value":    func(s string) string { return strings.Replace(s, enc, "  password: aHVudGVyMg==\n", 1) },
		"forged ENC prefix":  func(s string) string { return strings.Replace(s, enc, "  password: ENC[AES256_GCM,data:hunter2]\n", 1) },
		"no mac":             func(s string) string { return strings.Replace(s, lineOf(doc, "mac"), "", 1) },
		"no sops block":      func(s string) string { return s[:strings.Index(s, "sops:")] },
		"not YAML":           func(string) string { return "{" },
		"stringData as list": func(s string) string { return s + "stringData:\n  - hunter2\n" },
	} {
		if p.Encrypted([]byte(mutate(string(doc)))) {
			t.Errorf("%s: Encrypted = true", name)
		}
	}
	if !p.Encrypted(doc) {
		t.Errorf("Encrypted = false for a good document")
	}
}

// A label added through Edit is covered by the new MAC (the file still decrypts), and the
// values that did not change keep their ciphertext.
func TestEditMetadataKeepsMACValid(t *testing.T) {
	home := isolate(t)
	id, keyFile := identity(t, home, "age.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	p := sops.New(sops.Options{})
	before, _ := encrypt(t, p, repo(t, ageRule(id.Recipient().String())), fixture())
	after, err := p.Edit(t.Context(), before, func(obj map[string]any) error {
		meta := obj["metadata"].(map[string]any)
		meta["labels"] = map[string]any{"tier": "db"}
		obj["data"].(map[string]any)["password"] = base64.StdEncoding.EncodeToString([]byte("correct horse battery staple"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, after)
	if !bytes.Contains(after, []byte("tier: db")) {
		t.Errorf("the label is missing:\n%s", after)
	}
	if lineOf(after, "username") != lineOf(before, "username") {
		t.Errorf("the unchanged value was encrypted again:\n%s\n---\n%s", before, after)
	}
	if lineOf(after, "password") == lineOf(before, "password") {
		t.Errorf("the changed value kept its old ciphertext")
	}
	got := decryptWithSops(t, after)
	if got["password"] != "correct horse battery staple" || got["username"] != "admin" {
		t.Errorf("decrypted after the edit: %v", got)
	}
	same, err := p.Edit(t.Context(), after, func(map[string]any) error { return nil })
	if err != nil || !bytes.Equal(same, after) {
		t.Errorf("an edit that changes nothing rewrote the document (%v)", err)
	}
}
