package gitrepo

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ExportTree writes the files of a commit of the repository at repoDir into dir, for rendering a
// state other than the working tree (the remote's new head, the commit a reconciler follows).
func ExportTree(ctx context.Context, repoDir, commit, dir string) error {
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	archive.Dir = repoDir
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	extract.Stdin = pipe
	var stderr strings.Builder
	archive.Stderr, extract.Stderr = &stderr, &stderr
	name := commit
	if len(name) > 12 {
		name = name[:12]
	}
	if err := archive.Start(); err != nil {
		return fmt.Errorf("exporting %s: %w", name, err)
	}
	if err := extract.Run(); err != nil {
		_ = archive.Wait()
		return fmt.Errorf("exporting %s: %v: %s", name, err, stderr.String())
	}
	if err := archive.Wait(); err != nil {
		return fmt.Errorf("exporting %s: %v: %s", name, err, stderr.String())
	}
	return nil
}
