package plugin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// renderOf renders one target of the repository at dir.
func renderOf(t *testing.T, dir, path string) *render.Result {
	t.Helper()
	r, err := render.Render(dir, path, render.Options{})
	if err != nil {
		t.Fatalf("render %s: %v", path, err)
	}
	return r
}

// objectNamed is the rendered object of a kind whose name starts with prefix (a generated
// object's name ends in its hash), or nil.
func objectNamed(r *render.Result, kind, prefix string) *render.Object {
	for _, o := range r.Objects {
		if o.ID.Kind == kind && strings.HasPrefix(o.ID.Name, prefix) {
			return o
		}
	}
	return nil
}

// mustGitops runs a command that must succeed and returns the files its commit changed.
func mustGitops(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	before := revParse(t, dir, "HEAD")
	if _, stderr, code := gitops(t, append(args, "--repo", dir)...); code != 0 {
		t.Fatalf("kubectl gitops %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	if parent := revParse(t, dir, "HEAD~1"); parent != before {
		t.Fatalf("kubectl gitops %s made no single commit on %s", strings.Join(args, " "), before)
	}
	return strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD"))
}

// In an overlay with namespace: and namePrefix:, the patches name the object as the base does:
// a second change to the same object extends the patch the first one wrote, delete writes a
// `$patch: delete` that matches, and rollout undo takes the plugin's own change back. The
// other overlay renders as before throughout.
func TestPrefixedOverlayChangesDeleteUndo(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "prefixed")
	prod := renderOf(t, dir, "overlays/prod").YAML()
	dev := "Deployment.apps catalog-dev/dev-catalog"

	files := mustGitops(t, dir, "set", "env", "deploy/dev-catalog", "-c", "catalog", "LOG_LEVEL=debug", "--path", "overlays/dev")
	if want := []string{"overlays/dev/catalog-patch.yaml", "overlays/dev/kustomization.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("first change: the commit changes %q, want %q", files, want)
	}
	files = mustGitops(t, dir, "set", "env", "deploy/dev-catalog", "-c", "catalog", "DB_POOL_SIZE=20", "--path", "overlays/dev")
	if want := []string{"overlays/dev/catalog-patch.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("second change: the commit changes %q, want only the first change's patch %q", files, want)
	}
	patch := gitRun(t, dir, "show", "HEAD:overlays/dev/catalog-patch.yaml")
	if !strings.Contains(patch, "  name: catalog\n") || strings.Contains(patch, "namespace:") {
		t.Errorf("the patch does not name the object as the base does (catalog, no namespace):\n%s", patch)
	}
	r := renderOf(t, dir, "overlays/dev")
	wantEnvOrder("catalog", "LOG_LEVEL=debug", "LISTEN_ADDR=:8080", "DB_POOL_SIZE=20")(t, r.Get(render.ObjectID{Group: "apps", Kind: "Deployment", Namespace: "catalog-dev", Name: "dev-catalog"}).Obj())

	files = mustGitops(t, dir, "delete", "service/dev-catalog", "--path", "overlays/dev")
	if want := []string{"overlays/dev/catalog-service-delete.yaml", "overlays/dev/kustomization.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("delete: the commit changes %q, want %q", files, want)
	}
	if del := gitRun(t, dir, "show", "HEAD:overlays/dev/catalog-service-delete.yaml"); !strings.Contains(del, "  name: catalog\n$patch: delete\n") {
		t.Errorf("the delete patch does not name the Service as the base does:\n%s", del)
	}
	r = renderOf(t, dir, "overlays/dev")
	if objectNamed(r, "Service", "dev-catalog") != nil {
		t.Errorf("Service catalog-dev/dev-catalog still renders after delete")
	}

	files = mustGitops(t, dir, "rollout", "undo", "deploy/dev-catalog", "--path", "overlays/dev")
	if want := []string{"overlays/dev/catalog-patch.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("rollout undo: the commit changes %q, want %q", files, want)
	}
	r = renderOf(t, dir, "overlays/dev")
	wantEnvOrder("catalog", "LOG_LEVEL=debug", "LISTEN_ADDR=:8080", "DB_POOL_SIZE=10")(t, r.Get(render.ObjectID{Group: "apps", Kind: "Deployment", Namespace: "catalog-dev", Name: "dev-catalog"}).Obj())
	if objectNamed(r, "Deployment", "dev-catalog") == nil {
		t.Fatalf("%s no longer renders", dev)
	}
	if got := renderOf(t, dir, "overlays/prod").YAML(); !bytes.Equal(got, prod) {
		t.Errorf("overlays/prod renders differently:\n%s", lineDiff(string(prod), string(got)))
	}
}

