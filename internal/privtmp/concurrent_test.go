package privtmp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Runs side by side (go test runs packages in parallel; users run commands in parallel) each
// make and remove their directories over and over, sweeping the others' as they start: none
// loses its directory to another's sweep or to another's removal of the user's directory.
func TestConcurrentRuns(t *testing.T) {
	if os.Getenv("PRIVTMP_CHILD") == "1" {
		for i := range 300 {
			dir, remove, err := MkdirTemp("x-")
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "round %d: %v\n", i, err)
				os.Exit(1)
			}
			if err := remove(); err != nil {
				fmt.Fprintf(os.Stderr, "round %d: remove: %v\n", i, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	tmp := t.TempDir()
	var cmds []*exec.Cmd
	for range 6 {
		c := exec.Command(os.Args[0], "-test.run=^TestConcurrentRuns$")
		c.Env = append(os.Environ(), "PRIVTMP_CHILD=1", "TMPDIR="+tmp)
		out := &prefixWriter{}
		c.Stdout, c.Stderr = out, out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("a run failed: %v\n%s", err, c.Stderr.(*prefixWriter).b)
		}
	}
}

type prefixWriter struct{ b []byte }

func (w *prefixWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
