package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/verify"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }

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

func replaceIn(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", name, old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func targets(t *testing.T, repo string, paths ...string) []target.Target {
	t.Helper()
	all, err := target.Discover(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		return all
	}
	var out []target.Target
	for _, tg := range all {
		for _, p := range paths {
			if tg.Path == p {
				out = append(out, tg)
			}
		}
	}
	return out
}

func text(t *testing.T, r *verify.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := verify.WriteText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestOfflineSampleRepositoriesPass(t *testing.T) {
	testrepo.Env(t)
	for _, sample := range []string{"plain", "kustomize", "flux", "argocd"} {
		repo := testrepo.New(t, sample)
		rep, err := verify.Run(context.Background(), verify.Options{Repo: repo, Targets: targets(t, repo), Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Passed() || len(rep.Targets) == 0 || rep.Secrets.Files == 0 {
			t.Errorf("%s:\n%s", sample, text(t, rep))
		}
	}
}

// Offline finds a plaintext Secret (the guard), an unknown field and a value of the wrong type
// in built-in kinds (strict decoding), and a target that does not render.
func TestOfflineFindings(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	write(t, repo, "base/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cr3t-value\n")
	replaceIn(t, repo, "base/kustomization.yaml", "  - service.yaml", "  - service.yaml\n  - db-secret.yaml")
	replaceIn(t, repo, "overlays/staging/web-patch.yaml", "          env:", "          imagePullPolicyy: Always\n          env:")
	replaceIn(t, repo, "base/service.yaml", "spec:", "spec:\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: soon}}")
	replaceIn(t, repo, "overlays/production/kustomization.yaml", "  - hpa.yaml", "  - hpa-missing.yaml")

	rep, err := verify.Run(context.Background(), verify.Options{Repo: repo, Targets: targets(t, repo), Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	out := text(t, rep)
	if rep.Passed() || len(rep.Targets) != 2 {
		t.Fatalf("want findings:\n%s", out)
	}
	prod, staging := rep.Targets[0], rep.Targets[1]
	if prod.Path != "overlays/production" || prod.RenderError == "" {
		t.Errorf("production renders:\n%s", out)
	}
	found := map[string]string{}
	for _, o := range staging.Objects {
		for _, f := range o.Findings {
			found[o.Kind+"/"+o.Name] = f.Check + ": " + f.Message
		}
	}
	if got := found["Deployment/web"]; !strings.HasPrefix(got, "schema: ") || !strings.Contains(got, `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`) {
		t.Errorf("Deployment web: %q\n%s", got, out)
	}
	if got := found["Service/web"]; !strings.HasPrefix(got, "schema: ") || !strings.Contains(got, "timeoutSeconds") {
		t.Errorf("Service web: %q\n%s", got, out)
	}
	if len(rep.Secrets.Findings) != 1 || rep.Secrets.Findings[0].File != "base/db-secret.yaml" {
		t.Errorf("secrets: %+v", rep.Secrets.Findings)
	}
	if strings.Contains(out, "s3cr3t-value") {
		t.Errorf("the Secret's value is printed:\n%s", out)
	}
	for _, want := range []string{
		"target overlays/production\n  render: ",
		"  FAIL: does not render\n",
		"target overlays/staging: ",
		"  Deployment.apps shop/web (",
		"    schema: strict decoding error: unknown field",
		"secrets guard: ",
		"  base/db-secret.yaml:1: stringData.password: ",
		"verify: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	var b bytes.Buffer
	if err := verify.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Offline bool
		Targets []struct {
			Path        string
			RenderError string
			Objects     []struct {
				Kind, Name string
				Findings   []struct{ Check, Message string }
			}
		}
		Secrets struct{ Findings []struct{ File string } }
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !back.Offline || len(back.Targets) != 2 || back.Targets[1].Objects[0].Findings[0].Check != "schema" || back.Secrets.Findings[0].File != "base/db-secret.yaml" {
		t.Errorf("json %v:\n%s", err, b.String())
	}
}

// staticClusters is one cluster for every context.
type staticClusters struct {
	cl    *verify.Cluster
	calls atomic.Int32
}

func (s *staticClusters) Cluster(context.Context, string) (*verify.Cluster, error) {
	s.calls.Add(1)
	return s.cl, nil
}

// stagingInNamespace copies the kustomize sample with its staging overlay in namespace ns and
// applies its render as Flux would.
func stagingInNamespace(t *testing.T, ctx context.Context, c *testcluster.Cluster, ns string) string {
	t.Helper()
	repo := testrepo.New(t, "kustomize")
	replaceIn(t, repo, "overlays/staging/kustomization.yaml", "namespace: shop", "namespace: "+ns)
	res, err := render.Render(repo, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, o := range res.Objects {
		b, err := yaml.Marshal(o.Obj().Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	if _, err := c.ApplyYAML(ctx, "kustomize-controller", bytes.Join(docs, []byte("---\n"))); err != nil {
		t.Fatal(err)
	}
	return repo
}

func TestAgainstTheCluster(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("verify-%d", time.Now().UnixNano()%1e6)
	repo := stagingInNamespace(t, ctx, c, ns)
	cl, err := verify.Connect(ctx, "testcluster", c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	clusters := &staticClusters{cl: cl}
	opts := verify.Options{Repo: repo, Targets: targets(t, repo, "overlays/staging"), Clusters: clusters}

	rep, err := verify.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed() || rep.Targets[0].Context != "testcluster" || rep.Targets[0].Rendered == 0 {
		t.Fatalf("an applied sample does not pass:\n%s", text(t, rep))
	}
	if out := text(t, rep); !strings.Contains(out, "ok: renders, passes a server-side dry-run, matches the cluster") || !strings.HasSuffix(out, "verify: everything passes\n") {
		t.Errorf("output:\n%s", out)
	}

	// Drift: scaled by hand.
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 5},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	rep, err = verify.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := text(t, rep)
	if rep.Findings() != 1 || !strings.Contains(out, "    drift:\n      .spec.replicas: 5 -> 1\n") {
		t.Errorf("want the drift:\n%s", out)
	}

	// An object the API server refuses, with its message; the comparison of that object
	// does not add to it.
	replaceIn(t, repo, "overlays/staging/kustomization.yaml", "count: 1", "count: -1")
	rep, err = verify.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	out = text(t, rep)
	if rep.Findings() != 1 || rep.Targets[0].Objects[0].Findings[0].Check != verify.CheckDryRun ||
		!strings.Contains(out, `dry-run: Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`) {
		t.Errorf("want the API server's refusal:\n%s", out)
	}

	// An object missing from the cluster, in a namespace the render creates: found missing,
	// and the dry-run says why it was not sent.
	replaceIn(t, repo, "overlays/staging/kustomization.yaml", "count: -1", "count: 5")
	replaceIn(t, repo, "overlays/staging/kustomization.yaml", "namespace: "+ns, "namespace: "+ns+"-new")
	rep, err = verify.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	out = text(t, rep)
	if rep.Passed() || !strings.Contains(out, "    missing: in Git, not in the cluster\n") || !strings.Contains(out, "note: dry-run skipped: its namespace "+ns+"-new is created along with it") {
		t.Errorf("want missing objects with notes:\n%s", out)
	}
}

func TestConnectUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := verify.Connect(ctx, "gone", &rest.Config{Host: "https://127.0.0.1:1"})
	if !verify.IsUnreachable(err) || !strings.Contains(err.Error(), `cannot reach the cluster of kubeconfig context "gone"`) {
		t.Errorf("err = %v", err)
	}
}
