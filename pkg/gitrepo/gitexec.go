package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// GitError is a failed run of the git executable.
type GitError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *GitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg)
}

func (e *GitError) Unwrap() error { return e.Err }

// gitCmd is one run of the git executable.
type gitCmd struct {
	dir    string
	env    []string // added to the process environment (later ones win)
	stdin  io.Reader
	stderr io.Writer // besides the captured copy (hooks' output)
}

// run runs git. Cancelling ctx interrupts git as Ctrl-C would, so it removes its lock files.
func (g gitCmd) run(ctx context.Context, args ...string) ([]byte, error) {
	point := "git " + gitVerb(args)
	fault(point)
	defer fault(point + " done")
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = g.dir
	if len(g.env) > 0 {
		cmd.Env = append(cmd.Environ(), g.env...)
	}
	cmd.Stdin = g.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if g.stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, g.stderr)
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("the git executable is needed for this and was not found in PATH: %w", err)
		}
		return stdout.Bytes(), &GitError{Args: args, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// gitVerb names a run of git for the fault points: its command, and the hook's name.
func gitVerb(args []string) string {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			if a == "hook" && i+3 < len(args) {
				return "hook " + args[i+3]
			}
			return a
		}
	}
	return ""
}

// runGit runs git in dir. env entries are added to the process environment (later ones win).
func runGit(ctx context.Context, dir string, env []string, stdin io.Reader, args ...string) ([]byte, error) {
	return gitCmd{dir: dir, env: env, stdin: stdin}.run(ctx, args...)
}

// faultHook, set only by tests, is called at every point of the commit path where a kill
// leaves something behind: before each write, rename and removal, and before and after each run
// of git. The tests end the process there to prove that the next command recovers.
var faultHook func(point string)

func fault(point string) {
	if faultHook != nil {
		faultHook(point)
	}
}