// A ConfigMap key a generator reads from a file is changed in that file: a files: file gets
// its new content (only the changed line differs), an envs: file its KEY=VALUE line, a new key
// a line at the end. A key from the base, which the other overlay reads too, goes into this
// overlay's patch instead, and the base stays as it is.
func TestGeneratorKeysEditTheirFile(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "prefixed")
	before := snapshot(t, dir)

	cm := objectNamed(renderOf(t, dir, "overlays/dev"), "ConfigMap", "dev-mailcatcher-settings-")
	conf := strings.Replace(before.Files["overlays/dev/smtp.conf"], "max_message_size = 10MB", "max_message_size = 20MB", 1)
	files := mustGitops(t, dir, "patch", "configmap/"+cm.ID.Name, "--type", "merge", "-p", `{"data":{"smtp.conf":`+jsonString(conf)+`}}`, "--path", "overlays/dev")
	if want := []string{"overlays/dev/smtp.conf"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("files: key: the commit changes %q, want %q", files, want)
	}
	if got := gitRun(t, dir, "show", "HEAD:overlays/dev/smtp.conf"); got != conf {
		t.Errorf("smtp.conf:\n%s\nwant:\n%s", got, conf)
	}
	if got := objectNamed(renderOf(t, dir, "overlays/dev"), "ConfigMap", "dev-mailcatcher-settings-"); got.Obj().Object["data"].(map[string]any)["smtp.conf"] != conf {
		t.Errorf("the ConfigMap does not render the new file: %v", got.Obj().Object["data"])
	}

	cm = objectNamed(renderOf(t, dir, "overlays/prod"), "ConfigMap", "catalog-config-prod-")
	files = mustGitops(t, dir, "patch", "configmap/"+cm.ID.Name, "--type", "merge", "-p", `{"data":{"FEATURE_WISHLIST":"false"}}`, "--path", "overlays/prod")
	if want := []string{"overlays/prod/catalog.env"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("envs: key: the commit changes %q, want %q", files, want)
	}
	if got := gitRun(t, dir, "show", "HEAD:overlays/prod/catalog.env"); got != "FEATURE_WISHLIST=false\n" {
		t.Errorf("catalog.env: %q, want the line's value changed", got)
	}
	cm = objectNamed(renderOf(t, dir, "overlays/prod"), "ConfigMap", "catalog-config-prod-")
	files = mustGitops(t, dir, "patch", "configmap/"+cm.ID.Name, "--type", "merge", "-p", `{"data":{"SEARCH_PAGE_SIZE":"25"}}`, "--path", "overlays/prod")
	if want := []string{"overlays/prod/catalog.env"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("new key: the commit changes %q, want %q", files, want)
	}
	if got := gitRun(t, dir, "show", "HEAD:overlays/prod/catalog.env"); got != "FEATURE_WISHLIST=false\nSEARCH_PAGE_SIZE=25\n" {
		t.Errorf("catalog.env: %q, want a line for the new key at the end", got)
	}

	cm = objectNamed(renderOf(t, dir, "overlays/dev"), "ConfigMap", "dev-catalog-config-")
	files = mustGitops(t, dir, "patch", "configmap/"+cm.ID.Name, "--type", "merge", "-p", `{"data":{"FEATURE_REVIEWS":"false"}}`, "--path", "overlays/dev")
	if want := []string{"overlays/dev/catalog-config-patch.yaml", "overlays/dev/kustomization.yaml"}; !reflect.DeepEqual(files, want) {
		t.Fatalf("a key of the shared base: the commit changes %q, want %q", files, want)
	}
	after := snapshot(t, dir)
	for p, content := range before.Files {
		if strings.HasPrefix(p, "base/") && after.Files[p] != content {
			t.Errorf("%s changed:\n%s", p, lineDiff(content, after.Files[p]))
		}
	}
	got := objectNamed(renderOf(t, dir, "overlays/dev"), "ConfigMap", "dev-catalog-config-")
	if v := got.Obj().Object["data"].(map[string]any)["FEATURE_REVIEWS"]; v != "false" {
		t.Errorf("dev FEATURE_REVIEWS = %v, want false", v)
	}
	if p := renderOf(t, dir, "overlays/prod"); objectNamed(p, "ConfigMap", "catalog-config-prod-").Obj().Object["data"].(map[string]any)["FEATURE_REVIEWS"] != "true" {
		t.Errorf("prod's FEATURE_REVIEWS changed too")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
