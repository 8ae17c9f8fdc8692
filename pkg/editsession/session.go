// Package editsession runs the edit loop of `kubectl gitops edit` as kubectl edit does: the text
// goes to the user's editor in a private temporary directory (internal/privtmp); a save is
// handed to the caller; a mistake reopens the editor with the error as a comment on top and the
// user's text kept; an unchanged or empty file cancels. The directory is removed on return and
// on interrupt, and what a killed session left (a decrypted Secret) by the next run.
package editsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/kubectl/pkg/util/interrupt"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
)

// ErrCancelled is returned when the user saved nothing new (kubectl's "Edit cancelled").
var ErrCancelled = errors.New("Edit cancelled, no changes made.")

// ErrInterrupted is what an InterruptedError is (errors.Is): a signal stopped the session and
// nothing was applied.
var ErrInterrupted = errors.New("edit interrupted, no changes made")

// InterruptedError is the end of a session that a signal stopped: the editor was stopped and
// its directory removed; nothing was applied.
type InterruptedError struct {
	Signal os.Signal
}

func (e *InterruptedError) Error() string        { return ErrInterrupted.Error() }
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// RetryError is a mistake the user can fix in the editor: the session reopens it with the message.
type RetryError struct{ Err error }

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// signalSettle is how long a failed editor's exit waits for a signal sent with it.
const signalSettle = 200 * time.Millisecond

// Session is one edit.
type Session struct {
	Editor Editor
	// Header is shown as comment lines above the text (what a save will change, and where).
	Header []string
	// FileName is the temporary file's name, its extension tells editors the syntax.
	FileName string
	// WindowsLineEndings writes CRLF line endings, as kubectl's --windows-line-endings.
	WindowsLineEndings bool
	// StopGrace is how long an editor asked to end (SIGTERM) has before it is killed; zero means
	// three seconds.
	StopGrace time.Duration
}

// Run edits text until apply accepts it, the user cancels, or an error that is not a RetryError.
func (s *Session) Run(ctx context.Context, text []byte, apply func(edited []byte) error) error {
	// The session handles the signals itself until it returns: it stops the editor and returns
	// an InterruptedError, and its deferred remove takes the directory. Its channel is there
	// before privtmp is told, so that no signal falls between the two.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	defer privtmp.HoldSignals()()

	dir, remove, err := privtmp.MkdirTemp("edit-")
	if err != nil {
		return fmt.Errorf("failed to create the editor's directory: %w", err)
	}
	defer remove()

	name := s.FileName
	if name == "" {
		name = "edit.yaml"
	}
	file := filepath.Join(dir, name)
	original := text
	var problem string
	for {
		content := s.compose(problem, text)
		if err := os.WriteFile(file, content, 0o600); err != nil {
			return err
		}
		if err := s.edit(ctx, sigs, file); err != nil {
			return err
		}
		edited, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		body := stripComments(edited)
		if len(bytes.TrimSpace(body)) == 0 || bytes.Equal(normalize(body), normalize(stripComments(original))) {
			return ErrCancelled
		}
		if problem != "" && bytes.Equal(normalize(body), normalize(text)) {
			// Saved again without a fix: stop, as kubectl does, instead of reopening forever.
			return fmt.Errorf("edit cancelled, the error was not fixed: %s", problem)
		}
		err = apply(body)
		var retry *RetryError
		if errors.As(err, &retry) {
			problem = retry.Err.Error()
			text = body
			continue
		}
		return err
	}
}

// edit runs the editor on file until it exits. A signal to the plugin, or the end of ctx, stops
// the editor, whether or not the signal reached it too (a terminal's Ctrl-C reaches the whole
// process group; `kill -INT` reaches the plugin alone), so that the caller can remove the
// directory and end.
func (s *Session) edit(ctx context.Context, sigs <-chan os.Signal, file string) error {
	cmd, err := s.Editor.Command(file)
	if err != nil {
		return err
	}
	// Without a parent handler, kubectl's terminal guard exits the process on a signal, before the
	// directory is removed; with one, it only restores the terminal's state.
	tty := term.TTY{In: os.Stdin, TryDev: true, Parent: interrupt.New(func(os.Signal) {})}
	return tty.Safe(func() error {
		if err := cmd.Start(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return fmt.Errorf("unable to launch the editor %q", strings.Join(cmd.Args, " "))
			}
			return fmt.Errorf("the editor failed: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				select {
				case sig := <-sigs:
					return &InterruptedError{Signal: sig}
				default:
					return nil
				}
			}
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return &InterruptedError{Signal: ws.Signal()}
				}
			}
			// An editor that a terminal's Ctrl-C made fail can end before the plugin's own copy of
			// the signal is delivered: give it a moment, so that the interrupt is reported as one.
			settle := time.NewTimer(signalSettle)
			defer settle.Stop()
			select {
			case sig := <-sigs:
				return &InterruptedError{Signal: sig}
			case <-settle.C:
				return fmt.Errorf("the editor failed: %w", err)
			}
		case sig := <-sigs:
			s.stop(cmd.Process, done, sigs)
			return &InterruptedError{Signal: sig}
		case <-ctx.Done():
			s.stop(cmd.Process, done, sigs)
			return ctx.Err()
		}
	})
}

// stop ends the editor: SIGTERM first, which editors handle by leaving (vim keeps its swap file),
// then SIGKILL after StopGrace or at a second signal. It returns once the editor has exited, so
// that its file is no longer open.
func (s *Session) stop(p *os.Process, done <-chan error, sigs <-chan os.Signal) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		// Windows has no SIGTERM; the process may also have just exited.
		_ = p.Kill()
	}
	wait := s.StopGrace
	if wait == 0 {
		wait = 3 * time.Second
	}
	grace := time.NewTimer(wait)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-sigs:
	case <-grace.C:
	}
	_ = p.Kill()
	<-done
}

func (s *Session) compose(problem string, text []byte) []byte {
	var b bytes.Buffer
	if problem != "" {
		b.WriteString("# The edit could not be saved; fix it, or delete everything to cancel:\n")
		for _, l := range strings.Split(strings.TrimRight(problem, "\n"), "\n") {
			b.WriteString("# " + l + "\n")
		}
		b.WriteString("#\n")
	}
	for _, l := range s.Header {
		b.WriteString("# " + l + "\n")
	}
	if len(s.Header) > 0 {
		b.WriteString("#\n")
	}
	b.Write(text)
	out := b.Bytes()
	if s.WindowsLineEndings {
		out = bytes.ReplaceAll(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	}
	return out
}

// stripComments drops the leading comment block the session wrote (and the user may have left).
func stripComments(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := 0
	for i < len(lines) && bytes.HasPrefix(bytes.TrimSpace(lines[i]), []byte("#")) {
		i++
	}
	return bytes.Join(lines[i:], nil)
}

func normalize(b []byte) []byte {
	return bytes.TrimSpace(b)
}
