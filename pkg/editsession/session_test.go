//go:build !windows

package editsession

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The editor is chosen and split as kubectl edit does; the file's path comes last, quoted for
// the shell when the command line needs one.
func TestEnvEditorCommand(t *testing.T) {
	t.Setenv("SHELL", "/bin/sh")
	for _, tc := range []struct {
		kube, editor string
		want         []string
	}{
		{"", "", []string{"vi", "/tmp/x/edit.yaml"}},
		{"", "nano", []string{"nano", "/tmp/x/edit.yaml"}},
		{"code --wait", "nano", []string{"code", "--wait", "/tmp/x/edit.yaml"}},
		{"", `emacs -nw --eval '(setq x 1)'`, []string{"/bin/sh", "-c", `emacs -nw --eval '(setq x 1)' "/tmp/x/edit.yaml"`}},
	} {
		t.Setenv("KUBE_EDITOR", tc.kube)
		t.Setenv("EDITOR", tc.editor)
		cmd, err := EnvEditor("KUBE_EDITOR", "EDITOR").Command("/tmp/x/edit.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cmd.Args, tc.want) {
			t.Errorf("KUBE_EDITOR=%q EDITOR=%q: %q, want %q", tc.kube, tc.editor, cmd.Args, tc.want)
		}
		if cmd.Stdin != os.Stdin || cmd.Stdout != os.Stdout || cmd.Stderr != os.Stderr {
			t.Errorf("KUBE_EDITOR=%q EDITOR=%q: the editor does not get the terminal", tc.kube, tc.editor)
		}
	}
}

// scriptEditor runs a shell script as the editor, with the file as $1.
type scriptEditor struct{ script string }

func (e scriptEditor) Command(path string) (*exec.Cmd, error) {
	return exec.Command("/bin/sh", "-c", e.script, "editor", path), nil
}

