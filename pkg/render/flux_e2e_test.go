package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }

var kustomizationGVR = schema.GroupVersionResource{Group: reconciler.FluxKustomizeGroup, Version: "v1", Resource: "kustomizations"}

// fluxCase is a Kustomization of a sample repository, applied by the real kustomize-controller.
type fluxCase struct {
	name, sample, file string
	doc                int
}

// The real kustomize-controller applies Kustomizations of the sample repositories, with every
// transform among them: a generated kustomization, targetNamespace, namePrefix, nameSuffix,
// patches (strategic merge with and without a target, JSON 6902), images, components,
// commonMetadata, postBuild substitute and substituteFrom (a ConfigMap; an optional Secret
// that does not exist), ${VAR:=default}, the substitute: disabled annotation, and no spec.path.
// Every object the render of each Kustomization holds is what the controller applied: the same
// objects (its inventory), and each field the render sets has the render's value live.
func TestE2EFluxRenderEqualsKustomizeController(t *testing.T) {
	c := testcluster.Shared(t)
	flux := testcluster.WithFlux(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(c.RESTConfig())))
	id := utilrand.String(5)

	repos := map[string]struct{ work, source string }{}
	for _, sample := range []string{"flux-hub", "flux-tenant-app"} {
		bare, work := testrepo.NewWithRemote(t, sample)
		source := sample + "-" + id
		repos[sample] = struct{ work, source string }{work, source}
		git := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %s, namespace: %s}
