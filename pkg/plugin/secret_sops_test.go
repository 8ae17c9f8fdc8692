package plugin

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/decrypt"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// The values of the tests: distinctive, so that a leak cannot hide in other text.
const (
	plainPassword = "hunter2-Pl41nText-0f-db"
	plainToken    = "tok-7c1f0e-correct-horse-battery"
	plainAPIKey   = "ak_live_5b2d61e9a0c4"
	plainNewPass  = "n3w-Pa55phrase-for-db"
	plainEdited   = "ed1ted-Pa55-in-editor"
	plainStdin    = "from-stdin-t0ken-91ab"
)

func sopsRule(recipients ...string) string {
	return fmt.Sprintf("creation_rules:\n  - path_regex: ^apps/.*\\.yaml$\n    age: %s\n", strings.Join(recipients, ","))
}

// sopsData decrypts a file with sops' decrypt package, as Flux's kustomize-controller does, and
// returns the Secret's values.
func sopsData(t *testing.T, doc string) map[string]string {
	t.Helper()
	plain, err := decrypt.Data([]byte(doc), "yaml")
	if err != nil {
		t.Fatalf("sops' decrypt package refused the document: %v\n%s", err, doc)
	}
	var s corev1.Secret
	if err := sigsyaml.UnmarshalStrict(plain, &s); err != nil {
		t.Fatalf("the decrypted document is not a Secret: %v", err)
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// wantValueLine checks that re-encryption changed the value's line, the mac, and at most
// lastmodified (which has a resolution of a second), nothing else.
func wantValueLine(t *testing.T, what, before, after, key string) {
	t.Helper()
	got := changedLines(t, before, after)
	if !slices.Equal(got, []string{key, "lastmodified", "mac"}) && !slices.Equal(got, []string{key, "mac"}) {
		t.Errorf("%s changed the lines %v, want %s, lastmodified, mac", what, got, key)
	}
}

func wantData(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: the Secret holds keys %v, want %v (values compared, not printed)", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// The whole life of a sops Secret through the commands, with real sops and age keys: create,
// set, edit with a scripted editor, rotate to new recipients. After every command the plaintext
// is nowhere: not in a git object, the working tree, the terminal or the temporary directory.
func TestSecretSopsLifecycle(t *testing.T) {
	s := newSecretTest(t, "sops")
	s.plains = []string{plainPassword, plainToken, plainAPIKey, plainNewPass, plainEdited, plainStdin}
	recipientA, keyA := s.ageKey("a.agekey")
	s.useKey(keyA)
	const secretFile = "apps/staging/secret-db.yaml"
	args := func(a ...string) []string { return append(a, "--repo", s.dir, "--target", "staging") }

	// Nothing decides the provider yet: the error names the ways (a .sops.yaml rule, the
	// configuration, --secrets). Once a .sops.yaml rule matches the file, it decides.
	start := s.head()
	_, errOut, code := s.run("", args("create", "secret", "generic", "db", "-n", "shop", "--from-literal=password="+plainPassword)...)
	if code == 0 || !strings.Contains(errOut, "--secrets") || !strings.Contains(errOut, "secrets.provider") || !strings.Contains(errOut, ".sops.yaml rule") {
		t.Fatalf("create without a provider: exit %d, %s", code, errOut)
	}
	if s.head() != start {
		t.Fatal("a refused create committed")
	}

	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipientA)})
	start = s.head()
	tokenFile := filepath.Join(os.Getenv("HOME"), "token.txt")
	if err := os.WriteFile(tokenFile, []byte(plainToken), 0o600); err != nil {
		t.Fatal(err)
	}
	// --dry-run shows the new file with its values masked, and writes nothing.
	out, _ := s.mustRun("", args("create", "secret", "generic", "db", "-n", "shop", "--secrets", "sops", "--dry-run",
		"--from-literal=username=admin", "--from-literal=password="+plainPassword, "--from-file=token="+tokenFile)...)
	if !strings.Contains(out, "+++ b/"+secretFile) || !strings.Contains(out, "  password: ***\n") || strings.Contains(out, "ENC[") {
		t.Errorf("dry-run diff not masked as kubectl diff masks:\n%s", out)
	}
	if s.head() != start {
		t.Fatal("--dry-run committed")
	}

	out, _ = s.mustRun("", args("create", "secret", "generic", "db", "-n", "shop", "--secrets", "sops",
		"--from-literal=username=admin", "--from-literal=password="+plainPassword, "--from-file=token="+tokenFile)...)
	if out != "secret/db created\n" {
		t.Errorf("stdout %q", out)
	}
	if got := s.committedFiles(); got != "apps/staging/kustomization.yaml\n"+secretFile {
		t.Errorf("the commit changed:\n%s", got)
	}
	created := s.show("HEAD", secretFile)
	wantData(t, "after create", sopsData(t, created), map[string]string{"username": "admin", "password": plainPassword, "token": plainToken})
	if !strings.Contains(s.show("HEAD", "apps/staging/kustomization.yaml"), "  - secret-db.yaml\n") {
		t.Errorf("the Secret is not registered in the kustomization:\n%s", s.show("HEAD", "apps/staging/kustomization.yaml"))
	}
	if !strings.Contains(created, "encrypted_regex: ^(data|stringData)$") {
		t.Errorf("the sops metadata lacks the default encrypted_regex:\n%s", created)
	}
	s.guardPasses()

	// The target's existing Secret now decides the provider.
	s.mustRun("", args("create", "secret", "generic", "api", "-n", "shop", "--from-literal=key="+plainAPIKey)...)
	wantData(t, "api", sopsData(t, s.show("HEAD", "apps/staging/secret-api.yaml")), map[string]string{"key": plainAPIKey})
	_, errOut, code = s.run("", args("create", "secret", "generic", "api", "-n", "shop", "--from-literal=key=x")...)
	if code == 0 || !strings.Contains(errOut, `secrets "api" already exists`) {
		t.Errorf("creating an existing Secret again: exit %d, %s", code, errOut)
	}

	// set secret: one value; only its line, the mac and lastmodified change.
	out, _ = s.mustRun("", args("set", "secret", "db", "password="+plainNewPass, "--dry-run")...)
	if !strings.Contains(out, "-  password: *** (before)\n") || !strings.Contains(out, "+  password: *** (after)\n") || strings.Contains(out, "ENC[") {
		t.Errorf("set --dry-run diff not masked:\n%s", out)
	}
	out, _ = s.mustRun("", args("set", "secret", "db", "password="+plainNewPass, "--dry-run", "-o", "json")...)
	if !strings.HasPrefix(out, "{") || !strings.Contains(out, `password: *** (before)`) || strings.Contains(out, "ENC[") {
		t.Errorf("set --dry-run -o json: the diff it carries is not masked:\n%s", out)
	}
	before := s.show("HEAD", secretFile)
	out, _ = s.mustRun("", args("set", "secret", "db", "password="+plainNewPass, "-o", "json")...)
	if strings.Contains(out, "ENC[") || !strings.Contains(out, "*** (after)") {
		t.Errorf("-o json shows the ciphertext or no masked change:\n%s", out)
	}
	after := s.show("HEAD", secretFile)
	wantValueLine(t, "set secret", before, after, "password")
	wantData(t, "after set", sopsData(t, after), map[string]string{"username": "admin", "password": plainNewPass, "token": plainToken})
	if got := s.committedFiles(); got != secretFile {
		t.Errorf("set secret committed %s", got)
	}
	if subject := testrepo.Git(t, s.dir, "log", "-1", "--format=%s"); subject != "set secret shop/db: password set (staging)" {
		t.Errorf("subject %q", subject)
	}

	// Setting the same value again changes nothing.
	head := s.head()
	_, errOut = s.mustRun("", args("set", "secret", "db", "password="+plainNewPass)...)
	if s.head() != head || !strings.Contains(errOut, "(no change)") {
		t.Errorf("setting an unchanged value: %s", errOut)
	}

	// KEY=- reads stdin; KEY- removes a key.
	s.mustRun(plainStdin, args("set", "secret", "db", "token=-")...)
	s.mustRun("", args("set", "secret", "db", "username-")...)
	wantData(t, "after stdin and removal", sopsData(t, s.show("HEAD", secretFile)), map[string]string{"password": plainNewPass, "token": plainStdin})

	// edit secret with a scripted editor: one value, its line, mac and lastmodified change.
	before = s.show("HEAD", secretFile)
	t.Setenv("EDITOR", "sed -i s/"+plainNewPass+"/"+plainEdited+"/")
	out, _ = s.mustRun("", args("edit", "secret/db")...)
	if out != "secret/db edited\n" {
		t.Errorf("edit printed %q", out)
	}
	after = s.show("HEAD", secretFile)
	wantValueLine(t, "edit secret", before, after, "password")
	wantData(t, "after edit", sopsData(t, after), map[string]string{"password": plainEdited, "token": plainStdin})

	// An editor that changes nothing cancels.
	head = s.head()
	t.Setenv("EDITOR", "true")
	_, errOut = s.mustRun("", args("edit", "secret", "db")...)
	if s.head() != head || !strings.Contains(errOut, "Edit cancelled") {
		t.Errorf("an unchanged edit: %s", errOut)
	}
	s.guardPasses()

	// rotate: .sops.yaml names another recipient now; after the rotation its key alone
	// decrypts both Secrets, and the values kept their ciphertext.
	recipientB, keyB := s.ageKey("b.agekey")
	s.commit("rotate to b", map[string]string{".sops.yaml": sopsRule(recipientB)})
	before = s.show("HEAD", secretFile)
	out, _ = s.mustRun("", args("secrets", "rotate")...)
	if out != "secret/api rotated\nsecret/db rotated\n" && out != "secret/db rotated\nsecret/api rotated\n" {
		t.Errorf("rotate printed %q", out)
	}
	after = s.show("HEAD", secretFile)
	for _, line := range strings.Split(before, "\n") {
		if strings.Contains(line, "ENC[") && !strings.Contains(line, "mac:") && !strings.Contains(after, line) {
			t.Errorf("rotation changed the value line %q", line)
		}
	}
	s.useKey(keyB)
	wantData(t, "decrypted with the new key", sopsData(t, after), map[string]string{"password": plainEdited, "token": plainStdin})
	wantData(t, "api decrypted with the new key", sopsData(t, s.show("HEAD", "apps/staging/secret-api.yaml")), map[string]string{"key": plainAPIKey})
	s.useKey(keyA)
	if _, err := decrypt.Data([]byte(after), "yaml"); err == nil {
		t.Error("the old key still decrypts after the rotation to another recipient")
	}
	s.useKey(keyB)
	_, errOut = s.mustRun("", args("secrets", "rotate", "db")...)
	if !strings.Contains(errOut, "(no change)") {
		t.Errorf("rotating again: %s", errOut)
	}
	s.guardPasses()
}
