package target

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// gitEnv isolates git from the user's and the system's configuration.
func gitEnv(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "Test")
	t.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "Test")
	t.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
	for _, v := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a git repository on branch main holding a copy of testdata/repos/<name>.
func newRepo(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	copyTree(t, filepath.Join(reposDir, name), dir)
	git(t, dir, "init", "--quiet", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "--quiet", "-m", "initial")
	return realPath(t, dir)
}

// newRemote makes a bare repository holding testdata/repos/<name> on main, and returns its
// file:// URL and the work tree that pushes to it.
func newRemote(t *testing.T, name string) (url, work string) {
	t.Helper()
	work = newRepo(t, name)
	bare := filepath.Join(realPath(t, t.TempDir()), name+".git")
	git(t, ".", "init", "--quiet", "--bare", "-b", "main", bare)
	url = "file://" + filepath.ToSlash(bare)
	git(t, work, "remote", "add", "origin", url)
	git(t, work, "push", "--quiet", "origin", "main")
	return url, work
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func obj(apiVersion, kind, ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

func fakeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		fluxKustomizationGVR: "KustomizationList",
		gitRepositoryGVR:     "GitRepositoryList",
		helmReleaseGVR:       "HelmReleaseList",
		applicationGVR:       "ApplicationList",
	}, objs...)
}

func fluxObjects(url string) []runtime.Object {
	return []runtime.Object{
		obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps",
			map[string]string{FluxKustomizationNameLabel: "flux-system", FluxKustomizationNamespaceLabel: "flux-system"},
			map[string]any{"path": "./apps/staging", "sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}}),
		obj("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system", nil,
			map[string]any{"url": url, "ref": map[string]any{"branch": "main"}}),
		obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo", "podinfo",
			map[string]string{FluxKustomizationNameLabel: "apps", FluxKustomizationNamespaceLabel: "flux-system"},
			map[string]any{"releaseName": "podinfo"}),
	}
}

func liveDeployment(labels, annotations map[string]string) *unstructured.Unstructured {
	u := obj("apps/v1", "Deployment", "shop", "web", labels, map[string]any{"replicas": int64(2)})
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	return u
}

var fluxLabels = map[string]string{FluxKustomizationNameLabel: "apps", FluxKustomizationNamespaceLabel: "flux-system"}

func TestResolveFlags(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	repo := newRepo(t, "kustomize")
	git(t, repo, "remote", "add", "origin", "git@git.example.com:shop/deploy.git")

	t.Run("repo with several targets", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Repo: repo})
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"has 2 targets", "overlays/production", "overlays/staging", "--path", "--target"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("repo and path", func(t *testing.T) {
		got, d, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Repo: repo, Path: "overlays/staging", Context: "kind-staging"})
		if err != nil {
			t.Fatal(err)
		}
		// The discovery that chose among the repository's targets is handed along.
		if d == nil || len(d.Targets) != 2 || d.Includes["overlays/staging"] == nil {
			t.Errorf("snapshot %+v, want the repository's two targets and what staging includes", d)
		}
		want := Target{Name: "overlays/staging", RepoDir: repo, Path: "overlays/staging", Branch: "main",
			RemoteURL: "git@git.example.com:shop/deploy.git", Context: "kind-staging", Source: SourceFlags}
		if g := resolved(*got); !reflect.DeepEqual(g, want) {
			t.Errorf("got  %+v\nwant %+v", g, want)
		}
	})
	t.Run("path relative to the current directory", func(t *testing.T) {
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: filepath.Join(repo, "overlays"), Path: "production"})
		if err != nil {
			t.Fatal(err)
		}
		if got.RepoDir != repo || got.Path != "overlays/production" {
			t.Errorf("got %+v", *got)
		}
	})
	t.Run("target by name", func(t *testing.T) {
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: filepath.Join(repo, "base"), Target: "overlays/production"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != "overlays/production" || got.Source != SourceFlags {
			t.Errorf("got %+v", *got)
		}
		_, _, err = Resolve(ctx, ResolveOptions{Cwd: repo, Target: "nope"})
		if err == nil || !strings.Contains(err.Error(), "--target nope: no such target") || !strings.Contains(err.Error(), "overlays/staging") {
			t.Errorf("unknown target: %v", err)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: repo, Path: "overlays/qa"})
		if err == nil || !strings.Contains(err.Error(), "--path overlays/qa: not a directory in repository") {
			t.Errorf("error: %v", err)
		}
	})
	t.Run("repo with one target", func(t *testing.T) {
		plain := newRepo(t, "plain")
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Repo: plain})
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != "." || got.RepoDir != plain {
			t.Errorf("got %+v", *got)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Path: "x"})
		if err == nil || !strings.Contains(err.Error(), "--repo") {
			t.Errorf("error: %v", err)
		}
	})
}

