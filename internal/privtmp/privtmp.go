// Package privtmp keeps every temporary copy the plugin writes (an exported tree, an editor's
// buffer, a decrypted Secret) in one private directory per process:
// $TMPDIR/kubectl-gitops-UID/PID-RANDOM, mode 0700 like its parent, files in it 0600.
//
// The directory goes on every exit path (with the user's directory, when no other run uses it):
// when the last directory made in it is removed (the callers defer that, which a panic runs too), and on SIGINT, SIGTERM, SIGHUP and SIGQUIT,
// after which the signal ends the process as it would have without this package (so exit
// statuses stay as they were). Code that handles those signals itself, to stop a child and
// return an error that main turns into an exit code, says so with HoldSignals. What a run
// killed with SIGKILL (or one that called os.Exit) leaves is removed by the next run that
// makes a directory: its owner's lock is free, or, where there are no locks, its pid is dead
// or it is older than a day.
package privtmp

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// staleAge is the age after which a directory whose owner cannot be asked (no lock) is removed.
const staleAge = 24 * time.Hour

// lockName is the file in a process's directory that the process holds locked while it lives.
const lockName = ".lock"

var (
	mu sync.Mutex
	// root is the process's directory, "" when it has none; lock is held while it exists.
	root string
	lock *os.File
	// live counts the directories made in root and not removed yet.
	live int
	// holds counts the callers that handle the signals themselves (HoldSignals).
	holds int
	// watching is the signal handler that watches for root's sake, nil when root is "".
	watching *watcher
)

// MkdirTemp makes a new private directory in the process's directory, named after pattern as
// os.MkdirTemp names it, and returns a function that removes it (and the process's directory
// with the last one). Call remove on every path (defer it): once it has run, the directory
// is gone. Write files in it with mode 0600.
func MkdirTemp(pattern string) (dir string, remove func() error, err error) {
	mu.Lock()
	defer mu.Unlock()
	if root == "" {
		if err := create(); err != nil {
			return "", nil, fmt.Errorf("failed to make a private temporary directory: %w", err)
		}
	}
	dir, err = os.MkdirTemp(root, pattern)
	if err != nil {
		if live == 0 {
			removeRoot()
		}
		return "", nil, fmt.Errorf("failed to make a private temporary directory: %w", err)
	}
	live++
	var once sync.Once
	remove = func() error {
		var err error
		once.Do(func() { err = release(dir) })
		return err
	}
	return dir, remove, nil
}

// HoldSignals tells the package that the caller handles SIGINT, SIGTERM, SIGHUP and SIGQUIT
// itself until it calls release: on one of them it stops its work and returns, so that the
// removes deferred above it run, and main exits with its error. Until then a signal leaves the
// directories in place (an editor may still have its buffer open in one). Holds nest.
func HoldSignals() (release func()) {
	mu.Lock()
	if holds++; holds == 1 && watching != nil {
		watching.pause()
	}
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			if holds--; holds == 0 && watching != nil {
				watching.resume()
			}
			mu.Unlock()
		})
	}
}

// Sweep removes what runs killed with SIGKILL left (their directories, with any decrypted file
// in them), without making a directory of this process: a command that may write a Secret calls
// it, so that a dead edit's buffer does not wait for the next run that needs a directory.
func Sweep() {
	if _, err := os.Lstat(userDir()); err != nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if parent, err := base(); err == nil {
		sweep(parent)
		// Nothing else in it: leave no empty directory behind.
		_ = os.Remove(parent)
	}
}

