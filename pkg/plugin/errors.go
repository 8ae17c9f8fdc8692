package plugin

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/editsession"
)

// ExitError ends the command with a given exit code. Commands whose exit code carries meaning
// (diff: 1 when there are differences, 2 and more on errors) return it; an empty Message prints
// nothing.
type ExitError struct {
	Code    int
	Message string
	Err     error
}

func (e *ExitError) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// interruptedExit gives an edit that a signal stopped the exit code a shell gives a command that
// signal ends, 128 + its number (130 for Ctrl-C), with the message that nothing was written.
func interruptedExit(err error) error {
	var ie *editsession.InterruptedError
	if !errors.As(err, &ie) {
		return err
	}
	code := 130
	if sig, ok := ie.Signal.(syscall.Signal); ok && sig > 0 {
		code = 128 + int(sig)
	}
	return &ExitError{Code: code, Err: err}
}

// usageError is a mistake in the command line; it is reported with a pointer to --help.
type usageError struct {
	err     error
	cmdPath string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func flagError(cmd *cobra.Command, err error) error {
	return &usageError{err: err, cmdPath: displayPath(cmd)}
}

// usageErrorf reports a wrong argument or flag value of cmd.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), cmdPath: displayPath(cmd)}
}

// displayPath is the command path as the user typed it: "kubectl gitops scale".
func displayPath(cmd *cobra.Command) string {
	return strings.Replace(cmd.CommandPath(), "kubectl-gitops", "kubectl gitops", 1)
}

// ReportError prints err the way kubectl prints errors (API status errors, configuration errors,
// "error: ..." for the rest) to w and returns the exit code to end the process with.
func ReportError(w io.Writer, root *cobra.Command, err error) int {
	var exitErr *ExitError
	if errors.As(err, &exitErr) {
		if exitErr.Message != "" || exitErr.Err != nil {
			msg := exitErr.Error()
			if !strings.HasPrefix(msg, "error: ") {
				msg = "error: " + msg
			}
			fmt.Fprintln(w, msg)
		}
		return exitErr.Code
	}
	code := 1
	cmdutil.BehaviorOnFatal(func(msg string, c int) {
		if msg != "" {
			fmt.Fprint(w, strings.TrimSuffix(msg, "\n")+"\n")
		}
		code = c
	})
	defer cmdutil.DefaultBehaviorOnFatal()
	cmdutil.CheckErr(err)
	var uerr *usageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(w, "See '%s --help' for usage.\n", uerr.cmdPath)
	} else if strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(w, "See '%s --help' for usage.\n", displayPath(root))
	}
	return code
}
