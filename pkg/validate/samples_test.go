package validate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// readManifests reads the objects of the YAML files given.
func readManifests(t *testing.T, paths ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

// testdataCRDs are the CustomResourceDefinitions of testdata/crds, which the sample repositories'
// custom resources were checked against (testdata/README.md).
func testdataCRDs(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testrepo.Root(), "testdata", "crds", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs in testdata/crds: %v", err)
	}
	return readManifests(t, paths...)
}

// Every object every target of every sample repository renders passes: they were all accepted by
// `kubectl apply --dry-run=server --validate=strict` (testdata/README.md), so a problem here is a
// false refusal, which would block users. The kinds are counted so that the test cannot pass by
// rendering nothing.
func TestSampleRepositoriesHaveNoProblems(t *testing.T) {
	testrepo.Env(t)
	crds := testdataCRDs(t)
	samples, err := os.ReadDir(filepath.Join(testrepo.Root(), "testdata", "repos"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, s := range samples {
		repo := testrepo.New(t, s.Name())
		targets, err := target.Discover(repo, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(targets) == 0 {
			t.Fatalf("%s: no targets", s.Name())
		}
		for _, tg := range targets {
			res, err := render.Render(repo, tg.Path, render.Options{Applied: tg.Applied})
			var unavailable *render.ChartUnavailableError
			if errors.As(err, &unavailable) {
				// A chart on the internet (the flux sample's podinfo): not the sample's fault.
				continue
			}
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name(), tg.Path, err)
			}
			var objs []*unstructured.Unstructured
			for _, o := range res.Objects {
				objs = append(objs, o.Obj())
				kinds[o.Obj().GetKind()]++
			}
			rep, err := validate.Objects(context.Background(), objs, validate.Options{CRDs: crds})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Problems {
				t.Errorf("%s %s: %s", s.Name(), tg.Path, p)
			}
			for _, u := range rep.Unchecked {
				t.Errorf("%s %s: %s unchecked: %s", s.Name(), tg.Path, u.Object, u.Reason)
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "Namespace", "CronJob", "HorizontalPodAutoscaler",
		"PodDisruptionBudget", "ServiceAccount", "Kustomization", "GitRepository", "HelmRelease", "HelmRepository", "Application"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered: %v", k, kinds)
		}
	}
	// The CRDs themselves are objects a repository holds.
	rep, err := validate.Objects(context.Background(), crds, validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 || len(rep.Unchecked) > 0 {
		t.Errorf("testdata/crds: %+v", rep)
	}
}
