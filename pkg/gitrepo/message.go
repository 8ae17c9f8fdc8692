package gitrepo

import "strings"

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
