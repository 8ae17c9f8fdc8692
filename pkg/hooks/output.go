package hooks

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

// WritePreCommit writes the pre-commit report for people, ending with the verdict.
func WritePreCommit(w io.Writer, r *PreCommitReport, color bool) error {
	var b strings.Builder
	bad := func(s string) string { return verify.Paint(color, verify.Red, s) }
	good := func(s string) string { return verify.Paint(color, verify.Green, s) }

	files := plural(r.Secrets.Files, "file", "files")
	if n := len(r.Secrets.Findings); n > 0 {
		fmt.Fprintf(&b, "pre-commit: secrets guard on %d staged %s: %s\n", r.Secrets.Files, files,
			bad(fmt.Sprintf("%d %s of secret material in the clear", n, plural(n, "finding", "findings"))))
		var g strings.Builder
		if err := guard.Format(&g, r.Secrets.Findings); err != nil {
			return err
		}
		b.WriteString(prefixLines(g.String(), "  "))
	} else {
		fmt.Fprintf(&b, "pre-commit: secrets guard on %d staged %s: %s\n", r.Secrets.Files, files, good("ok"))
	}
	if len(r.Secrets.Unsafe) > 0 {
		fmt.Fprintf(&b, "pre-commit: targets not rendered: %s would exhaust a render's memory\n", strings.Join(r.Secrets.Unsafe, ", "))
	}
	if len(r.Secrets.AllowChanges) > 0 {
		var g strings.Builder
		if err := guard.FormatAllowChanges(&g, r.Secrets.AllowChanges); err != nil {
			return err
		}
		b.WriteString(prefixLines(g.String(), "  note: "))
	}
	for _, t := range r.Targets {
		if t.Error != "" {
			fmt.Fprintf(&b, "pre-commit: target %s: %s\n  %s\n", t.Target, bad("does not render from the index"), indent(t.Error, "  "))
			continue
		}
		renders := fmt.Sprintf("renders (%d %s)", t.Objects, plural(t.Objects, "object", "objects"))
		if n := len(t.Secrets); n > 0 {
			fmt.Fprintf(&b, "pre-commit: target %s: %s, %s\n", t.Target, renders, bad(fmt.Sprintf("%d rendered Secret %s in the clear", n, plural(n, "value", "values"))))
			var g strings.Builder
			if err := guard.Format(&g, t.Secrets); err != nil {
				return err
			}
			b.WriteString(prefixLines(g.String(), "  "))
			continue
		}
		fmt.Fprintf(&b, "pre-commit: target %s: %s\n", t.Target, good(renders))
	}
	if r.Failed() {
		b.WriteString(bad("pre-commit: refused.") + " Encrypt or remove the secret material (or list a test-only file under guard.allow in .kubectl-gitops.yaml), fix the render, stage again; or commit without the check: git commit --no-verify\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePrePush writes the pre-push report for people: per ref, per target, what was checked
// and what stops the push, ending with the verdict.
func WritePrePush(w io.Writer, r *PushReport, color bool) error {
	var b strings.Builder
	bad := func(s string) string { return verify.Paint(color, verify.Red, s) }
	good := func(s string) string { return verify.Paint(color, verify.Green, s) }
	bold := func(s string) string { return verify.Paint(color, verify.Bold, s) }
	for _, ref := range r.Refs {
		head := fmt.Sprintf("pre-push: %s -> %s %s", orNone(ref.LocalRef), r.Remote, ref.RemoteRef)
		switch {
		case isZeroSHA(ref.RemoteSHA) && !isZeroSHA(ref.LocalSHA):
			head += fmt.Sprintf(" (new, %s)", short(ref.LocalSHA))
		case !isZeroSHA(ref.LocalSHA):
			head += fmt.Sprintf(" (%s..%s)", short(ref.RemoteSHA), short(ref.LocalSHA))
		}
		b.WriteString(bold(head) + "\n")
		if err := writePushedSecrets(&b, ref, bad, good); err != nil {
			return err
		}
		if ref.Note != "" {
			b.WriteString("  " + ref.Note + "\n")
		}
		if ref.Problem != "" {
			b.WriteString("  " + bad(ref.Problem) + "\n")
		}
		for _, t := range ref.Targets {
			b.WriteString("  " + bold(fmt.Sprintf("target %s, context %s", t.Target, t.Context)) + "\n")
			for _, n := range t.Notes {
				b.WriteString("    note: " + indent(n, "      ") + "\n")
			}
			if t.DriftChecked {
				if len(t.Drift) == 0 {
					b.WriteString("    " + good(fmt.Sprintf("ok: the cluster matches %s at %s", ref.Branch, short(ref.RemoteSHA))) + "\n")
				} else {
					writeDrift(&b, t, ref, bad)
				}
			}
			if n := len(t.Secrets); n > 0 {
				b.WriteString("    " + bad(fmt.Sprintf("secrets: %d rendered Secret %s in the clear at %s:", n, plural(n, "value", "values"), short(ref.LocalSHA))) + "\n")
				var g strings.Builder
				if err := guard.Format(&g, t.Secrets); err != nil {
					return err
				}
				b.WriteString(prefixLines(g.String(), "      "))
			}
			switch rejected := t.Rejected(); {
			case t.RenderError != "":
				b.WriteString("    " + bad(fmt.Sprintf("render: does not render at %s:", short(ref.LocalSHA))) + " " + indent(t.RenderError, "      ") + "\n")
			case len(rejected) > 0:
				b.WriteString("    " + bad(fmt.Sprintf("dry-run: the API server refuses %d of %d %s at %s:", len(rejected), len(t.DryRun), plural(len(t.DryRun), "object", "objects"), short(ref.LocalSHA))) + "\n")
				for _, d := range rejected {
					b.WriteString("      " + d.ID.String() + ": " + indent(d.Error, "        ") + "\n")
				}
			default:
				n := len(t.DryRun)
				b.WriteString("    " + good(fmt.Sprintf("ok: %d %s pass a server-side dry-run at %s", n, plural(n, "object", "objects"), short(ref.LocalSHA))) + "\n")
			}
			for _, d := range t.DryRun {
				if d.Skipped != "" {
					b.WriteString("      note: " + d.ID.String() + " not dry-run: " + d.Skipped + "\n")
				}
			}
		}
	}
	if n := r.Problems(); n > 0 {
		b.WriteString(bad(fmt.Sprintf("pre-push: refused (%d %s).", n, plural(n, "problem", "problems"))) +
			" Fix what is reported, or push without the check: git push --no-verify\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writePushedSecrets writes the secrets guard's verdict on a ref's pushed commits, commit by
// commit.
func writePushedSecrets(b *strings.Builder, ref RefReport, bad, good func(string) string) error {
	if ref.Commits == 0 {
		return nil
	}
	refused := 0
	for _, c := range ref.Secrets {
		if c.Report.Failed() {
			refused++
		}
	}
	head := fmt.Sprintf("secrets guard on %d pushed %s: ", ref.Commits, plural(ref.Commits, "commit", "commits"))
	if refused == 0 {
		b.WriteString("  " + head + good("ok") + "\n")
	} else {
		b.WriteString("  " + head + bad(fmt.Sprintf("%d refused", refused)) + "\n")
	}
	for _, c := range ref.Secrets {
		fmt.Fprintf(b, "    commit %s %q:\n", short(c.Commit), c.Subject)
		var g strings.Builder
		if err := guard.Format(&g, c.Report.Findings); err != nil {
			return err
		}
		b.WriteString(prefixLines(g.String(), "      "))
		g.Reset()
		if err := guard.FormatAllowChanges(&g, c.Report.AllowChanges); err != nil {
			return err
		}
		b.WriteString(prefixLines(g.String(), "      note: "))
	}
	if refused > 0 {
		b.WriteString("    Rewrite those commits without the secret material (git rebase -i), encrypting it with sops or sealed-secrets: once pushed, it is in the remote's history.\n")
	}
	return nil
}

func writeDrift(b *strings.Builder, t PushTarget, ref RefReport, bad func(string) string) {
	fmt.Fprintf(b, "    %s\n", bad(fmt.Sprintf("drift: the cluster differs from %s at %s; this push would silently undo it:", ref.Branch, short(ref.RemoteSHA))))
	for _, d := range t.Drift {
		switch {
		case len(d.Fields) > 0:
			fmt.Fprintf(b, "      %s\n", d.ObjectID)
			for _, f := range d.Fields {
				fmt.Fprintf(b, "        %s\n", f)
			}
		case d.Live == nil:
			fmt.Fprintf(b, "      %s: in Git, not in the cluster (deleted by hand, or not applied yet)\n", d.ObjectID)
		default:
			fmt.Fprintf(b, "      %s: differs\n", d.ObjectID)
		}
		if d.Message != "" {
			fmt.Fprintf(b, "        %s\n", indent(d.Message, "        "))
		}
	}
	b.WriteString("      Someone changed the cluster by hand (or the reconciler has not applied " + ref.Branch + " yet).\n")
	b.WriteString("      To keep the change, write it to Git first: kubectl gitops capture --drift\n")
}

func orNone(s string) string {
	if s == "" || s == "(delete)" {
		return "(delete)"
	}
	return s
}

func prefixLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
