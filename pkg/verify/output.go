package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
)

// The ANSI colors of Paint.
const (
	Bold  = "\x1b[1m"
	Faint = "\x1b[2m"
	Red   = "\x1b[31m"
	Green = "\x1b[32m"
	reset = "\x1b[0m"
)

// Paint wraps s in an ANSI color when on (a terminal, NO_COLOR unset).
func Paint(on bool, color, s string) string {
	if !on {
		return s
	}
	return color + s + reset
}

// WriteText writes the report for people: per target, the objects with their findings, then
// the secrets guard, then a one-line verdict. With color, failures are red and passes green.
func WriteText(w io.Writer, r *Report, color bool) error {
	var b strings.Builder
	for _, t := range r.Targets {
		head := "target " + t.Path
		if t.Name != "" && t.Name != t.Path {
			head = fmt.Sprintf("target %s (%s)", t.Name, t.Path)
		}
		if t.Context != "" {
			head += ", context " + t.Context
		}
		if t.RenderError == "" && t.Unchecked == "" {
			head += fmt.Sprintf(": %d %s", t.Rendered, plural(t.Rendered, "object", "objects"))
		}
		b.WriteString(Paint(color, Bold, head) + "\n")
		if t.Unchecked != "" {
			b.WriteString("  " + Paint(color, Faint, "not checked: ") + indent(t.Unchecked, "    ") + "\n")
			continue
		}
		if t.RenderError != "" {
			b.WriteString("  " + Paint(color, Red, "render: ") + indent(t.RenderError, "    ") + "\n")
			b.WriteString("  " + Paint(color, Red, "FAIL: does not render") + "\n")
			continue
		}
		for _, o := range t.Objects {
			line := "  " + o.ObjectID.String()
			if o.Source != "" {
				line += Paint(color, Faint, " ("+o.Source+")")
			}
			b.WriteString(line + "\n")
			for _, f := range o.Findings {
				writeFinding(&b, f, color)
			}
			for _, n := range o.Notes {
				b.WriteString("    " + Paint(color, Faint, "note: "+n) + "\n")
			}
		}
		if n := t.Findings(); n > 0 {
			b.WriteString("  " + Paint(color, Red, fmt.Sprintf("FAIL: %d %s", n, plural(n, "finding", "findings"))) + "\n")
		} else if r.Offline {
			b.WriteString("  " + Paint(color, Green, "ok: renders, every object has a valid schema") + "\n")
		} else {
			b.WriteString("  " + Paint(color, Green, "ok: renders, passes a server-side dry-run, matches the cluster") + "\n")
		}
	}
	s := r.Secrets
	b.WriteString(Paint(color, Bold, fmt.Sprintf("secrets guard: %d %s", s.Files, plural(s.Files, "file", "files"))) + "\n")
	var g strings.Builder
	if err := guard.Format(&g, s.Findings); err != nil {
		return err
	}
	for _, l := range strings.SplitAfter(g.String(), "\n") {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	if n := len(s.Findings); n > 0 {
		b.WriteString("  " + Paint(color, Red, fmt.Sprintf("FAIL: %d %s of secret material in the clear", n, plural(n, "finding", "findings"))) + "\n")
	} else {
		b.WriteString("  " + Paint(color, Green, "ok: nothing in the clear") + "\n")
	}
	if n := r.Findings(); n > 0 {
		b.WriteString(Paint(color, Red, fmt.Sprintf("verify: %d %s", n, plural(n, "finding", "findings"))) + "\n")
	} else {
		b.WriteString(Paint(color, Green, "verify: everything passes") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFinding(b *strings.Builder, f Finding, color bool) {
	label := Paint(color, Red, f.Check+":")
	switch {
	case len(f.Fields) > 0:
		b.WriteString("    " + label + "\n")
		for _, fd := range f.Fields {
			b.WriteString("      " + fd.String() + "\n")
		}
		if f.Message != "" {
			b.WriteString("      " + indent(f.Message, "      ") + "\n")
		}
	default:
		b.WriteString("    " + label + " " + indent(f.Message, "      ") + "\n")
	}
}

// indent puts prefix before every line of s but the first.
func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
