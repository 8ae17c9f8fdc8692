package plugin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// queueRepo is a repository whose base defines two custom resources with their CRDs: Queue
// (a scale subresource keeping its count in .spec.workers) and Cache (none); overlays a and b
// both read the base, and b has a Queue of its own.
func queueRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "queues")
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n  - crds.yaml\n  - queue.yaml\n  - cache.yaml\n",
		"base/crds.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: queues.jobs.example.com
spec:
  group: jobs.example.com
  names: {kind: Queue, plural: queues, singular: queue}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
      subresources:
        scale:
          specReplicasPath: .spec.workers
          statusReplicasPath: .status.workers
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: caches.jobs.example.com
spec:
  group: jobs.example.com
  names: {kind: Cache, plural: caches, singular: cache}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
		"base/queue.yaml": `apiVersion: jobs.example.com/v1
kind: Queue
metadata:
  name: jobs
  namespace: work
spec:
  workers: 2
`,
		"overlays/b/mail.yaml": `apiVersion: jobs.example.com/v1
kind: Queue
metadata:
  name: mail
  namespace: work
spec:
  # one worker per partition
  workers: 2
  partitions: 2
`,
		"base/cache.yaml": `apiVersion: jobs.example.com/v1
kind: Cache
metadata:
  name: results
  namespace: work
spec:
  replicas: 1
`,
		"overlays/a/kustomization.yaml": "resources:\n  - ../../base\n",
		"overlays/b/kustomization.yaml": "resources:\n  - ../../base\n  - mail.yaml\n",
	}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.Git(t, dir, "init", "-q", "-b", "main")
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-q", "-m", "queues")
	return dir
}

// scale changes a custom resource whose CRD, in the target's render, has a scale subresource:
// the field its specReplicasPath names, in the resource's own file when only this target
// renders it, else in a patch of the overlay; --current-replicas reads the same field. A
// custom resource without a scale subresource is refused, naming why, and nothing is written.
func TestScaleCustomResource(t *testing.T) {
	gitEnv(t)
	dir := queueRepo(t)

	files := mustGitops(t, dir, "scale", "queue/mail", "-n", "work", "--replicas=4", "--current-replicas=2", "--path", "overlays/b")
	if want := []string{"overlays/b/mail.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("the commit changes %q, want %q", files, want)
	}
	if d := gitRun(t, dir, "diff", "-U0", "HEAD~1", "HEAD", "--", "overlays/b/mail.yaml"); !strings.Contains(d, "-  workers: 2\n+  workers: 4\n") || strings.Count(d, "\n+") != 2 {
		t.Errorf("overlays/b/mail.yaml: want only workers: 2 → 4:\n%s", d)
	}

	files = mustGitops(t, dir, "scale", "queue/jobs", "-n", "work", "--replicas=6", "--path", "overlays/a")
	if want := []string{"overlays/a/jobs-patch.yaml", "overlays/a/kustomization.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("overlay: the commit changes %q, want %q", files, want)
	}
	a := renderOf(t, dir, "overlays/a")
	if q := objectNamed(a, "Queue", "jobs"); q == nil || q.Obj().Object["spec"].(map[string]any)["workers"] != int64(6) {
		t.Errorf("overlays/a: Queue jobs does not render with 6 workers: %v", q)
	}
	if q := objectNamed(renderOf(t, dir, "overlays/b"), "Queue", "jobs"); q.Obj().Object["spec"].(map[string]any)["workers"] != int64(2) {
		t.Errorf("overlays/b: Queue jobs changed: %v", q.Obj().Object["spec"])
	}

	before := snapshot(t, dir)
	_, stderr, code := gitops(t, "scale", "cache/results", "-n", "work", "--replicas=2", "--repo", dir, "--path", "overlays/a")
	if code == 0 || !strings.Contains(stderr, "cannot be changed this way") || !strings.Contains(stderr, "version v1 has no scale subresource") {
		t.Errorf("scale of a Cache: exit %d, stderr:\n%s\nwant a refusal saying its CRD has no scale subresource", code, stderr)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Errorf("the refused scale changed the repository")
	}
}
