package gitrepo

import (
	"errors"
	"strings"
)

// FormatMessage builds a commit message: the subject, a blank line, the body lines, a blank
// line, and the trailers as "Key: value" lines. Empty parts are left out with their blank line.
// Newlines inside the subject or a trailer are replaced by spaces, which keeps both parseable.
func FormatMessage(subject string, bodyLines []string, trailers [][2]string) string {
	var b strings.Builder
	b.WriteString(oneLine(subject))
	b.WriteString("\n")
	body := strings.Trim(strings.Join(bodyLines, "\n"), "\n")
	if body != "" {
		b.WriteString("\n" + body + "\n")
	}
	if len(trailers) > 0 {
		b.WriteString("\n")
		for _, t := range trailers {
			b.WriteString(oneLine(t[0]) + ": " + oneLine(t[1]) + "\n")
		}
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

// cleanMessage cleans a message as `git commit` does when no editor runs (git stripspace
// without removing "#" lines): trailing white space goes from every line, runs of blank lines
// become one, blank lines at both ends go, and the message ends with a newline. "" stays "".
func cleanMessage(m string) string {
	var out []string
	blank := false
	for _, l := range strings.Split(m, "\n") {
		l = strings.TrimRight(l, " \t\r\v\f")
		if l == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// withSignoff adds the Signed-off-by trailer of ident ("Name <email>") to msg, in its trailer
// block when it ends with one, unless it is there already.
func withSignoff(msg, ident string) string {
	line := "Signed-off-by: " + ident
	trimmed := strings.TrimRight(msg, "\n")
	for _, l := range strings.Split(trimmed, "\n") {
		if l == line {
			return msg
		}
	}
	sep := "\n\n"
	if len(Trailers(trimmed)) > 0 {
		sep = "\n"
	}
	return trimmed + sep + line + "\n"
}

// IdentityError is a commit git refused for want of a name or email: Err carries git's advice
// (`git config --global user.email ...`).
type IdentityError struct{ Err error }

func (e *IdentityError) Error() string {
	msg := e.Err.Error()
	var gerr *GitError
	if errors.As(e.Err, &gerr) {
		msg = strings.TrimSpace(gerr.Stderr)
	}
	return "git needs to know who makes the commit:\n" + msg
}

func (e *IdentityError) Unwrap() error { return e.Err }

// identityError turns git's refusal to guess an identity into an *IdentityError.
func identityError(err error) error {
	var gerr *GitError
	if errors.As(err, &gerr) && (strings.Contains(gerr.Stderr, "Please tell me who you are") ||
		strings.Contains(gerr.Stderr, "empty ident name") || strings.Contains(gerr.Stderr, "auto-detection is disabled")) {
		return &IdentityError{Err: err}
	}
	return err
}
