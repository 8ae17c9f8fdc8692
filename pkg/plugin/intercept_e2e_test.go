package plugin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// interceptShell runs script in bash with the shell function of `kubectl-gitops shell-init bash`
// loaded, kubectl-gitops and the test kubectl on the PATH, from a directory outside any
// repository, as a user's shell would.
func interceptShell(t *testing.T, env []string, script string) (stdout, stderr string, code int) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	testbin := filepath.Join(repoRoot(), "bin", "testbin")
	if _, err := os.Stat(filepath.Join(testbin, "kubectl")); err != nil {
		if os.Getenv(testcluster.E2EEnv) != "" {
			t.Fatalf("%s/kubectl missing: run make testbin", testbin)
		}
		t.Skipf("%s/kubectl missing: run make testbin", testbin)
	}
	path := "PATH=" + filepath.Dir(pluginBin) + string(os.PathListSeparator) + testbin + string(os.PathListSeparator) + os.Getenv("PATH")
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `eval "$(kubectl-gitops shell-init bash)" || exit 99; `+script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(os.Environ(), env...), path)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 99 {
		t.Fatalf("loading the shell function failed:\n%s", errOut.String())
	}
	return out.String(), errOut.String(), code
}

// With the shell function loaded, `kubectl scale` of an object Flux manages becomes a pushed
// commit and leaves the live object alone; `kubectl scale` of an object nothing manages changes
// the live object on the control plane, as kubectl does. Arguments with spaces reach both as
// typed; KUBECTL_GITOPS_BYPASS=1 and --gitops=off go straight to kubectl.
func TestE2EInterceptScale(t *testing.T) {
	c := testcluster.Shared(t)
	env := append(testrepo.Env(t), "KC="+c.KubeconfigPath, "KUBECTL_GITOPS_BYPASS=")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())

	bare, ks := fluxFixture(t, ctx, c, "intercept-e2e")
	liveReplicas := func(ns, name string) int32 {
		t.Helper()
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	pushed := func() string { return testrepo.Git(t, bare, "rev-parse", "main") }

	// The unmanaged object: a Deployment applied by hand, without GitOps labels.
	const plainNs = "intercept-plain"
	if err := c.CreateNamespace(ctx, plainNs); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "plain"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: plainNs},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "plain", Image: "registry.example.com/plain:1"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(plainNs).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("managed object: a commit, the cluster untouched", func(t *testing.T) {
		before, head := liveReplicas("shop", "web"), pushed()
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" -n shop scale deploy/web --replicas=5`)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "kubectl gitops: deployment/web is managed by Flux Kustomization flux-system/"+ks) ||
			strings.Count(strings.TrimSpace(stderr), "kubectl gitops:") != 1 {
			t.Errorf("stderr does not say, in one line, that kubectl gitops made the change:\n%s", stderr)
		}
		if !strings.Contains(stdout, "deployment.apps/web scaled") {
			t.Errorf("stdout: %q", stdout)
		}
		if got := liveReplicas("shop", "web"); got != before {
			t.Errorf("the live object changed: replicas %d -> %d", before, got)
		}
		if pushed() == head {
			t.Fatal("no commit was pushed")
		}
		msg := testrepo.Git(t, bare, "log", "-1", "--format=%B", "main")
		if !strings.Contains(msg, "scale deployment shop/web to 5 replicas") {
			t.Errorf("the pushed commit is not the scale:\n%s", msg)
		}
	})

	t.Run("managed object: an argument with spaces", func(t *testing.T) {
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" annotate -n shop deploy/web "example.com/note=two  words, 'quoted'"`)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		diff := testrepo.Git(t, bare, "show", "--format=", "main")
		if !strings.Contains(diff, `two  words, 'quoted'`) {
			t.Errorf("the commit does not carry the value as typed:\n%s", diff)
		}
	})

	t.Run("managed object: rollout undo is a commit too", func(t *testing.T) {
		before, head := liveReplicas("shop", "web"), pushed()
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" -n shop rollout undo deploy/web`)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		if pushed() == head || liveReplicas("shop", "web") != before {
			t.Fatalf("want a pushed commit and the live object untouched\n%s%s", stdout, stderr)
		}
		msg := testrepo.Git(t, bare, "log", "-1", "--format=%s", "main")
		if !strings.HasPrefix(msg, "roll back deployment shop/web to revision ") {
			t.Errorf("the pushed commit is %q", msg)
		}
	})

	t.Run("managed object: a set kubectl gitops lacks is refused", func(t *testing.T) {
		before, head := liveReplicas("shop", "web"), pushed()
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" -n shop set serviceaccount deploy/web robot`)
		if code != 1 || !strings.Contains(stderr, "--gitops=off") || !strings.Contains(stderr, "set serviceaccount") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
		if pushed() != head || liveReplicas("shop", "web") != before {
			t.Error("something changed")
		}
		d, err := kube.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Template.Spec.ServiceAccountName == "robot" {
			t.Error("kubectl set the service account in the cluster")
		}
	})

	t.Run("unmanaged object: kubectl changes the cluster", func(t *testing.T) {
		head := pushed()
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" -n `+plainNs+` scale deploy/plain --replicas=3`)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		if strings.Contains(stderr, "kubectl gitops") {
			t.Errorf("kubectl gitops spoke for an unmanaged object:\n%s", stderr)
		}
		if !strings.Contains(stdout, "deployment.apps/plain scaled") {
			t.Errorf("stdout: %q", stdout)
		}
		if got := liveReplicas(plainNs, "plain"); got != 3 {
			t.Errorf("live replicas = %d, want 3", got)
		}
		if _, _, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" -n `+plainNs+` annotate deploy/plain "example.com/note=two  words"`); code != 0 {
			t.Fatalf("annotate: exit %d", code)
		}
		d, err := kube.AppsV1().Deployments(plainNs).Get(ctx, "plain", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Annotations["example.com/note"]; got != "two  words" {
			t.Errorf("live annotation = %q, want %q", got, "two  words")
		}
		if pushed() != head {
			t.Error("a commit was pushed for an unmanaged object")
		}
	})

	t.Run("other commands run kubectl", func(t *testing.T) {
		stdout, stderr, code := interceptShell(t, env, `kubectl --kubeconfig "$KC" get -n shop deploy web -o 'jsonpath={.metadata.name} {.metadata.namespace}'`)
		if code != 0 || stdout != "web shop" || stderr != "" {
			t.Errorf("kubectl get: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		_, _, code = interceptShell(t, env, `kubectl --kubeconfig "$KC" get -n shop deploy nope`)
		if code != 1 {
			t.Errorf("kubectl get of a missing object: exit %d, want kubectl's 1", code)
		}
	})

	for _, tc := range []struct{ name, env, flag string }{
		{"KUBECTL_GITOPS_BYPASS=1", "KUBECTL_GITOPS_BYPASS=1", ""},
		{"--gitops=off", "", "--gitops=off"},
	} {
		t.Run(tc.name+": kubectl changes a managed object", func(t *testing.T) {
			head := pushed()
			want := liveReplicas("shop", "web") + 1
			script := `kubectl --kubeconfig "$KC" -n shop scale deploy/web ` + tc.flag + ` --replicas=` + strconv.Itoa(int(want))
			stdout, stderr, code := interceptShell(t, append(append([]string{}, env...), tc.env), script)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			if strings.Contains(stderr, "kubectl gitops") {
				t.Errorf("kubectl gitops spoke:\n%s", stderr)
			}
			if got := liveReplicas("shop", "web"); got != want {
				t.Errorf("live replicas = %d, want %d", got, want)
			}
			if pushed() != head {
				t.Error("a commit was pushed")
			}
		})
	}
}
