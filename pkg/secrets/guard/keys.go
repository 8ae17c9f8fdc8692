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

// A key starts with a literal, found with a fast substring search; a regular expression then
// matches from there, on a bounded window, so a file of any size is scanned in linear time.
var (
	// An age identity is bech32, all upper or all lower case: X25519 (AGE-SECRET-KEY-1) and the
	// post-quantum hybrid (AGE-SECRET-KEY-PQ-1). Sixteen characters of it are enough: a
	// truncated identity, or one with a bad checksum, still leaks key material.
	ageIdentityRE = regexp.MustCompile(`^(?:AGE-SECRET-KEY-(?:PQ-)?1[` + bech32 + `]{16,}|age-secret-key-(?:pq-)?1[` + strings.ToLower(bech32) + `]{16,})`)
	// A plugin identity (age-plugin-yubikey, -tpm, -se, ...) carries the plugin's name.
	agePluginRE = regexp.MustCompile(`^(?:AGE-PLUGIN-[A-Z0-9-]+-1[` + bech32 + `]{16,}|age-plugin-[a-z0-9-]+-1[` + strings.ToLower(bech32) + `]{16,})`)
	// PEM (RFC 7468) and OpenPGP armor headers of private keys, encrypted ones included.
	pemRE = regexp.MustCompile(`^-----BEGIN ((?:[A-Z0-9]+ )*)(PRIVATE|SECRET) KEY( BLOCK)?-----`)
	// The SSH.com / RFC 4716 style private key of ssh-keygen -e and PuTTYgen's export.
	ssh2RE  = regexp.MustCompile(`^---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`)
	puttyRE = regexp.MustCompile(`^PuTTY-User-Key-File-\d+:[^\n]*\n(?:[^\n]*\n){0,12}?Private-Lines: *\d+`)
	// A header line of a PEM or armored block (Proc-Type: 4,ENCRYPTED; Comment: ...).
	armorHeaderRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*:(\s|$)`)
)

// keyWindow bounds what a key regular expression reads after its literal.
const keyWindow = 4096

type keyPattern struct {
	lits []string
	re   *regexp.Regexp
	// kind names the key of a match m (submatch indexes into w); "" when it is no key after all.
	kind func(w string, m []int) string
}

var keyPatterns = []keyPattern{
	{lits: []string{"AGE-SECRET-KEY-", "age-secret-key-"}, re: ageIdentityRE, kind: func(string, []int) string { return "age identity (private key)" }},
	{lits: []string{"AGE-PLUGIN-", "age-plugin-"}, re: agePluginRE, kind: func(string, []int) string { return "age plugin identity (private key)" }},
	{lits: []string{"-----BEGIN "}, re: pemRE, kind: pemKind},
	{lits: []string{"---- BEGIN SSH2 "}, re: ssh2RE, kind: func(w string, m []int) string {
		if !keyBody(w[m[1]:]) {
			return ""
		}
		return "SSH2 private key"
	}},
	{lits: []string{"PuTTY-User-Key-File-"}, re: puttyRE, kind: func(string, []int) string { return "PuTTY private key" }},
}

// pemKind names a PEM or PGP private key block whose body holds key material, whether or not
// it parses: a truncated or damaged key still leaks part of the key. An ENCRYPTED PRIVATE KEY
// (PKCS #8 with a passphrase, or a legacy Proc-Type: 4,ENCRYPTED block) is refused too: once
// in Git history it can be attacked offline for ever, and the passphrase is often weak or kept
// next to it; such a key belongs in a sops-encrypted file or a sealed Secret like any other.
func pemKind(w string, m []int) string {
	if !keyBody(w[m[1]:]) {
		return ""
	}
	label := strings.TrimSpace(w[m[2]:m[3]])
	switch {
	case m[6] >= 0 && strings.HasPrefix(label, "PGP"):
		return "PGP private key block"
	case label == "":
		return "PEM private key (PKCS #8)"
	case label == "ENCRYPTED":
		return "PEM private key (ENCRYPTED): passphrase-protected, but open to offline guessing for ever once in Git history"
	default:
		return fmt.Sprintf("PEM private key (%s)", label)
	}
}

// findKeys finds private keys in s.
func findKeys(s string) []keyHit {
	var hits []keyHit
	for _, p := range keyPatterns {
		for _, lit := range p.lits {
			for from := 0; ; {
				i := strings.Index(s[from:], lit)
				if i < 0 {
					break
				}
				at := from + i
				w := s[at:min(len(s), at+keyWindow)]
				m := p.re.FindStringSubmatchIndex(w)
				if m == nil {
					from = at + len(lit)
					continue
				}
				if kind := p.kind(s[at:], m); kind != "" {
					hits = append(hits, keyHit{kind: kind, offset: at})
				}
				from = at + max(m[1], len(lit))
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].offset < hits[j].offset })
	return hits
}

// keyBodyLines bounds how far after a header keyBody looks, keyBodyTokens how many words of
// the body it looks at.
const (
	keyBodyLines  = 64
	keyBodyTokens = 3
)

// keyBody says whether the text after a key header holds key material: one of the first words
// of the body, after the block's own header lines, is base64 (12 characters or more, at most
// two of them damaged). A document that shows a header with "..." or "<your key>" under it, or
// names it in a sentence, holds no key. Lines may be real or escaped (\n in a JSON string).
func keyBody(rest string) bool {
	if len(rest) > 64<<10 {
		rest = rest[:64<<10]
	}
	rest = strings.NewReplacer(`\r`, "", `\n`, "\n", "\r", "").Replace(rest)
	tokens := 0
	for i, line := range strings.SplitN(rest, "\n", keyBodyLines+1) {
		if i == keyBodyLines {
			break
		}
		l := strings.TrimSpace(line)
		if l == "" || armorHeaderRE.MatchString(l) {
			continue
		}
		for _, tok := range strings.Fields(l) {
			if strings.HasPrefix(tok, "----") {
				// The END line, or the next block.
				return false
			}
			if keyMaterial(tok) {
				return true
			}
			if tokens++; tokens == keyBodyTokens {
				return false
			}
		}
	}
	return false
}

// keyMaterial says whether a word is base64 of a key body, or what is left of one.
func keyMaterial(tok string) bool {
	if len(tok) < 12 || strings.ContainsAny(tok, "<>{}$()`[]\"'*") {
		return false
	}
	bad := 0
	for i := 0; i < len(tok); i++ {
		if !isBase64Char(tok[i]) {
			if bad++; bad > 2 {
				return false
			}
		}
	}
	return true
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// decodedKeyMin is the shortest value decodedKeys decodes: the base64 of a truncated age
// identity; a PEM key is far longer.
const decodedKeyMin = 40

