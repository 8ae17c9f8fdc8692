//go:build unix

package privtmp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again, a helper process instead of a test run.
const helperEnv = "PRIVTMP_TEST_HELPER"

// TestHelperProcess is the helper process: it makes a private directory with a file, prints
// the directory's path, then does what its mode says.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("run by the other tests as a helper process")
	}
	var release func()
	var sigs chan os.Signal
	if mode == "hold" {
		// As the edit session does: its own handler, and a hold on privtmp's.
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		release = HoldSignals()
	}
	dir, remove, err := MkdirTemp("helper-")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	if err := os.WriteFile(filepath.Join(dir, "decrypted.yaml"), []byte("password: hunter2\n"), 0o600); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println(dir)
	switch mode {
	case "exit":
		_ = remove()
		os.Exit(0)
	case "wait":
		// Blocks until killed: the parent closes nothing, it signals.
		select {}
	case "hold":
		<-sigs
		if _, err := os.Stat(dir); err != nil {
			fmt.Println("error: the directory went while held:", err)
			os.Exit(2)
		}
		release()
		_ = remove()
		os.Exit(3)
	}
}

// helper starts the test binary as a helper in mode, with TMPDIR at tmp, and returns it with
// the directory it made.
func helper(t *testing.T, tmp, mode string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error:") {
		t.Fatalf("helper: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd, strings.TrimSpace(line)
}

// waitExit waits for a helper to end, with a deadline.
func waitExit(t *testing.T, cmd *exec.Cmd) syscall.WaitStatus {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatal("the helper did not end")
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func gone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", p, err)
	}
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The directories are private, one per process under one per user, and the process's goes
// with the last directory made in it.
func TestMkdirTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	a, removeA, err := MkdirTemp("a-")
	if err != nil {
		t.Fatal(err)
	}
	b, removeB, err := MkdirTemp("b-")
	if err != nil {
		t.Fatal(err)
	}
	proc := filepath.Dir(a)
	user := filepath.Dir(proc)
	if filepath.Dir(b) != proc || user != filepath.Join(tmp, "kubectl-gitops-"+strconv.Itoa(os.Getuid())) {
		t.Fatalf("directories %s and %s, want both in one directory of this process under %s", a, b, tmp)
	}
	if !strings.HasPrefix(filepath.Base(proc), strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("the process's directory %s is not named after its pid", proc)
	}
	for _, p := range []string{user, proc, a, b} {
		if got := perm(t, p); got != 0o700 {
			t.Errorf("%s has mode %v, want 0700", p, got)
		}
	}
	if err := removeA(); err != nil {
		t.Fatal(err)
	}
	gone(t, a)
	if _, err := os.Stat(b); err != nil {
		t.Errorf("removing a removed b: %v", err)
	}
	if err := removeB(); err != nil {
		t.Fatal(err)
	}
	if err := removeB(); err != nil {
		t.Errorf("a second remove: %v", err)
	}
	gone(t, proc)
	gone(t, user)
}

// A user directory that is not private is made private; one that another user owns is refused.
func TestUserDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	user := filepath.Join(tmp, "kubectl-gitops-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(user, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(user, 0o777); err != nil {
		t.Fatal(err)
	}
	_, remove, err := MkdirTemp("x-")
	if err != nil {
		t.Fatal(err)
	}
	if got := perm(t, user); got != 0o700 {
		t.Errorf("%s has mode %v, want 0700", user, got)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		return
	}
	// As root, make the directory someone else's.
	if err := os.Mkdir(user, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(user, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, _, err := MkdirTemp("x-"); err == nil || !strings.Contains(err.Error(), "owned by another user (uid 4242)") {
		t.Errorf("err = %v, want the directory refused", err)
	}
}

// A process that exits removes its directory, decrypted files included.
func TestRemovedAtExit(t *testing.T) {
	tmp := t.TempDir()
	cmd, dir := helper(t, tmp, "exit")
	if ws := waitExit(t, cmd); ws.ExitStatus() != 0 {
		t.Fatalf("helper exited %v", ws)
	}
	gone(t, filepath.Dir(filepath.Dir(dir)))
}

// SIGINT, SIGTERM and SIGHUP remove the directory, then end the process by that signal, as it
// would have ended without the package.
func TestRemovedOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			if signal.Ignored(sig) {
				// The helper inherits the disposition (nohup ignores SIGHUP) and, as it should,
				// leaves an ignored signal ignored.
				t.Skipf("the tests run with %v ignored", sig)
			}
			tmp := t.TempDir()
			cmd, dir := helper(t, tmp, "wait")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			ws := waitExit(t, cmd)
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("helper ended with %v, want killed by %v", ws, sig)
			}
			gone(t, filepath.Dir(filepath.Dir(dir)))
		})
	}
}

// While a caller holds the signals, one leaves the directory to it: it stops its work,
// removes the directory and exits with its own status.
func TestHoldSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd, dir := helper(t, tmp, "hold")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if ws := waitExit(t, cmd); ws.Signaled() || ws.ExitStatus() != 3 {
				t.Errorf("helper ended with %v, want its own exit status 3", ws)
			}
			gone(t, filepath.Dir(filepath.Dir(dir)))
		})
	}
}

// What a killed run leaves is removed by the next run; a live run's directory is not, however
// old.
func TestSweep(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	running, runningDir := helper(t, tmp, "wait")
	killed, killedDir := helper(t, tmp, "wait")
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, killed)
	user := filepath.Dir(filepath.Dir(killedDir))
	old := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(filepath.Dir(runningDir), old, old); err != nil {
		t.Fatal(err)
	}
	// Without a lock (killed before it locked it): by pid, then by age.
	deadPid := killed.Process.Pid
	unlockedDead := filepath.Join(user, strconv.Itoa(deadPid)+"-unlocked")
	unlockedOld := filepath.Join(user, "1-unlocked-old")
	unlockedRecent := filepath.Join(user, "1-unlocked-recent")
	other := filepath.Join(user, "not-a-run")
	for _, d := range []string{unlockedDead, unlockedOld, unlockedRecent, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(unlockedOld, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killedDir); err != nil {
		t.Fatalf("the killed helper left nothing to sweep: %v", err)
	}

	_, remove, err := MkdirTemp("next-")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	gone(t, filepath.Dir(killedDir))
	gone(t, unlockedDead)
	gone(t, unlockedOld)
	for _, d := range []string{runningDir, unlockedRecent, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was swept: %v", d, err)
		}
	}
	_ = running.Process.Signal(syscall.SIGTERM)
	waitExit(t, running)
}

// Sweep removes a killed run's directory without making one of its own.
func TestSweepWithoutADirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	killed, killedDir := helper(t, tmp, "wait")
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, killed)
	Sweep()
	if _, err := os.Stat(killedDir); !os.IsNotExist(err) {
		t.Fatalf("the killed run's directory is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(killedDir))); !os.IsNotExist(err) {
		t.Errorf("Sweep left the user's directory behind (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if root != "" {
		t.Errorf("Sweep made the process's directory %s", root)
	}
}
