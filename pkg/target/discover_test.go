package target

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

const reposDir = "../../testdata/repos"

type discovered struct{ Name, Path, Source, Namespace string }

func discoverSummary(t *testing.T, repo string, cfg *Config) []discovered {
	t.Helper()
	ts, err := Discover(repo, cfg)
	if err != nil {
		t.Fatalf("Discover(%s): %v", repo, err)
	}
	var out []discovered
	for _, tg := range ts {
		if tg.RepoDir != repo {
			t.Errorf("target %s: RepoDir %q, want %q", tg.Path, tg.RepoDir, repo)
		}
		out = append(out, discovered{tg.Name, tg.Path, tg.Source, tg.Namespace})
	}
	return out
}

func TestDiscoverTestdataRepos(t *testing.T) {
	for _, tc := range []struct {
		repo string
		want []discovered
	}{
		// Plain manifests: Flux applies the whole tree.
		{"plain", []discovered{{".", ".", SourceDiscovered, ""}}},
		// Two overlays share the base and the component; neither is a target.
		{"kustomize", []discovered{
			{"overlays/production", "overlays/production", SourceDiscovered, ""},
			{"overlays/staging", "overlays/staging", SourceDiscovered, ""},
		}},
		// Each name is used by two clusters, so targets are named by path.
		// A target is named after the reconciler that applies it, as --target takes it; one
		// defined once per cluster directory is named with that directory.
		// The HelmRelease each environment's Kustomization applies is a target of its own.
		{"flux", []discovered{
			{"helmrelease/podinfo/podinfo@apps/production", "apps/production", SourceFlux, "podinfo"},
			{"kustomization/flux-system/apps@clusters/production", "apps/production", SourceFlux, ""},
			{"helmrelease/podinfo/podinfo@apps/staging", "apps/staging", SourceFlux, "podinfo"},
			{"kustomization/flux-system/apps@clusters/staging", "apps/staging", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/production/flux-system", "clusters/production", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/staging/flux-system", "clusters/staging", SourceFlux, ""},
		}},
		// Tenants' Kustomizations apply their own repositories (a GitRepository of another URL
		// than the one flux-system syncs this repository from): not targets here.
		{"flux-tenants", []discovered{
			{"kustomization/flux-system/flux-system", "clusters/production", SourceFlux, ""},
			{"kustomization/flux-system/tenants", "tenants/production", SourceFlux, ""},
		}},
		// A Kustomization of an ExternalArtifact is a target of the repository directory its
		// path is copied from.
		{"flux-monorepo", []discovered{
			{"kustomization/flux-system/apps@clusters/production", "apps/production", SourceFlux, ""},
			{"kustomization/flux-system/apps@clusters/staging", "apps/staging", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/production/flux-system", "clusters/production", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/staging/flux-system", "clusters/staging", SourceFlux, ""},
			{"kustomization/flux-system/platform", "platform/ingress", SourceFlux, ""},
			{"kustomization/flux-system/svc-cart", "services/cart/deploy", SourceFlux, "shop"},
			{"kustomization/flux-system/svc-search", "services/search/deploy", SourceFlux, "shop"},
		}},
		{"flux-helm", []discovered{
			{"helmrelease/api/api@apps/production", "apps/production", SourceFlux, "api"},
			{"helmrelease/web/web@apps/production", "apps/production", SourceFlux, "web"},
			{"kustomization/flux-system/apps@clusters/production", "apps/production", SourceFlux, ""},
			{"helmrelease/api/api@apps/staging", "apps/staging", SourceFlux, "api"},
			{"helmrelease/web/web@apps/staging", "apps/staging", SourceFlux, "web"},
			{"kustomization/flux-system/apps@clusters/staging", "apps/staging", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/production/flux-system", "clusters/production", SourceFlux, ""},
			{"kustomization/flux-system/flux-system@clusters/staging/flux-system", "clusters/staging", SourceFlux, ""},
		}},
		{"argocd", []discovered{
			{"application/argocd/root", "apps", SourceArgoCD, "argocd"},
			{"application/argocd/shop-production", "envs/production", SourceArgoCD, "shop"},
			{"application/argocd/shop-staging", "envs/staging", SourceArgoCD, "shop"},
		}},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			got := discoverSummary(t, filepath.Join(reposDir, tc.repo), nil)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("targets:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDiscoverConfigTargetsWin(t *testing.T) {
	repo := filepath.Join(reposDir, "kustomize")
	cfg := &Config{Targets: []TargetConfig{{Name: "stg", Path: "./overlays/staging/", Context: "kind-stg"}},
		Secrets: SecretsConfig{Provider: ProviderSOPS}}
	ts, err := Discover(repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{Name: "stg", RepoDir: repo, Path: "overlays/staging", Context: "kind-stg", Source: SourceConfig,
		Secrets: SecretsConfig{Provider: ProviderSOPS}}}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("got %+v\nwant %+v", ts, want)
	}
}

func TestDiscoverFallbacks(t *testing.T) {
	repo := t.TempDir()
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"
	kust := func(res ...string) string {
		s := "resources:\n"
		for _, r := range res {
			s += "- " + r + "\n"
		}
		return s
	}
	// A kustomization included only through a component and a legacy bases entry, plain
	// manifests next to a kustomization (a Flux cluster directory), plain manifests in a tree
	// without kustomizations, a Helm chart, and hidden directories.
	writeFile(t, filepath.Join(repo, "app/base/kustomization.yaml"), kust("d.yaml"))
	writeFile(t, filepath.Join(repo, "app/base/d.yaml"), deploy)
	writeFile(t, filepath.Join(repo, "app/comp/kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
	writeFile(t, filepath.Join(repo, "app/legacy/kustomization.yml"), "bases:\n- ../base\n")
	writeFile(t, filepath.Join(repo, "app/prod/Kustomization"), kust("../legacy")+"components:\n- ../comp\n")
	writeFile(t, filepath.Join(repo, "cluster/apps.yaml"), deploy)
	writeFile(t, filepath.Join(repo, "cluster/system/kustomization.yaml"), kust("s.yaml"))
	writeFile(t, filepath.Join(repo, "cluster/system/s.yaml"), deploy)
	writeFile(t, filepath.Join(repo, "plain/a/x.yaml"), deploy)
	writeFile(t, filepath.Join(repo, "plain/b/c/y.yml"), "# comment only\n---\n"+deploy)
	writeFile(t, filepath.Join(repo, "plain/notes.yaml"), "just: data\n")
	writeFile(t, filepath.Join(repo, "charts/web/Chart.yaml"), "apiVersion: v2\nname: web\n")
	writeFile(t, filepath.Join(repo, "charts/web/templates/d.yaml"), deploy)
	writeFile(t, filepath.Join(repo, ".github/workflows/ci.yaml"), deploy)
	writeFile(t, filepath.Join(repo, ".hidden/kustomization.yaml"), kust())
	// A Component no kustomization lists (its users comment it in): never a target. A
	// kustomization kustomize cannot read: a target of its own, which does not render.
	writeFile(t, filepath.Join(repo, "components/branding/kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- path: p.yaml\n")
	writeFile(t, filepath.Join(repo, "examples/broken/kustomization.yaml"), "resources:\n- all.yaml\npatches:\n- p.yaml\n")

	got := discoverSummary(t, repo, &Config{})
	want := []discovered{
		{"app/prod", "app/prod", SourceDiscovered, ""},
		{"cluster", "cluster", SourceDiscovered, ""},
		{"cluster/system", "cluster/system", SourceDiscovered, ""},
		{"examples/broken", "examples/broken", SourceDiscovered, ""},
		{"plain", "plain", SourceDiscovered, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}
}

// A reconciler of this repository that follows another of its branches than the checked-out
// one and the remote's default (a tenant's branch) applies files this checkout does not hold:
// it is left out with a warning. On a branch of one's own, the default's reconcilers stay.
func TestDiscoverLeavesOutOtherBranches(t *testing.T) {
	testrepo.Env(t)
	bare, work := testrepo.NewWithRemote(t, "flux")
	url := "file://" + bare
	writeFile(t, filepath.Join(work, "clusters/staging/flux-system/gotk-sync.yaml"), "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  url: "+url+"\n  ref:\n    branch: main\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: team\n  namespace: flux-system\nspec:\n  url: "+url+"\n  ref:\n    branch: team\n")
	writeFile(t, filepath.Join(work, "clusters/staging/team.yaml"), "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: team\n  namespace: flux-system\nspec:\n  path: ./apps/staging\n  sourceRef:\n    kind: GitRepository\n    name: team\n")
	testrepo.Git(t, work, "remote", "set-url", "origin", url)
	testrepo.Git(t, work, "fetch", "-q", "origin")
	testrepo.Git(t, work, "remote", "set-head", "origin", "main")
	for _, branch := range []string{"main", "my-change"} {
		testrepo.Git(t, work, "checkout", "-q", "-B", branch)
		s, warnings, err := discoverAll(work, &Config{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tg := range s.Targets {
			names = append(names, tg.Name)
		}
		if slices.Contains(names, "kustomization/flux-system/team") || !slices.Contains(names, "kustomization/flux-system/apps@clusters/staging") {
			t.Errorf("on %s: targets %v, want staging's apps and not team", branch, names)
		}
		if !slices.ContainsFunc(warnings, func(w string) bool {
			return strings.Contains(w, "kustomization/flux-system/team in clusters/staging/team.yaml follows branch team")
		}) {
			t.Errorf("on %s: warnings %q name no team branch", branch, warnings)
		}
	}
}

func TestIncludedDirs(t *testing.T) {
	repo := filepath.Join(reposDir, "kustomize")
	got, err := IncludedDirs(repo, "overlays/production")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"base",
		"base/config.yaml",
		"base/cronjob.yaml",
		"base/kustomization.yaml",
		"base/namespace.yaml",
		"base/service.yaml",
		"base/web.yaml",
		"base/worker.yaml",
		"components/monitoring",
		"components/monitoring/kustomization.yaml",
		"components/monitoring/scrape-annotations.yaml",
		"components/monitoring/worker-metrics-service.yaml",
		"overlays/production/hpa.yaml",
		"overlays/production/web-production.yaml",
		"overlays/production/worker-json6902.yaml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IncludedDirs:\n got %q\nwant %q", got, want)
	}

	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "k/kustomization.yaml"), `resources:
- https://github.com/org/repo//deploy?ref=v1
- github.com/org/other/deploy
- ../../outside
patchesStrategicMerge:
- patch.yaml
- |-
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: inline}
configMapGenerator:
- name: cm
  files: [app.properties, key=data/raw.txt]
  envs: [vars.env]
secretGenerator:
- name: s
  literals: [a=b]
  files: [missing.txt]
`)
	for _, f := range []string{"patch.yaml", "app.properties", "data/raw.txt", "vars.env"} {
		writeFile(t, filepath.Join(tmp, "k", f), "x: y\n")
	}
	got, err = IncludedDirs(tmp, "k")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"k/app.properties", "k/data/raw.txt", "k/patch.yaml", "k/vars.env"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IncludedDirs with generators:\n got %q\nwant %q", got, want)
	}

	if _, err := IncludedDirs(tmp, "."); err == nil {
		t.Error("IncludedDirs of a directory without kustomization: no error")
	}

	// A path through a link inside the repository is read where it leads too; a link out of it
	// adds nothing.
	writeFile(t, filepath.Join(tmp, "shared/kustomization.yaml"), "resources:\n- cm.yaml\n")
	writeFile(t, filepath.Join(tmp, "shared/cm.yaml"), "x: y\n")
	writeFile(t, filepath.Join(tmp, "l/kustomization.yaml"), "resources:\n- base\n- out\n")
	if err := os.Symlink("../shared", filepath.Join(tmp, "l", "base")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(tmp, "l", "out")); err != nil {
		t.Fatal(err)
	}
	got, err = IncludedDirs(tmp, "l")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"l/base", "l/base/cm.yaml", "l/base/kustomization.yaml", "l/out", "shared", "shared/cm.yaml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IncludedDirs through links:\n got %q\nwant %q", got, want)
	}
}

// TestDiscoverIncludes: what discovery reads of a target's kustomizations is what IncludedDirs
// reads, so the closed loop can take it instead of reading them again.
func TestDiscoverIncludes(t *testing.T) {
	repo := filepath.Join(reposDir, "kustomize")
	s, _, err := Scan(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, tg := range s.Targets {
		got, ok := s.Includes[tg.Path]
		if !ok {
			continue
		}
		want, err := IncludedDirs(repo, tg.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("target %s: discovery includes %v, IncludedDirs %v", tg.Path, got, want)
		}
		checked++
	}
	if checked != len(s.Targets) || checked == 0 {
		t.Errorf("the snapshot holds the includes of %d of %d discovered targets", checked, len(s.Targets))
	}
}

// TestDiscoverScanMemo: discovery remembers what it read in the git directory, and a file
// changed since is read again: the result is what a discovery without the memo finds.
func TestDiscoverScanMemo(t *testing.T) {
	testrepo.Env(t)
	for _, sample := range []string{"kustomize", "flux", "argocd", "plain"} {
		t.Run(sample, func(t *testing.T) {
			repo := testrepo.New(t, sample)
			first, _, err := Scan(repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			memoFile := scanMemoFile(t, repo)
			// Files older than the racy window are vouched for by their stat.
			old := time.Now().Add(-time.Hour)
			_ = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					return os.Chtimes(p, old, old)
				}
				return nil
			})
			if _, err := Discover(repo, nil); err != nil {
				t.Fatal(err)
			}
			again, _, err := Scan(repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(summary(again), summary(first)) {
				t.Errorf("with the memo %v, without %v", summary(again), summary(first))
			}

			// A new root kustomization appears, and the memo does not hide it.
			dir := filepath.Join(repo, "extra")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n")
			writeFile(t, filepath.Join(dir, "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
			got, _, err := Scan(repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(memoFile); err != nil {
				t.Fatal(err)
			}
			want, _, err := Scan(repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(summary(got), summary(want)) {
				t.Errorf("after a change, with the memo %v, without %v", summary(got), summary(want))
			}
		})
	}
}

func summary(s *Snapshot) []string {
	var out []string
	for _, t := range s.Targets {
		out = append(out, fmt.Sprintf("%s %s %s %v", t.Name, t.Path, t.Source, s.Includes[t.Path]))
	}
	return out
}
