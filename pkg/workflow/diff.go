package workflow

import (
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
)

// WriteDiff prints the plan as a unified diff of the repository, as `git diff` would show it.
func WriteDiff(w io.Writer, p *change.Plan) error {
	for _, f := range p.Paths() {
		from, to := "a/"+f, "b/"+f
		if p.Original[f] == nil {
			from = "/dev/null"
		}
		if p.Files[f] == nil {
			to = "/dev/null"
		}
		ud := difflib.UnifiedDiff{
			A:        lines(p.Original[f]),
			B:        lines(p.Files[f]),
			FromFile: from,
			ToFile:   to,
			Context:  3,
		}
		text, err := difflib.GetUnifiedDiffString(ud)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "diff --git a/%s b/%s\n%s", f, f, text); err != nil {
			return err
		}
		if text != "" && !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(w)
		}
	}
	return nil
}

// lines splits a file into lines as diff sees them; a last line without a newline gets one, as
// the diff shows no "no newline" marker.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(b), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	} else {
		out[len(out)-1] += "\n"
	}
	return out
}
