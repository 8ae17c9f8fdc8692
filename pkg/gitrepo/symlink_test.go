package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TestCommitRefusesSymlinks: a change never replaces a symbolic link by a file, nor writes
// through a linked directory; the error names the link and nothing is written.
func TestCommitRefusesSymlinks(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	outside := t.TempDir()
	for link, target := range map[string]string{
		"apps/web/kustomization.yaml": "../db/statefulset.yaml", // a tracked link to a file
		"overlay":                     "apps/web",               // a tracked link to a directory
	} {
		if err := os.Symlink(target, filepath.Join(tr.dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	tr.git("add", "-A")
	tr.git("commit", "-q", "-m", "links")
	if err := os.Symlink(outside, filepath.Join(tr.dir, "ext")); err != nil { // untracked, out of the repository
		t.Fatal(err)
	}
	head, status := tr.head(), tr.git("status", "--porcelain")
	for path, link := range map[string]string{
		"apps/web/kustomization.yaml": "apps/web/kustomization.yaml",
		"overlay/deployment.yaml":     "overlay",
		"overlay/new.yaml":            "overlay",
		"ext/x.yaml":                  "ext",
	} {
		for _, del := range []bool{false, true} {
			_, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m",
				Changes: []Change{{Path: path, Content: []byte("replicas: 9\n"), Delete: del}}})
			if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), link) {
				t.Errorf("%s (delete %v): err = %v, want a refusal naming the link %s", path, del, err, link)
			}
		}
	}
	if tr.head() != head || tr.git("status", "--porcelain") != status || tr.read("apps/db/statefulset.yaml") != "replicas: 1\n" {
		t.Error("something was written")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the repository: %v", entries)
	}
	if target, err := os.Readlink(filepath.Join(tr.dir, "apps/web/kustomization.yaml")); err != nil || target != "../db/statefulset.yaml" {
		t.Errorf("link became %q, %v", target, err)
	}
	// Changing a link into another link is a link's change, not a file's.
	if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m",
		Changes: []Change{{Path: "apps/web/kustomization.yaml", Content: []byte("../db/old.yaml"), Mode: filemode.Symlink}}}); err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(filepath.Join(tr.dir, "apps/web/kustomization.yaml")); target != "../db/old.yaml" {
		t.Errorf("link points to %q", target)
	}
	tr.noLeftovers()
}
