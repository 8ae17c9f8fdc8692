package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// -f names objects as kubectl reads manifests: a manifest's own namespace counts (an object of
// that name in another namespace is not changed), a directory gives all its manifests, and a
// List gives its items.
func TestFileSelectionAsKubectlReadsIt(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	where := []string{"--repo", dir, "--path", "overlays/staging"}
	files := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(files, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deploy := func(name, ns string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n"
	}

	before := snapshot(t, dir)
	other := write("other.yaml", deploy("web", "other"))
	_, stderr, code := gitops(t, append([]string{"scale", "-f", other, "--replicas=3"}, where...)...)
	if code == 0 || !strings.Contains(stderr, "not found in namespace other") {
		t.Errorf("scale -f of a manifest in namespace other: exit %d\n%s", code, stderr)
	}
	_, stderr, code = gitops(t, append([]string{"scale", "-f", other, "-n", "shop", "--replicas=3"}, where...)...)
	if code == 0 || !strings.Contains(stderr, "does not match the namespace") {
		t.Errorf("-n that disagrees with the manifest: exit %d\n%s", code, stderr)
	}
	assertUnchanged(t, dir, before, "the refused -f")

	write("dir/web.yaml", deploy("web", "shop"))
	write("dir/nested/worker.yaml", deploy("worker", "shop"))
	out, stderr, code := gitops(t, append([]string{"annotate", "-f", filepath.Join(files, "dir"), "owner=shop"}, where...)...)
	if code != 0 || out != "deployment.apps/web annotated\n" {
		t.Errorf("annotate -f DIR: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = gitops(t, append([]string{"annotate", "-f", filepath.Join(files, "dir"), "-R", "tier=backend"}, where...)...)
	if code != 0 || !strings.Contains(out, "deployment.apps/web annotated") || !strings.Contains(out, "deployment.apps/worker annotated") {
		t.Errorf("annotate -f DIR -R: exit %d\n%s%s", code, out, stderr)
	}

	list := write("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web, namespace: shop}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: worker, namespace: shop}\n")
	out, stderr, code = gitops(t, append([]string{"label", "-f", list, "team=shop"}, where...)...)
	if code != 0 || !strings.Contains(out, "deployment.apps/web labeled") || !strings.Contains(out, "deployment.apps/worker labeled") {
		t.Errorf("label -f LIST: exit %d\n%s%s", code, out, stderr)
	}
}

// An edit whose buffer gives a key twice is refused as kubectl edit refuses it: the editor
// reopens with the error, and nothing is written.
func TestEditRefusesDuplicateKeys(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	ed := newScriptedEditor(t, `if [ "$RUN" = 1 ]; then printf 'spec:\n  replicas: 9\n' >> "$1"; fi`)
	ed.use(t)
	before := snapshot(t, dir)
	_, stderr, code := gitops(t, "edit", "deploy/web", "--repo", dir, "--path", "overlays/staging")
	if code == 0 {
		t.Fatalf("the edit with a second spec: was committed\n%s", stderr)
	}
	runs := ed.runs(t)
	if len(runs) != 2 || !strings.Contains(runs[1], "a key is given twice") {
		t.Errorf("the editor did not reopen with the error; it saw:\n%s", strings.Join(runs, "\n-----\n"))
	}
	assertUnchanged(t, dir, before, "the refused edit")
}
