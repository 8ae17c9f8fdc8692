package revdiff

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// git runs the git executable in dir and returns its standard output.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// nulList splits git's -z output.
func nulList(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// resolve is the commit a revision names, refusing anything else (a tree, a path, a range).
func resolve(ctx context.Context, dir, rev string) (string, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("invalid revision %q", rev)
	}
	out, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%q is not a commit of the repository at %s (a branch, tag or commit hash, such as origin/main or HEAD~1)", rev, dir)
	}
	return strings.TrimSpace(string(out)), nil
}

// changedPaths are the files that differ between two commits, or between a commit and the
// working tree (to ""): tracked files changed, staged or not, and files not tracked.
func changedPaths(ctx context.Context, dir, from, to string) ([]string, error) {
	args := []string{"diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--ignore-submodules", from}
	if to != "" {
		args = append(args, to)
	}
	out, err := git(ctx, dir, append(args, "--")...)
	if err != nil {
		return nil, err
	}
	paths := nulList(out)
	if to == "" {
		untracked, err := git(ctx, dir, "ls-files", "-z", "--others", "--exclude-standard")
		if err != nil {
			return nil, err
		}
		paths = append(paths, nulList(untracked)...)
	}
	return paths, nil
}

// entry is a path of a commit's tree.
type entry struct {
	mode string // "100644", "100755", "120000" (a link), "160000" (a submodule)
	blob string
}

// treeEntries lists a commit's files by path.
func treeEntries(ctx context.Context, dir, commit string) (map[string]entry, error) {
	out, err := git(ctx, dir, "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return nil, err
	}
	entries := map[string]entry{}
	for _, line := range nulList(out) {
		// "MODE TYPE OBJECT\tPATH"
		meta, p, ok := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("git ls-tree: unexpected line %q", line)
		}
		entries[p] = entry{mode: f[0], blob: f[2]}
	}
	return entries, nil
}

// indexLinks are the symbolic links the index holds.
func indexLinks(ctx context.Context, dir string) ([]string, error) {
	out, err := git(ctx, dir, "ls-files", "-z", "--stage")
	if err != nil {
		return nil, err
	}
	var links []string
	for _, line := range nulList(out) {
		if strings.HasPrefix(line, "120000 ") {
			if _, p, ok := strings.Cut(line, "\t"); ok {
				links = append(links, p)
			}
		}
	}
	return links, nil
}

// readBlobs reads blobs by object name with one git cat-file.
func readBlobs(ctx context.Context, dir string, names []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(names))
	if len(names) == 0 {
		return out, nil
	}
	cmd := exec.CommandContext(ctx, "git", "cat-file", "--batch")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(pipe)
	readErr := func() error {
		for range names {
			head, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			f := strings.Fields(head)
			if len(f) != 3 {
				return fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(head))
			}
			size, err := strconv.Atoi(f[2])
			if err != nil {
				return fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(head))
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			if _, err := r.ReadByte(); err != nil {
				return err
			}
			out[f[0]] = b
		}
		return nil
	}()
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if readErr != nil {
		return nil, fmt.Errorf("git cat-file: %w", readErr)
	}
	return out, nil
}