func TestResolveConfig(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	repo := newRepo(t, "kustomize")
	writeFile(t, filepath.Join(repo, ConfigFile), `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
- name: staging
  context: kind-staging
  path: overlays/staging
  namespace: shop
- name: production
  context: prod
  path: overlays/production
  branch: release
  secrets:
    provider: sealed-secrets
secrets:
  provider: sops
`)
	cwd := filepath.Join(repo, "base")

	got, _, err := Resolve(ctx, ResolveOptions{Cwd: cwd, Context: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	want := Target{Name: "production", RepoDir: repo, Path: "overlays/production", Branch: "release", Context: "prod",
		Source: SourceConfig, Secrets: SecretsConfig{Provider: ProviderSealedSecrets}}
	if g := resolved(*got); !reflect.DeepEqual(g, want) {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}

	got, _, err = Resolve(ctx, ResolveOptions{Cwd: cwd, Context: "kind-staging"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "staging" || got.Namespace != "shop" || got.Branch != "main" || got.Secrets.Provider != ProviderSOPS {
		t.Errorf("got %+v", *got)
	}

	// Flags win over the configuration.
	got, _, err = Resolve(ctx, ResolveOptions{Cwd: cwd, Context: "kind-staging", Target: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "production" || got.Source != SourceFlags || got.Context != "prod" {
		t.Errorf("--target: got %+v", *got)
	}

	_, _, err = Resolve(ctx, ResolveOptions{Cwd: cwd, Context: "other"})
	var nt *NoTargetError
	if !errors.As(err, &nt) {
		t.Fatalf("unknown context: %v", err)
	}
	for _, want := range []string{`no target of ` + filepath.Join(repo, ConfigFile) + ` has context "other"`, "staging (context kind-staging)", "labels: no live object", "--repo DIR --path PATH", "kubectl gitops capture"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The only target is used whatever the context, unless it names another one.
	writeFile(t, filepath.Join(repo, ConfigFile), "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\ntargets:\n- name: staging\n  path: overlays/staging\n")
	got, _, err = Resolve(ctx, ResolveOptions{Cwd: cwd, Context: "any"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "staging" || got.Context != "any" {
		t.Errorf("only target: got %+v", *got)
	}

	writeFile(t, filepath.Join(repo, ConfigFile), "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\ntargets:\n- name: staging\n  path: overlays/staging\n  pathh: x\n")
	_, _, err = Resolve(ctx, ResolveOptions{Cwd: cwd})
	if err == nil || !strings.Contains(err.Error(), ConfigFile+`:6: unknown field "pathh" in targets[0]`) {
		t.Errorf("bad config: %v", err)
	}
}

// recordingGit counts the git commands Resolve runs.
type recordingGit struct {
	ExecGit
	mu    sync.Mutex
	calls map[string]int
}

func (g *recordingGit) Run(ctx context.Context, dir string, args ...string) (string, error) {
	g.mu.Lock()
	g.calls[args[0]]++
	g.mu.Unlock()
	return g.ExecGit.Run(ctx, dir, args...)
}

func TestResolveFluxLabels(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "flux")
	client := fakeClient(fluxObjects(url)...)

	t.Run("current directory is a clone of the source", func(t *testing.T) {
		checkout := filepath.Join(realPath(t, t.TempDir()), "fleet")
		// A plain path, not the file:// URL the GitRepository has.
		git(t, ".", "clone", "--quiet", strings.TrimPrefix(url, "file://"), checkout)
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: filepath.Join(checkout, "apps"), Live: liveDeployment(fluxLabels, nil), Client: client, Context: "kind-staging", CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		// The repository defines flux-system/apps once per cluster directory: the live
		// object's path picks the staging one, read from its file.
		want := Target{Name: "kustomization/flux-system/apps@clusters/staging", RepoDir: checkout, Path: "apps/staging", Branch: "main", RemoteURL: url, Context: "kind-staging", Source: SourceFlux}
		if g := resolved(*got); !reflect.DeepEqual(g, want) {
			t.Errorf("got  %+v\nwant %+v", g, want)
		}
		if got.Applied == nil || got.Applied.Reconciler.File != "clusters/staging/apps.yaml" {
			t.Errorf("applied %+v, want the Kustomization of clusters/staging/apps.yaml", got.Applied)
		}
	})

	t.Run("cached clone", func(t *testing.T) {
		cache := t.TempDir()
		g := &recordingGit{calls: map[string]int{}}
		opts := ResolveOptions{Cwd: t.TempDir(), Live: liveDeployment(fluxLabels, nil), Client: client, CacheDir: cache, Git: g}
		got, _, err := Resolve(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Cached || got.Path != "apps/staging" || got.Branch != "main" || got.Source != SourceFlux {
			t.Errorf("got %+v", *got)
		}
		if !strings.HasPrefix(got.RepoDir, cache) || !isDir(filepath.Join(got.RepoDir, "apps/staging")) {
			t.Errorf("RepoDir %s is not a clone in %s", got.RepoDir, cache)
		}
		if g.calls["clone"] != 1 {
			t.Errorf("git clone ran %d times", g.calls["clone"])
		}

		// The remote moves on, and the clone has leftovers: the next Resolve fetches and resets.
		writeFile(t, filepath.Join(work, "apps/staging/extra.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
		git(t, work, "add", "-A")
		git(t, work, "commit", "--quiet", "-m", "extra")
		git(t, work, "push", "--quiet", "origin", "main")
		writeFile(t, filepath.Join(got.RepoDir, "apps/staging/kustomization.yaml"), "garbage\n")
		writeFile(t, filepath.Join(got.RepoDir, "stray.yaml"), "x: y\n")

		again, _, err := Resolve(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.RepoDir != got.RepoDir {
			t.Errorf("second RepoDir %s, first %s", again.RepoDir, got.RepoDir)
		}
		if g.calls["clone"] != 1 || g.calls["fetch"] == 0 {
			t.Errorf("second Resolve: git calls %v, want a fetch and no new clone", g.calls)
		}
		if _, err := os.Stat(filepath.Join(again.RepoDir, "apps/staging/extra.yaml")); err != nil {
			t.Errorf("new commit not fetched: %v", err)
		}
		if _, err := os.Stat(filepath.Join(again.RepoDir, "stray.yaml")); err == nil {
			t.Error("untracked file left in the cached clone")
		}
		if head := git(t, again.RepoDir, "rev-parse", "HEAD"); head != git(t, work, "rev-parse", "HEAD") {
			t.Errorf("cached clone at %s, remote at %s", head, git(t, work, "rev-parse", "HEAD"))
		}
		if st := git(t, again.RepoDir, "status", "--porcelain"); st != "" {
			t.Errorf("cached clone not clean:\n%s", st)
		}

		// Another invocation is committing in the clone (it holds the repository's lock): the
		// reset waits for it instead of wiping its files, and gives up with the caller's context.
		repo, err := gitrepo.Open(again.RepoDir)
		if err != nil {
			t.Fatal(err)
		}
		unlock, err := repo.Lock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inProgress := filepath.Join(again.RepoDir, "apps/staging/being-committed.yaml")
		writeFile(t, inProgress, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wip}\n")
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, _, err = Resolve(short, opts)
		cancel()
		var locked *gitrepo.LockedError
		if !errors.As(err, &locked) {
			t.Errorf("Resolve while the clone is locked: %v, want the lock's error", err)
		}
		if _, err := os.Stat(inProgress); err != nil {
			t.Errorf("the reset did not wait for the lock: %v", err)
		}
		unlock()
		if _, _, err := Resolve(ctx, opts); err != nil {
			t.Fatalf("Resolve after the lock was released: %v", err)
		}
		if _, err := os.Stat(inProgress); err == nil {
			t.Error("the clone was not reset once the lock was released")
		}
	})

	t.Run("HelmRelease", func(t *testing.T) {
		labels := map[string]string{FluxHelmReleaseNameLabel: "podinfo", FluxHelmReleaseNamespaceLabel: "podinfo"}
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: work, Live: liveDeployment(labels, nil), Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != "apps/staging" || got.RepoDir != work || got.Cached {
			t.Errorf("got %+v", *got)
		}
		want := ObjectRef{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease", Namespace: "podinfo", Name: "podinfo"}
		if got.HelmRelease == nil || *got.HelmRelease != want {
			t.Errorf("HelmRelease = %v, want %v", got.HelmRelease, want)
		}
	})

	t.Run("config of the found repository", func(t *testing.T) {
		repo := newRepo(t, "flux")
		writeFile(t, filepath.Join(repo, ConfigFile), "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nsecrets: {provider: sops}\ntargets:\n- {name: staging, path: ./apps/staging, context: kind-staging}\n- {name: production, path: apps/production, context: prod}\n")
		git(t, repo, "remote", "add", "upstream", url)
		// The current context has no target, so the labels decide; the configuration then names it.
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: repo, Context: "kind-other", Live: liveDeployment(fluxLabels, nil), Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "staging" || got.Source != SourceFlux || got.Secrets.Provider != ProviderSOPS || got.RepoDir != repo {
			t.Errorf("got %+v", *got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			labels map[string]string
			objs   []runtime.Object
			want   []string
		}{
			{"no labels", map[string]string{"app": "web"}, nil, []string{
				"no repository and path found for Deployment shop/web", "flags: none of --repo, --path, --target given",
				"is not in a git repository", "has none of the labels kustomize.toolkit.fluxcd.io/name", "kubectl gitops capture"}},
			{"missing Kustomization", fluxLabels, nil, []string{
				"Deployment shop/web is labelled kustomize.toolkit.fluxcd.io/name=apps, but Kustomization flux-system/apps does not exist"}},
			{"OCI source", fluxLabels, []runtime.Object{obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps", nil,
				map[string]any{"path": "./", "sourceRef": map[string]any{"kind": "OCIRepository", "name": "apps"}})}, []string{
				"Kustomization flux-system/apps takes its source from OCIRepository flux-system/apps, not from a Git repository"}},
			{"tag", fluxLabels, []runtime.Object{fluxObjects(url)[0], obj("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system", nil,
				map[string]any{"url": url, "ref": map[string]any{"tag": "v1.0.0"}})}, []string{
				"GitRepository flux-system/flux-system follows tag v1.0.0, not a branch"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: liveDeployment(tc.labels, nil), Client: fakeClient(tc.objs...), CacheDir: t.TempDir()})
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			})
		}
	})
}

func TestResolveFluxDefaultBranch(t *testing.T) {
	gitEnv(t)
	url, work := newRemote(t, "flux")
	git(t, work, "push", "--quiet", "origin", "main:master")
	objs := fluxObjects(url)
	unstructured.RemoveNestedField(objs[1].(*unstructured.Unstructured).Object, "spec", "ref")
	got, _, err := Resolve(context.Background(), ResolveOptions{Cwd: t.TempDir(), Live: liveDeployment(fluxLabels, nil), Client: fakeClient(objs...), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got.Branch != "master" || git(t, got.RepoDir, "symbolic-ref", "--short", "HEAD") != "master" {
		t.Errorf("got %+v", *got)
	}
}

func TestResolveArgoCD(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "argocd")
	app := func(ns, name, rev string) runtime.Object {
		return obj("argoproj.io/v1alpha1", "Application", ns, name, nil, map[string]any{
			"source":      map[string]any{"repoURL": url, "path": "envs/staging", "targetRevision": rev},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "shop"},
		})
	}
	client := fakeClient(app("argocd", "shop-staging", "HEAD"), app("apps", "team-shop", "main"))

	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		argoNs      string
		wantName    string
	}{
		{"tracking-id", nil, map[string]string{ArgoCDTrackingIDAnnotation: "shop-staging:apps/Deployment:shop/web"}, "", "application/argocd/shop-staging"},
		{"tracking-id in another namespace", nil, map[string]string{ArgoCDTrackingIDAnnotation: "apps_team-shop:apps/Deployment:shop/web"}, "", "application/apps/team-shop"},
		{"instance label", map[string]string{ArgoCDInstanceLabel: "shop-staging"}, nil, "", "application/argocd/shop-staging"},
		{"instance label, Argo CD namespace", map[string]string{ArgoCDInstanceLabel: "team-shop"}, nil, "apps", "application/apps/team-shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: liveDeployment(tc.labels, tc.annotations), Client: client, ArgoNamespace: tc.argoNs, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			// The repository defines shop-staging for envs/staging: its file's Application is
			// rendered; team-shop only the cluster has: the live one is.
			fromFile := got.Applied != nil && got.Applied.Reconciler.File != ""
			if got.Name != tc.wantName || got.Path != "envs/staging" || got.Branch != "main" || got.Namespace != "shop" ||
				got.Source != SourceArgoCD || !got.Cached || got.RemoteURL != url || got.Applied == nil || fromFile == strings.Contains(tc.wantName, "team-shop") {
				t.Errorf("got %+v", *got)
			}
		})
	}

	t.Run("HEAD in the user's checkout", func(t *testing.T) {
		live := liveDeployment(nil, map[string]string{ArgoCDTrackingIDAnnotation: "shop-staging:apps/Deployment:shop/web"})
		got, _, err := Resolve(ctx, ResolveOptions{Cwd: work, Live: live, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if got.RepoDir != work || got.Cached || got.Branch != "main" {
			t.Errorf("got %+v", *got)
		}
	})

	t.Run("instance label without Application", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: liveDeployment(map[string]string{ArgoCDInstanceLabel: "podinfo"}, nil), Client: client})
		var nt *NoTargetError
		if !errors.As(err, &nt) || !strings.Contains(err.Error(), "has label app.kubernetes.io/instance=podinfo, but there is no Argo CD Application argocd/podinfo") {
			t.Errorf("error: %v", err)
		}
	})

	t.Run("tracking-id without Application", func(t *testing.T) {
		live := liveDeployment(nil, map[string]string{ArgoCDTrackingIDAnnotation: "gone:apps/Deployment:shop/web"})
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: live, Client: client})
		if err == nil || !strings.Contains(err.Error(), "Application argocd/gone does not exist") {
			t.Errorf("error: %v", err)
		}
	})
}

// --repo alone names the three Applications that render charts/web: the live object's Argo CD
// tracking picks one of them; a live object tracked by none of them leaves the choice to the user.
func TestResolveRepoPickedByLiveLabels(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "argocd-helm")
	app := func(name string) runtime.Object {
		return obj("argoproj.io/v1alpha1", "Application", "argocd", name, nil, map[string]any{
			"source":      map[string]any{"repoURL": url, "path": "charts/web", "targetRevision": "main"},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": name},
		})
	}
	client := fakeClient(app("web-staging"), app("web-production"), app("elsewhere"))
	for _, tc := range []struct {
		name                string
		labels, annotations map[string]string
		want                string
	}{
		{"tracking label", map[string]string{ArgoCDInstanceLabel: "web-production"}, nil, "application/argocd/web-production"},
		{"tracking annotation", nil, map[string]string{ArgoCDTrackingIDAnnotation: "web-staging:apps/Deployment:web-staging/web"}, "application/argocd/web-staging"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Repo: work, Live: liveDeployment(tc.labels, tc.annotations), Client: client})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want || got.RepoDir != work || got.Path != "charts/web" {
				t.Errorf("got %s (%s in %s), want %s", got.Name, got.Path, got.RepoDir, tc.want)
			}
		})
	}
	t.Run("an Application the repository does not define", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Repo: work, Live: liveDeployment(map[string]string{ArgoCDInstanceLabel: "elsewhere"}, nil), Client: client})
		var amb *AmbiguousError
		if !errors.As(err, &amb) || !strings.Contains(err.Error(), "has 4 targets") || !strings.Contains(err.Error(), "Deployment shop/web is applied by application/argocd/elsewhere, which is none of them") {
			t.Errorf("error: %v", err)
		}
	})
}

