//go:build !windows

package editsession

import (
	"fmt"
	"os/exec"
)

// command runs the editor on path; a command line that needs the shell gets the path quoted.
func (e envEditor) command(path string) *exec.Cmd {
	args := append([]string(nil), e.args...)
	if e.shell {
		args[len(args)-1] = fmt.Sprintf("%s %q", args[len(args)-1], path)
	} else {
		args = append(args, path)
	}
	return exec.Command(args[0], args[1:]...)
}
