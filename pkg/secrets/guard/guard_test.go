package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// expected is one finding cases.yaml expects.
type expected struct {
	File   string `yaml:"file"`
	Doc    int    `yaml:"doc"`
	Path   string `yaml:"path"`
	Reason string `yaml:"reason"`
}

func loadCases(t *testing.T) map[string][]expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases map[string][]expected `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("cases.yaml: %v", err)
	}
	return doc.Cases
}

// TestCorpus runs the guard on every case of the corpus: each fail case gets exactly its
// findings, each pass case none, and no output holds a value of the corpus.
func TestCorpus(t *testing.T) {
	cases := loadCases(t)
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]bool{}
	for _, e := range entries {
		switch e.Name() {
		case "cases.yaml", "README.md":
			continue
		}
		onDisk[e.Name()] = true
		if _, ok := cases[e.Name()]; !ok {
			t.Errorf("%s is in the corpus but not in cases.yaml", e.Name())
		}
	}
	for name := range cases {
		if !onDisk[name] {
			t.Errorf("cases.yaml names %s, which is not in the corpus", name)
		}
	}
	if len(onDisk) < 40 {
		t.Errorf("the corpus has %d cases, want at least 40", len(onDisk))
	}
	var fails, passes int
	for name, want := range cases {
		if strings.HasPrefix(name, "fail-") {
			fails++
			if len(want) == 0 {
				t.Errorf("%s: a fail case expects no finding", name)
			}
		} else if strings.HasPrefix(name, "pass-") {
			passes++
			if len(want) != 0 {
				t.Errorf("%s: a pass case expects findings", name)
			}
		} else {
			t.Errorf("%s: a case's name starts with fail- or pass-", name)
		}
	}
	t.Logf("%d cases: %d fail, %d pass", len(cases), fails, passes)

	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want := cases[name]
		t.Run(name, func(t *testing.T) {
			casePath := filepath.Join(corpusDir, name)
			files, err := ReadPaths([]string{casePath})
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(files, Options{})
			if rep.Files != len(files) {
				t.Errorf("Files = %d, want %d", rep.Files, len(files))
			}
			matchFindings(t, name, filepath.ToSlash(casePath), rep.Findings, want)
			assertNoLeak(t, files, rep)
		})
	}
}

func matchFindings(t *testing.T, name, casePath string, got []Finding, want []expected) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		file := casePath
		if w.File != "" {
			file = casePath + "/" + w.File
		}
		found := false
		for i, g := range got {
			if !used[i] && g.File == file && g.Doc == w.Doc && g.Path == w.Path && strings.Contains(g.Reason, w.Reason) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing finding %+v", w)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected finding %s:%d: %s: %s", strings.TrimPrefix(g.File, casePath), g.Doc, g.Path, g.Reason)
		}
	}
}

// blobRE finds long runs of base64 or hex: ciphertext, keys, encoded values.
var (
	blobRE   = regexp.MustCompile(`[A-Za-z0-9+/=_-]{20,}`)
	cipherRE = regexp.MustCompile(`ENC\[AES256_GCM,data:[A-Za-z0-9+/]`)
)

// assertNoLeak checks that neither the text nor the JSON output holds a value of the files:
// no plaintext marker, no key material, no blob of the input.
func assertNoLeak(t *testing.T, files []File, rep Report) {
	t.Helper()
	var out bytes.Buffer
	if err := Format(&out, rep.Findings); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	text := out.String()
	for _, s := range []string{marker, markerB64, "-----BEGIN", "AGE-SECRET-KEY-", "age-secret-key-", "AGE-PLUGIN-"} {
		if strings.Contains(text, s) {
			t.Errorf("the output holds %q:\n%s", s, text)
		}
	}
	if cipher := cipherRE.FindString(text); cipher != "" {
		t.Errorf("the output holds ciphertext %q", cipher)
	}
	// Key names are printed in paths; everything else of the input is not.
	var keyPaths strings.Builder
	for _, f := range rep.Findings {
		keyPaths.WriteString(f.Path + "\n")
	}
	for _, f := range files {
		for _, blob := range blobRE.FindAllString(string(f.Data), -1) {
			if strings.Contains(text, blob) && !strings.Contains(keyPaths.String(), blob) {
				t.Errorf("the output holds %q from %s", blob, f.Path)
			}
		}
	}
}

// TestAllowList lets the corpus's test-only keys through only when the repository's
// configuration lists them, and says so.
func TestAllowList(t *testing.T) {
	files, err := ReadPaths([]string{
		filepath.Join(corpusDir, "fail-rsa-private-key.pem"),
		filepath.Join(corpusDir, "fail-age-identity.txt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The guard sees paths as given; the configuration's globs are repository-relative.
	rel := func(p string) string {
		return strings.TrimPrefix(p, "../../../")
	}
	cfg := target.GuardConfig{Allow: []target.GuardAllow{{
		Path:   "testdata/secrets/guard/*-private-key.pem",
		Reason: "test-only keys of the secrets guard's corpus",
	}}}
	allow := func(p string) (string, bool) { return cfg.Allowed(rel(p)) }

	rep := Check(files, Options{})
	if len(rep.Findings) != 2 || len(rep.Allowed) != 0 {
		t.Fatalf("without an allow-list: findings %v, allowed %v; want both keys refused", rep.Findings, rep.Allowed)
	}

	rep = Check(files, Options{Allow: allow})
	if len(rep.Findings) != 1 || !strings.HasSuffix(rep.Findings[0].File, "fail-age-identity.txt") {
		t.Errorf("findings = %v, want only the age identity, which no entry allows", rep.Findings)
	}
	if len(rep.Allowed) != 1 || !strings.HasSuffix(rep.Allowed[0].File, "fail-rsa-private-key.pem") || rep.Allowed[0].Reason != "test-only keys of the secrets guard's corpus" {
		t.Errorf("allowed = %v, want the RSA key with its reason", rep.Allowed)
	}
	var out bytes.Buffer
	if err := FormatAllowed(&out, rep.Allowed); err != nil {
		t.Fatal(err)
	}
	if want := "fail-rsa-private-key.pem: allowed: test-only keys of the secrets guard's corpus\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("FormatAllowed = %q, want it to end with %q", out.String(), want)
	}

	// A generator's file that the allow-list names is not checked either.
	kust := File{Path: "app/kustomization.yaml", Data: []byte("secretGenerator:\n- name: x\n  envs: [test.env]\n")}
	env := File{Path: "app/test.env", Data: []byte("TOKEN=" + marker + "\n")}
	rep = Check([]File{kust, env}, Options{Allow: func(p string) (string, bool) {
		return "fixture", p == "app/test.env"
	}})
	if len(rep.Findings) != 0 || len(rep.Allowed) != 1 {
		t.Errorf("findings %v, allowed %v; want the allowed env file let through", rep.Findings, rep.Allowed)
	}
}

func TestFormat(t *testing.T) {
	var out bytes.Buffer
	err := Format(&out, []Finding{
		{File: "apps/db.yaml", Doc: 2, Path: "stringData.password", Reason: "value is not encrypted"},
		{File: "keys/id.txt", Path: "line 3", Reason: "age identity (private key)"},
		{File: "broken.yaml", Reason: "does not parse"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "apps/db.yaml:2: stringData.password: value is not encrypted\n" +
		"keys/id.txt: line 3: age identity (private key)\n" +
		"broken.yaml: does not parse\n"
	if out.String() != want {
		t.Errorf("Format =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestKeyDetection covers the edges of private key detection that the corpus files do not.
func TestKeyDetection(t *testing.T) {
	key := readCorpus(t, "fail-ec-private-key.pem")
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"header alone", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n", 0},
		{"public key", strings.ReplaceAll(key, "EC PRIVATE KEY", "PUBLIC KEY"), 0},
		{"key", key, 1},
		{"indented in a block scalar", indent(key, "    ", "    "), 1},
		{"two keys", key + key, 2},
		{"lower-case age identity", strings.ToLower(ageIdentity(t)), 1},
		{"age recipient", "age1v66aj9lnk9zwfptf8zsjptf5nakw957xdkg7py36gw5mtnex4ejsmyxxkv", 0},
		{"age identity named in a sentence", "an age identity starts with AGE-SECRET-KEY-1...", 0},
		{"truncated lower-case post-quantum age identity", strings.ToLower("AGE-SECRET-KEY-") + "pq-1qpzry9x8gf2tvdw0s3", 1},
		{"header without END, short body", pemHeader("RSA") + "\nMIIEow\n", 0},
		{"header without END, truncated body", pemHeader("RSA") + "\nMIIEowIBAAKCAQEA\n", 1},
		{"placeholder body", pemHeader("RSA") + "\n<your key here>\n" + pemFooter("RSA"), 0},
		{"template body", pemHeader("RSA") + "\n{{ .Values.tls.key }}\n" + pemFooter("RSA"), 0},
		{"header named in a sentence before a commit id", "never commit `" + pemHeader("RSA") + "` again, see commit 3f2c1a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b", 0},
		{"body with two damaged characters", pemHeader("") + "\nMC4C!QAwBQYDK2VwB#IEIJ0\n" + pemFooter(""), 1},
		{"escaped newlines of a JSON string", `"` + pemHeader("EC") + `\nMHcCAQEEIBm2c0uVwB0Q\n` + pemFooter("EC") + `\n"`, 1},
		{"armor headers before the body", strings.Replace(pemHeader("PGP"), "KEY", "KEY BLOCK", 1) + "\nVersion: x\nComment: y z\n\nlQOYBGX1c0kBCADh0J3Y\n", 1},
	} {
		if got := len(findKeys(tc.text)); got != tc.want {
			t.Errorf("%s: %d keys, want %d", tc.name, got, tc.want)
		}
	}
	// A key that is a mapping key is found, and its text is not printed as a path.
	rep := Check([]File{{Path: "odd.yaml", Data: []byte("data:\n  ? " + strings.ReplaceAll(strings.TrimSpace(key), "\n", "\\n") + "\n  : x\n")}}, Options{})
	if len(rep.Findings) != 1 || strings.Contains(rep.Findings[0].Path, "BEGIN") {
		t.Errorf("findings = %v, want one, without the key", rep.Findings)
	}
}

// pemHeader and pemFooter spell a private key's PEM lines so that this file holds none: the
// repository's own guard reads its sources.
func pemHeader(label string) string {
	return strings.Repeat("-", 5) + "BEGIN " + strings.TrimSpace(label+" PRIVATE KEY") + strings.Repeat("-", 5)
}

func pemFooter(label string) string {
	return strings.Repeat("-", 5) + "END " + strings.TrimSpace(label+" PRIVATE KEY") + strings.Repeat("-", 5)
}

func readCorpus(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ageIdentity(t *testing.T) string {
	for _, l := range strings.Split(readCorpus(t, "fail-age-identity.txt"), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-1") {
			return l
		}
	}
	t.Fatal("no identity in fail-age-identity.txt")
	return ""
}

// TestReference covers what counts as a reference rather than a value.
func TestReference(t *testing.T) {
	keys := map[string]bool{"password": true}
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"${DB_PASSWORD}", true},
		{"${DB_PASSWORD:=" + marker + "}", false},
		{"prefix-${DB_PASSWORD}", false},
		{"{{ .Values.password | b64enc }}", true},
		{`{{ index . "password" }}`, true},
		{`{{ index . "user" }}`, false},
		{`{{ "` + marker + `" }}`, false},
		{"a {{ .x }}", false},
		{"{{", false},
	} {
		if got := isReference(tc.v, keys); got != tc.want {
			t.Errorf("isReference(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestAliasBomb checks that a document of nested aliases is walked in linear time, and that
// the plaintext at its end is still found.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata: {name: bomb}\nx0: &a0 [" + marker + "]\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1)
		fmt.Fprintf(&b, "m%d: &m%d {<<: [*m%d, *m%d], k%d: v}\n", i, i, max(i-1, 1), max(i-1, 1), i)
	}
	b.WriteString("sops: {mac: *a40, lastmodified: *a40}\nstringData:\n  password: " + marker + "\n  bomb: *a40\n  merged: *m40\n")
	done := make(chan Report, 1)
	go func() { done <- Check([]File{{Path: "bomb.yaml", Data: []byte(b.String())}}, Options{}) }()
	select {
	case rep := <-done:
		found := false
		for _, f := range rep.Findings {
			found = found || f.Path == "stringData.password"
		}
		if !found {
			t.Errorf("findings = %v, want stringData.password", rep.Findings)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the guard did not finish a document of nested aliases in 10s")
	}
}
