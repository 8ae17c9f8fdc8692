package review

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
)

// Commit is one commit of a request, as the plugin wrote its message: a subject, the field
// changes, and the Gitops-* trailers.
type Commit struct {
	Hash     string
	Subject  string
	Changes  []string
	Trailers []string
}

// Commits reads the messages of the commits in head that base does not have, oldest first.
func Commits(ctx context.Context, dir, base, head string) ([]Commit, error) {
	cmd := exec.CommandContext(ctx, "git", "log", "--reverse", "--format=%H%x00%B%x00", base+".."+head, "--")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("reading the commits of %s since %s: %v: %s", head, base, err, strings.TrimSpace(stderr.String()))
	}
	fields := strings.Split(stdout.String(), "\x00")
	var out []Commit
	for i := 0; i+1 < len(fields); i += 2 {
		out = append(out, parseMessage(strings.TrimSpace(fields[i]), fields[i+1]))
	}
	return out, nil
}

// trailer is a "Key: value" line of a message's last paragraph.
var trailer = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*: `)

// parseMessage splits a commit message into subject, body lines and trailers (the last
// paragraph, when every line of it is one).
func parseMessage(hash, msg string) Commit {
	paras := strings.Split(strings.TrimSpace(msg), "\n\n")
	c := Commit{Hash: hash, Subject: strings.TrimSpace(paras[0])}
	rest := paras[1:]
	if n := len(rest); n > 0 {
		last := strings.Split(strings.TrimSpace(rest[n-1]), "\n")
		all := true
		for _, l := range last {
			all = all && trailer.MatchString(l)
		}
		if all {
			c.Trailers, rest = last, rest[:n-1]
		}
	}
	for _, p := range rest {
		for _, l := range strings.Split(p, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				c.Changes = append(c.Changes, l)
			}
		}
	}
	return c
}

// BodyMaxBytes keeps a description within what the forges take (GitHub: 65,536 characters).
const BodyMaxBytes = 60000

// Body is a request's description: each commit's field changes (old → new), the targets
// rendered again, the rendered difference (Secrets masked, long diffs collapsed) and the
// commits' Gitops-* trailers.
func Body(commits []Commit, diff *revdiff.Report) (string, error) {
	var b strings.Builder
	b.WriteString("Made with `kubectl gitops`.\n")
	for _, c := range commits {
		fmt.Fprintf(&b, "\n**%s** (%s)\n", markdownText(c.Subject), shortHash(c.Hash))
		if len(c.Changes) > 0 {
			b.WriteString("\n")
		}
		for _, ch := range c.Changes {
			fmt.Fprintf(&b, "- %s\n", markdownText(ch))
		}
	}
	var trailers []string
	for _, c := range commits {
		for _, t := range c.Trailers {
			if strings.HasPrefix(t, "Gitops-") && !slices.Contains(trailers, t) {
				trailers = append(trailers, t)
			}
		}
	}
	if diff != nil {
		if len(diff.Rendered) > 0 {
			fmt.Fprintf(&b, "\nTargets rendered again: %s.\n", codeList(diff.Rendered))
		}
		b.WriteString("\n")
		budget := BodyMaxBytes - b.Len() - 200*len(trailers) - 1000
		if err := revdiff.WriteMarkdown(&b, diff, revdiff.MarkdownOptions{Heading: "#### Rendered changes", MaxBytes: max(budget, 1000)}); err != nil {
			return "", err
		}
	}
	if len(trailers) > 0 {
		b.WriteString("\n```\n" + strings.Join(trailers, "\n") + "\n```\n")
	}
	return b.String(), nil
}

// markdownText keeps a line of a commit message from being read as markup.
func markdownText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

func shortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
