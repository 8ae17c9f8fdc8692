package gitrepo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LockFileName is the lock kubectl-gitops takes in the repository's git directory.
const LockFileName = "kubectl-gitops.lock"

// LockedError is returned by Lock when the context ends while another invocation holds the lock.
type LockedError struct {
	Path   string
	Holder string // "pid 123 on host since 2006-01-02T15:04:05Z", as far as the lock file says
	Err    error
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("the repository is locked by another kubectl-gitops (%s); if none is running, "+
		"remove %s: %v", e.Holder, e.Path, e.Err)
}

func (e *LockedError) Unwrap() error { return e.Err }

type lockHolder struct {
	pid     int
	host    string
	started time.Time
	token   string
}

func (h lockHolder) encode() []byte {
	return fmt.Appendf(nil, "pid: %d\nhostname: %s\nstarted: %s\ntoken: %s\n",
		h.pid, h.host, h.started.UTC().Format(time.RFC3339Nano), h.token)
}

func parseLockHolder(b []byte) (lockHolder, bool) {
	var h lockHolder
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "pid":
			h.pid, _ = strconv.Atoi(v)
		case "hostname":
			h.host = v
		case "started":
			h.started, _ = time.Parse(time.RFC3339Nano, v)
		case "token":
			h.token = v
		}
	}
	return h, h.pid > 0 && h.host != "" && h.token != ""
}

func (h lockHolder) String() string {
	return fmt.Sprintf("pid %d on %s since %s", h.pid, h.host, h.started.Local().Format(time.RFC3339))
}

// A lock file younger than this whose content cannot be read is being written, not abandoned.
const lockWriteGrace = 5 * time.Second

// Lock takes the repository's kubectl-gitops lock (LockFileName in the git directory, holding
// pid, hostname and start time). While another invocation holds it, Lock waits, polling with
// backoff, until it is released or ctx ends (a *LockedError). A lock left by a process that no
// longer runs on this host is removed. Holding the lock, Lock then finishes or undoes a commit
// that a killed process left half made (see the package documentation). unlock releases the
// lock; it may be called more than once.
func (r *Repo) Lock(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(r.commonDir, LockFileName)
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	me := lockHolder{pid: os.Getpid(), host: host, started: time.Now(), token: hex.EncodeToString(tok[:])}
	content := me.encode()

	delay := 5 * time.Millisecond
	for {
		took, err := createLock(path, content)
		if err != nil {
			return nil, err
		}
		if took {
			var once sync.Once
			unlock := func() { once.Do(func() { releaseLock(path, content) }) }
			// Before anything else, the commit a killed holder left is finished or undone.
			if err := r.recoverCommit(); err != nil {
				unlock()
				return nil, fmt.Errorf("failed to recover the commit an interrupted kubectl-gitops left in %s: %w", r.root, err)
			}
			return unlock, nil
		}
		raw, fi, err := readLockFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read the lock %s: %w", path, err)
		}
		holder, ok := parseLockHolder(raw)
		stale := ok && holder.host == host && !pidAlive(holder.pid) ||
			!ok && time.Since(fi.ModTime()) > lockWriteGrace
		if stale && breakStaleLock(path, raw) {
			continue
		}
		select {
		case <-ctx.Done():
			desc := "holder unknown"
			if ok {
				desc = holder.String()
			}
			return nil, &LockedError{Path: path, Holder: desc, Err: ctx.Err()}
		case <-time.After(jitter(delay)):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)+1))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(n.Int64())
}

// createLock creates the lock file exclusively; false when it exists.
func createLock(path string, content []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to create the lock %s: %w", path, err)
	}
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return false, fmt.Errorf("failed to write the lock %s: %w", path, err)
	}
	return true, nil
}

func readLockFile(path string) ([]byte, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	return b, fi, err
}

// releaseLock removes the lock if it is still this holder's.
func releaseLock(path string, content []byte) {
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, content) {
		_ = os.Remove(path)
	}
}

// breakStaleLock removes the lock file if it still holds raw. Waiters that find the same stale
// lock take turns through a second lock file, so none of them removes a lock that another has
// just taken in its place.
func breakStaleLock(path string, raw []byte) bool {
	guard := path + ".break"
	g, err := os.OpenFile(guard, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		// A guard is held for microseconds; one older than the grace period was abandoned.
		if fi, serr := os.Stat(guard); serr == nil && time.Since(fi.ModTime()) > lockWriteGrace {
			_ = os.Remove(guard)
		}
		return false
	}
	defer func() {
		_ = g.Close()
		_ = os.Remove(guard)
	}()
	cur, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(cur, raw) {
		return err != nil // gone: worth another try at once
	}
	return os.Remove(path) == nil
}
