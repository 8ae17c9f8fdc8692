package history

import (
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// A plain directory whose Deployment moves between files and styles (multi-document YAML,
// JSON, flow style, an alias for its kind) while other files change beside it, a CRD whose
// schema has a kind property among them: a commit is read from the bytes of the files it
// changed, and the revisions must be the brute force's.
func TestHistoryPlainFollowsMovedDocuments(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "plain")
	web := read(t, dir, "apps/shop/deployment.yaml")
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            kind:
              description: Kind is Deployment for web's widget.
              type: string
`
	commitAll(t, dir, "a CRD", map[string]string{"apps/shop/crd.yaml": crd})
	commitAll(t, dir, "the CRD changes", map[string]string{"apps/shop/crd.yaml": strings.Replace(crd, "web's widget", "web's widgets", 1)})
	config := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: all\n  namespace: shop\ndata:\n  a: b\n"
	commitAll(t, dir, "web moves into all.yaml", map[string]string{"apps/shop/all.yaml": config + "---\n" + web}, "apps/shop/deployment.yaml")
	commitAll(t, dir, "web to 6 in all.yaml", replace(t, dir, "apps/shop/all.yaml", "replicas: 2", "replicas: 6"))
	commitAll(t, dir, "a worker Deployment", map[string]string{"apps/shop/worker.yaml": strings.NewReplacer("name: web\n", "name: worker\n", "app: web", "app: worker").Replace(web)})
	commitAll(t, dir, "worker to 3", replace(t, dir, "apps/shop/worker.yaml", "replicas: 2", "replicas: 3"))
	commitAll(t, dir, "web as JSON", map[string]string{"apps/shop/all.yaml": config, "apps/shop/web.json": `{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "web", "namespace": "shop"},
 "spec": {"replicas": 7, "selector": {"matchLabels": {"app": "web"}},
  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
`})
	commitAll(t, dir, "web in flow style", map[string]string{"apps/shop/web.yaml": `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop},
  spec: {replicas: 8, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "web:1"}]}}}}
`}, "apps/shop/web.json")
	commitAll(t, dir, "web's kind through an alias", map[string]string{"apps/shop/web.yaml": `apiVersion: apps/v1
metadata: {name: web, namespace: shop, labels: {made-as: &k Deployment}}
kind: *k
spec: {replicas: 9, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "web:1"}]}}}
`})
	commitAll(t, dir, "the CRD goes", nil, "apps/shop/crd.yaml")

	for _, o := range []struct{ kind, name string }{{"Deployment", "web"}, {"Deployment", "worker"}, {"ConfigMap", "all"}, {"CustomResourceDefinition", "widgets.example.com"}} {
		t.Run(o.kind+"/"+o.name, func(t *testing.T) {
			res := assertSameHistory(t, dir, "apps/shop", o.kind, o.name)
			t.Logf("%d revisions, %d commits read, %d renders", len(res.Revisions), res.Stats.Commits, res.Stats.Renders)
		})
	}
}

func TestMayDefineKind(t *testing.T) {
	for _, c := range []struct {
		name, data string
		want       bool
	}{
		{"block", "apiVersion: apps/v1\nkind: Deployment\n", true},
		{"comment after", "kind: Deployment # web\n", true},
		{"quoted", "kind: \"Deployment\"\n", true},
		{"single quoted", "kind: 'Deployment'\n", true},
		{"JSON", `{"kind": "Deployment"}`, true},
		{"flow", "{apiVersion: apps/v1, kind: Deployment}", true},
		{"alias", "kind: *k\n", true},
		{"tag", "kind: !!str Deployment\n", true},
		{"block scalar", "kind: |-\n  Deployment\n", true},
		{"next line", "kind:\n  Deployment\n", true},
		{"escape", `kind: "Deplo\x79ment"`, true},
		{"line continuation", "kind: \"Deploy\\\n  ment\"\n", true},
		{"other kind", "apiVersion: v1\nkind: Service\n", false},
		{"longer kind", "kind: DeploymentConfig\n", false},
		{"schema property", "properties:\n  kind:\n    description: a Deployment\n    type: string\n", false},
		{"prose", "description: kind of a Deployment\n", false},
		{"empty", "", false},
	} {
		if got := mayDefineKind([]byte(c.data), "Deployment"); got != c.want {
			t.Errorf("%s: mayDefineKind(%q) = %v, want %v", c.name, c.data, got, c.want)
		}
	}
}

// A kustomization that only gathers files (the shape of kube-prometheus's root one): commits
// that add, remove and reorder its entries, or change other objects' files, cannot change the
// Deployment's form and are judged from their bytes, without a render; one that moves it to
// another file or adds a namePrefix is rendered. The revisions must be the
// brute force's.
func TestHistoryGatherOnlyKustomization(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "plain")
	kust := func(files ...string) string {
		return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata:\n  name: shop\nresources:\n- " + strings.Join(files, "\n- ") + "\n"
	}
	web := read(t, dir, "apps/shop/deployment.yaml")
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: shop\ndata:\n  a: b\n"
	commitAll(t, dir, "a kustomization", map[string]string{"apps/shop/kustomization.yaml": kust("namespace.yaml", "deployment.yaml", "service.yaml", "config.yaml")})
	commitAll(t, dir, "web to 3", replace(t, dir, "apps/shop/deployment.yaml", "replicas: 2", "replicas: 3"))
	commitAll(t, dir, "an extra ConfigMap listed", map[string]string{"apps/shop/extra.yaml": extra, "apps/shop/kustomization.yaml": kust("namespace.yaml", "deployment.yaml", "service.yaml", "config.yaml", "extra.yaml")})
	commitAll(t, dir, "entries reordered", map[string]string{"apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "service.yaml", "deployment.yaml")})
	commitAll(t, dir, "the extra ConfigMap changes", replace(t, dir, "apps/shop/extra.yaml", "a: b", "a: c"))
	commitAll(t, dir, "the service unlisted", map[string]string{"apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "deployment.yaml")})
	commitAll(t, dir, "web moves to its own file", map[string]string{"apps/shop/web.yaml": read(t, dir, "apps/shop/deployment.yaml"), "apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "web.yaml")}, "apps/shop/deployment.yaml")
	commitAll(t, dir, "a worker Deployment listed", map[string]string{"apps/shop/worker.yaml": strings.ReplaceAll(web, "web", "worker"), "apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "web.yaml", "worker.yaml")})
	commitAll(t, dir, "a name prefix", map[string]string{"apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "web.yaml", "worker.yaml") + "namePrefix: p-\n"})
	commitAll(t, dir, "no name prefix", map[string]string{"apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "web.yaml", "worker.yaml")})
	commitAll(t, dir, "the extra ConfigMap changes again", replace(t, dir, "apps/shop/extra.yaml", "a: c", "a: d"))
	commitAll(t, dir, "the worker unlisted", map[string]string{"apps/shop/kustomization.yaml": kust("config.yaml", "extra.yaml", "namespace.yaml", "web.yaml")})
	commitAll(t, dir, "web to 4", replace(t, dir, "apps/shop/web.yaml", "replicas: 3", "replicas: 4"))

	res := assertSameHistory(t, dir, "apps/shop", "Deployment", "web")
	t.Logf("%d revisions, %d commits read, %d renders", len(res.Revisions), res.Stats.Commits, res.Stats.Renders)
	if res.Stats.Renders > 9 {
		t.Errorf("%d renders for %d commits: the commits that only gather other files were not judged from their bytes", res.Stats.Renders, res.Stats.Commits)
	}
	assertSameHistory(t, dir, "apps/shop", "ConfigMap", "extra")
}
