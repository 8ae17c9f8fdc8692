package plugin

import (
	"testing"
)

// A replicas: entry the plugin wrote in an overlay is what an undo or a delete of the object
// removes: rollout undo of a scale restores the kustomization byte for byte, and delete drops
// the entry with the object (kustomize refuses an entry that matches nothing).
func TestReplicasEntryUndoneAndDeleted(t *testing.T) {
	gitEnv(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	const kust = "namespace: a\nresources:\n  - ../../base\n"
	commitFiles(t, dir, "an app and its overlay", map[string]string{
		"base/kustomization.yaml": "resources:\n  - deploy.yaml\n",
		"base/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: web:1\n",
		"ov/a/kustomization.yaml": kust,
		"ov/b/kustomization.yaml": "namespace: b\nresources:\n  - ../../base\n",
	})
	run := func(args ...string) {
		t.Helper()
		if stdout, stderr, code := gitops(t, append(args, "--repo", dir, "--path", "ov/a", "-n", "a")...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	run("scale", "deploy/web", "--replicas=4")
	if got := gitRun(t, dir, "show", "HEAD:ov/a/kustomization.yaml"); got != kust+"replicas:\n  - name: web\n    count: 4\n" {
		t.Fatalf("after scale:\n%s", got)
	}
	run("rollout", "undo", "deploy/web")
	if got := gitRun(t, dir, "show", "HEAD:ov/a/kustomization.yaml"); got != kust {
		t.Errorf("after rollout undo:\n%s\nwant the kustomization as before the scale", got)
	}
	if files := gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD"); files != "ov/a/kustomization.yaml\n" {
		t.Errorf("rollout undo changed %q", files)
	}
	run("scale", "deploy/web", "--replicas=4")
	run("delete", "deploy/web")
	if got := gitRun(t, dir, "show", "HEAD:ov/a/kustomization.yaml"); got != kust+"patches:\n  - path: web-deployment-delete.yaml\n" {
		t.Errorf("after delete:\n%s", got)
	}
}