// base is the directory that holds the directories of every run of this user, made private.
func base() (string, error) {
	dir := userDir()
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	// An existing directory must be a directory of ours that nobody else can read: in a shared
	// temporary directory, anyone may have made it first.
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory: remove it, or set TMPDIR", dir)
	}
	if err := checkOwner(dir, fi); err != nil {
		return "", err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// userDir is the directory of this user's runs, $TMPDIR/kubectl-gitops-UID.
func userDir() string {
	uid := "user"
	if id := os.Getuid(); id >= 0 {
		uid = strconv.Itoa(id)
	}
	return filepath.Join(os.TempDir(), "kubectl-gitops-"+uid)
}

// create makes the process's directory, locked and watched for signals, after removing what
// dead runs left. mu is held.
func create() error {
	var dir string
	for attempt := 0; ; attempt++ {
		parent, err := base()
		if err == nil {
			sweep(parent)
			dir, err = os.MkdirTemp(parent, strconv.Itoa(os.Getpid())+"-")
		}
		if err == nil {
			break
		}
		// Another run removed the user's directory when it found it empty (between our
		// making it and using it): make it again.
		if !errors.Is(err, os.ErrNotExist) || attempt == 9 {
			return err
		}
	}
	l, err := lockDir(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	root, lock = dir, l
	watching = watch()
	return nil
}

// release removes a directory made by MkdirTemp, and the process's directory after the last.
func release(dir string) error {
	mu.Lock()
	defer mu.Unlock()
	err := os.RemoveAll(dir)
	if live--; live == 0 {
		if rerr := removeRoot(); err == nil {
			err = rerr
		}
	}
	return err
}

// removeRoot removes the process's directory and stops watching for signals. mu is held.
func removeRoot() error {
	if root == "" {
		return nil
	}
	if watching != nil {
		watching.stop()
		watching = nil
	}
	err := os.RemoveAll(root)
	if lock != nil {
		_ = lock.Close()
		lock = nil
	}
	// The user's directory too, when no other run has one in it: nothing is left behind.
	_ = os.Remove(filepath.Dir(root))
	root, live = "", 0
	return err
}

// watched are the signals that end the process by default: each would leave the directory.
var watched = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// watcher removes the process's directory when a signal comes that nobody holds, then lets
// the signal end the process. A signal the process was started to ignore (nohup) stays
// ignored. Its methods run with mu held.
type watcher struct {
	ch   chan os.Signal
	sigs []os.Signal
	done chan struct{}
}

func watch() *watcher {
	w := &watcher{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	for _, s := range watched {
		if !signal.Ignored(s) {
			w.sigs = append(w.sigs, s)
		}
	}
	if holds == 0 {
		signal.Notify(w.ch, w.sigs...)
	}
	go w.run()
	return w
}

func (w *watcher) run() {
	for {
		select {
		case sig := <-w.ch:
			mu.Lock()
			if watching != w || holds > 0 {
				// Stopped, or held, after the signal came: it is not this watcher's.
				mu.Unlock()
				continue
			}
			_ = removeRoot()
			mu.Unlock()
			reraise(sig)
			return
		case <-w.done:
			return
		}
	}
}

// pause stops the signals for a hold: the holder has its own handler, so none of them ends the
// process meanwhile. A signal already queued came with the holder's, which handles it.
func (w *watcher) pause() {
	signal.Stop(w.ch)
	select {
	case <-w.ch:
	default:
	}
}

func (w *watcher) resume() {
	signal.Notify(w.ch, w.sigs...)
}

// stop ends the watcher; a signal it has queued is then ignored, and the signals get their
// default action again (unless someone else handles them).
func (w *watcher) stop() {
	signal.Stop(w.ch)
	close(w.done)
}

// sweep removes the directories of runs that are over: those whose lock is free, or, without
// a lock, whose process is gone or which are older than staleAge. It never fails a run.
func sweep(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		pidText, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if over(dir, pid) {
			_ = os.RemoveAll(dir)
		}
	}
}

// over says whether the run that made dir is over.
func over(dir string, pid int) bool {
	if free, known := lockFree(filepath.Join(dir, lockName)); known {
		return free
	}
	if !alive(pid) {
		return true
	}
	fi, err := os.Stat(dir)
	return err == nil && time.Since(fi.ModTime()) > staleAge
}
