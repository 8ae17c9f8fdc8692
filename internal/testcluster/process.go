package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// markerEnv is set on every process the harness starts, so that a later `devcluster down`
// signals only processes of this cluster even if a recorded pid has been reused.
const markerEnv = "KUBECTL_GITOPS_TESTCLUSTER_DIR"

const (
	stopGrace = 10 * time.Second
	pollEvery = 100 * time.Millisecond
	logTail   = 4096
)

// process is a control-plane process. cmd is nil when the process was started by another
// program and found again through the pids file.
type process struct {
	name    string
	pid     int
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// startProcess runs path with args, its output going to DIR/<name>.log. Attached processes get
// SIGKILL when the test binary dies; detached ones get their own session and outlive us.
func (c *Cluster) startProcess(name, path string, args, env []string) (*process, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", name, err)
	}
	defer logFile.Close()

	cmd := exec.Command(path, args...)
	cmd.Dir = c.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, markerEnv+"="+c.Dir)
	if c.opts.Detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	c.procs = append(c.procs, p)
	if err := c.writePids(); err != nil {
		return nil, err
	}
	return p, nil
}

// forget stops a process that failed to start and drops it from the pids.
func (c *Cluster) forget(p *process) error {
	err := p.stop(c.Dir)
	c.procs = slices.DeleteFunc(c.procs, func(q *process) bool { return q == p })
	return errors.Join(err, c.writePids())
}

// running reports whether the cluster has a live process called name: one this program
// started, or, for a cluster found with Open, one recorded in its pids. c.mu must be held.
func (c *Cluster) running(name string) bool {
	for _, p := range c.procs {
		if p.name != name {
			continue
		}
		if p.cmd != nil {
			if exited, _ := p.hasExited(); !exited {
				return true
			}
		} else if belongsTo(p.pid, c.Dir) {
			return true
		}
	}
	return false
}

// hasExited reports whether a process we started has ended, with how.
func (p *process) hasExited() (bool, error) {
	if p.cmd == nil {
		return false, nil
	}
	select {
	case <-p.exited:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM, then SIGKILL after the grace period, and waits for the process to end.
func (p *process) stop(dir string) error {
	if exited, _ := p.hasExited(); exited {
		return nil
	}
	if p.cmd == nil && !belongsTo(p.pid, dir) {
		return nil // already gone, or the pid now belongs to someone else
	}
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", p.name, p.pid, err)
	}
	if p.waitGone(stopGrace) {
		return nil
	}
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", p.name, p.pid, err)
	}
	if p.waitGone(stopGrace) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) is still running after SIGKILL", p.name, p.pid)
}

func (p *process) waitGone(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if p.cmd != nil {
		select {
		case <-p.exited:
			return true
		case <-timer.C:
			return false
		}
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for alive(p.pid) {
		select {
		case <-tick.C:
		case <-timer.C:
			return false
		}
	}
	return true
}

// alive treats zombies as dead: a detached process is reparented to pid 1, which in a
// container may never reap it.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

func belongsTo(pid int, dir string) bool {
	if !alive(pid) {
		return false
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := []byte(markerEnv + "=" + dir)
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// tail returns the end of a process's log, for error messages.
func (p *process) tail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > logTail {
		if _, err := f.Seek(-logTail, io.SeekEnd); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(f)
	if i := bytes.IndexByte(data, '\n'); len(data) == logTail && i >= 0 {
		data = data[i+1:]
	}
	return string(bytes.TrimSpace(data))
}

// failure describes a startup failure of p, with the end of its log.
func (p *process) failure(what string, err error) error {
	if exited, waitErr := p.hasExited(); exited {
		err = fmt.Errorf("%s exited: %v", p.name, waitErr)
	}
	return fmt.Errorf("%s: %w\n--- %s (last lines) ---\n%s", what, err, p.logPath, p.tail())
}

// waitUntil polls check until it succeeds, p exits or the timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, p *process, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		if exited, _ := p.hasExited(); exited {
			return p.failure(what, err)
		}
		select {
		case <-ctx.Done():
			return p.failure(what, fmt.Errorf("%w (last error: %v)", ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports. They are released before the
// processes bind them; a clash shows up as a startup failure naming the address.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writePids records the processes as "name pid" lines, for `devcluster down`.
func (c *Cluster) writePids() error {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "%s %d\n", p.name, p.pid)
	}
	if err := writeFileAtomic(filepath.Join(c.Dir, pidsFile), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("recording the pids: %w", err)
	}
	return nil
}

func readPids(dir string) ([]*process, error) {
	data, err := os.ReadFile(filepath.Join(dir, pidsFile))
	if err != nil {
		return nil, err
	}
	var procs []*process
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pid, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 2 || err != nil || pid <= 0 {
			return nil, fmt.Errorf("reading %s: malformed line %q", filepath.Join(dir, pidsFile), strings.TrimSpace(line))
		}
		procs = append(procs, &process{name: f[0], pid: pid, logPath: filepath.Join(dir, f[0]+".log")})
	}
	return procs, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