// blockingEditor writes its pid next to the test and waits on a fifo nobody writes; ignoreTerm
// makes it ignore SIGTERM, as a hung editor may.
func blockingEditor(t *testing.T, ignoreTerm bool) (ed scriptEditor, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	fifo, pidFile := filepath.Join(dir, "fifo"), filepath.Join(dir, "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `echo $$ > ` + pidFile + `.tmp && mv ` + pidFile + `.tmp ` + pidFile + `; read line < ` + fifo
	if ignoreTerm {
		script = "trap '' TERM; " + script
	}
	t.Cleanup(func() {
		// Lets a still-blocked editor go, so that nothing outlives a failed test.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})
	return scriptEditor{script: script}, pidFile
}

// waitPid waits for the editor to write its pid.
func waitPid(t *testing.T, file string, done <-chan error) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		select {
		case err := <-done:
			t.Fatalf("the session ended before the editor started: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the editor did not start")
	return 0
}

// The end of the context stops a running editor, even one that ignores SIGTERM, and the private
// directory goes with it; nothing is applied.
func TestRunStopsEditorWhenContextEnds(t *testing.T) {
	for _, ignoreTerm := range []bool{false, true} {
		t.Run("ignores SIGTERM="+strconv.FormatBool(ignoreTerm), func(t *testing.T) {
			ed, pidFile := blockingEditor(t, ignoreTerm)
			tmp := privateTemp(t)
			s := &Session{Editor: ed, StopGrace: 200 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- s.Run(ctx, []byte("a: 1\n"), func([]byte) error {
					t.Error("apply was called")
					return nil
				})
			}()
			pid := waitPid(t, pidFile, done)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v, want the context's error", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Run did not return after the context ended")
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the editor (pid %d) outlived the session: kill -0 gives %v", pid, err)
			}
			if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the private directory outlived the session: %v", err)
			}
		})
	}
}

// An editor that a signal ended is an interrupt, whoever sent the signal.
func TestRunEditorKilledIsInterrupt(t *testing.T) {
	privateTemp(t)
	s := &Session{Editor: scriptEditor{script: "kill -INT $$"}}
	err := s.Run(context.Background(), []byte("a: 1\n"), func([]byte) error {
		t.Error("apply was called")
		return nil
	})
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Signal != syscall.SIGINT || !errors.Is(err, ErrInterrupted) {
		t.Errorf("Run: %v, want an interrupt by SIGINT", err)
	}
}

// A saved change is handed to apply without the header; a file saved as it was cancels.
func TestRunSaveAndCancel(t *testing.T) {
	privateTemp(t)
	s := &Session{Editor: scriptEditor{script: `sed -i 's/a: 1/a: 2/' "$1"`}, Header: []string{"hello"}}
	var got string
	if err := s.Run(context.Background(), []byte("a: 1\n"), func(b []byte) error { got = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != "a: 2\n" {
		t.Errorf("apply got %q", got)
	}
	s.Editor = scriptEditor{script: "true"}
	if err := s.Run(context.Background(), []byte("a: 1\n"), func([]byte) error { return nil }); !errors.Is(err, ErrCancelled) {
		t.Errorf("unchanged: %v, want ErrCancelled", err)
	}
}

// privateTemp points TMPDIR at a new directory and returns the directory in it that holds the
// private directories of this user's runs (internal/privtmp).
func privateTemp(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return filepath.Join(tmp, "kubectl-gitops-"+strconv.Itoa(os.Getuid()))
}

// The editor's file is in this process's private directory, readable by its owner only.
func TestRunPrivateFile(t *testing.T) {
	user := privateTemp(t)
	var file string
	var mode, dirMode os.FileMode
	s := &Session{Editor: scriptEditor{script: `echo "$1" > ` + filepath.Join(t.TempDir(), "x") + `; sed -i 's/a: 1/a: 2/' "$1"`}}
	err := s.Run(context.Background(), []byte("a: 1\n"), func([]byte) error {
		matches, _ := filepath.Glob(filepath.Join(user, strconv.Itoa(os.Getpid())+"-*", "edit-*", "edit.yaml"))
		if len(matches) != 1 {
			return errors.New("no editor file in the process's private directory")
		}
		file = matches[0]
		fi, err := os.Stat(file)
		if err != nil {
			return err
		}
		di, err := os.Stat(filepath.Dir(file))
		if err != nil {
			return err
		}
		mode, dirMode = fi.Mode().Perm(), di.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != 0o600 || dirMode != 0o700 {
		t.Errorf("%s: mode %v in a directory of mode %v, want 0600 and 0700", file, mode, dirMode)
	}
	if _, err := os.Stat(user); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the private directory outlived the session: %v", err)
	}
}

// helperEnv makes the test binary, run again, a session killed while its editor runs.
const helperEnv = "EDITSESSION_TEST_HELPER"

// TestHelperSession is that session: its editor writes its file's path next to the fifo, and
// blocks on the fifo.
func TestHelperSession(t *testing.T) {
	fifo := os.Getenv(helperEnv)
	if fifo == "" {
		t.Skip("run by TestKilledSessionSwept")
	}
	s := &Session{Editor: scriptEditor{script: `echo "$1" > ` + fifo + `.tmp && mv ` + fifo + `.tmp ` + fifo + `.path; read line < ` + fifo}}
	_ = s.Run(context.Background(), []byte("password: hunter2\n"), func([]byte) error { return nil })
}

// A session killed with SIGKILL cannot remove the decrypted buffer; the next run does.
func TestKilledSessionSwept(t *testing.T) {
	user := privateTemp(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Lets the orphaned editor go.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_, _ = f.WriteString("\n")
			_ = f.Close()
		}
	})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSession$")
	cmd.Env = append(os.Environ(), helperEnv+"="+fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	var file string
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for file == "" {
		if b, err := os.ReadFile(fifo + ".path"); err == nil {
			file = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the session ended before its editor started: %v", err)
		case <-deadline.C:
			t.Fatal("the editor did not start")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "hunter2") {
		t.Fatalf("the killed session left no buffer at %s: %v", file, err)
	}
	if !strings.HasPrefix(file, user+string(os.PathSeparator)) {
		t.Errorf("the buffer %s is not in the private directories under %s", file, user)
	}

	// The next session sweeps it before it opens its own.
	s := &Session{Editor: scriptEditor{script: "true"}}
	if err := s.Run(context.Background(), []byte("a: 1\n"), func([]byte) error { return nil }); !errors.Is(err, ErrCancelled) {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed session's buffer outlived the next run: %v", err)
	}
	if _, err := os.Stat(user); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the private directories outlived the next run: %v", err)
	}
}
