package change

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// writePath is the file a change of the repository file p writes: p itself, or, when p is a
// symbolic link or lies below one, the file the links lead to. A tracked link is never replaced
// by a regular file: the file it leads to is edited, so the commit holds the link as it was and
// every kustomization that reads the file, through the link or not, sees the edit (the closed
// loop renders it so). A link that leads out of the repository, to a file git does not track,
// or to nothing, is refused naming it; so is a deletion through a link, which would delete the
// file other paths may read. A new file below a linked directory is written where the link
// leads.
func writePath(root, p string, deleted bool) (string, error) {
	real, links, err := render.Resolve(root, p)
	if err != nil {
		return "", fmt.Errorf("cannot write %s: %w", p, err)
	}
	if len(links) == 0 {
		return p, nil
	}
	link := links[0]
	if deleted {
		return "", fmt.Errorf("cannot delete %s: %s is a symbolic link to %s; delete the link, or the file it leads to, by hand", p, link, real)
	}
	fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(real)))
	if os.IsNotExist(err) {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p))); os.IsNotExist(err) {
			return real, nil // a new file in a linked directory
		}
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot write %s: %s is a symbolic link to %s, which does not exist: fix or remove the link", p, link, real)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("cannot write %s: %s is a symbolic link to %s, which is not a regular file", p, link, real)
	}
	ok, err := tracked(root, real)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("cannot write %s: %s is a symbolic link to %s, which git does not track: track %s, or replace the link with the file", p, link, real, real)
	}
	return real, nil
}

// tracked reports whether git tracks the repository file p (in its index). A tree that is not a
// git work tree is a commit's files exported for a render: every file in it is the commit's.
func tracked(root, p string) (bool, error) {
	if _, err := os.Lstat(filepath.Join(root, ".git")); os.IsNotExist(err) {
		return true, nil
	}
	cmd := exec.CommandContext(context.Background(), "git", "ls-files", "-z", "--cached", "--", ":(literal)"+p)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("failed to ask git whether it tracks %s: %w: %s", p, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Len() > 0, nil
}

// writePaths is files with each path replaced by the one a change of it writes (writePath);
// aliases records each link path met, with the file it leads to. Two paths that lead to one
// file with different contents are an error.
func writePaths(root string, files map[string][]byte, aliases map[string]string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(files))
	var errs []error
	for p, b := range files {
		real, err := writePath(root, p, b == nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if real != p {
			aliases[p] = real
		}
		if prev, ok := out[real]; ok && !bytes.Equal(prev, b) {
			errs = append(errs, fmt.Errorf("%s and another path lead to %s with different contents", p, real))
			continue
		}
		out[real] = b
	}
	return out, errors.Join(errs...)
}
