package workflow

import (
	"regexp"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
)

// The masks kubectl diff puts in place of a Secret's values: a value on one side only, or the
// same on both, is "***"; a value that changed is "*** (before)" and "*** (after)".
const (
	mask       = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

// maskedValue tells whether a YAML value is an encrypted Secret value: sops' ENC[…] or a
// sealed value. Plaintext never reaches a diff; the ciphertext is masked as kubectl diff masks
// values, so that a diff shows which keys changed and nothing of them.
func maskedValue(v string) bool {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	return sopsprovider.WellFormed(v) || sealed.WellFormed(v)
}

// diffLine is a `key: value` line of a unified diff whose value is masked.
type diffLine struct {
	at  int    // index in the lines
	op  byte   // ' ', '-' or '+'
	key string // the line up to and including ": ", indentation kept
}

// maskDiff masks the encrypted values of a unified diff (workflow.WriteDiff's output): within a
// hunk, a key removed and added again is a changed value.
func maskDiff(text string) string {
	lines := strings.SplitAfter(text, "\n")
	var hunk []diffLine
	flush := func() {
		removed, added := map[string]bool{}, map[string]bool{}
		for _, l := range hunk {
			switch l.op {
			case '-':
				removed[l.key] = true
			case '+':
				added[l.key] = true
			}
		}
		for _, l := range hunk {
			m := mask
			switch {
			case l.op == '-' && added[l.key]:
				m = maskBefore
			case l.op == '+' && removed[l.key]:
				m = maskAfter
			}
			eol := ""
			if strings.HasSuffix(lines[l.at], "\n") {
				eol = "\n"
			}
			lines[l.at] = string(l.op) + l.key + m + eol
		}
		hunk = hunk[:0]
	}
	for i, line := range lines {
		if strings.HasPrefix(line, "@@") || strings.HasPrefix(line, "diff ") || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ ") {
			flush()
			continue
		}
		if line == "" || !strings.ContainsRune(" -+", rune(line[0])) {
			continue
		}
		body := strings.TrimRight(line[1:], "\r\n")
		k, v, ok := strings.Cut(body, ": ")
		if !ok || !maskedValue(v) {
			continue
		}
		hunk = append(hunk, diffLine{at: i, op: line[0], key: k + ": "})
	}
	flush()
	return strings.Join(lines, "")
}

// cipherToken finds encrypted values inside a longer text (a field change, a map shown short).
var cipherToken = regexp.MustCompile(`ENC\[AES256_GCM,[^\]\s]*\]?|[A-Za-z0-9+/]{200,}={0,2}`)

// maskChange masks the values of a field change as printed for -o json|yaml
// ("data.password: ENC[…] → ENC[…]").
func maskChange(c string) string {
	path, rest, ok := strings.Cut(c, ": ")
	if !ok {
		return cipherToken.ReplaceAllString(c, mask)
	}
	old, new, ok := strings.Cut(rest, " → ")
	if !ok {
		return path + ": " + cipherToken.ReplaceAllString(rest, mask)
	}
	if maskedValue(old) && maskedValue(new) && old != new {
		return path + ": " + maskBefore + " → " + maskAfter
	}
	return path + ": " + cipherToken.ReplaceAllString(old, mask) + " → " + cipherToken.ReplaceAllString(new, mask)
}

// maskedError masks the encrypted values an error quotes (the closed loop's reasons list field
// changes); errors.As still finds what it wraps.
type maskedError struct{ err error }

func (e *maskedError) Error() string { return cipherToken.ReplaceAllString(e.err.Error(), mask) }
func (e *maskedError) Unwrap() error { return e.err }

// maskResult masks the values in a result's diff and field changes.
func maskResult(res *Result) {
	if res == nil {
		return
	}
	res.Diff = maskDiff(res.Diff)
	for i := range res.Objects {
		for j, c := range res.Objects[i].Changes {
			res.Objects[i].Changes[j] = maskChange(c)
		}
	}
}
