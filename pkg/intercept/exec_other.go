//go:build !unix

package intercept

import "errors"

const execReplaces = false

func execve(string, []string, []string) error {
	return errors.New("exec is not supported here")
}
