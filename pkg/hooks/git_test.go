package hooks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// A tree is exported byte for byte with its modes and links, whatever .gitattributes says
// (git archive would drop export-ignore files and expand export-subst).
func TestExportTree(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	files := map[string]string{
		".gitattributes":   "ignored.yaml export-ignore\nsubst.txt export-subst\n",
		"ignored.yaml":     "kept: true\n",
		"subst.txt":        "$Format:%H$\n",
		"dir/sub/deep.txt": "deep\n",
	}
	for name, content := range files {
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir/sub/deep.txt", filepath.Join(repo, "link")); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, repo, "add", "-A")
	testrepo.Git(t, repo, "commit", "-q", "-m", "more")

	dest := t.TempDir()
	if err := exportTree(context.Background(), repo, "HEAD", dest); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		got, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(name)))
		if err != nil || string(got) != content {
			t.Errorf("%s: %q, %v; want %q", name, got, err, content)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "run.sh")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("run.sh: %v %v, want 0700", fi, err)
	}
	for _, p := range []string{"ignored.yaml", "dir/sub/deep.txt"} {
		if fi, err := os.Stat(filepath.Join(dest, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", p, fi, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "dir", "sub")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir/sub: %v %v, want 0700", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "link")); err != nil || l != "dir/sub/deep.txt" {
		t.Errorf("link: %q %v", l, err)
	}
	want, _ := os.ReadFile(filepath.Join(repo, "apps", "shop", "deployment.yaml"))
	if got, _ := os.ReadFile(filepath.Join(dest, "apps", "shop", "deployment.yaml")); string(got) != string(want) || len(want) == 0 {
		t.Error("apps/shop/deployment.yaml differs")
	}

	// The exports go to the process's private directory (internal/privtmp), and go with it.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	tr := newTrees(repo)
	d1, err := tr.export(context.Background(), "HEAD^{tree}")
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := tr.export(context.Background(), "HEAD^{tree}"); d2 != d1 {
		t.Error("the same tree was exported twice")
	}
	procDir := filepath.Dir(filepath.Dir(d1))
	if filepath.Dir(procDir) != filepath.Join(tmp, "kubectl-gitops-"+strconv.Itoa(os.Getuid())) || !strings.HasPrefix(filepath.Base(procDir), strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("export %s, want it in this process's private directory under %s", d1, tmp)
	}
	for _, p := range []string{filepath.Dir(d1), procDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want private", p, fi, err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(procDir); !os.IsNotExist(err) {
		t.Errorf("export left after Close: %v", err)
	}
}
