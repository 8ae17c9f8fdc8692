package sync

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

// shownPending bounds the pending objects named on the progress line.
const shownPending = 3

// progress shows how many of the rendered objects the cluster already holds as the commit has
// them: on a terminal one line rewritten in place, elsewhere a line each time the count changes.
type progress struct {
	w        io.Writer
	terminal bool
	commit   string
	total    int
	start    time.Time

	last  string
	drawn bool
}

func newProgress(w io.Writer, terminal bool, commit string, total int) *progress {
	return &progress{w: w, terminal: terminal, commit: commit, total: total, start: time.Now()}
}

func (p *progress) update(r *diff.Report) {
	pending := len(r.Objects)
	var names []string
	for i, o := range r.Objects {
		if i == shownPending {
			names = append(names, fmt.Sprintf("and %d more", pending-shownPending))
			break
		}
		names = append(names, o.ObjectID.String())
	}
	line := fmt.Sprintf("waiting for %s: %d/%d objects synced, %d pending", p.commit, p.total-pending, p.total, pending)
	if pending > 0 {
		line += " (" + strings.Join(names, ", ") + ")"
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K%s [%s]", line, time.Since(p.start).Round(time.Second))
		p.drawn = true
		return
	}
	if line != p.last && pending > 0 {
		fmt.Fprintln(p.w, line)
	}
	p.last = line
}

// stop ends the status line, so that what follows starts on a line of its own.
func (p *progress) stop() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *progress) done(path string, recs []Reconciler, elapsed time.Duration) {
	p.stop()
	var names []string
	for _, r := range recs {
		names = append(names, r.String())
	}
	fmt.Fprintf(p.w, "synced %s: the %d objects of %s match the cluster (%s) after %s\n",
		p.commit, p.total, path, strings.Join(names, ", "), elapsed.Round(100*time.Millisecond))
}
