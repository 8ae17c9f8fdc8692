package gitrepo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

func fillStatCommon(e *indexEntry, fi os.FileInfo) {
	mt := fi.ModTime()
	e.mtimeS, e.mtimeN = uint32(mt.Unix()), uint32(mt.Nanosecond())
	e.size = uint32(fi.Size())
}

// worktreeUpdate writes new file contents beside their destinations first and renames them into
// place only in commit, so a failure before commit leaves the working tree as it was and a
// reader never sees a half-written file.
type worktreeUpdate struct {
	root    string
	renames [][2]string // temp file, destination
	removes []string
	dirs    []string // directories created for new files, removed again on rollback
	done    bool
}

func (w *worktreeUpdate) abs(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// checkParents refuses a path whose parent directories are files or symbolic links: writing
// through a link would change a file outside the working tree.
func (w *worktreeUpdate) checkParents(rel string) error {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/")
		fi, err := os.Lstat(w.abs(dir))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("cannot write %s: %s is not a directory in the working tree", rel, dir)
		}
	}
	return nil
}

func (w *worktreeUpdate) mkdirs(rel string) error {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := w.abs(strings.Join(parts[:i], "/"))
		err := os.Mkdir(dir, 0o777)
		if err == nil {
			w.dirs = append(w.dirs, dir)
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
	}
	return nil
}

// prepareWrite writes content to a temporary file beside rel. mode is the git mode; an existing
// file keeps its permission bits except for the executable bits the mode asks for.
func (w *worktreeUpdate) prepareWrite(rel string, content []byte, mode uint32) error {
	if err := w.checkParents(rel); err != nil {
		return err
	}
	if err := w.mkdirs(rel); err != nil {
		return err
	}
	dst := w.abs(rel)
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".kubectl-gitops-"+hex.EncodeToString(suffix[:]))
	if canonicalMode(mode) == 0o120000 {
		if err := os.Symlink(string(content), tmp); err != nil {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
		w.renames = append(w.renames, [2]string{tmp, dst})
		return nil
	}
	exec := canonicalMode(mode) == 0o100755
	perm := fs.FileMode(0o666)
	if exec {
		perm = 0o777
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm) // the umask applies
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", rel, err)
	}
	w.renames = append(w.renames, [2]string{tmp, dst})
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", rel, err)
	}
	if fi, err := os.Lstat(dst); err == nil && fi.Mode().IsRegular() && runtime.GOOS != "windows" {
		p := fi.Mode().Perm()
		if exec {
			p |= (p & 0o444) >> 2
		} else {
			p &^= 0o111
		}
		if err := os.Chmod(tmp, p); err != nil {
			return fmt.Errorf("cannot write %s: %w", rel, err)
		}
	}
	return nil
}

func (w *worktreeUpdate) prepareRemove(rel string) error {
	if err := w.checkParents(rel); err != nil {
		return err
	}
	w.removes = append(w.removes, w.abs(rel))
	return nil
}

// rollback removes the temporary files and created directories, unless commit ran.
func (w *worktreeUpdate) rollback() {
	if w.done {
		return
	}
	for _, rn := range w.renames {
		_ = os.Remove(rn[0])
	}
	for i := len(w.dirs) - 1; i >= 0; i-- {
		_ = os.Remove(w.dirs[i])
	}
}

// commit moves every prepared file into place and removes the deleted ones, with their
// directories once empty. It keeps going after an error and reports each path that failed.
func (w *worktreeUpdate) commit() map[string]error {
	w.done = true
	failed := map[string]error{}
	for _, rn := range w.renames {
		if err := os.Rename(rn[0], rn[1]); err != nil {
			_ = os.Remove(rn[0])
			failed[rn[1]] = err
		}
	}
	for _, p := range w.removes {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			failed[p] = err
			continue
		}
		for dir := filepath.Dir(p); dir != w.root && strings.HasPrefix(dir, w.root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break
			}
		}
	}
	return failed
}
