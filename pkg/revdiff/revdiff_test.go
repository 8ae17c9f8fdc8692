package revdiff_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
)

var samples = []string{"plain", "kustomize", "flux", "argocd", "sealed", "sops"}

// reconcilerSamples are the repositories whose targets Flux Kustomizations and Argo CD
// Applications render with their own options (the reconcilers issue): each is tried with the
// first scenario of each kind, as their renders take longer.
var reconcilerSamples = []string{"flux-hub", "flux-tenants", "flux-monorepo", "argocd-fleet"}

// scenario is one change to a sample repository.
type scenario struct {
	name string
	edit func(t *testing.T, dir string)
}

var numberAfter = regexp.MustCompile(`((?:replicas|count): *)(\d+)`)

// scenarios are the changes tried on a sample: each file's replica counts raised (a base shared
// by several targets, an overlay's entry, a plain manifest), a new manifest in each directory
// holding a kustomization or manifests, each manifest removed, and a file no target reads.
func scenarios(t *testing.T, dir string) []scenario {
	var out []scenario
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if numberAfter.Match(b) {
			out = append(out, scenario{"raise " + f, func(t *testing.T, dir string) {
				write(t, dir, f, numberAfter.ReplaceAllString(string(b), "${1}7${2}"))
			}})
		}
		base := filepath.Base(f)
		if base != "kustomization.yaml" && !strings.Contains(string(b), "kind: Kustomization") {
			out = append(out, scenario{"remove " + f, func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}})
		}
	}
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[filepath.ToSlash(filepath.Dir(f))] = true
	}
	for _, d := range slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}) {
		out = append(out, scenario{"add a manifest to " + d, func(t *testing.T, dir string) {
			write(t, dir, d+"/added-by-test.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added-by-test\ndata:\n  k: v\n")
		}})
	}
	out = append(out, scenario{"a file no target reads", func(t *testing.T, dir string) {
		write(t, dir, "NOTES.md", "notes\n")
	}})
	if testing.Short() {
		// The whole set takes minutes on two cores.
		out = firstOfEachKind(out)
	}
	return out
}

// firstOfEachKind keeps the first scenario of each kind (raise, remove, add, a file no target
// reads).
func firstOfEachKind(all []scenario) []scenario {
	seen := map[string]bool{}
	var out []scenario
	for _, sc := range all {
		kind, _, _ := strings.Cut(sc.name, " ")
		if !seen[kind] {
			seen[kind] = true
			out = append(out, sc)
		}
	}
	return out
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, o revdiff.Options) *revdiff.Report {
	t.Helper()
	r, err := revdiff.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("revdiff.Run(%+v): %v", o, err)
	}
	return r
}

