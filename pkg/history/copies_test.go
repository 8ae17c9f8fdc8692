package history

import (
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Replacements and vars whose sources are named no longer make every state render whole: a
// change to a source's content reaches the objects it is copied into, and nothing else does.
// The target reads a second application whose kustomization has a replacement of its own, and
// the base gains a var read from the web Service; the histories must be the brute force's.
func TestHistoryMatchesFullRendersWithCopies(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	blog := `apiVersion: v1
kind: ConfigMap
metadata:
  name: blog-config
  namespace: shop
data:
  VERSION: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: blog
  namespace: shop
spec:
  selector:
    matchLabels: {app: blog}
  template:
    metadata:
      labels: {app: blog}
    spec:
      containers:
        - name: blog
          image: blog:1
`
	blogKust := `resources:
  - blog.yaml
replacements:
  - source:
      kind: ConfigMap
      name: blog-config
      fieldPath: data.VERSION
    targets:
      - select:
          kind: Deployment
          name: blog
        fieldPaths:
          - metadata.annotations.[blog.example.com/version]
        options:
          create: true
`
	files := replace(t, dir, "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - ../../apps/blog\n")
	files["apps/blog/blog.yaml"] = blog
	files["apps/blog/kustomization.yaml"] = blogKust
	commitAll(t, dir, "staging: the blog", files)
	commitAll(t, dir, "blog: version 2 (copied into blog only)", replace(t, dir, "apps/blog/blog.yaml", `VERSION: "1"`, `VERSION: "2"`))
	commitAll(t, dir, "blog: image", replace(t, dir, "apps/blog/blog.yaml", "image: blog:1", "image: blog:2"))
	files = replace(t, dir, "base/kustomization.yaml", "labels:\n", `vars:
  - name: WEB_PORT
    objref:
      kind: Service
      name: web
      apiVersion: v1
    fieldref:
      fieldPath: spec.ports[0].port

labels:
`)
	for k, v := range replace(t, dir, "base/web.yaml", `args: ["--port", "8080",`, `args: ["--service-port", "$(WEB_PORT)", "--port", "8080",`) {
		files[k] = v
	}
	commitAll(t, dir, "base: web reads its Service's port", files)
	commitAll(t, dir, "base: Service port (copied into web)", replace(t, dir, "base/service.yaml", "port: 80\n", "port: 8081\n"))
	commitAll(t, dir, "base: worker image", replace(t, dir, "base/worker.yaml", "worker:2.0.0", "worker:2.0.1"))
	commitAll(t, dir, "blog: version 3", replace(t, dir, "apps/blog/blog.yaml", `VERSION: "2"`, `VERSION: "3"`))

	for _, o := range []struct{ kind, name string }{{"Deployment", "web"}, {"Deployment", "blog"}, {"Deployment", "worker"}, {"Service", "web"}} {
		t.Run(o.kind+"/"+o.name, func(t *testing.T) {
			res := assertSameHistory(t, dir, "overlays/staging", o.kind, o.name)
			t.Logf("%d revisions, %d commits read, %d renders", len(res.Revisions), res.Stats.Commits, res.Stats.Renders)
		})
	}
}
