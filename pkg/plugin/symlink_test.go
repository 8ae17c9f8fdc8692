package plugin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// linkKustomization moves overlays/staging/kustomization.yaml of the repository at dir to
// target (relative to overlays/staging, or absolute) and leaves a link to it in its place.
func linkKustomization(t *testing.T, dir, target string) {
	t.Helper()
	kust := filepath.Join(dir, "overlays", "staging", "kustomization.yaml")
	dst := target
	if !filepath.IsAbs(dst) {
		dst = filepath.Join(filepath.Dir(kust), target)
	}
	if err := os.Rename(kust, dst); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, kust); err != nil {
		t.Fatal(err)
	}
}

// A scale whose replicas: entry is in a kustomization file that is a tracked link commits the
// file the link leads to, byte for byte as it would have edited the kustomization, and leaves
// the link a link, in the commit and in the working tree.
func TestScaleThroughLinkedKustomization(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	linkKustomization(t, dir, "staging.yaml")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "the staging kustomization behind a link")
	before := snapshot(t, dir)

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=3", "--repo", dir, "--path", "overlays/staging")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); !reflect.DeepEqual(files, []string{"overlays/staging/staging.yaml"}) {
		t.Errorf("the commit changes %q, want only overlays/staging/staging.yaml", files)
	}
	want := strings.Replace(before.Files["overlays/staging/staging.yaml"], "    count: 1\n", "    count: 3\n", 1)
	if got := gitRun(t, dir, "cat-file", "blob", "HEAD:overlays/staging/staging.yaml"); got != want {
		t.Errorf("the commit's overlays/staging/staging.yaml:\n%s", lineDiff(want, got))
	}
	if got := gitRun(t, dir, "ls-tree", "HEAD", "overlays/staging/kustomization.yaml"); !strings.HasPrefix(got, "120000 blob ") {
		t.Errorf("the commit's overlays/staging/kustomization.yaml is not a link: %s", got)
	}
	if target, err := os.Readlink(filepath.Join(dir, "overlays", "staging", "kustomization.yaml")); err != nil || target != "staging.yaml" {
		t.Errorf("the working tree's link: %q, %v", target, err)
	}
	if status := gitRun(t, dir, "status", "--porcelain"); status != "" {
		t.Errorf("the working tree differs from the commit:\n%s", status)
	}
}

// A kustomization file that is a link out of the repository stops a scale before it writes
// anything, with an error naming the link.
func TestScaleThroughLinkOutsideRefused(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	outside := filepath.Join(t.TempDir(), "kustomization.yaml")
	linkKustomization(t, dir, outside)
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "the staging kustomization outside")
	before := snapshot(t, dir)

	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=3", "--repo", dir, "--path", "overlays/staging")
	if code == 0 {
		t.Fatalf("a scale through a link out of the repository succeeded\n%s%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "overlays/staging/kustomization.yaml is a symbolic link to "+outside+", outside the repository") {
		t.Errorf("the error does not name the link:\n%s", stderr)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Error("the refused scale changed the repository")
	}
}
