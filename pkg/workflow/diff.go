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
			A:        difflib.SplitLines(string(p.Original[f])),
			B:        difflib.SplitLines(string(p.Files[f])),
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
