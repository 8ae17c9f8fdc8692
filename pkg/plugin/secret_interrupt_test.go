package plugin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C while the editor shows the decrypted values: the private directory goes, nothing is
// committed, and the plaintext is nowhere, in the terminal's output included. The plugin runs as
// a process of its own, so that the signal is real; the editor waits on a fifo that nobody writes.
func TestSecretEditInterrupted(t *testing.T) {
	s := newSecretTest(t, "sops")
	s.plains = []string{plainPassword}
	recipient, key := s.ageKey("a.agekey")
	s.useKey(key)
	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipient)})
	s.mustRun("", "create", "secret", "generic", "db", "-n", "shop", "--secrets", "sops", "--from-literal=password="+plainPassword, "--repo", s.dir, "--target", "staging")
	head := s.head()

	work := t.TempDir()
	fifo, mark := filepath.Join(work, "fifo"), filepath.Join(work, "editor-started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	editor := filepath.Join(work, "editor.sh")
	script := "#!/bin/sh\n: > \"$MARK\"\nread line < \"$FIFO\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pluginBin, "edit", "secret/db", "--repo", s.dir, "--target", "staging")
	cmd.Env = append(os.Environ(), "EDITOR="+editor, "KUBE_EDITOR=", "MARK="+mark, "FIFO="+fifo)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
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

	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the plugin ended before the editor started: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the editor did not start\n%s", stderr.String())
		}
	}

	// While the editor runs, the decrypted values are in one file of a private directory.
	dirs, _ := filepath.Glob(filepath.Join(s.tmp, "kubectl-gitops-*", "*", "edit-*"))
	if len(dirs) != 1 {
		t.Fatalf("private edit directories in TMPDIR: %v", dirs)
	}
	if info, err := os.Stat(dirs[0]); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("the edit directory: %v, %v", info.Mode(), err)
	}
	shown, err := os.ReadFile(filepath.Join(dirs[0], "secret.yaml"))
	if err != nil || !strings.Contains(string(shown), "password: "+plainPassword) {
		t.Fatalf("the editor's file does not show the decoded value (err %v)", err)
	}

	// The signal reaches the plugin alone (`kill -INT`): the plugin itself stops the editor, which
	// would otherwise wait on the fifo for ever, before it removes the directory.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close()
		}
		t.Fatal("the plugin did not end after the interrupt")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("exit after the interrupt: %v, want exit status 130", err)
	}
	if dirs, _ := filepath.Glob(filepath.Join(s.tmp, "kubectl-gitops-*", "*", "edit-*")); len(dirs) != 0 {
		t.Errorf("the private edit directory outlived the interrupt: %v", dirs)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr: %s", stderr.String())
	}
	s.noPlaintext("the output of the interrupted edit", stdout.String()+stderr.String())
	s.scan("the interrupted edit")
	if s.head() != head {
		t.Error("the interrupted edit committed")
	}
	if st := strings.TrimSpace(gitStatus(t, s.dir)); st != "" {
		t.Errorf("the working tree changed: %s", st)
	}
}

func gitStatus(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
