package editsession

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/kubectl/pkg/cmd/util/editor"
)

// Editor makes the process that edits a file. The session starts it, waits for it, and stops it
// when the plugin is interrupted, so it needs the process and not only a blocking call.
type Editor interface {
	Command(path string) (*exec.Cmd, error)
}

// EnvEditor is the editor that the first set variable of envs names (KUBE_EDITOR, EDITOR), else
// vi (notepad on Windows), chosen and split into arguments as kubectl edit does.
func EnvEditor(envs ...string) Editor {
	e := editor.NewDefaultEditor(envs)
	return envEditor{args: e.Args, shell: e.Shell}
}

type envEditor struct {
	args  []string
	shell bool
}

func (e envEditor) Command(path string) (*exec.Cmd, error) {
	if len(e.args) == 0 {
		return nil, fmt.Errorf("no editor defined, can't open %s", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cmd := e.command(abs)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd, nil
}
