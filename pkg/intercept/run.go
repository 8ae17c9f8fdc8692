package intercept

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// ExitError is kubectl's exit status, when it ran as a child process.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("kubectl exited with status %d", e.Code) }

// Kubectl runs the real kubectl (the first on the PATH that is not this program) with args.
// With stdin nil it takes this process's place, as if the shell had run it; with stdin given
// (the input was read to decide) it runs as a child fed with it, and its exit status comes back
// as an *ExitError.
func Kubectl(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("kubectl is not on the PATH: %w", err)
	}
	if self, err := os.Executable(); err == nil {
		a, errA := os.Stat(self)
		b, errB := os.Stat(path)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return fmt.Errorf("kubectl on the PATH (%s) is kubectl-gitops itself: put the real kubectl first", path)
		}
	}
	if stdin == nil && execReplaces {
		return execve(path, append([]string{"kubectl"}, args...), os.Environ())
	}
	if stdin == nil {
		stdin = os.Stdin
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Code: exit.ExitCode()}
	}
	return err
}
