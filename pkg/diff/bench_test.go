package diff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// benchObjects is how many Deployments, and how many ConfigMaps, BenchmarkDiff1000 compares.
const benchObjects = 500

// lastApplied is the annotation client-side `kubectl apply` keeps its last applied
// configuration in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func benchDeployment(ns string, i int) map[string]any {
	name := fmt.Sprintf("web-%03d", i)
	labels := map[string]any{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench"}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels, "annotations": map[string]any{}},
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "web", "image": fmt.Sprintf("registry.example.com/shop/web:1.%d.0", i%7),
					"args":  []any{"--port", "8080"},
					"ports": []any{map[string]any{"name": "http", "containerPort": int64(8080)}},
					"env": []any{
						map[string]any{"name": "PORT", "value": "8080"},
						map[string]any{"name": "CONFIG", "value": fmt.Sprintf("config-%03d", i)},
					},
					"resources": map[string]any{
						"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
						"limits":   map[string]any{"memory": "256Mi"},
					},
				}}},
			},
		},
	}
}

func benchConfigMap(ns string, i int) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": fmt.Sprintf("config-%03d", i), "namespace": ns, "annotations": map[string]any{}},
		"data":     map[string]any{"LOG_LEVEL": "info", "FEATURE_X": "true", "INDEX": fmt.Sprint(i)},
	}
}

// withLastApplied returns obj as client-side `kubectl apply` would have written it: with its
// own JSON in the last-applied annotation. Without it, client-side `kubectl diff` shows that
// annotation being added to every object, and its findings could not be compared. The manifests
// carry an empty annotations map: client-side kubectl serialises the object with one before
// annotating it, and server-side kubectl, which rewrites an existing annotation, serialises the
// manifest as it is; so both compute the same annotation as the live one.
func withLastApplied(obj map[string]any) (map[string]any, error) {
	u := (&unstructured.Unstructured{Object: obj}).DeepCopy()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(u.Object); err != nil {
		return nil, err
	}
	u.SetAnnotations(map[string]string{lastApplied: b.String()})
	return u.Object, nil
}

// BenchmarkDiff1000 compares 1,000 objects (500 Deployments, 500 ConfigMaps) that a reconciler
// applied server-side, one of them since scaled by hand, in one run three ways: client-side
// `kubectl diff -f DIR`, `kubectl diff --server-side --force-conflicts -f DIR` (plain
// --server-side refuses the field the scale subresource owns instead of showing the drift), and
// kubectl-gitops's diff (render and diff.Compare in-process, and the bin/kubectl-gitops binary
// when `make build` made one). All must find the one drifted Deployment and nothing else.
// kubectl-gitops renders through the render cache, as the plugin does: the first render (and
// the binary's first run) fills it and is reported on its own (gitops-first-render-s,
// gitops-cli-first-s); the timed runs find the render there.
// Target: kubectl-gitops under 1 s and at least 5x faster than the server-side kubectl diff.
func BenchmarkDiff1000(b *testing.B) {
	c := testcluster.Shared(b)
	kubectl := benchBinary(b, "kubectl", filepath.Join(testbinDir(), "kubectl"))
	ctx := b.Context()
	ns := "bench-" + utilrand.String(6)
	if err := c.CreateNamespace(ctx, ns); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var objs []map[string]any
	for i := range benchObjects {
		objs = append(objs, benchDeployment(ns, i), benchConfigMap(ns, i))
	}
	for _, obj := range objs {
		u := &unstructured.Unstructured{Object: obj}
		y, err := yaml.Marshal(obj)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.ToLower(u.GetKind())+"-"+u.GetName()+".yaml"), y, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := applyAll(ctx, c, objs); err != nil {
		b.Fatal(err)
	}
	const drifted = "web-042"
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, drifted, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: drifted, Namespace: ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 5},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		b.Fatal(err)
	}
	b.Logf("applied %d objects server-side in %s", len(objs), time.Since(start).Round(time.Millisecond))
	want := []string{"apps.v1.Deployment." + ns + "." + drifted}

	// The plugin's binary, run as a user runs it, when there is a fresh one.
	var cli string
	if p := filepath.Join(testrepo.Root(), "bin", "kubectl-gitops"); isExecutable(p) {
		cli = p
		if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
			b.Fatalf("git init: %v\n%s", err, out)
		}
	}

	// The first render of the repository fills the render cache (the plugin keeps it in
	// .git/kubectl-gitops); the timed runs are the ones after it, as a user's second diff is.
	cache := render.Cache{Dir: b.TempDir()}
	start = time.Now()
	if _, err := change.Render(dir, change.Target{Path: "."}, cache); err != nil {
		b.Fatal(err)
	}
	firstRender := time.Since(start)
	var firstCLI time.Duration
	if cli != "" {
		_, firstCLI = timeGitopsCLI(b, cli, c.KubeconfigPath, dir, ns)
	}

	var clientSide, serverSide, ours, rendering, oursCLI time.Duration
	for b.Loop() {
		found, d := timeKubectlDiff(b, kubectl, c.KubeconfigPath, dir)
		clientSide += d
		expectFindings(b, "kubectl diff", found, want)

		found, d = timeKubectlDiff(b, kubectl, c.KubeconfigPath, dir, "--server-side", "--force-conflicts")
		serverSide += d
		expectFindings(b, "kubectl diff --server-side --force-conflicts", found, want)

		found, d, r := timeCompare(b, c, dir, ns, cache)
		ours, rendering = ours+d, rendering+r
		expectFindings(b, "kubectl gitops diff (in-process)", found, want)

		if cli != "" {
			found, d = timeGitopsCLI(b, cli, c.KubeconfigPath, dir, ns)
			oursCLI += d
			expectFindings(b, "kubectl gitops diff (binary)", found, want)
		}
	}
	n := float64(b.N)
	b.ReportMetric(clientSide.Seconds()/n, "kubectl-diff-s/op")
	b.ReportMetric(serverSide.Seconds()/n, "kubectl-diff-server-side-s/op")
	b.ReportMetric(ours.Seconds()/n, "gitops-diff-s/op")
	b.ReportMetric(rendering.Seconds()/n, "gitops-render-s/op")
	b.ReportMetric(firstRender.Seconds(), "gitops-first-render-s")
	b.ReportMetric((ours-rendering).Seconds()/n, "gitops-compare-s/op")
	b.ReportMetric(serverSide.Seconds()/ours.Seconds(), "speedup-vs-server-side-x")
	b.ReportMetric(clientSide.Seconds()/ours.Seconds(), "speedup-vs-client-side-x")
	if cli != "" {
		b.ReportMetric(oursCLI.Seconds()/n, "gitops-cli-s/op")
		b.ReportMetric(firstCLI.Seconds(), "gitops-cli-first-s")
	}
	if per := ours / time.Duration(b.N); per >= time.Second || serverSide < 5*ours {
		b.Logf("target missed: kubectl-gitops took %s, server-side kubectl diff %s (want under 1s and at least 5x faster)", per, serverSide/time.Duration(b.N))
	}
}