// decodedKeys finds private keys in a value that is base64: a Secret's data, a kubeconfig's
// client-key-data.
func decodedKeys(v string) []keyHit {
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, v)
	if len(compact) < decodedKeyMin {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(compact); err != nil {
			return nil
		}
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
	// Hits are sorted by offset: their lines are counted in one pass.
	lines := make([]int, len(hits))
	line, pos := 1, 0
	for i, h := range hits {
		line += strings.Count(text[pos:h.offset], "\n")
		pos = h.offset
		lines[i] = line
	}
	used := make([]bool, len(hits))
	sort.SliceStable(inValues, func(i, j int) bool { return inValues[i].line < inValues[j].line })
	next := 0
	for _, m := range inValues {
		// A value's key is at or after the line the value starts on.
		for next < len(hits) && lines[next] < m.line {
			next++
		}
		for i := next; i < len(hits); i++ {
			if !used[i] && hits[i].kind == m.kind {
				used[i] = true
				break
			}
		}
	}
	var docStarts []int
	if len(docs) > 0 {
		docStarts = documentStarts(text)
	}
	for i, h := range hits {
		if used[i] {
			continue
		}
		fd := Finding{File: f.Path, Path: fmt.Sprintf("line %d", lines[i]), Reason: h.kind}
		if len(docs) > 0 {
			fd.Doc = min(1+sort.SearchInts(docStarts, lines[i]+1), len(docs))
		}
		c.add(fd)
	}
}

var docMarkerRE = regexp.MustCompile(`^---(\s|$)`)

// documentStarts lists, in order, the lines of the `---` markers that begin a new document:
// those after content. The document of a line is one more than the markers at or before it.
func documentStarts(text string) []int {
	var starts []int
	content := false
	line := 0
	for rest := text; len(rest) > 0; {
		line++
		l := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if docMarkerRE.MatchString(l) {
			if content {
				starts = append(starts, line)
			}
			content = false
			continue
		}
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			content = true
		}
	}
	return starts
}

// rawEncodedKeys reports private keys base64-encoded in the text of a file that was not read
// as YAML or JSON (an env file, a file too large to parse): each run of base64 long enough to
// hold a key is decoded on its own. A block spread over lines is found by its first line,
// which decodes to the key's header.
func (c *checker) rawEncodedKeys(f File) {
	text := f.Data
	line := 1
	for i := 0; i < len(text); {
		if !isBase64Char(text[i]) || text[i] == '=' {
			if text[i] == '\n' {
				line++
			}
			i++
			continue
		}
		// Padding ends a run: KEY=LS0t... is a name and a value.
		j := i
		for j < len(text) && isBase64Char(text[j]) && text[j] != '=' {
			j++
		}
		for k := 0; k < 2 && j < len(text) && text[j] == '='; k++ {
			j++
		}
		if j-i >= decodedKeyMin {
			for _, h := range decodedKeys(string(text[i:j])) {
				c.add(Finding{File: f.Path, Path: fmt.Sprintf("line %d", line), Reason: h.kind + ", base64-encoded"})
			}
		}
		i = j
	}
}
