package guard

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyHit is a private key found in a text.
type keyHit struct {
	kind   string // what it is, as a reason reads it
	offset int
}

// keyMatch is a private key found in a value, by the line the value starts on.
type keyMatch struct {
	kind string
	line int
}

const bech32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

var (
	// An age X25519 identity is 32 bytes of bech32: 52 characters and a 6-character checksum.
	// Bech32 is all upper or all lower case.
	ageIdentityRE = regexp.MustCompile(`AGE-SECRET-KEY-1[` + bech32 + `]{58}|age-secret-key-1[` + strings.ToLower(bech32) + `]{58}`)
	// A plugin identity (age-plugin-yubikey, -tpm, -se, ...) carries the plugin's name.
	agePluginRE = regexp.MustCompile(`AGE-PLUGIN-[A-Z0-9-]+-1[` + bech32 + `]{16,}|age-plugin-[a-z0-9-]+-1[` + strings.ToLower(bech32) + `]{16,}`)
	pemRE       = regexp.MustCompile(`-----BEGIN ((?:[A-Z0-9]+ )*)(PRIVATE|SECRET) KEY( BLOCK)?-----`)
	puttyRE     = regexp.MustCompile(`PuTTY-User-Key-File-\d+:[^\n]*\n(?:[^\n]*\n){0,12}?Private-Lines: *\d+`)
	base64Run   = regexp.MustCompile(`[A-Za-z0-9+/]`)
)

// pemBodyMin is how many base64 characters must follow a PEM header for it to be a key: a
// document that shows the header alone (a README, this guard's own help) holds no key.
const pemBodyMin = 64

// findKeys finds private keys in s.
func findKeys(s string) []keyHit {
	var hits []keyHit
	for _, m := range ageIdentityRE.FindAllStringIndex(s, -1) {
		hits = append(hits, keyHit{kind: "age identity (private key)", offset: m[0]})
	}
	for _, m := range agePluginRE.FindAllStringIndex(s, -1) {
		hits = append(hits, keyHit{kind: "age plugin identity (private key)", offset: m[0]})
	}
	for _, m := range pemRE.FindAllStringSubmatchIndex(s, -1) {
		if !pemBody(s[m[1]:]) {
			continue
		}
		label := strings.TrimSpace(s[m[2]:m[3]])
		var kind string
		switch {
		case m[6] >= 0 && strings.HasPrefix(label, "PGP"):
			kind = "PGP private key block"
		case label == "":
			kind = "PEM private key (PKCS #8)"
		default:
			kind = fmt.Sprintf("PEM private key (%s)", label)
		}
		hits = append(hits, keyHit{kind: kind, offset: m[0]})
	}
	for _, m := range puttyRE.FindAllStringIndex(s, -1) {
		hits = append(hits, keyHit{kind: "PuTTY private key", offset: m[0]})
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].offset < hits[j].offset })
	return hits
}

// pemBody says whether the text after a PEM header holds a key body, up to the END line.
func pemBody(rest string) bool {
	if i := strings.Index(rest, "-----"); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) > 1024 {
		rest = rest[:1024]
	}
	return len(base64Run.FindAllStringIndex(rest, pemBodyMin)) >= pemBodyMin
}

// decodedKeys finds private keys in a value that is base64: a Secret's data, a kubeconfig's
// client-key-data.
func decodedKeys(v string) []keyHit {
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, v)
	if len(compact) < 100 {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return nil
	}
	return findKeys(string(b))
}

// scanValues reports private keys in every value of the document and remembers the ones found
// directly, so the scan of the raw text does not report them twice.
func (fc *fileCheck) scanValues() {
	seen := map[*yaml.Node]bool{}
	leaves(fc.doc.root, "", func(p string, n *yaml.Node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, h := range findKeys(n.Value) {
			fc.add(p, h.kind)
			fc.keysInValues = append(fc.keysInValues, keyMatch{kind: h.kind, line: n.Line})
		}
		for _, h := range decodedKeys(n.Value) {
			fc.add(p, h.kind+", base64-encoded")
		}
	})
}

// rawKeys reports the private keys in a file's text that no value holds: comments, files that
// are not YAML, documents after a syntax error.
func (c *checker) rawKeys(f File, docs []*document, inValues []keyMatch) {
	text := string(f.Data)
	hits := findKeys(text)
	if len(hits) == 0 {
		return
	}
	lines := make([]int, len(hits))
	for i, h := range hits {
		lines[i] = strings.Count(text[:h.offset], "\n") + 1
	}
	used := make([]bool, len(hits))
	sort.SliceStable(inValues, func(i, j int) bool { return inValues[i].line < inValues[j].line })
	for _, m := range inValues {
		for i, h := range hits {
			if !used[i] && h.kind == m.kind && lines[i] >= m.line {
				used[i] = true
				break
			}
		}
	}
	for i, h := range hits {
		if used[i] {
			continue
		}
		fd := Finding{File: f.Path, Path: fmt.Sprintf("line %d", lines[i]), Reason: h.kind}
		if len(docs) > 0 {
			fd.Doc = docAtLine(text, lines[i], len(docs))
		}
		c.add(fd)
	}
}

var docMarkerRE = regexp.MustCompile(`^---(\s|$)`)

// docAtLine is the document a line belongs to, counting `---` markers.
func docAtLine(text string, line, ndocs int) int {
	doc, content := 1, false
	for i, l := range strings.SplitN(text, "\n", line+1) {
		if i+1 > line {
			break
		}
		if docMarkerRE.MatchString(l) {
			if content {
				doc++
			}
			content = false
			continue
		}
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			content = true
		}
		if i+1 == line {
			break
		}
	}
	return min(doc, ndocs)
}
