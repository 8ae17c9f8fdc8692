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

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
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

// StagedFiles returns the files added, copied, modified, renamed or changed in type in the
// index of the repository at repoDir, as staged, with repository-relative paths.
func StagedFiles(ctx context.Context, repoDir string) ([]File, error) {
	return Index{Dir: repoDir}.Staged(ctx)
}

// changedFilter is what a change must have done to a path for its new content to be checked:
// added, copied, modified, renamed, or changed in type (T: a symbolic link that became a file
// holds the file's content now). With --no-renames a rename or a copy is an addition, whatever
// diff.renames says.
const changedFilter = "--diff-filter=ACMRT"

// Staged returns the staged files.
func (ix Index) Staged(ctx context.Context) ([]File, error) {
	out, err := ix.tree().git(ctx, nil, "diff", "--cached", "--no-ext-diff", "--name-only", "-z", "--no-renames", changedFilter)
	if err != nil {
		return nil, fmt.Errorf("failed to list the staged files: %w", err)
	}
	files, err := ix.tree().read(ctx, splitZ(out))
	if err != nil {
		return nil, fmt.Errorf("failed to read the staged files: %w", err)
	}
	return files, nil
}

// Kustomizations returns every kustomization file in the index.
func (ix Index) Kustomizations(ctx context.Context) ([]File, error) {
	files, err := ix.tree().kustomizations(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read the indexed kustomizations: %w", err)
	}
	return files, nil
}

// ReadFile returns the staged content of the repository-relative file name; an error
// satisfying errors.Is(err, fs.ErrNotExist) when the index has no such file.
func (ix Index) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return ix.tree().readFile(ctx, name)
}

func (ix Index) tree() gitTree { return gitTree{dir: ix.Dir} }

// Commit reads one commit of a repository.
type Commit struct {
	// Dir is the repository's work tree.
	Dir string
	// SHA names the commit.
	SHA string
}

// Parent is the commit's first parent, "" for a root commit.
func (cm Commit) Parent(ctx context.Context) (string, error) {
	out, err := runGit(ctx, cm.Dir, nil, "rev-list", "--parents", "-n", "1", cm.SHA)
	if err != nil {
		return "", fmt.Errorf("failed to read commit %s: %w", cm.SHA, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", nil
	}
	return f[1], nil
}

// Changed returns the files the commit adds, copies, modifies, renames or changes in type,
// compared with its first parent (all its files for a root commit), as committed.
func (cm Commit) Changed(ctx context.Context) ([]File, error) {
	parent, err := cm.Parent(ctx)
	if err != nil {
		return nil, err
	}
	args := []string{"diff-tree", "-r", "-z", "--no-commit-id", "--name-only", "--no-renames", changedFilter}
	if parent == "" {
		args = append(args, "--root", cm.SHA)
	} else {
		args = append(args, parent, cm.SHA)
	}
	out, err := runGit(ctx, cm.Dir, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("failed to list the files of commit %s: %w", cm.SHA, err)
	}
	files, err := cm.tree().read(ctx, splitZ(out))
	if err != nil {
		return nil, fmt.Errorf("failed to read the files of commit %s: %w", cm.SHA, err)
	}
	return files, nil
}

// Kustomizations returns every kustomization file of the commit.
func (cm Commit) Kustomizations(ctx context.Context) ([]File, error) {
	files, err := cm.tree().kustomizations(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read the kustomizations of commit %s: %w", cm.SHA, err)
	}
	return files, nil
}

// ReadFile returns the content of the repository-relative file name at the commit; an error
// satisfying errors.Is(err, fs.ErrNotExist) when it has no such file.
func (cm Commit) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return cm.tree().readFile(ctx, name)
}

func (cm Commit) tree() gitTree { return gitTree{dir: cm.Dir, rev: cm.SHA} }

// gitTree is one version of a repository's files: the index, or a commit.
type gitTree struct {
	dir string
	rev string // "" for the index
}

func (t gitTree) git(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return runGit(ctx, t.dir, stdin, args...)
}

// spec names a file of the tree as git's revision syntax does: ":path" in the index.
func (t gitTree) spec(name string) string {
	return t.rev + ":" + name
}

func (t gitTree) kustomizations(ctx context.Context) ([]File, error) {
	var out []byte
	var err error
	if t.rev == "" {
		out, err = t.git(ctx, nil, "ls-files", "-z", "--cached")
	} else {
		out, err = t.git(ctx, nil, "ls-tree", "-r", "-z", "--name-only", "--full-tree", t.rev)
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range splitZ(out) {
		if reach.IsFileName(path.Base(n)) {
			names = append(names, n)
		}
	}
	return t.read(ctx, names)
}

func (t gitTree) readFile(ctx context.Context, name string) ([]byte, error) {
	files, err := t.read(ctx, []string{cleanPath(name)})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		where := "staged"
		if t.rev != "" {
			where = "at " + t.rev
		}
		return nil, &fs.PathError{Op: "read", Path: name + " (" + where + ")", Err: fs.ErrNotExist}
	}
	return files[0].Data, nil
}

// read reads blobs from the tree with one `git cat-file --batch`; names the tree does not hold
// as blobs (submodules, deleted files, directories) are left out.
func (t gitTree) read(ctx context.Context, names []string) ([]File, error) {
	var in bytes.Buffer
	var batch []string
	for _, n := range names {
		if strings.ContainsAny(n, "\n\r") {
			// The batch protocol is line-based; such names are read one by one.
			continue
		}
		batch = append(batch, n)
		in.WriteString(t.spec(n) + "\n")
	}
	var files []File
	if len(batch) > 0 {
		out, err := t.git(ctx, &in, "cat-file", "--batch")
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
		data, err := t.git(ctx, nil, "cat-file", "blob", t.spec(n))
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