func targetsJSON(t testing.TB, r *revdiff.Report) string {
	t.Helper()
	b, err := json.MarshalIndent(r.Targets, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFastPathMatchesEverything checks the fast path (only the targets a changed file reaches,
// another revision rendered from the working tree's render with the differing files in place,
// reduced where sound) against rendering every target whole at both revisions, on every sample
// repository and every scenario: uncommitted (to the working tree, with a cold and a warm render
// cache) and committed (between two commits).
func TestFastPathMatchesEverything(t *testing.T) {
	testrepo.Env(t)
	for _, sample := range append(slices.Clone(samples), reconcilerSamples...) {
		probe := testrepo.New(t, sample)
		all := scenarios(t, probe)
		if slices.Contains(reconcilerSamples, sample) {
			all = firstOfEachKind(all)
		}
		for _, sc := range all {
			t.Run(sample+"/"+sc.name, func(t *testing.T) {
				dir := testrepo.New(t, sample)
				sc.edit(t, dir)
				plain := run(t, revdiff.Options{Dir: dir, From: "HEAD", Everything: true})
				for _, cache := range []string{"cold", "warm"} {
					fast := run(t, revdiff.Options{Dir: dir, From: "HEAD"})
					if got, want := targetsJSON(t, fast), targetsJSON(t, plain); got != want {
						t.Fatalf("working tree, %s cache: fast path\n%s\nrendering everything\n%s", cache, got, want)
					}
				}
				testrepo.Git(t, dir, "add", "-A")
				testrepo.Git(t, dir, "commit", "-q", "-m", sc.name)
				plain = run(t, revdiff.Options{Dir: dir, From: "HEAD~1", To: "HEAD", Everything: true})
				fast := run(t, revdiff.Options{Dir: dir, From: "HEAD~1", To: "HEAD"})
				if got, want := targetsJSON(t, fast), targetsJSON(t, plain); got != want {
					t.Fatalf("between commits: fast path\n%s\nrendering everything\n%s", got, want)
				}
				// The same pair the other way round.
				back := run(t, revdiff.Options{Dir: dir, From: "HEAD", To: "HEAD~1"})
				plainBack := run(t, revdiff.Options{Dir: dir, From: "HEAD", To: "HEAD~1", Everything: true})
				if got, want := targetsJSON(t, back), targetsJSON(t, plainBack); got != want {
					t.Fatalf("between commits, reversed: fast path\n%s\nrendering everything\n%s", got, want)
				}
			})
		}
	}
}

// TestRendersOnlyReachedTargets: a change to one overlay renders that overlay alone, and a file
// no target reads renders none.
func TestRendersOnlyReachedTargets(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	b, err := os.ReadFile(filepath.Join(dir, "overlays/staging/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "overlays/staging/kustomization.yaml", strings.Replace(string(b), "count: 1", "count: 3", 1))
	write(t, dir, "docs/notes.md", "notes\n")
	r := run(t, revdiff.Options{Dir: dir, From: "HEAD"})
	if !slices.Equal(r.Rendered, []string{"overlays/staging"}) {
		t.Errorf("rendered %v, want only overlays/staging", r.Rendered)
	}
	if len(r.Targets) != 1 || r.Targets[0].Path != "overlays/staging" || len(r.Targets[0].Objects) != 1 ||
		!strings.Contains(r.Targets[0].Objects[0].Diff, "-  replicas: 1\n+  replicas: 3\n") {
		t.Errorf("targets %s, want the staging web Deployment's replicas 1 → 3", targetsJSON(t, r))
	}
	if !r.Different() || r.Failed() {
		t.Errorf("Different() %v Failed() %v, want true false", r.Different(), r.Failed())
	}

	testrepo.Git(t, dir, "checkout", "-q", "--", ".")
	r = run(t, revdiff.Options{Dir: dir, From: "HEAD"})
	if len(r.Rendered) != 0 || len(r.Targets) != 0 || r.Different() {
		t.Errorf("only docs/notes.md differs: rendered %v, targets %s", r.Rendered, targetsJSON(t, r))
	}
}

// TestReconcilerOptions: a change to a Flux Kustomization's own options (a postBuild
// substitution in the reconciler's file) re-renders that target as kustomize-controller builds
// it (its namePrefix and targetNamespace applied) and the target applying the reconciler's
// file; the other spoke's target is not rendered.
func TestReconcilerOptions(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "flux-hub")
	file := "clusters/hub/spokes/production/apps.yaml"
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, file, strings.Replace(string(b), `WEB_REPLICAS: "3"`, `WEB_REPLICAS: "4"`, 1))
	r := run(t, revdiff.Options{Dir: dir, From: "HEAD"})
	plain := run(t, revdiff.Options{Dir: dir, From: "HEAD", Everything: true})
	if got, want := targetsJSON(t, r), targetsJSON(t, plain); got != want {
		t.Errorf("fast path\n%s\nrendering everything\n%s", got, want)
	}
	// Two targets change: the hub's flux-system Kustomization applies the changed Kustomization
	// object itself, and production's apps Kustomization renders the Deployment with it.
	if len(r.Targets) != 2 || r.Targets[0].Target != "kustomization/flux-system/flux-system" ||
		len(r.Targets[0].Objects) != 1 || r.Targets[0].Objects[0].Object != "Kustomization.kustomize.toolkit.fluxcd.io production/apps" ||
		r.Targets[1].Target != "kustomization/production/apps" || len(r.Targets[1].Objects) != 1 ||
		r.Targets[1].Objects[0].Object != "Deployment.apps shop/eu-web" ||
		!strings.Contains(r.Targets[1].Objects[0].Diff, "-  replicas: 3\n+  replicas: 4\n") {
		t.Errorf("targets %s, want the hub's Kustomization object and production's web Deployment with replicas 3 → 4", targetsJSON(t, r))
	}
	for _, name := range r.Rendered {
		if strings.Contains(name, "staging") {
			t.Errorf("rendered %v: staging's Kustomization reads no changed file", r.Rendered)
		}
	}
}

// TestUnrendered: a target that fails alike at both revisions (flux-hub's staging apps, its
// ConfigMap removed from the repository, reads one only the cluster holds) is listed apart, named in the markdown, and is no error of
// the change; the other target the change reaches shows its diff.
func TestUnrendered(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "flux-hub")
	testrepo.Git(t, dir, "rm", "-q", "clusters/hub/spokes/staging/cluster-settings.yaml")
	testrepo.Git(t, dir, "commit", "-q", "-m", "the cluster's settings live in the cluster")
	file := "deploy/apps/web.yaml"
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, file, strings.Replace(string(b), "shop/web:1.4.0", "shop/web:1.4.1", 1))
	r := run(t, revdiff.Options{Dir: dir, From: "HEAD"})
	if len(r.Unrendered) != 1 || r.Unrendered[0].Target != "kustomization/staging/apps" ||
		!strings.Contains(r.Unrendered[0].Error, "ConfigMap staging/cluster-settings is not in the repository and cannot be read offline") {
		t.Errorf("unrendered %+v, want staging's apps, for its ConfigMap", r.Unrendered)
	}
	if r.Failed() || len(r.Targets) != 1 || r.Targets[0].Target != "kustomization/production/apps" {
		t.Errorf("targets %s, want production's apps alone, no error", targetsJSON(t, r))
	}
	var md strings.Builder
	if err := revdiff.WriteMarkdown(&md, r, revdiff.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "1 target renders at neither revision, so what the change does to it is not shown:\n\n- `kustomization/staging/apps`: ") {
		t.Errorf("the markdown does not name the target that renders at neither revision:\n%s", md.String())
	}
}

// TestCacheFromAnotherClone: a render cache carried into a fresh clone at the same path (what
// a CI job restores) gives the same diff as rendering everything, also for a file the cache
// did not see change: its entries are checked by content, not trusted by their stats.
func TestCacheFromAnotherClone(t *testing.T) {
	testrepo.Env(t)
	bare, work := testrepo.NewWithRemote(t, "kustomize")
	staging := filepath.Join(work, "overlays/staging/kustomization.yaml")
	b, err := os.ReadFile(staging)
	if err != nil {
		t.Fatal(err)
	}
	write(t, work, "overlays/staging/kustomization.yaml", strings.Replace(string(b), "count: 1", "count: 3", 1))
	testrepo.Git(t, work, "commit", "-qam", "three web replicas")
	testrepo.Git(t, work, "push", "-q", "origin", "main")
	first := run(t, revdiff.Options{Dir: work, From: "HEAD~1"})
	if len(first.Targets) != 1 {
		t.Fatalf("targets %s, want staging's", targetsJSON(t, first))
	}

	cache := filepath.Join(t.TempDir(), "cache")
	if err := os.Rename(filepath.Join(work, ".git", "kubectl-gitops"), cache); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, filepath.Dir(work), "clone", "-q", "file://"+bare, work)
	if err := os.Rename(cache, filepath.Join(work, ".git", "kubectl-gitops")); err != nil {
		t.Fatal(err)
	}
	again := run(t, revdiff.Options{Dir: work, From: "HEAD~1"})
	if got, want := targetsJSON(t, again), targetsJSON(t, first); got != want {
		t.Errorf("with the cache of another clone\n%s\nwant\n%s", got, want)
	}

	// A change the cached renders do not know: the production overlay's replicas.
	prod := filepath.Join(work, "overlays/production/kustomization.yaml")
	p, err := os.ReadFile(prod)
	if err != nil {
		t.Fatal(err)
	}
	raised := numberAfter.ReplaceAllString(string(p), "${1}7${2}")
	if raised == string(p) {
		t.Fatal("the production overlay holds no count to raise")
	}
	write(t, work, "overlays/production/kustomization.yaml", raised)
	fast := run(t, revdiff.Options{Dir: work, From: "HEAD~1"})
	plain := run(t, revdiff.Options{Dir: work, From: "HEAD~1", Everything: true})
	if got, want := targetsJSON(t, fast), targetsJSON(t, plain); got != want {
		t.Errorf("after a change the restored cache did not see: fast path\n%s\nrendering everything\n%s", got, want)
	}
	if len(fast.Targets) != 2 {
		t.Errorf("targets %s, want staging's and production's", targetsJSON(t, fast))
	}
}
