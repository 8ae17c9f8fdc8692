package revdiff

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteText writes the report as unified diffs grouped by target, each target under a line
// that names it; color marks removed and added lines as kubectl diff's pager would.
func WriteText(w io.Writer, r *Report, color bool) error {
	var b strings.Builder
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "# %s\n", targetLine(t))
		if t.Error != "" {
			fmt.Fprintf(&b, "error: %s\n", t.Error)
			continue
		}
		for _, o := range t.Objects {
			for line := range strings.Lines(o.Diff) {
				switch {
				case !color || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "+++"):
					b.WriteString(line)
				case strings.HasPrefix(line, "-"):
					b.WriteString("\x1b[31m" + strings.TrimSuffix(line, "\n") + "\x1b[0m\n")
				case strings.HasPrefix(line, "+"):
					b.WriteString("\x1b[32m" + strings.TrimSuffix(line, "\n") + "\x1b[0m\n")
				default:
					b.WriteString(line)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary says in one line what differs: "2 targets render differently (staging,
// production)", or why nothing does.
func (r *Report) Summary() string {
	if len(r.Targets) == 0 {
		switch {
		case len(r.ChangedFiles) == 0:
			to := r.To
			if to == "" {
				to = "the working tree"
			}
			return fmt.Sprintf("No file differs between %s and %s.", r.From, to)
		case len(r.Rendered) == 0:
			return fmt.Sprintf("%s changed, read by no target: every target renders the same.", count(len(r.ChangedFiles), "file", "files"))
		}
		return fmt.Sprintf("%s changed; the %s reading them render the same.", count(len(r.ChangedFiles), "file", "files"), count(len(r.Rendered), "target", "targets"))
	}
	var names []string
	for _, t := range r.Targets {
		names = append(names, t.Target)
	}
	verb := "renders differently"
	if len(r.Targets) > 1 {
		verb = "render differently"
	}
	return fmt.Sprintf("%s %s: %s.", count(len(r.Targets), "target", "targets"), verb, strings.Join(names, ", "))
}

// targetLine names a target and says how it differs: "staging (overlays/staging): 1 object
// changed, 1 added".
func targetLine(t TargetDiff) string {
	name := t.Target
	if name != t.Path {
		name += " (" + t.Path + ")"
	}
	switch t.Status {
	case StatusError:
		return name + ": does not render"
	case StatusAdded:
		return name + ": new target, " + count(len(t.Objects), "object", "objects")
	case StatusRemoved:
		return name + ": target removed, " + count(len(t.Objects), "object", "objects")
	}
	n := map[string]int{}
	for _, o := range t.Objects {
		n[o.Change]++
	}
	var parts []string
	for _, c := range []string{ObjectChanged, ObjectAdded, ObjectRemoved} {
		if n[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[c], c))
		}
	}
	return name + ": " + strings.Join(parts, ", ")
}

// MarkdownOptions shape the markdown of a report.
type MarkdownOptions struct {
	// Heading is the first line ("" for none).
	Heading string
	// OpenLines is the longest diff shown open; a longer target's section starts collapsed.
	// Zero means 40.
	OpenLines int
	// MaxBytes bounds the diffs' text (a pull request's description and comments have a
	// limit); each target gets its share, and the rest is cut with a note. Zero: no limit.
	MaxBytes int
}

// WriteMarkdown writes the report for a pull request: a summary, then one collapsible section
// per target holding its diff.
func WriteMarkdown(w io.Writer, r *Report, o MarkdownOptions) error {
	if o.OpenLines == 0 {
		o.OpenLines = 40
	}
	var b strings.Builder
	if o.Heading != "" {
		b.WriteString(o.Heading + "\n\n")
	}
	fmt.Fprintf(&b, "Rendered changes from `%s` to %s. %s\n", r.From, mdSide(r), r.Summary())
	if len(r.Unrendered) > 0 {
		them := "them"
		if len(r.Unrendered) == 1 {
			them = "it"
		}
		fmt.Fprintf(&b, "\n%s at neither revision, so what the change does to %s is not shown:\n\n", count(len(r.Unrendered), "target renders", "targets render"), them)
		for _, u := range r.Unrendered {
			msg, _, _ := strings.Cut(u.Error, "\n")
			fmt.Fprintf(&b, "- `%s`: %s\n", u.Target, html.EscapeString(msg))
		}
	}
	share := 0
	if o.MaxBytes > 0 && len(r.Targets) > 0 {
		share = o.MaxBytes / len(r.Targets)
	}
	for _, t := range r.Targets {
		var text strings.Builder
		if t.Error != "" {
			text.WriteString("error: " + t.Error + "\n")
		}
		for _, obj := range t.Objects {
			text.WriteString(obj.Diff)
		}
		body := text.String()
		if share > 0 && len(body) > share {
			cut := strings.LastIndexByte(body[:share], '\n') + 1
			rest := strings.Count(body[cut:], "\n")
			body = body[:cut] + fmt.Sprintf("… %s more: run kubectl gitops diff --from %s%s to see all\n", count(rest, "line", "lines"), r.From, toFlag(r))
		}
		open := ""
		if strings.Count(body, "\n") <= o.OpenLines {
			open = " open"
		}
		fence := "```"
		for strings.Contains(body, fence) {
			fence += "`"
		}
		fmt.Fprintf(&b, "\n<details%s><summary>%s</summary>\n\n%sdiff\n%s%s\n\n</details>\n",
			open, html.EscapeString(targetLine(t)), fence, body, fence)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdSide(r *Report) string {
	if r.To == "" {
		return "the working tree"
	}
	return "`" + r.To + "`"
}

func toFlag(r *Report) string {
	if r.To == "" {
		return ""
	}
	return " --to " + r.To
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