// applyAll applies the objects as a reconciler would, server-side and several at a time.
func applyAll(ctx context.Context, c *testcluster.Cluster, objs []map[string]any) error {
	work := make(chan map[string]any)
	errs := make(chan error, 16)
	for range cap(errs) {
		go func() {
			var err error
			for obj := range work {
				if err != nil {
					continue
				}
				if obj, err = withLastApplied(obj); err != nil {
					continue
				}
				var y []byte
				if y, err = yaml.Marshal(obj); err == nil {
					_, err = c.ApplyYAML(ctx, fluxManager, y)
				}
			}
			errs <- err
		}()
	}
	for _, obj := range objs {
		work <- obj
	}
	close(work)
	var all []error
	for range cap(errs) {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// timeKubectlDiff runs kubectl diff on dir and returns the objects it shows, named as its
// files are (apps.v1.Deployment.NS.NAME).
func timeKubectlDiff(b *testing.B, kubectl, kubeconfig, dir string, flags ...string) ([]string, time.Duration) {
	b.Helper()
	args := append([]string{"diff", "--kubeconfig", kubeconfig, "-f", dir}, flags...)
	cmd := exec.Command(kubectl, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, diff.ExternalDiffEnv+"=") })
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		b.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var found []string
	for line := range strings.Lines(stdout.String()) {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "diff" && f[1] == "-u" && f[2] == "-N" {
			found = append(found, filepath.Base(f[3]))
		}
	}
	return found, elapsed
}

// timeCompare does what `kubectl gitops diff` does, in-process: render the directory as Flux
// renders a plain one, and compare it with the cluster. It also returns the render's share.
func timeCompare(b *testing.B, c *testcluster.Cluster, dir, ns string, cache render.Cache) (found []string, elapsed, rendering time.Duration) {
	b.Helper()
	start := time.Now()
	res, err := change.Render(dir, change.Target{Path: "."}, cache)
	if err != nil {
		b.Fatal(err)
	}
	rendering = time.Since(start)
	var objs []*unstructured.Unstructured
	for _, o := range res.Objects {
		objs = append(objs, o.Obj())
	}
	report, err := diff.Compare(b.Context(), diff.Options{Config: c.RESTConfig(), Objects: objs, Namespace: ns})
	elapsed = time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	return reportFindings(report), elapsed, rendering
}

// timeGitopsCLI runs the plugin's binary: `kubectl gitops diff --repo DIR --path . -o json`.
func timeGitopsCLI(b *testing.B, cli, kubeconfig, dir, ns string) ([]string, time.Duration) {
	b.Helper()
	cmd := exec.Command(cli, "--kubeconfig", kubeconfig, "-n", ns, "diff", "--repo", dir, "--path", ".", "-o", "json")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		b.Fatalf("kubectl-gitops diff: %v\n%s", err, stderr.String())
	}
	var report diff.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		b.Fatalf("kubectl-gitops diff -o json: %v\n%s", err, stdout.String())
	}
	return reportFindings(&report), elapsed
}

func reportFindings(r *diff.Report) []string {
	var found []string
	for _, o := range r.Objects {
		found = append(found, o.FileName())
	}
	return found
}

func expectFindings(b *testing.B, who string, found, want []string) {
	b.Helper()
	if !slices.Equal(found, want) {
		shown := found[:min(len(found), 5)]
		b.Errorf("%s found %d differing objects %q (first 5 shown), want %q", who, len(found), shown, want)
	}
}

func testbinDir() string {
	if dir := os.Getenv(testcluster.TestbinEnv); dir != "" {
		return dir
	}
	return filepath.Join(testrepo.Root(), "bin", "testbin")
}

// benchBinary returns path when it is built; otherwise it skips, or fails under
// $KUBECTL_GITOPS_E2E, as the cluster harness does.
func benchBinary(b *testing.B, name, path string) string {
	b.Helper()
	if isExecutable(path) {
		return path
	}
	msg := fmt.Sprintf("%s not found at %s; build it with `make testbin`", name, path)
	if os.Getenv(testcluster.E2EEnv) != "" {
		b.Fatal(msg)
	}
	b.Skip(msg)
	return ""
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}
