package target

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Describe tells each kind of target by what discovery found: Flux Kustomizations (one defined
// per cluster directory named with it; one of an ExternalArtifact naming it), Argo CD
// Applications (one source of several; one an ApplicationSet generates), configured targets and
// fallback paths.
func TestDescribe(t *testing.T) {
	testrepo.Env(t)
	find := func(t *testing.T, sample, name string) Description {
		t.Helper()
		repo := testrepo.New(t, sample)
		ts, err := Discover(repo, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range ts {
			if tg.Name == name {
				return Describe(tg)
			}
		}
		t.Fatalf("%s has no target %s", sample, name)
		return Description{}
	}
	for _, tc := range []struct {
		sample, name string
		want         Description
	}{
		{"flux", "kustomization/flux-system/apps@clusters/staging", Description{
			Name: "kustomization/flux-system/apps@clusters/staging", Kind: KindFluxKustomization,
			Reconciler: "kustomization/flux-system/apps@clusters/staging", Path: "apps/staging",
			URL: "https://git.example.com/platform/fleet.git", Branch: "main",
			Found: FoundRepository, File: "clusters/staging/apps.yaml",
		}},
		{"flux-monorepo", "kustomization/flux-system/apps@clusters/staging", Description{
			Name: "kustomization/flux-system/apps@clusters/staging", Kind: KindFluxKustomization,
			Reconciler: "kustomization/flux-system/apps@clusters/staging", Path: "apps/staging", ArtifactPath: "staging",
			URL: "https://git.example.com/shop/monorepo.git", Branch: "main", Artifact: "ExternalArtifact flux-system/apps",
			Found: FoundRepository, File: "clusters/staging/apps.yaml",
		}},
		// platform's artifact copies the directory platform to its root: ingress is below it.
		{"flux-monorepo", "kustomization/flux-system/platform", Description{
			Name: "kustomization/flux-system/platform", Kind: KindFluxKustomization,
			Reconciler: "kustomization/flux-system/platform", Path: "platform/ingress", ArtifactPath: "ingress",
			URL: "https://git.example.com/shop/monorepo.git", Branch: "main", Artifact: "ExternalArtifact flux-system/platform",
			Found: FoundRepository, File: "clusters/staging/platform.yaml",
		}},
		{"argocd-fleet", "application/argocd/web[2]", Description{
			Name: "application/argocd/web[2]", Kind: KindArgoApplication,
			Reconciler: "application/argocd/web", SourceField: "spec.sources[2]", Path: "extras/web",
			URL: "https://git.example.com/platform/fleet.git", Branch: "main",
			Found: FoundRepository, File: "apps/web.yaml",
		}},
		{"argocd-fleet", "application/argocd/guestbook-dev", Description{
			Name: "application/argocd/guestbook-dev", Kind: KindArgoApplication,
			Reconciler: "application/argocd/guestbook-dev", Path: "guestbook",
			URL: "https://git.example.com/platform/fleet.git", Branch: "main",
			Found: FoundRepository, File: "apps/guestbook.yaml", GeneratedBy: "applicationset/argocd/guestbook",
		}},
		{"sops", "staging", Description{Name: "staging", Kind: KindConfig, Path: "apps/staging", Found: FoundConfig, File: ConfigFile}},
		{"kustomize", "overlays/staging", Description{Name: "overlays/staging", Kind: KindFallback, Path: "overlays/staging", Found: FoundFallback}},
	} {
		t.Run(filepath.Join(tc.sample, tc.name), func(t *testing.T) {
			if got := find(t, tc.sample, tc.name); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Describe:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
