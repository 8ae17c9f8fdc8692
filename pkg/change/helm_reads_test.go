package change

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// A HelmRelease's chart directory is read by every release of the chart, though no
// kustomization names it: a change to the chart's default values, asked of one release, is
// refused because the other environment's release (never rendered before in this engine)
// would change too.
func TestChartDirectoryReachesEveryRelease(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "flux-helm")
	ts, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var targets []Target
	staging := ""
	for _, tg := range ts {
		targets = append(targets, Target{Path: tg.Path, Applied: tg.Applied})
		if tg.Name == "helmrelease/web/web@apps/staging" {
			staging = tg.Key()
		}
	}
	if staging == "" {
		t.Fatal("no target helmrelease/web/web@apps/staging")
	}
	e := NewEngine(dir, targets, Options{})
	r, err := e.Rendered(staging)
	if err != nil {
		t.Fatal(err)
	}
	var deploy *render.Object
	for _, o := range r.Objects {
		if o.ID.Kind == "Deployment" {
			deploy = o
		}
	}
	desired := deploy.Obj().DeepCopy()
	tmpl := desired.Object["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)
	tmpl["annotations"] = map[string]any{"team": "storefront"}
	values, err := os.ReadFile(filepath.Join(dir, "charts", "web", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(values), "podAnnotations: {}", "podAnnotations:\n  team: storefront", 1)
	_, err = e.Plan([]ObjectChange{{Target: staging, Object: deploy, Desired: desired.Object, Layer: "charts/web/values.yaml",
		Files: map[string][]byte{"charts/web/values.yaml": []byte(edited)}}})
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("a change of the chart's defaults was not refused: %v", err)
	}
	if !strings.Contains(err.Error(), "helmrelease/web/web (apps/production)") {
		t.Errorf("the refusal does not name the production release:\n%v", err)
	}
}
