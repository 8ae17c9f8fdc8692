//go:build unix

package intercept

import "syscall"

// execReplaces is true where the process can become kubectl (exec), keeping its terminal,
// signals and exit status without a parent in between.
const execReplaces = true

func execve(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}
