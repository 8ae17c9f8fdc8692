package workflow

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// TestFileStatsTrustedUntilACommit: the stats discovery took reach the render cache while the
// repository's index is as it was when they were taken; after a commit (another invocation's,
// made while this one waited for the lock) they are dropped and the cache stats files itself.
func TestFileStatsTrustedUntilACommit(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	all, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].FileStats == nil || len(all[0].FileStats.Files) == 0 {
		t.Fatal("discovery took no stats of the repository's files")
	}
	tg := all[0]
	if _, ok := tg.FileStats.Files[filepath.ToSlash(filepath.Join(tg.Path, "kustomization.yaml"))]; !ok {
		t.Errorf("no stat of %s/kustomization.yaml among %d", tg.Path, len(tg.FileStats.Files))
	}
	if targetCache(&tg).Seen == nil {
		t.Fatal("the stats were dropped with the index unchanged")
	}
	f := filepath.Join(dir, "README.md")
	if err := os.WriteFile(f, []byte("another commit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, dir, "add", "README.md")
	testrepo.Git(t, dir, "commit", "-q", "-m", "meanwhile")
	if targetCache(&tg).Seen != nil {
		t.Fatal("the stats were used after a commit changed the index")
	}
	tg.FileStats = nil
	if targetCache(&tg).Seen != nil {
		t.Fatal("stats without a discovery")
	}
}
