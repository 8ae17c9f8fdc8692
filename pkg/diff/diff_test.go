package diff_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }

// fluxManager is the field manager Flux's kustomize-controller applies with.
const fluxManager = "kustomize-controller"

// fixture is a namespace of its own on the shared cluster and a way to reach it.
type fixture struct {
	t    *testing.T
	c    *testcluster.Cluster
	ns   string
	kube kubernetes.Interface
	reqs *requestLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := testcluster.Shared(t)
	ns := "diff-" + utilrand.String(6)
	if err := c.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: c, ns: ns, kube: kubernetes.NewForConfigOrDie(c.RESTConfig()), reqs: &requestLog{}}
}

// manifests decodes a multi-document YAML manifest, NS standing for the test's namespace.
func (f *fixture) manifests(y string) []*unstructured.Unstructured {
	f.t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(strings.ReplaceAll(y, "NS", f.ns), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			f.t.Fatalf("decoding manifest: %v\n%s", err, doc)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// apply server-side applies a manifest as a reconciler would, with its field manager.
func (f *fixture) apply(manager, y string) {
	f.t.Helper()
	if _, err := f.c.ApplyYAML(f.t.Context(), manager, []byte(strings.ReplaceAll(y, "NS", f.ns))); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) compare(objs []*unstructured.Unstructured, mod ...func(*diff.Options)) *diff.Report {
	f.t.Helper()
	cfg := f.c.RESTConfig()
	cfg.Wrap(f.reqs.wrap)
	o := diff.Options{Config: cfg, Objects: objs, Namespace: f.ns}
	for _, m := range mod {
		m(&o)
	}
	r, err := diff.Compare(f.t.Context(), o)
	if err != nil {
		f.t.Fatalf("Compare: %v", err)
	}
	return r
}

// requestLog counts the API requests a comparison makes.
type requestLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.calls = append(l.calls, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// count returns the requests of a method whose path contains part.
func (l *requestLog) count(method, part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if strings.HasPrefix(c, method+" ") && strings.Contains(c, part) {
			n++
		}
	}
	return n
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.calls = nil
	l.mu.Unlock()
}

func describe(r *diff.Report) string {
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "%s %s %s\n", o.Status, o.ObjectID, o.Message)
		for _, f := range o.Fields {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

func unified(t *testing.T, r *diff.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := diff.WriteUnified(&b, r, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// shop is what Git holds: written as people write manifests, leaving defaults to the server.
const shop = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
  labels: {app: web, tier: frontend}
  annotations: {}
  creationTimestamp: null
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      creationTimestamp: null
    spec:
      containers:
      - name: web
        image: registry.example.com/shop/web:1.4.0
        imagePullPolicy: IfNotPresent
        args: ["--port", "8080"]
        ports:
        - containerPort: 8080
          name: http
        - containerPort: 9090
          name: metrics
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: CACHE_TTL_SECONDS, value: "300"}
        resources:
          requests: {cpu: 0.5, memory: 512Mi}
          limits: {cpu: "1", memory: 1Gi}
        volumeMounts: []
      - name: proxy
        image: registry.example.com/infra/twemproxy:0.5.0
status: {}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: metrics
    port: 9090
    targetPort: metrics
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: NS
data:
  color: blue
`

func TestNoDifferenceAfterApply(t *testing.T) {
	f := newFixture(t)
	f.apply(fluxManager, shop)
	f.reqs.reset()
	r := f.compare(f.manifests(shop))
	if len(r.Objects) != 0 || r.HasDifferences() || r.ExitCode() != 0 {
		t.Fatalf("want no differences right after the apply, got:\n%s", describe(r))
	}
	if r.Compared != 3 {
		t.Errorf("compared %d objects, want 3", r.Compared)
	}
	// One LIST per kind and namespace, and no dry-run when nothing differs.
	for _, res := range []string{"/deployments", "/services", "/configmaps"} {
		if n := f.reqs.count("GET", "/namespaces/"+f.ns+res); n != 1 {
			t.Errorf("%d GETs of %s, want one LIST", n, res)
		}
	}
	if n := f.reqs.count("PATCH", ""); n != 0 {
		t.Errorf("%d dry-run applies, want none", n)
	}
}

// TestNoFalseDrift: the cluster holds the objects the way the API server stores what Git says.
func TestNoFalseDrift(t *testing.T) {
	f := newFixture(t)
	// Applied by the reconciler from an earlier commit that wrote the same values otherwise:
	// quantities in other notations, associative lists in another order.
	f.apply(fluxManager, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
  labels: {app: web, tier: frontend}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: proxy
        image: registry.example.com/infra/twemproxy:0.5.0
      - name: web
        image: registry.example.com/shop/web:1.4.0
        imagePullPolicy: IfNotPresent
        args: ["--port", "8080"]
        ports:
        - containerPort: 9090
          name: metrics
        - containerPort: 8080
          name: http
        env:
        - {name: CACHE_TTL_SECONDS, value: "300"}
        - {name: LOG_LEVEL, value: info}
        resources:
          requests: {cpu: 500m, memory: "536870912"}
          limits: {cpu: 1000m, memory: 1024Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports:
  - name: metrics
    port: 9090
    targetPort: metrics
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: NS
data:
  color: blue
`)
	// Someone else manages other fields of the same objects: not Git's business.
	dep, err := f.kube.AppsV1().Deployments(f.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1", "team": "shop"}
	dep.Labels["extra"] = "added-by-hand"
	if _, err := f.kube.AppsV1().Deployments(f.ns).Update(t.Context(), dep, metav1.UpdateOptions{FieldManager: "kubectl-annotate"}); err != nil {
		t.Fatal(err)
	}

	live, err := f.kube.AppsV1().Deployments(f.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The defaults the server filled in, which Git does not write.
	spec := live.Spec.Template.Spec
	if live.Spec.Strategy.Type == "" || live.Spec.RevisionHistoryLimit == nil || spec.Containers[0].TerminationMessagePath == "" || spec.Containers[0].ImagePullPolicy == "" {
		t.Fatalf("the API server did not default the deployment: %+v", live.Spec)
	}
	if got := spec.Containers[1].Resources.Requests.Cpu().String(); got != "500m" {
		t.Fatalf("live cpu request %s, want 500m", got)
	}

	f.reqs.reset()
	r := f.compare(f.manifests(shop))
	if len(r.Objects) != 0 {
		t.Fatalf("want no drift, got:\n%s", describe(r))
	}
	if n := f.reqs.count("PATCH", ""); n != 0 {
		t.Errorf("%d dry-run applies, want none: the local comparison should see no candidate", n)
	}
}

// TestServerDefaultsConfirmed: Git writes a value the API server replaces (an empty
// imagePullPolicy it defaults, an empty clusterIP it keeps), as a mutating webhook would. The
// local comparison sees a difference; the dry-run shows that applying Git changes nothing.
func TestServerDefaultsConfirmed(t *testing.T) {
	f := newFixture(t)
	const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: NS}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: registry.example.com/shop/api:2.0.0
        imagePullPolicy: ""
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: NS}
spec:
  clusterIP: ""
  selector: {app: api}
  ports:
  - port: 80
`
	f.apply(fluxManager, manifest)
	f.reqs.reset()
	r := f.compare(f.manifests(manifest))
	if len(r.Objects) != 0 {
		t.Fatalf("want no drift, got:\n%s", describe(r))
	}
	if n := f.reqs.count("PATCH", "dryRun=All"); n != 2 {
		t.Errorf("%d dry-run applies, want 2 (one per candidate)", n)
	}
}

func TestDriftFound(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.apply(fluxManager, shop)

	// kubectl scale: the scale subresource.
	if _, err := f.kube.AppsV1().Deployments(f.ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 5},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	// kubectl set image: an update.
	dep, err := f.kube.AppsV1().Deployments(f.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range dep.Spec.Template.Spec.Containers {
		if dep.Spec.Template.Spec.Containers[i].Name == "web" {
			dep.Spec.Template.Spec.Containers[i].Image = "registry.example.com/shop/web:1.4.1-hotfix"
		}
	}
	if _, err := f.kube.AppsV1().Deployments(f.ns).Update(ctx, dep, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	// kubectl label --overwrite: a merge patch.
	if _, err := f.kube.AppsV1().Deployments(f.ns).Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"tier":"backend","hand":"made"}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	// kubectl delete.
	if err := f.kube.CoreV1().ConfigMaps(f.ns).Delete(ctx, "web-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	r := f.compare(f.manifests(shop))
	if !r.HasDifferences() || r.ExitCode() != 1 {
		t.Fatalf("want differences, exit code 1; got %d", r.ExitCode())
	}
	got := describe(r)
	want := `drift Deployment.apps NS/web 
  .metadata.labels.tier: backend -> frontend
  .spec.replicas: 5 -> 2
  .spec.template.spec.containers[name="web"].image: registry.example.com/shop/web:1.4.1-hotfix -> registry.example.com/shop/web:1.4.0
missing ConfigMap NS/web-config 
`
	if want = strings.ReplaceAll(want, "NS", f.ns); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}

	out := unified(t, r)
	for _, line := range []string{
		"diff -u -N live/apps.v1.Deployment." + f.ns + ".web git/apps.v1.Deployment." + f.ns + ".web",
		"--- live/apps.v1.Deployment." + f.ns + ".web",
		"+++ git/apps.v1.Deployment." + f.ns + ".web",
		"-  replicas: 5", "+  replicas: 2",
		"-        image: registry.example.com/shop/web:1.4.1-hotfix",
		"+        image: registry.example.com/shop/web:1.4.0",
		"-    tier: backend", "+    tier: frontend",
		"--- /dev/null", "+++ git/v1.ConfigMap." + f.ns + ".web-config", "+  color: blue",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("unified diff lacks %q:\n%s", line, out)
		}
	}
	// The label Git does not set stays, and the dry-run's bookkeeping does not show.
	for _, line := range []string{"hand: made", "generation:", "resourceVersion:", "managedFields"} {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, line) && (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
				t.Errorf("unified diff changes %q: %s", line, l)
			}
		}
	}

	var colored bytes.Buffer
	if err := diff.WriteUnified(&colored, r, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(colored.String(), "\x1b[31m-  replicas: 5\x1b[0m") || !strings.Contains(colored.String(), "\x1b[32m+  replicas: 2\x1b[0m") {
		t.Errorf("colored diff lacks red and green lines:\n%q", colored.String())
	}

	var js bytes.Buffer
	if err := diff.WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"status": "drift"`, `"path": ".spec.replicas"`, `"want": 2`, `"live": 5`, `"status": "missing"`} {
		if !strings.Contains(js.String(), s) {
			t.Errorf("JSON lacks %s:\n%s", s, js.String())
		}
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	owned := func(y string) string {
		return strings.ReplaceAll(y, "metadata:\n", "metadata:\n  labels: {kustomize.toolkit.fluxcd.io/name: apps-NS, kustomize.toolkit.fluxcd.io/namespace: flux-system}\n")
	}
	inGit := owned(`apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
  namespace: NS
data: {a: "1"}
`)
	f.apply(fluxManager, inGit)
	f.apply(fluxManager, owned(`apiVersion: v1
kind: ConfigMap
metadata:
  name: removed-from-git
  namespace: NS
data: {b: "2"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: removed-role
  namespace: NS
rules: []
`))
	// Someone else's object, and one of another Kustomization: never extra.
	f.apply("kubectl", `apiVersion: v1
kind: ConfigMap
metadata:
  name: not-flux
  namespace: NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other-ks
  namespace: NS
  labels: {kustomize.toolkit.fluxcd.io/name: infra-NS, kustomize.toolkit.fluxcd.io/namespace: flux-system}
`)

	if r := f.compare(f.manifests(inGit)); len(r.Objects) != 0 {
		t.Fatalf("without prune: want no differences, got:\n%s", describe(r))
	}
	r := f.compare(f.manifests(inGit), func(o *diff.Options) { o.Prune = true })
	want := strings.ReplaceAll(`extra ConfigMap NS/removed-from-git 
extra Role.rbac.authorization.k8s.io NS/removed-role 
`, "NS", f.ns)
	if got := describe(r); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	if r.PruneLabels["kustomize.toolkit.fluxcd.io/name"] != "apps-"+f.ns {
		t.Errorf("inferred prune labels %v, want the Kustomization flux-system/apps", r.PruneLabels)
	}
	if out := unified(t, r); !strings.Contains(out, "--- live/v1.ConfigMap."+f.ns+".removed-from-git\n+++ /dev/null\n") || !strings.Contains(out, "-  b: \"2\"\n") {
		t.Errorf("unified diff of an extra object:\n%s", out)
	}

	// Given labels: another owner's objects.
	r = f.compare(nil, func(o *diff.Options) {
		o.Prune = true
		o.PruneLabels = diff.FluxLabels("flux-system", "infra-"+f.ns)
	})
	if got, want := describe(r), "extra ConfigMap "+f.ns+"/other-ks \n"; !strings.Contains(got, want) {
		t.Errorf("report:\n%s\nwant it to hold:\n%s", got, want)
	}
}

func TestSecretValuesNeverShown(t *testing.T) {
	f := newFixture(t)
	const (
		livePassword = "live-pa55word"
		gitPassword  = "git-pa55word"
		sameToken    = "same-t0ken"
		extraValue   = "extra-s3cret"
	)
	labels := "labels: {app.kubernetes.io/instance: " + f.ns + "}"
	f.apply("argocd-controller", fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: NS
  %[1]s
stringData:
  password: %[2]s
  token: %[3]s
---
apiVersion: v1
kind: Secret
metadata:
  name: left-behind
  namespace: NS
  %[1]s
stringData:
  key: %[4]s
`, labels, livePassword, sameToken, extraValue))
	git := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: NS
  %[1]s
stringData:
  password: %[2]s
data:
  token: %[3]s
---
apiVersion: v1
kind: Secret
metadata:
  name: new
  namespace: NS
  %[1]s
stringData:
  key: %[2]s
`, labels, gitPassword, base64.StdEncoding.EncodeToString([]byte(sameToken)))

	r := f.compare(f.manifests(git), func(o *diff.Options) { o.Prune = true })
	want := strings.ReplaceAll(`drift Secret NS/db 
  .data.password: *** (before) -> *** (after)
missing Secret NS/new 
extra Secret NS/left-behind 
`, "NS", f.ns)
	if got := describe(r); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}

	var out bytes.Buffer
	if err := diff.WriteUnified(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if err := diff.WriteJSON(&out, r); err != nil {
		t.Fatal(err)
	}
	external := filepath.Join(t.TempDir(), "show")
	if err := os.WriteFile(external, []byte("#!/bin/sh\nfor f in \"$1\"/* \"$2\"/*; do echo \"== $f\"; cat \"$f\"; done\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := diff.RunExternal(context.Background(), external, r, &out, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, secret := range []string{livePassword, gitPassword, sameToken, extraValue} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(text, form) {
				t.Errorf("output shows secret value %q:\n%s", form, text)
			}
		}
	}
	for _, s := range []string{"-  password: '*** (before)'", "+  password: '*** (after)'", "  token: '***'", "+  key: '***'", "-  key: '***'"} {
		if !strings.Contains(text, s+"\n") {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
}

// TestExternalDiff: $KUBECTL_EXTERNAL_DIFF's program gets two private directories, removed
// after it ran.
func TestExternalDiff(t *testing.T) {
	f := newFixture(t)
	f.apply(fluxManager, shop)
	objs := f.manifests(strings.Replace(shop, "replicas: 2", "replicas: 3", 1))
	r := f.compare(objs)
	dirs := filepath.Join(t.TempDir(), "dirs")
	script := filepath.Join(t.TempDir(), "mydiff")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\necho \"$@\" > %s\nstat -c %%a \"$1\" \"$2\" >> %s\ndiff -u -N \"$1\" \"$2\"\n", dirs, dirs)), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := diff.RunExternal(t.Context(), script+" --color=never -x bad;arg", r, &out, &errOut); err != nil {
		t.Fatalf("RunExternal: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "-  replicas: 2\n+  replicas: 3\n") {
		t.Errorf("external diff output:\n%s", out.String())
	}
	b, err := os.ReadFile(dirs)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	args := strings.Fields(lines[0])
	if len(args) != 4 || args[2] != "--color=never" || args[3] != "-x" {
		t.Errorf("program arguments %q, want the two directories, --color=never and -x", args)
	}
	if len(lines) != 3 || lines[1] != "700" || lines[2] != "700" {
		t.Errorf("directory modes %q, want 700", lines[1:])
	}
	for _, d := range args[:2] {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", d, err)
		}
	}
}

// TestIntOrString: an int-or-string field keeps its type. A named target port is no drift; the
// string "8080" is a port name, not the number, and the API server refuses it: reported as an
// error of that object, with the server's message, never as silent equality.
func TestIntOrString(t *testing.T) {
	f := newFixture(t)
	const svc = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: NS}
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: admin, port: 8080, targetPort: 8080}
`
	f.apply(fluxManager, svc)
	if r := f.compare(f.manifests(svc)); len(r.Objects) != 0 {
		t.Fatalf("want no drift, got:\n%s", describe(r))
	}
	r := f.compare(f.manifests(strings.Replace(svc, "targetPort: 8080", `targetPort: "8080"`, 1)))
	errs := r.Errors()
	if len(errs) != 1 || r.HasDifferences() || r.ExitCode() != 2 || !strings.Contains(errs[0].Message, `spec.ports[1].targetPort: Invalid value: "8080"`) {
		t.Fatalf("want one error with the API server's message, got:\n%s", describe(r))
	}
}

// TestCustomResources: a kind of a CRD compares by the CRD's schema; a kind the cluster does
// not serve is missing, with a message saying so.
func TestCustomResources(t *testing.T) {
	f := newFixture(t)
	if err := f.c.InstallCRDs(t.Context(), "../../testdata/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"); err != nil {
		t.Fatal(err)
	}
	const ks = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: NS}
spec:
  interval: 10m
  path: ./apps/staging
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
`
	f.apply(fluxManager, ks)
	if r := f.compare(f.manifests(ks)); len(r.Objects) != 0 {
		t.Fatalf("want no drift, got:\n%s", describe(r))
	}
	r := f.compare(f.manifests(strings.Replace(ks, "./apps/staging", "./apps/production", 1) + `---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: NS}
`))
	want := strings.ReplaceAll(`drift Kustomization.kustomize.toolkit.fluxcd.io NS/apps 
  .spec.path: ./apps/staging -> ./apps/production
missing Widget.example.com NS/w the cluster does not serve example.com/v1 Widget
`, "NS", f.ns)
	if got := describe(r); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

// TestRateLimits: the comparison does not wait on client-go's default rate limiter.
func TestRateLimits(t *testing.T) {
	f := newFixture(t)
	var y strings.Builder
	for i := range 60 {
		fmt.Fprintf(&y, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: NS}\ndata: {i: \"%d\"}\n", i, i)
	}
	f.apply(fluxManager, y.String())
	objs := f.manifests(strings.ReplaceAll(y.String(), "data: {i:", "data: {j:"))
	cfg := f.c.RESTConfig()
	cfg.QPS, cfg.Burst = 5, 10 // at these, the 60 dry-runs alone would take 10 s
	start := time.Now()
	r, err := diff.Compare(t.Context(), diff.Options{Config: cfg, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Objects) != 60 {
		t.Fatalf("want 60 drifted objects, got %d", len(r.Objects))
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("took %s: the client-side rate limit was not raised", d)
	}
}
