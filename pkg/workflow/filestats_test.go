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
	d, _, err := target.Scan(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Targets) == 0 || d.Stats == nil || len(d.Stats.Files) == 0 {
		t.Fatal("discovery took no stats of the repository's files")
	}
	tg := d.Targets[0]
	if _, ok := d.Stats.Files[filepath.ToSlash(filepath.Join(tg.Path, "kustomization.yaml"))]; !ok {
		t.Errorf("no stat of %s/kustomization.yaml among %d", tg.Path, len(d.Stats.Files))
	}
	if targetCache(&tg, d.Stats).Seen == nil {
		t.Fatal("the stats were dropped with the index unchanged")
	}
	f := filepath.Join(dir, "README.md")
	if err := os.WriteFile(f, []byte("another commit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, dir, "add", "README.md")
	testrepo.Git(t, dir, "commit", "-q", "-m", "meanwhile")
	if targetCache(&tg, d.Stats).Seen != nil {
		t.Fatal("the stats were used after a commit changed the index")
	}
	if targetCache(&tg, nil).Seen != nil {
		t.Fatal("stats without a discovery")
	}
}