spec: {url: %q, ref: {branch: main}, interval: 1h}
`, source, testcluster.FluxNamespace, flux.ServeRepo(bare))
		if _, err := c.ApplyYAML(ctx, "", []byte(git)); err != nil {
			t.Fatal(err)
		}
	}
	// substituteFrom reads the Kustomization's namespace: the sample's ConfigMap moves there.
	settings := readDoc(t, filepath.Join(repos["flux-hub"].work, "clusters/hub/spokes/staging/cluster-settings.yaml"), 0)
	settings.SetNamespace(testcluster.FluxNamespace)
	if _, err := c.ApplyYAML(ctx, "", mustYAML(t, settings.Object)); err != nil {
		t.Fatal(err)
	}

	cases := []fluxCase{
		{"staging", "flux-hub", "clusters/hub/spokes/staging/apps.yaml", 0},
		{"production", "flux-hub", "clusters/hub/spokes/production/apps.yaml", 0},
		{"tenant", "flux-tenant-app", "", 0},
	}
	kss := make([]*unstructured.Unstructured, len(cases))
	for i, fc := range cases {
		var ks *unstructured.Unstructured
		if fc.file != "" {
			ks = readDoc(t, filepath.Join(repos[fc.sample].work, fc.file), fc.doc)
		} else {
			// Team A's Kustomization, which has no spec.path, from the tenants' repository.
			ks = readDoc(t, filepath.Join(testrepo.Sample("flux-tenants"), "tenants/base/team-a/sync.yaml"), 1)
		}
		// Applied here rather than in a spoke cluster, from the served repository, into a
		// namespace of the test's own.
		ns := fc.name + "-" + id
		if err := c.CreateNamespace(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		ks.SetName(fc.name + "-" + id)
		ks.SetNamespace(testcluster.FluxNamespace)
		spec := ks.Object["spec"].(map[string]any)
		delete(spec, "kubeConfig")
		delete(spec, "serviceAccountName")
		spec["sourceRef"] = map[string]any{"kind": "GitRepository", "name": repos[fc.sample].source}
		spec["targetNamespace"] = ns
		spec["interval"] = "1h"
		spec["wait"] = false
		spec["timeout"] = "2m"
		if _, err := c.ApplyYAML(ctx, "", mustYAML(t, ks.Object)); err != nil {
			t.Fatal(err)
		}
		kss[i] = ks
	}

	lookup := func(kind, ns, name string) (map[string]string, error) {
		if kind == "ConfigMap" && ns == settings.GetNamespace() && name == settings.GetName() {
			data, _, err := unstructured.NestedStringMap(settings.Object, "data")
			return data, err
		}
		return nil, nil
	}
	for i, fc := range cases {
		t.Run(fc.name, func(t *testing.T) {
			live := waitApplied(t, ctx, dyn, kss[i].GetName())
			work := repos[fc.sample].work
			git := reconciler.Object{Obj: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": reconciler.FluxSourceGroup + "/v1", "kind": "GitRepository",
				"metadata": map[string]any{"name": repos[fc.sample].source, "namespace": testcluster.FluxNamespace},
				"spec":     map[string]any{"url": "served", "ref": map[string]any{"branch": "main"}},
			}}}
			a, err := reconciler.FluxKustomizationApplied(nil, reconciler.Object{Obj: kss[i]}, []reconciler.Object{git})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r, err := render.Render(work, a.Path, render.Options{Applied: &a, Lookup: lookup})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rendered %s (%d objects) in %v", a.Path, len(r.Objects), time.Since(start).Round(time.Millisecond))

			// The same objects as the controller's inventory.
			var want, got []string
			entries, _, _ := unstructured.NestedSlice(live.Object, "status", "inventory", "entries")
			for _, e := range entries {
				eid, _, _ := unstructured.NestedString(e.(map[string]any), "id")
				want = append(want, eid)
			}
			for _, o := range r.Objects {
				got = append(got, o.ID.Namespace+"_"+o.ID.Name+"_"+o.ID.Group+"_"+o.ID.Kind)
			}
			sort.Strings(want)
			sort.Strings(got)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("render's objects %v\nthe controller applied %v", got, want)
			}
			// Each field the render sets, live.
			for _, o := range r.Objects {
				m, err := mapper.RESTMapping(o.ID.GroupKind())
				if err != nil {
					t.Fatal(err)
				}
				obj, err := dyn.Resource(m.Resource).Namespace(o.ID.Namespace).Get(ctx, o.ID.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range subset("", o.Obj().Object, obj.Object) {
					t.Errorf("%s: %s", o.ID, d)
				}
			}
			// The Kustomization's own options made a difference the comparison saw: a plain
			// kustomize build of the path is not what the controller applied.
			plain, err := render.Render(work, a.Path, render.Options{})
			if err == nil && len(plain.Objects) == len(r.Objects) {
				same := true
				for j, o := range plain.Objects {
					if o.ID != r.Objects[j].ID || !reflect.DeepEqual(o.Obj().Object, r.Objects[j].Obj().Object) {
						same = false
					}
				}
				if same {
					t.Error("the Kustomization's options change nothing: the test proves nothing")
				}
			}
		})
	}
}

// waitApplied waits for the controller to report the Kustomization ready for its generation.
func waitApplied(t *testing.T, ctx context.Context, dyn dynamic.Interface, name string) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		ks, err := dyn.Resource(kustomizationGVR).Namespace(testcluster.FluxNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = ks
		observed, _, _ := unstructured.NestedInt64(ks.Object, "status", "observedGeneration")
		conds, _, _ := unstructured.NestedSlice(ks.Object, "status", "conditions")
		for _, cnd := range conds {
			m := cnd.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" && observed == ks.GetGeneration() {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		status := ""
		if last != nil {
			s, _ := json.Marshal(last.Object["status"])
			status = string(s)
		}
		t.Fatalf("Kustomization %s not applied: %v; status %s", name, err, status)
	}
	return last
}

// subset lists where want (a rendered object) is not in got (the live object): a field missing
// or with another value; lists must have as many items, each a subset of the live one.
func subset(at string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v, live %v", at, want, got)}
		}
		var out []string
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: %v, not live", at, k, v))
				continue
			}
			out = append(out, subset(at+"."+k, v, gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: %v, live %v", at, want, got)}
		}
		var out []string
		for i := range w {
			out = append(out, subset(fmt.Sprintf("%s[%d]", at, i), w[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: %v, live %v", at, want, got)}
		}
		return nil
	}
}

func readDoc(t *testing.T, path string, doc int) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := reconciler.DecodeObjects(path, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Doc == doc {
			return o.Obj
		}
	}
	t.Fatalf("%s has no document %d", path, doc)
	return nil
}

func mustYAML(t *testing.T, obj map[string]any) []byte {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(b)) + "\n")
}
