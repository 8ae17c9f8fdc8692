package hooks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
)

// zeroSHA is how git's pre-push input spells "no commit": a deleted ref's local side, a new
// ref's remote side. SHA-256 repositories use 64 zeros.
func isZeroSHA(s string) bool {
	return s != "" && strings.Trim(s, "0") == ""
}

func runGit(ctx context.Context, dir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

func gitLine(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := runGit(ctx, dir, nil, args...)
	return strings.TrimSpace(string(out)), err
}

// hasCommit tells whether the repository has the commit sha.
func hasCommit(ctx context.Context, dir, sha string) bool {
	_, err := runGit(ctx, dir, nil, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// exportTree writes the files of treeish (a commit or a tree) below dest, as a checkout would,
// without touching the repository's work tree or index: `git ls-tree` names the entries and one
// `git cat-file --batch` reads them. Unlike `git archive`, it applies no export-ignore or
// export-subst attribute, so the files are the committed bytes.
func exportTree(ctx context.Context, dir, treeish, dest string) error {
	out, err := runGit(ctx, dir, nil, "ls-tree", "-r", "-z", "--full-tree", treeish)
	if err != nil {
		return fmt.Errorf("failed to list the files of %s: %w", treeish, err)
	}
	type entry struct {
		mode, oid, path string
	}
	var blobs []entry
	for _, rec := range strings.Split(string(out), "\x00") {
		if rec == "" {
			continue
		}
		meta, name, ok := strings.Cut(rec, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return fmt.Errorf("unexpected git ls-tree output %q", rec)
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("%s holds a path outside the tree: %q", treeish, name)
		}
		switch fields[1] {
		case "blob":
			blobs = append(blobs, entry{mode: fields[0], oid: fields[2], path: name})
		case "commit":
			// A submodule: an empty directory, as a checkout without --recurse-submodules.
			if err := os.MkdirAll(filepath.Join(dest, filepath.FromSlash(name)), 0o700); err != nil {
				return err
			}
		}
	}
	if len(blobs) == 0 {
		return nil
	}

	cmd := exec.CommandContext(ctx, "git", "cat-file", "--batch")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to read the files of %s: %w", treeish, err)
	}
	go func() {
		w := bufio.NewWriter(stdin)
		for _, b := range blobs {
			fmt.Fprintln(w, b.oid)
		}
		_ = w.Flush()
		_ = stdin.Close()
	}()
	r := bufio.NewReader(stdout)
	var readErr error
	for _, b := range blobs {
		if readErr = writeBlob(r, dest, b.path, b.mode); readErr != nil {
			readErr = fmt.Errorf("failed to export %s of %s: %w", b.path, treeish, readErr)
			break
		}
	}
	if readErr != nil {
		_ = cmd.Process.Kill()
	}
	_, _ = io.Copy(io.Discard, r)
	waitErr := cmd.Wait()
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		return fmt.Errorf("failed to read the files of %s: git cat-file: %w: %s", treeish, waitErr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// writeBlob reads one answer of `git cat-file --batch` and writes it as the file name.
func writeBlob(r *bufio.Reader, dest, name, mode string) error {
	header, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	fields := strings.Fields(header)
	if len(fields) != 3 || fields[1] != "blob" {
		return fmt.Errorf("unexpected git cat-file answer %q", strings.TrimSpace(header))
	}
	size, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return fmt.Errorf("unexpected git cat-file answer %q", strings.TrimSpace(header))
	}
	p := filepath.Join(dest, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if mode == "120000" {
		target := make([]byte, size)
		if _, err := io.ReadFull(r, target); err != nil {
			return err
		}
		if err := os.Symlink(string(target), p); err != nil {
			return err
		}
	} else {
		// Owner-only, as everything in the private directory: the tree may hold the
		// plaintext the guard is about to refuse.
		perm := os.FileMode(0o600)
		if mode == "100755" {
			perm = 0o700
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, r, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if b, err := r.ReadByte(); err != nil || b != '\n' {
		return errors.New("git cat-file answer not terminated by a newline")
	}
	return nil
}

// trees exports commits and trees to the process's private temporary directory, each once,
// and removes them all on Close (and on an interrupt, with the private directory).
type trees struct {
	dir    string // the repository
	root   string // the private directory holding the exports
	remove func() error
	done   map[string]string
}

func newTrees(dir string) *trees {
	return &trees{dir: dir, done: map[string]string{}}
}

// export returns the directory holding treeish's files.
func (t *trees) export(ctx context.Context, treeish string) (string, error) {
	if d, ok := t.done[treeish]; ok {
		return d, nil
	}
	if t.root == "" {
		root, remove, err := privtmp.MkdirTemp("hook-")
		if err != nil {
			return "", fmt.Errorf("failed to make a directory for the exported files: %w", err)
		}
		t.root, t.remove = root, remove
	}
	d := filepath.Join(t.root, strconv.Itoa(len(t.done)))
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", err
	}
	if err := exportTree(ctx, t.dir, treeish, d); err != nil {
		return "", err
	}
	t.done[treeish] = d
	return d, nil
}

// Close removes the exports.
func (t *trees) Close() error {
	if t.remove == nil {
		return nil
	}
	return t.remove()
}
