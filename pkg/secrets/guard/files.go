package guard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ReadPaths reads the files at paths from disk, descending into directories and skipping .git.
func ReadPaths(paths []string) ([]File, error) {
	var files []File
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Name() == ".git" && p != root {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				// A link to a directory is not followed; a link to a file is read.
				if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, File{Path: filepath.ToSlash(p), Data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("failed to read the files to check: %w", err)
		}
	}
	return files, nil
}

// Index reads a repository's index, the content the next commit will have, whatever the work
// tree holds.
type Index struct {
	// Dir is the repository's work tree.
	Dir string
}

// StagedFiles returns the files added, copied, modified or renamed in the index of the
// repository at repoDir, as staged, with repository-relative paths.
func StagedFiles(ctx context.Context, repoDir string) ([]File, error) {
	return Index{Dir: repoDir}.Staged(ctx)
}

// Staged returns the staged files.
func (ix Index) Staged(ctx context.Context) ([]File, error) {
	out, err := ix.git(ctx, nil, "diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACMR")
	if err != nil {
		return nil, fmt.Errorf("failed to list the staged files: %w", err)
	}
	files, err := ix.read(ctx, splitZ(out))
	if err != nil {
		return nil, fmt.Errorf("failed to read the staged files: %w", err)
	}
	return files, nil
}

// Kustomizations returns every kustomization file in the index.
func (ix Index) Kustomizations(ctx context.Context) ([]File, error) {
	out, err := ix.git(ctx, nil, "ls-files", "-z", "--cached")
	if err != nil {
		return nil, fmt.Errorf("failed to list the indexed files: %w", err)
	}
	var names []string
	for _, n := range splitZ(out) {
		if isKustomizationName(path.Base(n)) {
			names = append(names, n)
		}
	}
	files, err := ix.read(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("failed to read the indexed kustomizations: %w", err)
	}
	return files, nil
}

// ReadFile returns the staged content of the repository-relative file name; an error
// satisfying errors.Is(err, fs.ErrNotExist) when the index has no such file.
func (ix Index) ReadFile(ctx context.Context, name string) ([]byte, error) {
	files, err := ix.read(ctx, []string{cleanPath(name)})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, &fs.PathError{Op: "read", Path: name + " (staged)", Err: fs.ErrNotExist}
	}
	return files[0].Data, nil
}

// read reads blobs from the index with one `git cat-file --batch`; names the index does not
// hold as blobs (submodules, deleted files) are left out.
func (ix Index) read(ctx context.Context, names []string) ([]File, error) {
	var in bytes.Buffer
	var batch []string
	for _, n := range names {
		if strings.ContainsAny(n, "\n\r") {
			// The batch protocol is line-based; such names are read one by one.
			continue
		}
		batch = append(batch, n)
		in.WriteString(":" + n + "\n")
	}
	var files []File
	if len(batch) > 0 {
		out, err := ix.git(ctx, &in, "cat-file", "--batch")
		if err != nil {
			return nil, err
		}
		r := bufio.NewReader(bytes.NewReader(out))
		for _, n := range batch {
			data, ok, err := readBatchEntry(r)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", n, err)
			}
			if ok {
				files = append(files, File{Path: n, Data: data})
			}
		}
	}
	for _, n := range names {
		if !strings.ContainsAny(n, "\n\r") {
			continue
		}
		data, err := ix.git(ctx, nil, "cat-file", "blob", ":"+n)
		if err != nil {
			continue
		}
		files = append(files, File{Path: n, Data: data})
	}
	return files, nil
}

// readBatchEntry reads one answer of `git cat-file --batch`: "<oid> <type> <size>\n<content>\n",
// or "<name> missing\n".
func readBatchEntry(r *bufio.Reader) ([]byte, bool, error) {
	header, err := r.ReadString('\n')
	if err != nil {
		return nil, false, err
	}
	fields := strings.Fields(header)
	if len(fields) != 3 {
		return nil, false, nil
	}
	size, err := strconv.Atoi(fields[2])
	if err != nil {
		return nil, false, fmt.Errorf("unexpected cat-file header %q", strings.TrimSpace(header))
	}
	data := make([]byte, size+1)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, false, err
	}
	return data[:size], fields[1] == "blob", nil
}

func (ix Index) git(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return runGit(ctx, ix.Dir, stdin, args...)
}

// Toplevel returns the root of the git work tree that holds dir.
func Toplevel(ctx context.Context, dir string) (string, error) {
	out, err := runGit(ctx, dir, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("failed to find the repository of %s: %w", dir, err)
	}
	return filepath.Clean(strings.TrimSpace(string(out))), nil
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

func splitZ(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
