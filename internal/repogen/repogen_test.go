package repogen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

func TestGenerateRendersWithHistory(t *testing.T) {
	testrepo.Env(t)
	opts := Options{Apps: 6, ManifestsPerApp: len(slots) + 2, Overlays: []string{"dev", "staging", "production"}, Commits: 300}
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := Generate(dir, opts); err != nil {
		t.Fatal(err)
	}

	if n := len(strings.Split(testrepo.Git(t, dir, "log", "--oneline"), "\n")); n != opts.Commits {
		t.Errorf("git log --oneline has %d lines, want %d commits", n, opts.Commits)
	}
	if st := testrepo.Git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the working tree differs from the last commit:\n%s", st)
	}
	if n := testrepo.Git(t, dir, "rev-list", "--count", "HEAD", "--", "overlays"); n == "0" {
		t.Error("no commit of the history changes an overlay")
	}

	targets, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != len(opts.Overlays) {
		t.Errorf("discovered %d targets (%v), want the %d overlays", len(targets), targets, len(opts.Overlays))
	}

	deploy := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	for _, env := range opts.Overlays {
		res, err := render.Render(dir, "overlays/"+env, render.Options{})
		if err != nil {
			t.Fatalf("rendering overlays/%s: %v", env, err)
		}
		if len(res.Objects) != opts.Manifests() {
			t.Errorf("overlays/%s renders %d objects, want %d", env, len(res.Objects), opts.Manifests())
		}
		for i := range opts.Apps {
			web := res.Find(deploy, AppName(i), AppName(i)+"-web")
			if len(web) != 1 {
				t.Fatalf("overlays/%s: %d Deployments %s-web, want 1", env, len(web), AppName(i))
			}
			if web[0].Origin.File != "base/apps/"+AppName(i)+"/web-deployment.yaml" {
				t.Errorf("overlays/%s: %s-web comes from %q", env, AppName(i), web[0].Origin.File)
			}
			if got := web[0].Obj().GetLabels()["environment"]; got != env {
				t.Errorf("overlays/%s: %s-web has environment label %q", env, AppName(i), got)
			}
		}
	}
}

// Each overlay's replicas: entries reach the render, so `scale` in one overlay has an idiom to extend.
func TestGenerateOverlayEntriesApply(t *testing.T) {
	testrepo.Env(t)
	opts := Options{Apps: 8, ManifestsPerApp: 3, Overlays: []string{"staging"}, Commits: 1}
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := Generate(dir, opts); err != nil {
		t.Fatal(err)
	}
	g := newGenerator(opts)
	if got := opts.OverlayReplicas("staging"); len(got) != len(g.overlays[0].replicas) || len(got) == 0 {
		t.Errorf("OverlayReplicas(staging) = %v, want the %d entries", got, len(g.overlays[0].replicas))
	}
	res, err := render.Render(dir, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.overlays[0].replicas {
		objs := res.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "", r.name)
		if len(objs) != 1 {
			t.Fatalf("%s: %d objects", r.name, len(objs))
		}
		if got, _, _ := unstructured.NestedInt64(objs[0].Obj().Object, "spec", "replicas"); got != int64(r.count) {
			t.Errorf("%s renders %d replicas, want the overlay's %d", r.name, got, r.count)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "overlays", "staging", "resources-patch.yaml")); err != nil {
		t.Error(err)
	}
}

func TestGenerateRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Generate(dir, Options{Apps: 1, ManifestsPerApp: 1, Overlays: []string{"dev"}, Commits: 1}); err == nil {
		t.Fatal("Generate wrote into a non-empty directory")
	}
}
