package plugin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// The client the plugin builds from --kubeconfig and -n reaches the real API server: it creates
// a namespace and a Deployment and reads them back.
func TestE2EClientFromKubeconfigFlags(t *testing.T) {
	c := testcluster.Shared(t)
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd, f := newRoot(streams)
	if err := cmd.PersistentFlags().Parse([]string{"--kubeconfig", c.KubeconfigPath, "-n", "e2e-flags"}); err != nil {
		t.Fatal(err)
	}
	ns, explicit, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns != "e2e-flags" || !explicit {
		t.Fatalf("namespace from -n = %q (explicit %v, err %v), want e2e-flags", ns, explicit, err)
	}
	cs, err := f.KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/shop/web:1.4.0"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 3 || got.Spec.Template.Spec.Containers[0].Image != dep.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("read back %v replicas, image %s", *got.Spec.Replicas, got.Spec.Template.Spec.Containers[0].Image)
	}

	cmd.SetArgs([]string{"--kubeconfig", c.KubeconfigPath, "version", "--server-version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Server version: v1.37") {
		t.Errorf("version --server-version printed:\n%s", out)
	}
}

// runPlugin runs the built binary with args and environment, returning stdout, stderr and the
// exit code.
func runPlugin(t *testing.T, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", name, err)
	}
	return stdout.String(), stderr.String(), code
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// kubectl finds `kubectl gitops` on PATH as a plugin, and the kubectl flags reach the plugin.
func TestE2EVersionThroughKubectlPluginDiscovery(t *testing.T) {
	kubectl := filepath.Join(repoRoot(), "bin", "testbin", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		if os.Getenv(testcluster.E2EEnv) != "" {
			t.Fatalf("%s missing: run make testbin", kubectl)
		}
		t.Skipf("%s missing: run make testbin", kubectl)
	}
	path := "PATH=" + filepath.Dir(pluginBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	out, errOut, code := runPlugin(t, []string{path}, kubectl, "gitops", "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"goVersion": "go1.`) {
		t.Fatalf("kubectl gitops version: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runPlugin(t, []string{path}, kubectl, "gitops", "--context", "X", "-n", "Y", "version")
	if code != 0 || !strings.Contains(out, "Version: ") {
		t.Fatalf("kubectl gitops --context X -n Y version: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A wrong --kubeconfig on a command that needs the cluster fails as kubectl fails: its message,
// exit code 1.
func TestWrongKubeconfigIsKubectlStyleError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	out, errOut, code := runPlugin(t, nil, pluginBin, "--kubeconfig", missing, "version", "--server-version")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "error: stat " + missing + ": no such file or directory\n"
	if errOut != want {
		t.Errorf("stderr = %q, want %q (stdout %q)", errOut, want, out)
	}
}

func TestUnknownFlagPointsAtHelp(t *testing.T) {
	_, errOut, code := runPlugin(t, nil, pluginBin, "version", "--bogus")
	if code != 1 || !strings.Contains(errOut, "error: unknown flag: --bogus") || !strings.Contains(errOut, "See 'kubectl gitops version --help' for usage.") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersionOutputFormats(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"version -o json", `"clientVersion": {`},
		{"version -o yaml", "clientVersion:\n  buildDate:"},
		{"version", "Go version: " + runtime.Version()},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		cmd := NewRootCmd(streams)
		cmd.SetArgs(strings.Fields(tc.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", tc.args, err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s printed %q, want it to contain %q", tc.args, out, tc.want)
		}
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewRootCmd(streams)
	cmd.SetArgs([]string{"version", "-o", "xml"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--output must be 'yaml' or 'json'") {
		t.Errorf("-o xml: %v", err)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		cmd := NewRootCmd(streams)
		cmd.SetArgs([]string{"completion", shell})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		if !strings.Contains(out.String(), "kubectl-gitops") {
			t.Errorf("%s completion does not mention kubectl-gitops", shell)
		}
	}
	// kubectl's plugin completion calls kubectl_complete-gitops, which asks the binary.
	out, _, code := runPlugin(t, nil, pluginBin, "__complete", "ver")
	if code != 0 || !strings.Contains(out, "version") {
		t.Errorf("__complete ver: exit %d, %q", code, out)
	}
}
