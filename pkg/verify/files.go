package verify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
)

// RepoFiles reads the files of the repository at dir that a commit could hold: in a git work
// tree the tracked files and the untracked ones .gitignore does not exclude, as they are on disk;
// elsewhere every file below dir but .git. Paths are slash-separated and relative to dir.
func RepoFiles(ctx context.Context, dir string) ([]guard.File, error) {
	names, err := gitFiles(ctx, dir)
	if err != nil {
		return nil, err
	}
	if names == nil {
		files, err := guard.ReadPaths([]string{dir})
		if err != nil {
			return nil, err
		}
		for i := range files {
			rel, err := filepath.Rel(dir, filepath.FromSlash(files[i].Path))
			if err == nil {
				files[i].Path = filepath.ToSlash(rel)
			}
		}
		return files, nil
	}
	var files []guard.File
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			// Deleted in the work tree, a submodule, a link to a directory: nothing to read.
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", n, err)
		}
		files = append(files, guard.File{Path: n, Data: data})
	}
	return files, nil
}

// gitFiles lists the files of the work tree at dir git would commit; nil when dir is not in a
// git work tree.
func gitFiles(ctx context.Context, dir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--deduplicate")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "not a git repository") {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to list the files of %s: git ls-files: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	names := []string{}
	for _, n := range strings.Split(stdout.String(), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// readRepoFile reads a repository-relative file for the guard (a secretGenerator's input).
func readRepoFile(dir string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	}
}