// An Application whose chart comes from a Helm repository and whose values are a $values file
// of a Git source: that source's repository is where its file, and so its path, are found.
func TestResolveArgoChartWithValuesRef(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "argocd-helm")
	app := obj("argoproj.io/v1alpha1", "Application", "argocd", "web-remote", nil, map[string]any{
		"sources": []any{
			map[string]any{"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "0.3.0",
				"helm": map[string]any{"valueFiles": []any{"$values/values/web/remote.yaml"}}},
			map[string]any{"repoURL": url, "targetRevision": "main", "ref": "values"},
		},
		"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "web-remote"},
	})
	live := liveDeployment(map[string]string{ArgoCDInstanceLabel: "web-remote"}, nil)

	_, _, err := Resolve(ctx, ResolveOptions{Cwd: work, Live: live, Client: fakeClient(app)})
	if err == nil || !strings.Contains(err.Error(), "application/argocd/web-remote renders a chart of a Helm repository with values from "+url+", which defines no such Application") {
		t.Errorf("a repository without the Application: %v", err)
	}

	writeFile(t, filepath.Join(work, "apps", "web-remote.yaml"), `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-remote
  namespace: argocd
spec:
  sources:
    - repoURL: https://charts.example.com
      chart: web
      targetRevision: 0.3.0
      helm:
        valueFiles:
          - $values/values/web/remote.yaml
    - repoURL: https://git.example.com/platform/argo-helm.git
      targetRevision: main
      ref: values
  destination:
    namespace: web-remote
`)
	git(t, work, "add", "-A")
	git(t, work, "commit", "--quiet", "-m", "web-remote")
	got, _, err := Resolve(ctx, ResolveOptions{Cwd: work, Live: live, Client: fakeClient(app)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "application/argocd/web-remote" || got.Path != "apps" || got.RepoDir != work || got.Applied.Source != 0 || got.Applied.Reconciler.File != "apps/web-remote.yaml" {
		t.Errorf("got %s (path %q in %s, source %d, file %q)", got.Name, got.Path, got.RepoDir, got.Applied.Source, got.Applied.Reconciler.File)
	}
}

// Of an Application's several sources (argocd-fleet's web: a chart of a Helm repository with
// $values, and two Git paths), the chart made an object labelled helm.sh/chart with its name and
// version; another object is the first Git path's.
func TestResolveArgoMultiSourceChartByLabel(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "argocd-fleet")
	app := obj("argoproj.io/v1alpha1", "Application", "argocd", "web", nil, map[string]any{
		"sources": []any{
			map[string]any{"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.2.3",
				"helm": map[string]any{"valueFiles": []any{"$values/values/web.yaml"}}},
			map[string]any{"repoURL": url, "targetRevision": "main", "ref": "values"},
			map[string]any{"repoURL": url, "targetRevision": "main", "path": "extras/web"},
		},
		"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "web"},
	})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		path   string
		source int
	}{
		{"the chart's object", map[string]string{ArgoCDInstanceLabel: "web", helmChartLabel: "web-1.2.3"}, "apps", 0},
		{"another version's label", map[string]string{ArgoCDInstanceLabel: "web", helmChartLabel: "web-1.0.0"}, "extras/web", 2},
		{"no chart label", map[string]string{ArgoCDInstanceLabel: "web"}, "extras/web", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Resolve(ctx, ResolveOptions{Cwd: work, Live: liveDeployment(tc.labels, nil), Client: fakeClient(app)})
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != tc.path || got.Applied.Source != tc.source || got.RepoDir != work {
				t.Errorf("got %s: path %q, source %d in %s; want path %q, source %d", got.Name, got.Path, got.Applied.Source, got.RepoDir, tc.path, tc.source)
			}
		})
	}
}

