package gitrepo

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// RefMovedError is returned when a reference no longer points where the operation started from:
// someone else committed meanwhile.
type RefMovedError struct {
	Ref      string
	Expected string // "" when the reference was expected not to exist
	Actual   string // "" when it does not exist
}

func (e *RefMovedError) Error() string {
	exp, act := e.Expected, e.Actual
	if exp == "" {
		exp = "nothing"
	}
	if act == "" {
		act = "nothing"
	}
	return fmt.Sprintf("%s moved while committing: expected %.12s, found %.12s", e.Ref, exp, act)
}

// head is what HEAD points to.
type head struct {
	ref    string        // "refs/heads/NAME", or "" when detached
	hash   plumbing.Hash // the commit, if exists
	exists bool          // false on an unborn branch
}

func (r *Repo) readHead() (head, error) {
	b, err := os.ReadFile(filepath.Join(r.gitDir, "HEAD"))
	if err != nil {
		return head{}, fmt.Errorf("failed to read HEAD: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if target, ok := strings.CutPrefix(s, "ref:"); ok {
		target = strings.TrimSpace(target)
		h, ok, err := r.readRef(target)
		if err != nil {
			return head{}, err
		}
		return head{ref: target, hash: h, exists: ok}, nil
	}
	h, err := parseHash(s)
	if err != nil {
		return head{}, fmt.Errorf("failed to read HEAD: %w", err)
	}
	return head{hash: h, exists: true}, nil
}

func parseHash(s string) (plumbing.Hash, error) {
	if len(s) != 40 {
		return plumbing.ZeroHash, fmt.Errorf("invalid object name %q", s)
	}
	var h plumbing.Hash
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("invalid object name %q", s)
	}
	return h, nil
}

// refFile is the loose file of a reference. HEAD and a few namespaces belong to the worktree.
func (r *Repo) refFile(name string) string {
	dir := r.commonDir
	if name == "HEAD" || strings.HasPrefix(name, "refs/worktree/") || strings.HasPrefix(name, "refs/bisect/") ||
		strings.HasPrefix(name, "refs/rewritten/") {
		dir = r.gitDir
	}
	return filepath.Join(dir, filepath.FromSlash(name))
}

// readRef resolves a reference (loose, else packed) to an object; ok is false if it is absent.
func (r *Repo) readRef(name string) (plumbing.Hash, bool, error) {
	for range 5 {
		b, err := os.ReadFile(r.refFile(name))
		if err == nil {
			s := strings.TrimSpace(string(b))
			if target, ok := strings.CutPrefix(s, "ref:"); ok {
				name = strings.TrimSpace(target)
				continue
			}
			h, err := parseHash(s)
			if err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("failed to read %s: %w", name, err)
			}
			return h, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.EISDIR) {
			return plumbing.ZeroHash, false, fmt.Errorf("failed to read %s: %w", name, err)
		}
		return r.readPackedRef(name)
	}
	return plumbing.ZeroHash, false, fmt.Errorf("failed to read %s: symbolic references nest too deep", name)
}

func (r *Repo) readPackedRef(name string) (plumbing.Hash, bool, error) {
	b, err := os.ReadFile(filepath.Join(r.commonDir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("failed to read packed-refs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		hex, ref, ok := strings.Cut(line, " ")
		if ok && ref == name {
			h, err := parseHash(hex)
			if err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("failed to read packed-refs: %w", err)
			}
			return h, true, nil
		}
	}
	return plumbing.ZeroHash, false, sc.Err()
}

// lockFileTimeout is how long to wait for a lock git itself holds (index.lock, a ref's .lock):
// editors run `git status` often, and it holds index.lock for a moment.
const lockFileTimeout = 3 * time.Second

// createLockFile creates path+".lock" exclusively, retrying for a short while when another git
// process holds it.
func createLockFile(path string) (*os.File, error) {
	lock := path + ".lock"
	deadline := time.Now().Add(lockFileTimeout)
	delay := 5 * time.Millisecond
	for {
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) || time.Now().After(deadline) {
			if errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("unable to create %s: it exists; another git process seems to be running "+
					"in this repository; if not, remove the file and try again", lock)
			}
			return nil, fmt.Errorf("unable to create %s: %w", lock, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// refUpdate moves a reference from old to new (ZeroHash old: the reference must not exist),
// with git's protocol: NAME.lock is created exclusively, the current value is compared, the new
// value is written to the lock file and renamed over the reference.
type refUpdate struct {
	name      string
	old, new  plumbing.Hash
	reflogMsg string
	ident     string // "Name <email> unix tz" for the reflog; no reflog when empty
	headLog   bool   // also append to HEAD's reflog (HEAD points to this ref)
}

func (r *Repo) updateRef(u refUpdate) (err error) {
	path := r.refFile(u.name)
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return fmt.Errorf("failed to update %s: %w", u.name, err)
	}
	f, err := createLockFile(path)
	if err != nil {
		return fmt.Errorf("failed to update %s: %w", u.name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	cur, ok, err := r.readRef(u.name)
	if err != nil {
		return err
	}
	if ok != !u.old.IsZero() || (ok && cur != u.old) {
		e := &RefMovedError{Ref: u.name}
		if !u.old.IsZero() {
			e.Expected = u.old.String()
		}
		if ok {
			e.Actual = cur.String()
		}
		return e
	}
	if _, err := f.WriteString(u.new.String() + "\n"); err != nil {
		return fmt.Errorf("failed to update %s: %w", u.name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to update %s: %w", u.name, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("failed to update %s: %w", u.name, err)
	}
	committed = true
	// The reflog is a convenience for recovery; failing to append to it does not undo the update.
	if u.ident != "" {
		_ = r.appendReflog(u.name, u)
		if u.headLog {
			_ = r.appendReflog("HEAD", u)
		}
	}
	return nil
}

func (r *Repo) appendReflog(name string, u refUpdate) error {
	dir := r.commonDir
	if name == "HEAD" {
		dir = r.gitDir
	}
	path := filepath.Join(dir, "logs", filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	msg := strings.ReplaceAll(u.reflogMsg, "\n", " ")
	_, err = fmt.Fprintf(f, "%s %s %s\t%s\n", u.old, u.new, u.ident, msg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// validBranch checks a short branch name against git's rules for reference names.
func validBranch(name string) error {
	ref := plumbing.NewBranchReferenceName(name)
	if name == "" || name == "HEAD" || strings.HasPrefix(name, "-") || ref.Validate() != nil {
		return fmt.Errorf("invalid branch name %q", name)
	}
	return nil
}
