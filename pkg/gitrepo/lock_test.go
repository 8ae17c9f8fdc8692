package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLockQueues(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	r := tr.open()
	ctx := context.Background()
	unlock, err := r.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tr.dir, ".git", LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"pid: " + strconv.Itoa(os.Getpid()), "hostname: " + host, "started: "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("lock file lacks %q:\n%s", want, b)
		}
	}

	// A second caller with a short deadline gives up with a LockedError naming the holder.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = tr.open().Lock(short)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("err = %v, want LockedError naming this process", err)
	}

	// A patient caller waits until the lock is released.
	var released, acquired time.Time
	var mu sync.Mutex
	done := make(chan error)
	go func() {
		unlock2, err := tr.open().Lock(ctx)
		mu.Lock()
		acquired = time.Now()
		mu.Unlock()
		if err == nil {
			unlock2()
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	released = time.Now()
	if !acquired.IsZero() {
		t.Error("second caller got the lock while it was held")
	}
	mu.Unlock()
	unlock()
	unlock() // a second call is harmless
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acquired.Before(released) {
		t.Error("acquired before release")
	}
	tr.noLeftovers()
}

func TestLockStale(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.ProcessState.Pid()
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })

	lockAs := func(tr *testRepo, pid int, host string) {
		content := fmt.Sprintf("pid: %d\nhostname: %s\nstarted: 2020-01-01T00:00:00Z\ntoken: abc\n", pid, host)
		if err := os.WriteFile(filepath.Join(tr.dir, ".git", LockFileName), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	try := func(tr *testRepo, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		unlock, err := tr.open().Lock(ctx)
		if err == nil {
			unlock()
		}
		return err
	}

	t.Run("dead pid is cleared", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		lockAs(tr, deadPID, host)
		if err := try(tr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		tr.noLeftovers()
	})
	t.Run("unreadable old lock is cleared", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		p := filepath.Join(tr.dir, ".git", LockFileName)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		_ = os.Chtimes(p, old, old)
		if err := try(tr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("live pid waits until it dies", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		lockAs(tr, live.Process.Pid, host)
		if err := try(tr, 300*time.Millisecond); !strings.Contains(fmt.Sprint(err), "pid "+strconv.Itoa(live.Process.Pid)) {
			t.Fatalf("err = %v, want a wait for pid %d", err, live.Process.Pid)
		}
		_ = live.Process.Kill()
		_ = live.Wait()
		if err := try(tr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other host is not judged", func(t *testing.T) {
		tr := newTestRepo(t, baseFiles())
		lockAs(tr, deadPID, "elsewhere.example.com")
		if err := try(tr, 300*time.Millisecond); !strings.Contains(fmt.Sprint(err), "elsewhere.example.com") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestLockAfterKill kills a process holding the lock with SIGKILL: the next caller clears the
// lock it left.
func TestLockAfterKill(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=hold", "GITREPO_TEST_DIR="+tr.dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := stdout.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "locked") {
		t.Fatalf("helper: %q %v", buf[:n], err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unlock, err := tr.open().Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	tr.noLeftovers()
}

// TestConcurrentCommits runs twenty goroutines and twenty processes, each committing its own
// file through Lock and Commit at the same time: all forty commits land.
func TestConcurrentCommits(t *testing.T) {
	const n = 20
	tr := newTestRepo(t, baseFiles())
	base := tr.head()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shared := tr.open()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			unlock, err := shared.Lock(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer unlock()
			file := fmt.Sprintf("goroutines/g%02d.yaml", i)
			if _, err := shared.Commit(ctx, CommitRequest{Message: "add " + file,
				Changes: []Change{{Path: file, Content: []byte("from goroutine\n")}}}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=commit", "GITREPO_TEST_DIR="+tr.dir,
				fmt.Sprintf("GITREPO_TEST_FILE=processes/p%02d.yaml", i))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("process %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := strings.TrimSpace(tr.git("rev-list", "--count", base+"..HEAD")); got != strconv.Itoa(2*n) {
		t.Errorf("%s commits, want %d", got, 2*n)
	}
	files := strings.Fields(tr.git("ls-tree", "-r", "--name-only", "HEAD", "goroutines", "processes"))
	if len(files) != 2*n {
		t.Errorf("%d files in HEAD, want %d", len(files), 2*n)
	}
	if out := tr.git("status", "--porcelain"); out != "" {
		t.Errorf("status not clean:\n%s", out)
	}
	tr.fsck()
	tr.noLeftovers()
}
