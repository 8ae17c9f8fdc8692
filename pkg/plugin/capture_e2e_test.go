package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/capture"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// runCapture runs `kubectl gitops capture` in-process against the kubeconfig, with kubectl's
// global flags (-n, --kubeconfig) as the root command gives them.
func runCapture(t *testing.T, kubeconfig string, args ...string) (int, string, string) {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdCapture(cmdutil.NewFactory(flags), streams)
	flags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	code := 0
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		code = ReportError(&errOut, cmd, err)
	}
	return code, out.String(), errOut.String()
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e7)
}

// captureRepo is a kustomize sample repository with an empty target, captured/, for objects
// of any namespace.
func captureRepo(t *testing.T) string {
	t.Helper()
	repo := testrepo.New(t, "kustomize")
	if err := os.MkdirAll(filepath.Join(repo, "captured"), 0o755); err != nil {
		t.Fatal(err)
	}
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
	if err := os.WriteFile(filepath.Join(repo, "captured", "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, repo, "add", "captured")
	testrepo.Git(t, repo, "commit", "-q", "-m", "an empty target for captures")
	return repo
}

func kubectlCmd(t *testing.T, c *testcluster.Cluster, args ...string) {
	t.Helper()
	kubectl := filepath.Join(testrepo.Root(), "bin", "testbin", "kubectl")
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", c.KubeconfigPath}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

const captureCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.capture.example.com
spec:
  group: capture.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                color: {type: string}
                size: {type: integer, default: 3}
                mode: {type: string, default: slow}
`

// captureObjects are made the way people make them, beside what kubectl create makes.
const captureObjects = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, labels: {app: db}}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: postgres
          image: postgres:17
          ports: [{name: pg, containerPort: 5432}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: busybox:1.36.1
              args: [sh, -c, date]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, annotations: {example.com/owner: shop}}
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: capture.example.com/v1
kind: Widget
metadata: {name: blue}
spec: {color: blue, size: 3, mode: fast}
`

// Each kind round-trips: captured into Git, then applied server-side into a fresh namespace, the
// new object has the original's spec; and the captured file keeps no default (golden files).
func TestE2ECaptureRoundTrip(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crdFile := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(crdFile, []byte(captureCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCRDs(ctx, crdFile); err != nil {
		t.Fatal(err)
	}
	ns, fresh := uniqueName("capture-rt"), uniqueName("capture-fresh")
	for _, n := range []string{ns, fresh} {
		if err := c.CreateNamespace(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	kubectlCmd(t, c, "-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
	kubectlCmd(t, c, "-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080")
	kubectlCmd(t, c, "-n", ns, "create", "configmap", "settings", "--from-literal=LOG_LEVEL=info")
	objs, err := decodeObjects("objects", []byte(captureObjects))
	if err != nil {
		t.Fatal(err)
	}
	var manifest [][]byte
	for _, o := range objs {
		o.SetNamespace(ns)
		b, _ := yaml.Marshal(o.Object)
		manifest = append(manifest, b)
	}
	if _, err := c.ApplyYAML(ctx, "kubectl", bytes.Join(manifest, []byte("---\n"))); err != nil {
		t.Fatal(err)
	}
	repo := captureRepo(t)
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())

	cases := []struct {
		ref, file string
		gvr       schema.GroupVersionResource
	}{
		{"deployment/web", "deployment-web.yaml", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
		{"service/web", "service-web.yaml", schema.GroupVersionResource{Version: "v1", Resource: "services"}},
		{"configmap/settings", "configmap-settings.yaml", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
		{"statefulset/db", "statefulset-db.yaml", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
		{"cronjob/report", "cronjob-report.yaml", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}},
		{"ingress/web", "ingress-web.yaml", schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}},
		{"widget/blue", "widget-blue.yaml", schema.GroupVersionResource{Group: "capture.example.com", Version: "v1", Resource: "widgets"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			before := testrepo.Git(t, repo, "rev-parse", "HEAD")
			code, out, errOut := runCapture(t, c.KubeconfigPath, "--repo", repo, "--path", "captured", "-n", ns, tc.ref)
			if code != 0 {
				t.Fatalf("capture %s: exit %d\n%s\n%s", tc.ref, code, out, errOut)
			}
			if n := testrepo.Git(t, repo, "rev-list", "--count", before+"..HEAD"); n != "1" {
				t.Fatalf("%s commits, want 1", n)
			}
			got := strings.Split(testrepo.Git(t, repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"), "\n")
			if want := []string{"captured/" + tc.file, "captured/kustomization.yaml"}; !reflect.DeepEqual(sorted(got), sorted(want)) {
				t.Errorf("the commit changed:\n%s", got)
			}
			data, err := os.ReadFile(filepath.Join(repo, "captured", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("..", "capture", "testdata", tc.file), strings.ReplaceAll(string(data), ns, "NAMESPACE"))

			// Applied server-side into a fresh namespace, the object is the original.
			var u unstructured.Unstructured
			if err := yaml.Unmarshal(data, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(fresh)
			if _, err := dyn.Resource(tc.gvr).Namespace(fresh).Apply(ctx, u.GetName(), &u, metav1.ApplyOptions{FieldManager: "flux"}); err != nil {
				t.Fatalf("applying the captured manifest: %v", err)
			}
			orig, err := dyn.Resource(tc.gvr).Namespace(ns).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			made, err := dyn.Resource(tc.gvr).Namespace(fresh).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"spec", "data"} {
				a, b := orig.Object[f], made.Object[f]
				if spec, ok := a.(map[string]any); ok && tc.ref == "service/web" {
					delete(spec, "clusterIP")
					delete(spec, "clusterIPs")
					delete(b.(map[string]any), "clusterIP")
					delete(b.(map[string]any), "clusterIPs")
				}
				if !reflect.DeepEqual(a, b) {
					ya, _ := yaml.Marshal(a)
					yb, _ := yaml.Marshal(b)
					t.Errorf("%s differs after the round trip:\noriginal:\n%s\ncaptured and applied:\n%s", f, ya, yb)
				}
			}
		})
	}
}

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", file, want, got)
	}
}

// A namespace of 200 objects is captured in one commit, one file per object grouped under the
// namespace, with the owned objects skipped and counted.
func TestE2ECaptureBulkNamespace(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := uniqueName("capture-bulk")
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 70 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d, namespace: %s}\ndata: {index: \"%d\"}\n---\n", i, ns, i)
	}
	for i := range 65 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata: {name: svc-%03d, namespace: %s}\nspec: {selector: {app: app-%03d}, ports: [{port: 80, targetPort: %d}]}\n---\n", i, ns, i, 8000+i)
	}
	for i := range 65 {
		fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: app-%03d, namespace: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: app-%03d}}
  template:
    metadata: {labels: {app: app-%03d}}
    spec: {containers: [{name: app, image: "nginx:1.%d"}]}
---
`, i, ns, 1+i%3, i, i, 20+i%5)
	}
	// What the controllers would have made: kube-root-ca.crt, the default ServiceAccount.
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt, namespace: %s}\ndata: {ca.crt: x}\n---\n", ns)
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: %s}\n", ns)
	if _, err := c.ApplyYAML(ctx, "kubectl", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	owner, err := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(ns).Get(ctx, "app-000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: app-000-5d8f7c
  namespace: %s
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: app-000, uid: %s, controller: true}]
spec:
  selector: {matchLabels: {app: app-000}}
  template:
    metadata: {labels: {app: app-000}}
    spec: {containers: [{name: app, image: "nginx:1.20"}]}
`, ns, owner.GetUID())
	if _, err := c.ApplyYAML(ctx, "kube-controller-manager", []byte(rs)); err != nil {
		t.Fatal(err)
	}
	repo := captureRepo(t)
	before := testrepo.Git(t, repo, "rev-parse", "HEAD")
	start := time.Now()
	code, out, errOut := runCapture(t, c.KubeconfigPath, "--repo", repo, "--path", "captured", "-n", ns, "--all")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("capture --all: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("captured 200 objects in %s", took)
	if n := testrepo.Git(t, repo, "rev-list", "--count", before+"..HEAD"); n != "1" {
		t.Fatalf("%s commits, want 1", n)
	}
	all, err := capture.List(ctx, discovery.NewDiscoveryClientForConfigOrDie(c.RESTConfig()), dyn, capture.ListOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var owned []string
	for _, u := range all {
		if r := capture.OwnedReason(u); r != "" {
			owned = append(owned, u.GetKind()+"/"+u.GetName()+": "+r)
		}
	}
	t.Logf("owned: %s", strings.Join(owned, "; "))
	for _, want := range []string{"ReplicaSet/app-000-5d8f7c", "ConfigMap/kube-root-ca.crt", "ServiceAccount/default"} {
		if !strings.Contains(strings.Join(owned, "\n"), want+":") {
			t.Errorf("%s is not counted as owned", want)
		}
	}
	if !strings.Contains(errOut, fmt.Sprintf("skipped %d owned objects (use TYPE/NAME to capture one)", len(owned))) {
		t.Errorf("stderr: %s", errOut)
	}
	files := strings.Split(testrepo.Git(t, repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"), "\n")
	if len(files) != 201 {
		t.Fatalf("the commit changed %d files, want 200 and the kustomization", len(files))
	}
	for _, want := range []string{"captured/" + ns + "/configmap-cm-000.yaml", "captured/" + ns + "/service-svc-064.yaml", "captured/" + ns + "/deployment-app-064.yaml"} {
		if !strings.Contains("\n"+strings.Join(files, "\n")+"\n", "\n"+want+"\n") {
			t.Errorf("no %s in the commit", want)
		}
	}
	subject := testrepo.Git(t, repo, "log", "-1", "--format=%s")
	if subject != "capture 200 objects from namespace "+ns+" (captured)" {
		t.Errorf("subject %q", subject)
	}
	res, err := render.Render(repo, "captured", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 200 {
		t.Errorf("the target renders %d objects, want 200", len(res.Objects))
	}
	dep, _ := os.ReadFile(filepath.Join(repo, "captured", ns, "deployment-app-001.yaml"))
	for _, bad := range []string{"strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "terminationMessagePath", "dnsPolicy", "uid", "status"} {
		if strings.Contains(string(dep), bad) {
			t.Errorf("the captured Deployment keeps %s:\n%s", bad, dep)
		}
	}
}

// An emergency scale and image change on live objects become one commit in the staging
// overlay's replicas: and images: entries, and the cluster then has no drift from Git.
func TestE2ECaptureDrift(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := uniqueName("capture-drift")
	repo := testrepo.New(t, "kustomize")
	hookReplace(t, repo, "overlays/staging/kustomization.yaml", "namespace: shop", "namespace: "+ns)
	testrepo.Git(t, repo, "commit", "-q", "-am", "staging in its own namespace")
	res, err := render.Render(repo, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fluxApply(t, ctx, c, res, "apps-"+ns)

	deploys := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(ns)
	if _, err := deploys.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	img := `{"spec":{"template":{"spec":{"containers":[{"name":"worker","image":"registry.example.com/shop/worker:2.1.1"}]}}}}`
	if _, err := deploys.Patch(ctx, "worker", types.StrategicMergePatchType, []byte(img), metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}

	before := testrepo.Git(t, repo, "rev-parse", "HEAD")
	code, out, errOut := runCapture(t, c.KubeconfigPath, "--drift", "--repo", repo, "--path", "overlays/staging", "-n", ns, "--dry-run")
	if code != 0 || !strings.Contains(out, "-    count: 1\n+    count: 4\n") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	if testrepo.Git(t, repo, "rev-parse", "HEAD") != before {
		t.Fatal("--dry-run committed")
	}
	code, out, errOut = runCapture(t, c.KubeconfigPath, "--drift", "--repo", repo, "--path", "overlays/staging", "-n", ns)
	if code != 0 {
		t.Fatalf("capture --drift: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := testrepo.Git(t, repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"); got != "overlays/staging/kustomization.yaml" {
		t.Errorf("the commit changed:\n%s", got)
	}
	patch := testrepo.Git(t, repo, "diff", "-U0", "HEAD~1", "HEAD")
	var changed []string
	for _, l := range strings.Split(patch, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l)
		}
	}
	want := []string{"-    count: 1", "+    count: 4", `-    newTag: "2.1.0"`, `+    newTag: "2.1.1"`}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("the commit changed the lines\n%s\nwant\n%s", strings.Join(changed, "\n"), strings.Join(want, "\n"))
	}
	subject := testrepo.Git(t, repo, "log", "-1", "--format=%s")
	if !strings.HasPrefix(subject, "record drift of 2 objects") || !strings.Contains(subject, "spec.replicas 1 → 4") {
		t.Errorf("subject %q", subject)
	}

	after, err := render.Render(repo, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, o := range after.Objects {
		objs = append(objs, o.Obj())
	}
	rep, err := diff.Compare(ctx, diff.Options{Config: c.RESTConfig(), Objects: objs, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if rep.HasDifferences() {
		for _, o := range rep.Objects {
			t.Errorf("drift remains: %+v", o)
		}
	}

	code, _, errOut = runCapture(t, c.KubeconfigPath, "--drift", "--repo", repo, "--path", "overlays/staging", "-n", ns)
	if code != 0 || !strings.Contains(errOut, "no drift") {
		t.Errorf("second --drift: exit %d, %s", code, errOut)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// A captured Secret is encrypted with sops before it is written: the plaintext is in no git
// object, file or output, and the guard passes the commit.
func TestE2ECaptureSecretSops(t *testing.T) {
	c := testcluster.Shared(t)
	s := newSecretTest(t, "sops")
	s.plains = []string{plainPassword}
	recipient, key := s.ageKey("a.agekey")
	s.useKey(key)
	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipient)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The staging target puts everything in shop.
	const ns = "shop"
	if err := c.CreateNamespace(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	name := uniqueName("captured-db")
	kubectlCmd(t, c, "-n", ns, "create", "secret", "generic", name, "--from-literal=password="+plainPassword)
	code, out, errOut := runCapture(t, c.KubeconfigPath, "--repo", s.dir, "--target", "staging", "-n", ns, "--secrets", "sops", "secret/"+name)
	s.noPlaintext("capture's output", out+errOut)
	s.scan("capture secret/db")
	if code != 0 {
		t.Fatalf("capture secret: exit %d\n%s\n%s", code, out, errOut)
	}
	doc := s.show("HEAD", "apps/staging/secret-"+name+".yaml")
	wantData(t, "captured", sopsData(t, doc), map[string]string{"password": plainPassword})
	if strings.Contains(doc, "last-applied") || strings.Contains(doc, "uid:") || strings.Contains(doc, "type: Opaque") {
		t.Errorf("the captured Secret is not clean:\n%s", doc)
	}
	s.guardPasses()

	// --filename-template names the encrypted file; the creation rules match the new name.
	other := uniqueName("captured-api")
	kubectlCmd(t, c, "-n", ns, "create", "secret", "generic", other, "--from-literal=token="+plainToken)
	s.plains = append(s.plains, plainToken)
	code, out, errOut = runCapture(t, c.KubeconfigPath, "--repo", s.dir, "--target", "staging", "-n", ns, "--secrets", "sops",
		"--filename-template", "{{.Name}}.{{.Kind}}.enc.yaml", "secret/"+other)
	s.noPlaintext("capture's output", out+errOut)
	s.scan("capture secret with --filename-template")
	if code != 0 {
		t.Fatalf("capture secret --filename-template: exit %d\n%s\n%s", code, out, errOut)
	}
	file := "apps/staging/" + other + ".secret.enc.yaml"
	if got := s.committedFiles(); got != file+"\napps/staging/kustomization.yaml" {
		t.Errorf("the commit changed:\n%s", got)
	}
	if !strings.Contains(s.show("HEAD", "apps/staging/kustomization.yaml"), "\n  - "+other+".secret.enc.yaml\n") {
		t.Errorf("the kustomization does not list %s:\n%s", file, s.show("HEAD", "apps/staging/kustomization.yaml"))
	}
	wantData(t, "captured with --filename-template", sopsData(t, s.show("HEAD", file)), map[string]string{"token": plainToken})
	s.guardPasses()
}

// A captured Secret is sealed with the certificate of the real sealed-secrets controller: the
// commit holds a SealedSecret and no plaintext (in no git object, file or output), the guard
// passes it, and applied to the cluster in place of the original, the controller makes a
// Secret of the original data.
func TestE2ECaptureSecretSealed(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	s := newSecretTest(t, "sealed")
	s.plains = []string{plainPassword, plainToken}
	ns := uniqueName("capture-sealed")
	if err := c.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("captured-db")
	kubectlCmd(t, c, "-n", ns, "create", "secret", "generic", name,
		"--from-literal=username=admin", "--from-literal=password="+plainPassword, "--from-literal=token="+plainToken)
	want := map[string]string{"username": "admin", "password": plainPassword, "token": plainToken}

	before := s.head()
	s.mustRun("", "capture", "secret/"+name, "--cert="+c.SealedSecretsCertURL,
		"--repo", s.dir, "--target", "staging", "--kubeconfig", c.KubeconfigPath, "-n", ns)
	if n := testrepo.Git(t, s.dir, "rev-list", "--count", before+"..HEAD"); n != "1" {
		t.Fatalf("%s commits, want 1", n)
	}
	file := "apps/staging/sealedsecret-" + name + ".yaml"
	if got := s.committedFiles(); got != "apps/staging/kustomization.yaml\n"+file {
		t.Errorf("the commit changed:\n%s", got)
	}
	// The commit's own blobs, named: s.scan (in mustRun) read every object of the repository.
	for _, f := range strings.Split(s.committedFiles(), "\n") {
		s.noPlaintext("the committed "+f, s.show("HEAD", f))
	}
	doc := s.show("HEAD", file)
	var sealedObj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(doc), &sealedObj.Object); err != nil {
		t.Fatal(err)
	}
	if sealedObj.GetKind() != "SealedSecret" || sealedObj.GetName() != name || sealedObj.GetNamespace() != ns {
		t.Fatalf("the captured file is not the SealedSecret %s/%s:\n%s", ns, name, doc)
	}
	encrypted, _, _ := unstructured.NestedStringMap(sealedObj.Object, "spec", "encryptedData")
	if len(encrypted) != len(want) {
		t.Errorf("encryptedData has the keys %v, want %v", encrypted, want)
	}
	if strings.Contains(doc, "uid:") || strings.Contains(doc, "resourceVersion") || strings.Contains(doc, "creationTimestamp: \"") {
		t.Errorf("the captured SealedSecret is not clean:\n%s", doc)
	}
	s.guardPasses()

	// The original goes (the controller never takes over a Secret it did not make); the
	// rendered SealedSecret is applied, and the controller's Secret holds the original data.
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if err := kube.CoreV1().Secrets(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sealedApply(t, c, s.dir, name)
	sealedWaitForData(t, c, ns, name, want)
	made, err := kube.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if refs := made.OwnerReferences; len(refs) != 1 || refs[0].Kind != "SealedSecret" || refs[0].Name != name {
		t.Errorf("the Secret is not the controller's: ownerReferences %+v", refs)
	}

	// With --filename-template, .Kind is the kind written: sealedsecret.
	other := uniqueName("captured-api")
	kubectlCmd(t, c, "-n", ns, "create", "secret", "generic", other, "--from-literal=token="+plainToken)
	s.mustRun("", "capture", "secret/"+other, "--cert="+c.SealedSecretsCertURL, "--filename-template", "{{.Name}}.{{.Kind}}.yaml",
		"--repo", s.dir, "--target", "staging", "--kubeconfig", c.KubeconfigPath, "-n", ns)
	if got := s.committedFiles(); got != "apps/staging/"+other+".sealedsecret.yaml\napps/staging/kustomization.yaml" {
		t.Errorf("the commit changed:\n%s", got)
	}
	s.guardPasses()
}

// captureTemplateNS is the namespace of TestE2ECaptureGoldenFilenameTemplate: a fixed one, so
// the golden files' blob ids do not change from run to run (the objects are applied, so a
// second run finds them as they were).
const captureTemplateNS = "capture-template"

// --filename-template names the file of a captured object and its kustomization entry: in the
// target's directory for TYPE/NAME, in the namespace's folder for a bulk capture.
func TestE2ECaptureGoldenFilenameTemplate(t *testing.T) {
	c := testcluster.Shared(t)
	gitEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := captureTemplateNS
	if err := c.CreateNamespace(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	objs := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: %[1]s}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: extra, namespace: %[1]s}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: banner, namespace: %[1]s, labels: {app: shop}}
data: {TEXT: "Spring sale: 20%% off"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s, labels: {app: shop}}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`, ns)
	if _, err := c.ApplyYAML(ctx, "kubectl", []byte(objs)); err != nil {
		t.Fatal(err)
	}
	repo := captureRepo(t)
	masked := func(g string) string { return strings.ReplaceAll(g, c.KubeconfigPath, "<kubeconfig>") }

	g := commandGolden(t, repo, []string{"captured/kustomization.yaml", "captured/settings.configmap.yaml"},
		"capture", "configmap/settings", "--kubeconfig", c.KubeconfigPath, "-n", ns, "--repo", repo, "--path", "captured",
		"--filename-template", "{{.Name}}.{{.Kind}}.yaml")
	assertGolden(t, "capture-filename-template-named", masked(g))

	g = commandGolden(t, repo, []string{"captured/" + ns + "/shop-configmap-banner.yaml", "captured/" + ns + "/shop-service-web.yaml", "captured/kustomization.yaml"},
		"capture", "-l", "app=shop", "--kubeconfig", c.KubeconfigPath, "-n", ns, "--repo", repo, "--path", "captured",
		"--filename-template", "shop-{{.Kind}}-{{.Name}}.yaml")
	assertGolden(t, "capture-filename-template-bulk", masked(g))

	// A name with a directory in it is refused before anything is written.
	before := revParse(t, repo, "HEAD")
	_, stderr, code := gitops(t, "capture", "configmap/extra", "--kubeconfig", c.KubeconfigPath, "-n", ns, "--repo", repo,
		"--path", "captured", "--filename-template", "{{.Namespace}}/{{.Name}}.yaml")
	if code == 0 || !strings.Contains(stderr, `--filename-template must give a plain file name, got "`+ns+`/extra.yaml"`) {
		t.Errorf("a template giving a directory: exit %d, %s", code, stderr)
	}
	if revParse(t, repo, "HEAD") != before || gitRun(t, repo, "status", "--porcelain") != "" {
		t.Error("the refused capture changed the repository")
	}
}
