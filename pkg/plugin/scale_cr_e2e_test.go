package plugin

import (
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Connected to the cluster and with no CRD in the target's render, scale asks discovery: a
// custom resource whose resource has a scale subresource there is scaled at the cluster CRD's
// specReplicasPath; one without is refused, saying so.
func TestE2EScaleCustomResourceByDiscovery(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	crds := filepath.Join(t.TempDir(), "crds.yaml")
	if err := os.WriteFile(crds, []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pools.e2e-scale.example.com
spec:
  group: e2e-scale.example.com
  names: {kind: Pool, plural: pools, singular: pool}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
      subresources:
        scale:
          specReplicasPath: .spec.size
          statusReplicasPath: .status.size
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: buckets.e2e-scale.example.com
spec:
  group: e2e-scale.example.com
  names: {kind: Bucket, plural: buckets, singular: bucket}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCRDs(ctx, crds); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, "pools"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pools")
	for p, content := range map[string]string{
		"pools/kustomization.yaml": "resources:\n  - pool.yaml\n  - bucket.yaml\n",
		"pools/pool.yaml":          "apiVersion: e2e-scale.example.com/v1\nkind: Pool\nmetadata:\n  name: workers\n  namespace: pools\nspec:\n  size: 2\n",
		"pools/bucket.yaml":        "apiVersion: e2e-scale.example.com/v1\nkind: Bucket\nmetadata:\n  name: blobs\n  namespace: pools\nspec:\n  replicas: 1\n",
	} {
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
	testrepo.Git(t, dir, "commit", "-q", "-m", "pools")

	run := func(args ...string) (string, error) {
		cmd := osexec.CommandContext(ctx, pluginBin, append([]string{"--kubeconfig", c.KubeconfigPath, "-n", "pools"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// --dry-run=server checks against the kubeconfig's cluster: the command is connected.
	out, err := run("scale", "pool/workers", "--replicas=4", "--repo", dir, "--path", "pools", "--dry-run=server")
	if err != nil {
		t.Fatalf("scale pool/workers: %v\n%s", err, out)
	}
	if !strings.Contains(out, "-  size: 2\n+  size: 4\n") {
		t.Errorf("scale pool/workers: want size 2 → 4 in pools/pool.yaml:\n%s", out)
	}
	out, err = run("scale", "bucket/blobs", "--replicas=2", "--repo", dir, "--path", "pools", "--dry-run=server")
	if err == nil || !strings.Contains(out, "buckets.e2e-scale.example.com has no scale subresource in the cluster") {
		t.Errorf("scale bucket/blobs: err %v, want a refusal naming the missing scale subresource:\n%s", err, out)
	}
	// Offline (no kubeconfig), nothing tells: refused, saying how.
	offline := osexec.CommandContext(ctx, pluginBin, "-n", "pools", "scale", "pool/workers", "--replicas=4", "--repo", dir, "--path", "pools", "--dry-run")
	offline.Env = append(os.Environ(), append(env, "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))...)
	b, err := offline.CombinedOutput()
	if out = string(b); err == nil || !strings.Contains(out, "no CRD in this target's render defines it with a scale subresource") {
		t.Errorf("offline scale pool/workers: err %v, want a refusal:\n%s", err, out)
	}
	if s := testrepo.Git(t, dir, "status", "--porcelain"); s != "" {
		t.Errorf("the repository changed:\n%s", s)
	}
}
