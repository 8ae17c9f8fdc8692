package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// rolloutRepo is the kustomize sample with a history: one commit that changes both web's
// replicas and worker's image tag in staging's kustomization (so an undo of web must leave
// worker alone), then a commit of production only.
func rolloutRepo(t *testing.T) string {
	t.Helper()
	dir := testrepo.New(t, "kustomize")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	staging := read("overlays/staging/kustomization.yaml")
	for _, r := range [][2]string{{"count: 1", "count: 3"}, {`newTag: "2.1.0"`, `newTag: "2.2.0"`}} {
		if strings.Count(staging, r[0]) != 1 {
			t.Fatalf("the sample changed: %q occurs %d times in staging", r[0], strings.Count(staging, r[0]))
		}
		staging = strings.Replace(staging, r[0], r[1], 1)
	}
	commitFiles(t, dir, "staging: web to 3 replicas, worker 2.2.0", map[string]string{"overlays/staging/kustomization.yaml": staging})
	commitFiles(t, dir, "production: web to 5 replicas", map[string]string{
		"overlays/production/kustomization.yaml": strings.Replace(read("overlays/production/kustomization.yaml"), "count: 4", "count: 5", 1),
	})
	return dir
}

// outputGolden runs a command that changes nothing and returns its golden text.
func outputGolden(t *testing.T, dir string, args ...string) string {
	t.Helper()
	stdout, stderr, code := gitops(t, args...)
	if code != 0 {
		t.Fatalf("kubectl gitops %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	mask := maskCommits(t, dir)
	return fmt.Sprintf("$ kubectl gitops %s\n==== stdout\n%s==== stderr\n%s", mask.Replace(strings.Join(args, " ")), mask.Replace(stdout), mask.Replace(stderr))
}

// rollout undo restores web's form before its last change, as a new commit through the
// placement rules: staging's replicas: entry goes back to 1, and worker's tag, which the same
// old commit changed, stays as it is now. Then rollout history and history show the three
// revisions, and --to-revision restores revision 2.
func TestIssue5GoldenRolloutUndo(t *testing.T) {
	gitEnv(t)
	dir := rolloutRepo(t)
	target := []string{"--repo", dir, "--path", "overlays/staging"}
	rendersBefore := renderTargets(t, dir)

	// --dry-run writes nothing and shows the diff the commit will have.
	before := snapshot(t, dir)
	dry, dryErr, code := gitops(t, append([]string{"rollout", "undo", "deploy/web", "--dry-run"}, target...)...)
	if code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", code, dryErr)
	}
	assertUnchanged(t, dir, before, "rollout undo --dry-run")

	g := commandGolden(t, dir, []string{"overlays/staging/kustomization.yaml"}, append([]string{"rollout", "undo", "deploy/web"}, target...)...)
	assertGolden(t, "issue5-rollout-undo", g)
	if d, w := diffHunks(dry), diffHunks(gitRun(t, dir, "show", "--format=", "HEAD")); d != w {
		t.Errorf("the dry run's diff is not the commit's:\n--- dry run\n%s--- commit\n%s", d, w)
	}
	got := assertRendersUnchanged(t, rendersBefore, renderTargets(t, dir), "overlays/staging", "Deployment.apps shop/web")
	wantReplicas(1)(t, got["Deployment.apps shop/web"])
	wantContainer("worker", "registry.example.com/shop/worker:2.2.0", "image")(t, got["Deployment.apps shop/worker"])

	assertGolden(t, "issue5-rollout-history", outputGolden(t, dir, append([]string{"rollout", "history", "deploy/web"}, target...)...))
	assertGolden(t, "issue5-history", outputGolden(t, dir, append([]string{"history", "deployment/web"}, target...)...))
	assertGolden(t, "issue5-rollout-history-revision", outputGolden(t, dir, append([]string{"rollout", "history", "deploy/web", "--revision=2"}, target...)...))

	g = commandGolden(t, dir, []string{"overlays/staging/kustomization.yaml"}, append([]string{"rollout", "undo", "deploy/web", "--to-revision=2"}, target...)...)
	assertGolden(t, "issue5-rollout-undo-to-revision", g)
	wantReplicas(3)(t, renderedObject(t, dir, "overlays/staging", "Deployment.apps shop/web"))
	wantContainer("worker", "registry.example.com/shop/worker:2.2.0", "image")(t, renderedObject(t, dir, "overlays/staging", "Deployment.apps shop/worker"))

	// The form is already revision 2's: nothing to do, as kubectl says.
	before = snapshot(t, dir)
	stdout, stderr, code := gitops(t, append([]string{"rollout", "undo", "deploy/web", "--to-revision=2"}, target...)...)
	if code != 0 || stdout != "deployment.apps/web skipped rollback (current template already matches revision 2)\n" {
		t.Errorf("undo to the current form: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	assertUnchanged(t, dir, before, "an undo to the current form")
}

// history -o json lists the revisions for scripts, oldest first, with the fields that changed.
func TestIssue5HistoryJSON(t *testing.T) {
	gitEnv(t)
	dir := rolloutRepo(t)
	stdout, stderr, code := gitops(t, "history", "deploy/worker", "--repo", dir, "--path", "overlays/staging", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var out struct {
		Object    string `json:"object"`
		Namespace string `json:"namespace"`
		Path      string `json:"path"`
		Revisions []struct {
			Revision int      `json:"revision"`
			Commit   string   `json:"commit"`
			Author   string   `json:"author"`
			Subject  string   `json:"subject"`
			Created  bool     `json:"created"`
			Changes  []string `json:"changes"`
		} `json:"revisions"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if out.Object != "deployment.apps/worker" || out.Namespace != "shop" || out.Path != "overlays/staging" || len(out.Revisions) != 2 {
		t.Fatalf("%+v", out)
	}
	first, second := out.Revisions[0], out.Revisions[1]
	if first.Revision != 1 || !first.Created || first.Subject != "Initial kustomize" || first.Author != "Test Author" {
		t.Errorf("revision 1: %+v", first)
	}
	want := "spec.template.spec.containers[name=worker].image: registry.example.com/shop/worker:2.1.0 → registry.example.com/shop/worker:2.2.0"
	if second.Revision != 2 || second.Commit != revParse(t, dir, "HEAD~1") || len(second.Changes) != 1 || second.Changes[0] != want {
		t.Errorf("revision 2: %+v, want the commit HEAD~1 with %q", second, want)
	}
}

// Mistakes say what to do, with kubectl's exit code, and write nothing.
func TestIssue5RolloutUndoErrors(t *testing.T) {
	gitEnv(t)
	dir := rolloutRepo(t)
	before := snapshot(t, dir)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"rollout", "undo", "svc/web"}, []string{"no rollout history found for service/web", "overlays/staging"}},
		{[]string{"rollout", "undo", "deploy/web", "--to-revision=9"}, []string{"unable to find the specified revision 9", "revisions 1 to 2"}},
		{[]string{"rollout", "undo", "deploy/web", "--to-revision=-1"}, []string{"--to-revision", "See 'kubectl gitops rollout undo --help' for usage."}},
		{[]string{"rollout", "history", "deploy/nope"}, []string{`"nope" not found`, "overlays/staging"}},
		{[]string{"history", "deploy/web", "deploy/worker"}, []string{"one resource"}},
	} {
		args := append(append([]string{}, tc.args...), "--repo", dir, "--path", "overlays/staging")
		stdout, stderr, code := gitops(t, args...)
		if code != 1 || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: the error does not say %q:\n%s", tc.args, w, stderr)
			}
		}
	}
	assertUnchanged(t, dir, before, "the failed commands")
}

// An object deleted before HEAD keeps its history: history and rollout history show the commits
// up to and including the one that deleted it, the deletion shown as such, as git log -- PATH
// shows a deleted file; rollout undo brings back the form it last rendered with, in a file of its
// own, and the target renders it as before the deletion.
func TestIssue5GoldenHistoryDeleted(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "plain")
	target := []string{"--repo", dir, "--path", "."}
	original := renderedObject(t, dir, ".", "Service shop/web")
	if original == nil {
		t.Fatal("the sample has no Service shop/web")
	}
	if _, stderr, code := gitops(t, append([]string{"delete", "service/web"}, target...)...); code != 0 {
		t.Fatalf("delete: exit %d\n%s", code, stderr)
	}
	// A later commit that does not touch the service: the deletion is not HEAD.
	commitFiles(t, dir, "web config: currency", map[string]string{
		"apps/shop/config.yaml": strings.Replace(readFile(t, dir, "apps/shop/config.yaml"), "CURRENCY: EUR", "CURRENCY: USD", 1),
	})

	assertGolden(t, "issue5-history-deleted", outputGolden(t, dir, append([]string{"history", "svc/web"}, target...)...))
	assertGolden(t, "issue5-rollout-history-deleted", outputGolden(t, dir, append([]string{"rollout", "history", "service/web"}, target...)...))

	g := commandGolden(t, dir, []string{"service-web.yaml"}, append([]string{"rollout", "undo", "service/web"}, target...)...)
	assertGolden(t, "issue5-rollout-undo-deleted", g)
	back := renderedObject(t, dir, ".", "Service shop/web")
	if back == nil || !reflect.DeepEqual(back.Object, original.Object) {
		t.Errorf("after the undo, Service shop/web renders as\n%v\nwant as before the deletion\n%v", back, original)
	}
}

// The undo of a deletion the target's own file cannot override (a $patch: delete of an object of
// the shared base) says how to restore it instead, and writes nothing; so does an undo to the
// deletion's own revision.
func TestIssue5RolloutUndoDeletedErrors(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	target := []string{"--repo", dir, "--path", "overlays/staging"}
	if _, stderr, code := gitops(t, append([]string{"delete", "deployment/worker"}, target...)...); code != 0 {
		t.Fatalf("delete: exit %d\n%s", code, stderr)
	}
	removal := revParse(t, dir, "HEAD")[:7]
	before := snapshot(t, dir)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"rollout", "undo", "deploy/worker"}, []string{"deployment.apps/worker was removed from target", "by commit " + removal + " (revision 2)",
			"git revert " + removal, "kubectl gitops rollout history deployment.apps/worker --revision=1"}},
		{[]string{"rollout", "undo", "deploy/worker", "--to-revision=2"}, []string{"revision 2 of deployment.apps/worker is commit " + removal, "--to-revision", "apply -f"}},
	} {
		stdout, stderr, code := gitops(t, append(tc.args, target...)...)
		if code != 1 || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: the error does not say %q:\n%s", tc.args, w, stderr)
			}
		}
	}
	assertUnchanged(t, dir, before, "the refused undos")
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
