package capture

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
)

func obj(t *testing.T, src string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(src), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCleanStripsWhatServersAndControllersWrite(t *testing.T) {
	live := obj(t, `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  uid: 1
  resourceVersion: "2"
  creationTimestamp: "2024-01-01T00:00:00Z"
  managedFields: [{manager: kubectl}]
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}", team: shop}
  ownerReferences: [{kind: Thing, name: a, controller: true}, {kind: Other, name: b}]
spec:
  clusterIP: 10.0.0.7
  clusterIPs: [10.0.0.7]
  ports: [{port: 80}]
status: {loadBalancer: {}}
`)
	want := obj(t, `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: {team: shop}
  ownerReferences: [{kind: Other, name: b}]
spec:
  ports: [{port: 80}]
`)
	if got := Clean(live); !reflect.DeepEqual(got.Object, want.Object) {
		t.Errorf("got %v\nwant %v", got.Object, want.Object)
	}
}

// fakeServer defaults spec.replicas to 1 and spec.strategy, and requires spec.image.
type fakeServer struct{}

func (fakeServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	if _, ok, _ := unstructured.NestedFieldNoCopy(out.Object, "spec", "replicas"); !ok {
		_ = unstructured.SetNestedField(out.Object, float64(1), "spec", "replicas")
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(out.Object, "spec", "strategy"); !ok {
		_ = unstructured.SetNestedField(out.Object, "Rolling", "spec", "strategy")
	}
	return out, nil
}

func TestPruneDropsWhatTheServerRestores(t *testing.T) {
	d := NewDefaults(fakeServer{})
	for i, tc := range []struct{ in, want string }{
		{"{kind: App, spec: {replicas: 1, strategy: Rolling, image: a}}", "{kind: App, spec: {image: a}}"},
		{"{kind: App, spec: {replicas: 3, strategy: Rolling, image: b}}", "{kind: App, spec: {replicas: 3, image: b}}"},
		{"{kind: App, spec: {replicas: 1, strategy: Recreate, image: c}}", "{kind: App, spec: {strategy: Recreate, image: c}}"},
	} {
		got, err := d.Prune(context.Background(), obj(t, tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if want := obj(t, tc.want); !reflect.DeepEqual(got.Object, want.Object) {
			t.Errorf("%d: got %v, want %v", i, got.Object, want.Object)
		}
	}
}

// portServer defaults spec.targetPort to spec.port: a default that depends on a sibling.
type portServer struct{}

func (portServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	if _, ok, _ := unstructured.NestedFieldNoCopy(out.Object, "spec", "targetPort"); !ok {
		port, _, _ := unstructured.NestedFieldNoCopy(out.Object, "spec", "port")
		_ = unstructured.SetNestedField(out.Object, port, "spec", "targetPort")
	}
	return out, nil
}

// An object whose cached decisions hold is decided by one dry-run, checked against the live
// object; one they do not hold for (a default that follows a sibling) is walked again.
func TestPruneChecksCachedDecisionsAgainstTheLiveObject(t *testing.T) {
	assertPrunes(t, NewDefaults(portServer{}), []pruneCase{
		// Walked: spec, port, targetPort.
		{"{kind: Svc, spec: {port: 80, targetPort: 80}}", "{kind: Svc, spec: {port: 80}}", 3},
		// Every decision cached: the check alone.
		{"{kind: Svc, spec: {port: 80, targetPort: 80}}", "{kind: Svc, spec: {port: 80}}", 1},
		// targetPort 80 was a default for port 80, not for 90: the check fails, and the walk
		// without the cache (spec, port, targetPort) follows the pass (spec, port), the check
		// and the original's dry-run.
		{"{kind: Svc, spec: {port: 90, targetPort: 80}}", "{kind: Svc, spec: {port: 90, targetPort: 80}}", 7},
	})
}

// An object whose cached decisions drop nothing needs no check: it would dry-run the object
// itself, whose answer can only be accepted.
func TestPruneNeedsNoCheckWhenNothingIsDropped(t *testing.T) {
	assertPrunes(t, NewDefaults(fakeServer{}), []pruneCase{
		// Walked: spec, image, replicas, strategy.
		{"{kind: App, spec: {replicas: 3, strategy: Recreate, image: a}}", "{kind: App, spec: {replicas: 3, strategy: Recreate, image: a}}", 4},
		// Walked: spec (a new value); image, replicas and strategy cached and kept.
		{"{kind: App, spec: {replicas: 3, strategy: Recreate, image: a, x: 1}}", "{kind: App, spec: {replicas: 3, strategy: Recreate, image: a, x: 1}}", 2},
		// Every decision cached, nothing dropped.
		{"{kind: App, spec: {replicas: 3, strategy: Recreate, image: a}}", "{kind: App, spec: {replicas: 3, strategy: Recreate, image: a}}", 0},
		// replicas: 1 dropped from the cache: checked.
		{"{kind: App, spec: {replicas: 1, strategy: Recreate, image: a}}", "{kind: App, spec: {strategy: Recreate, image: a}}", 3},
	})
}

// pruneCase is an object Prune gets, the manifest it must give, and the dry-runs it may make.
type pruneCase struct {
	in, want string
	probes   int
}

// assertPrunes prunes each case's object in turn with d, whose cache the cases share.
func assertPrunes(t *testing.T, d *Defaults, cases []pruneCase) {
	t.Helper()
	for i, tc := range cases {
		before := d.Probes
		got, err := d.Prune(context.Background(), obj(t, tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if want := obj(t, tc.want); !reflect.DeepEqual(got.Object, want.Object) {
			t.Errorf("%d: got %v, want %v", i, got.Object, want.Object)
		}
		if n := d.Probes - before; n != tc.probes {
			t.Errorf("%d: %d dry-runs, want %d", i, n, tc.probes)
		}
	}
}

// secretServer defaults a Secret's type, as the API server does.
type secretServer struct{}

func (secretServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	if _, ok := out.Object["type"]; !ok {
		out.Object["type"] = "Opaque"
	}
	return out, nil
}

// With only the built-in defaulting, a Secret's data is the user's without a dry-run: only its
// type is asked about, and the object checked, as it dropped a value.
func TestPruneAsksOnlyAboutTheFieldsBuiltinDefaultingSets(t *testing.T) {
	in := "{apiVersion: v1, kind: Secret, type: Opaque, data: {a: YQ==}}"
	want := obj(t, "{apiVersion: v1, kind: Secret, data: {a: YQ==}}")
	for _, tc := range []struct {
		onlyBuiltin bool
		probes      int
	}{
		{false, 3}, // data, data.a, type
		{true, 2},  // type, the check
	} {
		d := NewDefaults(secretServer{})
		d.OnlyBuiltin = tc.onlyBuiltin
		got, err := d.Prune(context.Background(), obj(t, in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Object, want.Object) {
			t.Errorf("only built-in %v: got %v, want %v", tc.onlyBuiltin, got.Object, want.Object)
		}
		if d.Probes != tc.probes {
			t.Errorf("only built-in %v: %d dry-runs, want %d", tc.onlyBuiltin, d.Probes, tc.probes)
		}
	}
}

func TestLiveValuesTakesTheLiveValuesOfTheRenderedFields(t *testing.T) {
	rendered := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - {name: web, image: "web:1", resources: {limits: {cpu: 1000m}}}
        - {name: side, image: "side:1"}
`)
	live := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web, extra: x}, uid: u}
spec:
  replicas: 4
  strategy: {type: RollingUpdate}
  template:
    spec:
      containers:
        - {name: side, image: "side:1", imagePullPolicy: Always}
        - {name: web, image: "web:2", resources: {limits: {cpu: "1"}}}
`)
	meta := placement.PatchMeta(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	got := LiveValues(rendered, live, meta)
	var changes []string
	for _, c := range placement.Diff(rendered.Object, got.Object, meta) {
		changes = append(changes, c.String())
	}
	want := []string{"spec.replicas: 1 → 4", "spec.template.spec.containers[name=web].image: web:1 → web:2"}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("changes %q, want %q", changes, want)
	}
}

// servicePortServer defaults each of spec.ports' targetPort to its port, as Kubernetes does.
type servicePortServer struct{}

func (servicePortServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	ports, _, _ := unstructured.NestedSlice(out.Object, "spec", "ports")
	for _, p := range ports {
		m := p.(map[string]any)
		if _, ok := m["targetPort"]; !ok {
			m["targetPort"] = m["port"]
		}
	}
	if ports != nil {
		_ = unstructured.SetNestedSlice(out.Object, ports, "spec", "ports")
	}
	return out, nil
}

// A default copied from a sibling field is decided for each object: the manifests do not
// depend on which object was decided first, as they would if one Service's answer about
// targetPort 80 stood for another's.
func TestSiblingDefaultsDecidedPerObject(t *testing.T) {
	mixed := "{kind: Service, metadata: {name: mixed}, spec: {ports: [{port: 90, targetPort: 80}]}}"
	same := "{kind: Service, metadata: {name: same}, spec: {ports: [{port: 80, targetPort: 80}]}}"
	want := map[string]string{
		"mixed": "{kind: Service, metadata: {name: mixed}, spec: {ports: [{port: 90, targetPort: 80}]}}",
		"same":  "{kind: Service, metadata: {name: same}, spec: {ports: [{port: 80}]}}",
	}
	for i, order := range [][]string{{mixed, same}, {same, mixed}} {
		d := NewDefaults(servicePortServer{})
		for _, in := range order {
			got, err := d.Prune(context.Background(), obj(t, in))
			if err != nil {
				t.Fatal(err)
			}
			if w := obj(t, want[got.GetName()]); !reflect.DeepEqual(got.Object, w.Object) {
				t.Errorf("order %d, %s: got %v, want %v", i, got.GetName(), got.Object, w.Object)
			}
		}
	}
}

// requestsServer defaults a container's requests to its limits, as Kubernetes does for a pod.
type requestsServer struct{}

func (requestsServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	containers, _, _ := unstructured.NestedSlice(out.Object, "spec", "containers")
	for _, c := range containers {
		r, _ := c.(map[string]any)["resources"].(map[string]any)
		if r == nil || r["limits"] == nil {
			continue
		}
		if _, ok := r["requests"]; !ok {
			r["requests"] = runtime.DeepCopyJSONValue(r["limits"])
		}
	}
	_ = unstructured.SetNestedSlice(out.Object, containers, "spec", "containers")
	return out, nil
}

// A decision about a default copied from a sibling beside it (a container's requests, from its
// limits) stands for the objects of the namespace whose map holding it is the same but for it,
// and for no other: the same requests under other limits, or in another namespace, are asked
// about again, and the manifests are those each object gets alone.
func TestSiblingDefaultsSharedWhereTheSiblingIsTheSame(t *testing.T) {
	pod := func(ns, name, image, resources string) string {
		return fmt.Sprintf("{kind: Pod, metadata: {name: %s, namespace: %s}, spec: {containers: [{name: app, image: %s, resources: %s}]}}", name, ns, image, resources)
	}
	asLimits := "{limits: {cpu: 100m}, requests: {cpu: 100m}}"
	noLimits := "{requests: {cpu: 100m}}"
	d := NewDefaults(requestsServer{})
	assertPrunes(t, d, []pruneCase{
		// Walked: spec, containers, name, image, resources, limits, limits.cpu, requests
		// (dropped); every decision asked, so no check.
		{pod("a", "one", "web:1", asLimits), pod("a", "one", "web:1", "{limits: {cpu: 100m}}"), 8},
		// Another image: spec, containers and image asked about, the requests' decision
		// cached (the same limits beside them); then the check.
		{pod("a", "two", "web:2", asLimits), pod("a", "two", "web:2", "{limits: {cpu: 100m}}"), 4},
		// The same requests without limits: spec, containers, resources, requests and
		// requests.cpu asked about, and kept; nothing dropped, no check.
		{pod("a", "three", "web:1", noLimits), pod("a", "three", "web:1", noLimits), 5},
		// Another namespace: requests asked about again.
		{pod("b", "four", "web:1", asLimits), pod("b", "four", "web:1", "{limits: {cpu: 100m}}"), 2},
	})
	for _, in := range []string{pod("a", "one", "web:1", asLimits), pod("a", "three", "web:1", noLimits)} {
		alone, err := NewDefaults(requestsServer{}).Prune(context.Background(), obj(t, in))
		if err != nil {
			t.Fatal(err)
		}
		together, err := d.Prune(context.Background(), obj(t, in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(alone.Object, together.Object) {
			t.Errorf("%s: alone %v, with the cache %v", in, alone.Object, together.Object)
		}
	}
}

// serviceAccountServer fills a pod spec's serviceAccount and serviceAccountName from each other,
// as Kubernetes' conversion of a pod spec does.
type serviceAccountServer struct{}

func (serviceAccountServer) DryRunCreate(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := u.DeepCopy()
	spec, _ := out.Object["spec"].(map[string]any)
	if spec == nil {
		return out, nil
	}
	if _, ok := spec["serviceAccount"]; !ok && spec["serviceAccountName"] != nil {
		spec["serviceAccount"] = spec["serviceAccountName"]
	}
	if _, ok := spec["serviceAccountName"]; !ok && spec["serviceAccount"] != nil {
		spec["serviceAccountName"] = spec["serviceAccount"]
	}
	return out, nil
}

// A pod's serviceAccount follows its serviceAccountName only: a decision about it stands for the
// objects of the namespace with the same pair, whatever else their spec holds.
func TestServiceAccountDefaultsSharedWhereThePairIsTheSame(t *testing.T) {
	pod := func(ns, name, image, sa string) string {
		return fmt.Sprintf("{kind: Pod, metadata: {name: %s, namespace: %s}, spec: {image: %s, serviceAccount: %s, serviceAccountName: %s}}", name, ns, image, sa, sa)
	}
	want := func(ns, name, image, sa string) string {
		return fmt.Sprintf("{kind: Pod, metadata: {name: %s, namespace: %s}, spec: {image: %s, serviceAccountName: %s}}", name, ns, image, sa)
	}
	assertPrunes(t, NewDefaults(serviceAccountServer{}), []pruneCase{
		// Walked: spec, image, serviceAccount (dropped), serviceAccountName; every decision
		// asked, so no check.
		{pod("a", "one", "web:1", "robot"), want("a", "one", "web:1", "robot"), 4},
		// Another image: spec and image asked about, the pair's decisions cached; the check.
		{pod("a", "two", "web:2", "robot"), want("a", "two", "web:2", "robot"), 3},
		// Another namespace: the pair asked about again; the check.
		{pod("b", "three", "web:1", "robot"), want("b", "three", "web:1", "robot"), 3},
		// Another service account: spec and the pair asked about; the check.
		{pod("a", "four", "web:1", "other"), want("a", "four", "web:1", "other"), 4},
	})
}
