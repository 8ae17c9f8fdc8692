package render_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// helmCLI is bin/testbin/helm, the helm CLI of the SDK version pkg/helm uses (make testbin);
// with KUBECTL_GITOPS_E2E set, its absence fails the test.
func helmCLI(t *testing.T) string {
	p := filepath.Join(testrepo.Root(), "bin", "testbin", "helm")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("KUBECTL_GITOPS_E2E") != "" {
			t.Fatalf("%s missing: run `make testbin`", p)
		}
		t.Skipf("%s missing: run `make testbin`", p)
	}
	return p
}

// Every HelmRelease target of the flux-helm sample renders as `helm template` of its chart
// directory with the release's values, name and namespace, once the labels and annotations
// helm-controller and Helm's install add (which `helm template` does not) are taken off, and
// a namespaced object without a namespace is put in the release's (as Helm's install does).
func TestHelmReleaseRenderEqualsHelmTemplate(t *testing.T) {
	helm := helmCLI(t)
	testrepo.Env(t)
	dir := testrepo.New(t, "flux-helm")
	targets, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var releases []target.Target
	for _, tg := range targets {
		if tg.Applied != nil && tg.Applied.Release != nil {
			releases = append(releases, tg)
		}
	}
	// web and api in staging and production.
	if len(releases) != 4 {
		t.Fatalf("want 4 HelmRelease targets, got %d: %v", len(releases), targets)
	}
	for _, tg := range releases {
		t.Run(tg.Name, func(t *testing.T) {
			res, err := render.Render(dir, tg.Path, render.Options{Applied: tg.Applied})
			if err != nil {
				t.Fatal(err)
			}
			rel := res.Release
			if rel == nil {
				t.Fatal("render has no Release")
			}
			hr := rel.HelmRelease.Obj()
			chartPath, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "chart")
			values, err := yaml.Marshal(rel.Values)
			if err != nil {
				t.Fatal(err)
			}
			valuesFile := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(valuesFile, values, 0o600); err != nil {
				t.Fatal(err)
			}
			ns := rel.Options.Namespace
			// --no-hooks: a release's hooks run and go, they are not among the objects it keeps.
			args := []string{"template", rel.Options.ReleaseName, filepath.Join(dir, filepath.FromSlash(chartPath)),
				"--namespace", ns, "-f", valuesFile, "--no-hooks"}
			if rel.Options.IncludeCRDs {
				args = append(args, "--include-crds")
			}
			cmd := exec.Command(helm, args...)
			cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			want := map[string]map[string]any{}
			for _, doc := range strings.Split("\n"+string(out), "\n---\n") {
				js, err := yaml.YAMLToJSON([]byte(doc))
				if err != nil {
					t.Fatalf("helm template output: %v\n%s", err, doc)
				}
				var obj map[string]any
				if err := json.Unmarshal(js, &obj); err != nil {
					t.Fatal(err)
				}
				if obj == nil {
					continue
				}
				if ns, _, _ := unstructured.NestedString(obj, "metadata", "namespace"); ns == "" && !clusterScoped(obj) {
					meta(obj)["namespace"] = rel.Options.Namespace
				}
				want[objectKey(obj)] = obj
			}
			if len(want) < 2 {
				t.Fatalf("helm template printed %d objects:\n%s", len(want), out)
			}

			addedLabels := map[string]string{
				"helm.toolkit.fluxcd.io/name":      hr.GetName(),
				"helm.toolkit.fluxcd.io/namespace": hr.GetNamespace(),
				"app.kubernetes.io/managed-by":     "Helm",
			}
			addedAnnotations := map[string]string{
				"meta.helm.sh/release-name":      rel.Options.ReleaseName,
				"meta.helm.sh/release-namespace": ns,
			}
			got := map[string]map[string]any{}
			for _, o := range res.Objects {
				js, err := json.Marshal(o.Obj().Object)
				if err != nil {
					t.Fatal(err)
				}
				var obj map[string]any
				if err := json.Unmarshal(js, &obj); err != nil {
					t.Fatal(err)
				}
				key := objectKey(obj)
				for _, added := range []struct {
					field string
					want  map[string]string
				}{{"labels", addedLabels}, {"annotations", addedAnnotations}} {
					m, _ := meta(obj)[added.field].(map[string]any)
					for k, v := range added.want {
						if m[k] != v {
							t.Errorf("%s: %s %s = %v, want %q", key, added.field, k, m[k], v)
						}
						// Taken off only where the chart does not set it itself.
						if _, chartSets := fieldMap(want[key], added.field)[k]; !chartSets {
							delete(m, k)
						}
					}
					if m != nil && len(m) == 0 {
						delete(meta(obj), added.field)
					}
				}
				got[key] = obj
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(maps.Keys(want))) {
				t.Fatalf("objects differ: render %v, helm template %v", keys, slices.Sorted(maps.Keys(want)))
			}
			for key, w := range want {
				if !reflect.DeepEqual(got[key], w) {
					g, _ := yaml.Marshal(got[key])
					wy, _ := yaml.Marshal(w)
					t.Errorf("%s: render differs from helm template\n--- render\n%s\n--- helm template\n%s", key, g, wy)
				}
			}
			t.Logf("%d objects equal helm template %s", len(got), strings.Join(args[1:], " "))
		})
	}
}

func meta(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	return m
}

func fieldMap(obj map[string]any, field string) map[string]any {
	m, _ := meta(obj)[field].(map[string]any)
	return m
}

func clusterScoped(obj map[string]any) bool {
	apiVersion, _ := obj["apiVersion"].(string)
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "", apiVersion
	}
	kind, _ := obj["kind"].(string)
	return resid.NewGvk(group, version, kind).IsClusterScoped()
}

func objectKey(obj map[string]any) string {
	ns, _, _ := unstructured.NestedString(obj, "metadata", "namespace")
	name, _, _ := unstructured.NestedString(obj, "metadata", "name")
	return fmt.Sprintf("%s %s %s/%s", obj["apiVersion"], obj["kind"], ns, name)
}