// An Application with one source, a chart of a Helm repository, holds its values itself: its
// file is in the repository of the Application that applies it (app of apps), which Argo CD's
// tracking annotation (or label) on it names.
func TestResolveArgoChartAppliedByRoot(t *testing.T) {
	gitEnv(t)
	ctx := context.Background()
	url, work := newRemote(t, "argocd-helm")
	writeFile(t, filepath.Join(work, "apps", "web-single.yaml"), `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-single
  namespace: argocd
spec:
  source:
    repoURL: https://charts.example.com
    chart: web
    targetRevision: 0.3.0
    helm:
      valuesObject:
        replicaCount: 2
  destination:
    namespace: web-single
`)
	git(t, work, "add", "-A")
	git(t, work, "commit", "--quiet", "-m", "web-single")
	git(t, work, "push", "--quiet", "origin", "main")
	root := obj("argoproj.io/v1alpha1", "Application", "argocd", "root", nil, map[string]any{
		"source": map[string]any{"repoURL": url, "path": "apps", "targetRevision": "main"},
	})
	single := func(labels, annotations map[string]string) runtime.Object {
		u := obj("argoproj.io/v1alpha1", "Application", "argocd", "web-single", labels, map[string]any{
			"source":      map[string]any{"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "0.3.0"},
			"destination": map[string]any{"namespace": "web-single"},
		})
		u.SetAnnotations(annotations)
		return u
	}
	live := liveDeployment(map[string]string{ArgoCDInstanceLabel: "web-single"}, nil)
	for _, tc := range []struct {
		name                string
		labels, annotations map[string]string
	}{
		{"tracking annotation", nil, map[string]string{ArgoCDTrackingIDAnnotation: "root:argoproj.io/Application:argocd/web-single"}},
		{"tracking label", map[string]string{ArgoCDInstanceLabel: "root"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: live, Client: fakeClient(root, single(tc.labels, tc.annotations)), CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "application/argocd/web-single" || got.Path != "apps" || !got.Cached || got.Applied.Reconciler.File != "apps/web-single.yaml" {
				t.Errorf("got %s: path %q, file %q, cached %v", got.Name, got.Path, got.Applied.Reconciler.File, got.Cached)
			}
		})
	}
	t.Run("applied by no Application", func(t *testing.T) {
		_, _, err := Resolve(ctx, ResolveOptions{Cwd: t.TempDir(), Live: live, Client: fakeClient(root, single(nil, nil)), CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "renders Helm chart web from https://charts.example.com, not a path in Git, and no Application applies it from Git") {
			t.Errorf("error: %v", err)
		}
	})
}

// resolved is a resolved target without its reconciler's options, for comparisons.
func resolved(t Target) Target {
	t.Applied = nil
	return t
}

func TestMatchTarget(t *testing.T) {
	ks := func(name, file string) *reconciler.Applied {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("kustomize.toolkit.fluxcd.io/v1")
		u.SetKind("Kustomization")
		u.SetNamespace("flux-system")
		u.SetName(name)
		return &reconciler.Applied{Reconciler: reconciler.Object{File: file, Obj: u}}
	}
	all := []Target{
		{Name: "kustomization/flux-system/apps@clusters/production", Path: "apps/production", Applied: ks("apps", "clusters/production/apps.yaml")},
		{Name: "kustomization/flux-system/apps@clusters/staging", Path: "apps/staging", Applied: ks("apps", "clusters/staging/apps.yaml")},
		{Name: "kustomization/flux-system/infra", Path: "infra", Applied: ks("infra", "clusters/infra.yaml")},
		{Name: "overlays/dev", Path: "overlays/dev"},
	}
	for _, c := range []struct{ name, want, err string }{
		{"kustomization/flux-system/apps@clusters/staging", "apps/staging", ""},
		{"Kustomization/flux-system/apps@clusters/staging", "apps/staging", ""},
		{"apps@clusters/production", "apps/production", ""},
		{"@clusters/staging", "apps/staging", ""},
		{"infra", "infra", ""},
		{"kustomization/flux-system/infra", "infra", ""},
		{"overlays/dev", "overlays/dev", ""},
		{"dev", "", ""}, // a path's last part names no target
		{"apps", "", "it names 2 targets"},
		{"kustomization/flux-system/apps", "", "it names 2 targets"},
	} {
		got, err := matchTarget(all, c.name)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && got != nil:
			t.Errorf("%s: matched %s, want none", c.name, got.Name)
		case c.want != "" && (got == nil || got.Path != c.want):
			t.Errorf("%s: matched %v, want %s", c.name, got, c.want)
		}
	}
}
