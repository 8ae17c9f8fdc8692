// Package editsession runs the edit loop of `kubectl gitops edit` as kubectl edit does: the text
// goes to the user's editor in a private temporary directory; a save is handed to the caller;
// a mistake reopens the editor with the error as a comment on top and the user's text kept; an
// unchanged or empty file cancels. The directory is removed on return and on interrupt.
package editsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrCancelled is returned when the user saved nothing new (kubectl's "Edit cancelled").
var ErrCancelled = errors.New("Edit cancelled, no changes made.")

// ErrInterrupted is returned when a signal stopped the session; nothing was applied.
var ErrInterrupted = errors.New("edit interrupted, no changes made")

// RetryError is a mistake the user can fix in the editor: the session reopens it with the message.
type RetryError struct{ Err error }

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Editor launches the user's editor on a file and waits for it.
type Editor interface {
	Launch(path string) error
}

// Session is one edit.
type Session struct {
	Editor Editor
	// Header is shown as comment lines above the text (what a save will change, and where).
	Header []string
	// FileName is the temporary file's name, its extension tells editors the syntax.
	FileName string
	// WindowsLineEndings writes CRLF line endings, as kubectl's --windows-line-endings.
	WindowsLineEndings bool
	// TempDir is where the private directory is made; empty means the system's.
	TempDir string
}

// Run edits text until apply accepts it, the user cancels, or an error that is not a RetryError.
func (s *Session) Run(ctx context.Context, text []byte, apply func(edited []byte) error) error {
	dir, err := os.MkdirTemp(s.TempDir, "kubectl-gitops-edit-")
	if err != nil {
		return fmt.Errorf("failed to create the editor's directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	defer os.RemoveAll(dir)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

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
		done := make(chan error, 1)
		go func() { done <- s.Editor.Launch(file) }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("the editor failed: %w", err)
			}
		case <-sigs:
			// The editor shares our terminal's process group and gets the signal too; wait for it
			// so the file is no longer open, then remove the directory (deferred).
			<-done
			return ErrInterrupted
		case <-ctx.Done():
			<-done
			return ctx.Err()
		}
		select {
		case <-sigs:
			return ErrInterrupted
		default:
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
