//go:build plugincmd

// The test of `kubectl gitops diff` itself. It imports pkg/plugin, so it builds only with
// -tags plugincmd: the engine's tests do not depend on the state of the command tree. It
// belongs in pkg/plugin once the command is registered there.

package diff_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plugin"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// runDiff runs `kubectl gitops diff` in-process and returns its exit code and output.
func runDiff(t *testing.T, kubeconfig string, args ...string) (int, string, string) {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := plugin.NewCmdDiff(cmdutil.NewFactory(flags), streams)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	code := 0
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		code = plugin.ReportError(&errOut, cmd, err)
	}
	return code, out.String(), errOut.String()
}

// TestCommandExitCodes: 0 no differences, 1 differences, 2 errors, as kubectl diff.
func TestCommandExitCodes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	// The overlay puts its objects in namespace shop: this test's own namespace instead.
	kustomization := filepath.Join(repo, "overlays", "staging", "kustomization.yaml")
	b, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kustomization, bytes.Replace(b, []byte("namespace: shop"), []byte("namespace: "+f.ns), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(repo, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Applied as Flux applies it: server-side, with its field manager and labels.
	ks := "apps-" + f.ns
	var docs []string
	for _, o := range res.Objects {
		u := o.Obj().DeepCopy()
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l["kustomize.toolkit.fluxcd.io/name"], l["kustomize.toolkit.fluxcd.io/namespace"] = ks, "flux-system"
		u.SetLabels(l)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	fluxApply := func(y string) {
		if _, err := f.c.ApplyYAML(ctx, fluxManager, []byte(y)); err != nil {
			t.Fatal(err)
		}
	}
	fluxApply(strings.Join(docs, "---\n"))
	kubeconfig := f.c.KubeconfigPath
	base := []string{"--repo", repo, "--path", "overlays/staging"}

	code, out, errOut := runDiff(t, kubeconfig, base...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, want 0 and no output\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	if err := f.kube.CoreV1().ConfigMaps(f.ns).Delete(ctx, "worker-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runDiff(t, kubeconfig, base...)
	if code != 1 || strings.Count(out, "diff -u -N ") != 1 || !strings.Contains(out, "--- /dev/null\n+++ git/v1.ConfigMap."+f.ns+".worker-config\n") {
		t.Fatalf("exit %d, want 1 with the config map missing\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	fluxApply(docs[configMapDoc(t, docs, "worker-config")])

	if _, err := f.kube.AppsV1().Deployments(f.ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 7},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runDiff(t, kubeconfig, base...)
	if code != 1 || !strings.Contains(out, "-  replicas: 7\n+  replicas: 1\n") {
		t.Fatalf("exit %d, want 1 and the replicas\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colors on a buffer, not a terminal:\n%q", out)
	}

	// TYPE/NAME filters the target's objects.
	if code, out, errOut = runDiff(t, kubeconfig, append(base, "deploy/worker", "svc/web")...); code != 0 || out != "" {
		t.Errorf("worker and the service: exit %d, want 0\n%s\n%s", code, out, errOut)
	}

	code, out, _ = runDiff(t, kubeconfig, append(base, "-o", "json", "--prune")...)
	var report struct {
		Objects []struct {
			Kind, Name, Status string
			Fields             []struct{ Path string }
		}
		PruneLabels map[string]string
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if code != 1 || len(report.Objects) != 1 || report.Objects[0].Fields[0].Path != ".spec.replicas" || report.PruneLabels["kustomize.toolkit.fluxcd.io/name"] != ks {
		t.Errorf("-o json --prune: exit %d, report %+v", code, report)
	}

	for _, args := range [][]string{
		append(base, "-o", "yaml"),
		append(base, "--no-such-flag"),
		{"--repo", repo, "--path", "no/such/dir"},
		append(base, "deploy/nothere"),
		append(base, "--prune", "deploy/web"),
	} {
		if code, out, errOut := runDiff(t, kubeconfig, args...); code != 2 || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("%q: exit %d, want 2 with an error\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
	}
}

func configMapDoc(t *testing.T, docs []string, name string) int {
	for i, d := range docs {
		if strings.Contains(d, "kind: ConfigMap") && strings.Contains(d, "  name: "+name+"\n") {
			return i
		}
	}
	t.Fatalf("no ConfigMap %s in the render", name)
	return -1
}
