package editsession

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// command runs the editor on path; cmd.exe gets its whole command line as one string, as kubectl
// passes it (https://pkg.go.dev/os/exec#Command).
func (e envEditor) command(path string) *exec.Cmd {
	args := append([]string(nil), e.args...)
	if !e.shell {
		return exec.Command(args[0], append(args[1:], path)...)
	}
	last := args[len(args)-1]
	if args[0] != "cmd" {
		args[len(args)-1] = fmt.Sprintf("%s %q", last, path)
		return exec.Command(args[0], args[1:]...)
	}
	args[len(args)-1] = fmt.Sprintf(`"%s %s"`, last, cmdQuote(path))
	cmd := exec.Command(args[0])
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: strings.Join(args, " ")}
	return cmd
}

// cmdQuote quotes a path for cmd.exe.
func cmdQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
