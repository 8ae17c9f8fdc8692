package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// hookRun runs a command in dir with env on top of the test's environment and returns its
// combined output (git prints its hooks' output on stderr) and exit code.
func hookRun(t *testing.T, dir string, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String(), 0
}

// hookEnv is the environment git runs the hooks with: the built kubectl-gitops on PATH, the
// given kubeconfig.
func hookEnv(kubeconfig string) []string {
	return []string{
		"PATH=" + filepath.Dir(pluginBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"KUBECONFIG=" + kubeconfig,
		"NO_COLOR=1",
	}
}

func hookWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hookReplace(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", name, old)
	}
	hookWrite(t, dir, name, string(bytes.Replace(b, []byte(old), []byte(new), 1)))
}

// hookKubeconfig writes a copy of the test cluster's kubeconfig changed by edit.
func hookKubeconfig(t *testing.T, c *testcluster.Cluster, edit func(*clientcmdapi.Config)) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// unreachableContext adds the context "elsewhere", a cluster nobody listens on, and makes it
// the current one.
func unreachableContext(cfg *clientcmdapi.Config) {
	cluster := cfg.Clusters["testcluster"].DeepCopy()
	cluster.Server = "https://127.0.0.1:1"
	cfg.Clusters["elsewhere"] = cluster
	ctx := cfg.Contexts["testcluster"].DeepCopy()
	ctx.Cluster = "elsewhere"
	cfg.Contexts["elsewhere"] = ctx
	cfg.CurrentContext = "elsewhere"
}

// The pre-push hook, installed with `hooks install` and run by a real `git push` to a bare
// repository, against the test cluster.
func TestE2EPrePushHookDrivenByGitPush(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("prepush-%d", time.Now().UnixNano()%1e6)
	bare, work := testrepo.NewWithRemote(t, "kustomize")
	// The target's context in .kubectl-gitops.yaml wins over the kubeconfig's current context,
	// which points at a cluster nobody listens on.
	hookWrite(t, work, ".kubectl-gitops.yaml", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    context: testcluster
    path: overlays/staging
`)
	hookReplace(t, work, "overlays/staging/kustomization.yaml", "namespace: shop", "namespace: "+ns)
	testrepo.Git(t, work, "add", "-A")
	testrepo.Git(t, work, "commit", "-q", "-m", "Staging in its own namespace")
	testrepo.Git(t, work, "push", "-q", "origin", "main")
	ks := "apps-" + ns
	reconcile := func() {
		t.Helper()
		res, err := render.Render(work, "overlays/staging", render.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fluxApply(t, ctx, c, res, ks)
	}
	reconcile()

	env := hookEnv(hookKubeconfig(t, c, unreachableContext))
	if out, code := hookRun(t, work, env, pluginBin, "hooks", "install"); code != 0 || !strings.Contains(out, "pre-push: installed") {
		t.Fatalf("hooks install: exit %d\n%s", code, out)
	}
	remoteMain := func() string { return testrepo.Git(t, bare, "rev-parse", "refs/heads/main") }
	commit := func(msg, old, new string) {
		t.Helper()
		hookReplace(t, work, "overlays/staging/kustomization.yaml", old, new)
		testrepo.Git(t, work, "commit", "-q", "--no-verify", "-am", msg)
	}

	// A clean state: both checks pass, the push goes through.
	commit("Staging web: two replicas", "count: 1", "count: 2")
	before := remoteMain()
	out, code := hookRun(t, work, env, "git", "push", "origin", "main")
	if code != 0 || remoteMain() == before {
		t.Fatalf("clean push refused: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"pre-push: refs/heads/main -> origin refs/heads/main (" + before[:12] + "..",
		"  target staging (overlays/staging), context testcluster\n",
		"    ok: the cluster matches main at " + before[:12] + "\n",
		"    ok: 8 objects pass a server-side dry-run at ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("clean push output lacks %q:\n%s", want, out)
		}
	}
	reconcile()

	// Someone scales the Deployment by hand: the next push would undo it, and is refused.
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 5},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	commit("Staging: a newer release candidate", "newTag: 1.5.0-rc.1", "newTag: 1.5.0-rc.2")
	before = remoteMain()
	out, code = hookRun(t, work, env, "git", "push", "origin", "main")
	if code == 0 || remoteMain() != before {
		t.Fatalf("push over drift went through:\n%s", out)
	}
	for _, want := range []string{
		"    drift: the cluster differs from main at " + before[:12] + "; this push would silently undo it:\n",
		"      Deployment.apps " + ns + "/web\n        .spec.replicas: 5 -> 2\n",
		"kubectl gitops capture --drift",
		"pre-push: refused (1 problem). Fix what is reported, or push without the check: git push --no-verify",
		"error: failed to push some refs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("drift output lacks %q:\n%s", want, out)
		}
	}

	// --no-verify skips the hook, as for any hook.
	if out, code := hookRun(t, work, env, "git", "push", "--no-verify", "origin", "main"); code != 0 || remoteMain() == before {
		t.Fatalf("--no-verify: exit %d\n%s", code, out)
	}
	reconcile()

	// An object the API server rejects: refused with its message.
	commit("Staging web: negative replicas", "count: 2", "count: -1")
	before = remoteMain()
	out, code = hookRun(t, work, env, "git", "push", "origin", "main")
	if code == 0 || remoteMain() != before {
		t.Fatalf("push of an invalid object went through:\n%s", out)
	}
	for _, want := range []string{
		"    ok: the cluster matches main at ",
		"    dry-run: the API server refuses 1 of 8 objects at ",
		"      Deployment.apps " + ns + `/web: Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rejected object output lacks %q:\n%s", want, out)
		}
	}
	testrepo.Git(t, work, "reset", "-q", "--hard", "origin/main")

	// A new branch no target follows, with no commit the remote lacks: nothing to check. Deleting
	// it: nothing to check.
	out, code = hookRun(t, work, env, "git", "push", "origin", "HEAD:refs/heads/feature")
	if code != 0 || !strings.Contains(out, "no target follows branch feature: no target to check") {
		t.Errorf("new feature branch: exit %d\n%s", code, out)
	}
	out, code = hookRun(t, work, env, "git", "push", "origin", "--delete", "feature")
	if code != 0 || !strings.Contains(out, "pre-push: (delete) -> origin refs/heads/feature\n  deletes the branch: nothing to check") {
		t.Errorf("branch deletion: exit %d\n%s", code, out)
	}
	if out, _ := hookRun(t, bare, nil, "git", "branch", "--list", "feature"); strings.TrimSpace(out) != "" {
		t.Errorf("feature branch not deleted: %s", out)
	}

	// A new followed branch (main, pushed to a second, empty remote that records no default
	// branch: the branch checked out is followed): no remote commit to compare the cluster
	// with, so drift does not stop it; the dry-run runs.
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 7},
	}, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(t.TempDir(), "mirror.git")
	testrepo.Git(t, work, "init", "-q", "--bare", mirror)
	testrepo.Git(t, work, "remote", "add", "mirror", mirror)
	out, code = hookRun(t, work, env, "git", "push", "mirror", "main")
	if code != 0 || !strings.Contains(out, "    note: new branch: no remote commit to compare the cluster with\n") || !strings.Contains(out, "    ok: 8 objects pass a server-side dry-run at ") {
		t.Errorf("new followed branch: exit %d\n%s", code, out)
	}
	reconcile()

	// The target's cluster does not answer: the hook fails and says how to skip it.
	down := hookEnv(hookKubeconfig(t, c, func(cfg *clientcmdapi.Config) {
		cfg.Clusters["testcluster"].Server = "https://127.0.0.1:1"
	}))
	commit("Staging web: three replicas", "count: 2", "count: 3")
	before = remoteMain()
	out, code = hookRun(t, work, down, "git", "push", "origin", "main")
	if code == 0 || remoteMain() != before || !strings.Contains(out, `cannot reach the cluster of kubeconfig context "testcluster"`) || !strings.Contains(out, "git push --no-verify") {
		t.Errorf("unreachable cluster: exit %d\n%s", code, out)
	}
}

// The pre-commit hook, run by a real `git commit`: a staged plaintext Secret and a staged
// kustomization that no longer renders are refused; a clean staged change passes.
func TestE2EPreCommitHookDrivenByGitCommit(t *testing.T) {
	testrepo.Env(t)
	work := testrepo.New(t, "kustomize")
	env := hookEnv(filepath.Join(t.TempDir(), "no-kubeconfig"))
	if out, code := hookRun(t, work, env, pluginBin, "hooks", "install"); code != 0 {
		t.Fatalf("hooks install: exit %d\n%s", code, out)
	}
	head := func() string { return testrepo.Git(t, work, "rev-parse", "HEAD") }
	start := head()

	hookWrite(t, work, "base/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: plaintext-password\n")
	testrepo.Git(t, work, "add", "base/db-secret.yaml")
	out, code := hookRun(t, work, env, "git", "commit", "-m", "Add the database password")
	if code == 0 || head() != start || !strings.Contains(out, "  base/db-secret.yaml:1: stringData.password: ") || !strings.Contains(out, "pre-commit: refused.") || strings.Contains(out, "plaintext-password") {
		t.Fatalf("plaintext Secret: exit %d\n%s", code, out)
	}
	testrepo.Git(t, work, "rm", "-q", "--cached", "base/db-secret.yaml")

	hookReplace(t, work, "overlays/staging/kustomization.yaml", "- path: web-patch.yaml", "- path: web-patch-gone.yaml")
	testrepo.Git(t, work, "add", "overlays/staging/kustomization.yaml")
	out, code = hookRun(t, work, env, "git", "commit", "-m", "Break staging")
	if code == 0 || head() != start || !strings.Contains(out, "pre-commit: target overlays/staging: does not render from the index") {
		t.Fatalf("broken kustomization: exit %d\n%s", code, out)
	}
	testrepo.Git(t, work, "checkout", "-q", "HEAD", "--", "overlays/staging/kustomization.yaml")

	hookReplace(t, work, "overlays/staging/kustomization.yaml", "count: 1", "count: 2")
	out, code = hookRun(t, work, env, "git", "commit", "-am", "Staging web: two replicas")
	if code != 0 || head() == start || !strings.Contains(out, "pre-commit: secrets guard on 1 staged file: ok") || !strings.Contains(out, "pre-commit: target overlays/staging: renders (8 objects)") {
		t.Fatalf("clean change: exit %d\n%s", code, out)
	}
}

// `hooks install` next to a hook the repository has: both run (the own hook's side effect is
// seen, with git's input), installing again changes nothing, and uninstall restores the
// original bytes and mode.
func TestE2EHooksInstallNextToExistingHook(t *testing.T) {
	testrepo.Env(t)
	_, work := testrepo.NewWithRemote(t, "kustomize")
	hooksDir := filepath.Join(work, ".git", "hooks")
	sideEffect := filepath.Join(t.TempDir(), "own-pre-push")
	own := []byte("#!/bin/sh\n# the team's pre-push hook\necho \"remote $1\" >" + sideEffect + "\ncat >>" + sideEffect + "\n")
	prePush := filepath.Join(hooksDir, "pre-push")
	if err := os.WriteFile(prePush, own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prePush, 0o700); err != nil {
		t.Fatal(err)
	}
	env := hookEnv(filepath.Join(t.TempDir(), "no-kubeconfig"))
	out, code := hookRun(t, work, env, pluginBin, "hooks", "install")
	if code != 0 || !strings.Contains(out, prePush+": installed; the repository's own hook is kept as "+prePush+".local and runs first") {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	shim, _ := os.ReadFile(prePush)
	if out, code := hookRun(t, work, env, pluginBin, "hooks", "install"); code != 0 || !strings.Contains(out, prePush+": already installed") {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if again, _ := os.ReadFile(prePush); !bytes.Equal(again, shim) || !hooks.IsShim(shim) {
		t.Error("the second install changed the hook")
	}

	head := testrepo.Git(t, work, "rev-parse", "HEAD")
	out, code = hookRun(t, work, env, "git", "push", "origin", "HEAD:refs/heads/topic")
	if code != 0 || !strings.Contains(out, "no target follows branch topic: no target to check") {
		t.Fatalf("push: exit %d\n%s", code, out)
	}
	seen, err := os.ReadFile(sideEffect)
	if err != nil {
		t.Fatalf("the own hook did not run: %v\n%s", err, out)
	}
	if want := "remote origin\nHEAD " + head + " refs/heads/topic " + strings.Repeat("0", 40) + "\n"; string(seen) != want {
		t.Errorf("the own hook saw %q, want %q", seen, want)
	}

	out, code = hookRun(t, work, env, pluginBin, "hooks", "uninstall")
	if code != 0 || !strings.Contains(out, prePush+": removed; put back the repository's own hook") {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	got, err := os.ReadFile(prePush)
	fi, _ := os.Stat(prePush)
	if err != nil || !bytes.Equal(got, own) || fi.Mode().Perm() != 0o700 {
		t.Errorf("restored pre-push: %q, mode %v, %v", got, fi.Mode(), err)
	}
	for _, p := range []string{prePush + ".local", filepath.Join(hooksDir, "pre-commit")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall", p)
		}
	}
}

// The pre-commit hook, run by a real `git commit`, reads guard.allow from the index: an entry
// committed with the plaintext it allows is refused and named; what the targets render is
// checked too, so a Secret that gets its values from a patch is refused with its object.
func TestE2EPreCommitHookChecksAllowListAndRenders(t *testing.T) {
	testrepo.Env(t)
	work := testrepo.New(t, "kustomize")
	env := hookEnv(filepath.Join(t.TempDir(), "no-kubeconfig"))
	if out, code := hookRun(t, work, env, pluginBin, "hooks", "install"); code != 0 {
		t.Fatalf("hooks install: exit %d\n%s", code, out)
	}
	head := func() string { return testrepo.Git(t, work, "rev-parse", "HEAD") }
	start := head()

	hookWrite(t, work, ".kubectl-gitops.yaml", "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nguard:\n  allow:\n    - path: \"**\"\n      reason: nothing to see\n")
	hookWrite(t, work, "base/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: plaintext-password\n")
	testrepo.Git(t, work, "add", "-A")
	out, code := hookRun(t, work, env, "git", "commit", "-m", "Allow everything, and a password")
	if code == 0 || head() != start || !strings.Contains(out, `guard.allow entry "**" (nothing to see) is added in this commit; it newly allows: .kubectl-gitops.yaml, base/db-secret.yaml`) ||
		!strings.Contains(out, "commit that entry alone first") || strings.Contains(out, "plaintext-password") {
		t.Fatalf("allow entry with plaintext: exit %d\n%s", code, out)
	}
	testrepo.Git(t, work, "reset", "-q", "--hard")
	testrepo.Git(t, work, "clean", "-qfd")

	hookWrite(t, work, "overlays/staging/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n")
	hookReplace(t, work, "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - db-secret.yaml\n")
	hookReplace(t, work, "overlays/staging/kustomization.yaml", "  - path: web-patch.yaml\n", "  - path: web-patch.yaml\n  - target:\n      name: db\n    patch: '[{\"op\": \"add\", \"path\": \"/stringData\", \"value\": {\"password\": \"plaintext-password\"}}]'\n")
	testrepo.Git(t, work, "add", "-A")
	out, code = hookRun(t, work, env, "git", "commit", "-m", "A password by patch")
	if code == 0 || head() != start || !strings.Contains(out, "1 rendered Secret value in the clear") ||
		!strings.Contains(out, "overlays/staging/db-secret.yaml: Secret shop/db: stringData.password: rendered value is not encrypted") || strings.Contains(out, "plaintext-password") {
		t.Fatalf("rendered plaintext: exit %d\n%s", code, out)
	}
}

// The pre-push hook, run by a real `git push`, refuses a push whose commits hold plaintext,
// whatever branch they go to, naming each commit; no cluster is asked for a branch no target
// follows.
func TestE2EPrePushHookRefusesPlaintextCommits(t *testing.T) {
	testrepo.Env(t)
	bare, work := testrepo.NewWithRemote(t, "kustomize")
	env := hookEnv(filepath.Join(t.TempDir(), "no-kubeconfig"))
	if out, code := hookRun(t, work, env, pluginBin, "hooks", "install"); code != 0 {
		t.Fatalf("hooks install: exit %d\n%s", code, out)
	}
	testrepo.Git(t, work, "checkout", "-q", "-b", "feature")
	hookWrite(t, work, "base/db-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: plaintext-password\n")
	testrepo.Git(t, work, "add", "-A")
	testrepo.Git(t, work, "commit", "-q", "--no-verify", "-m", "Add the password")
	sha := testrepo.Git(t, work, "rev-parse", "HEAD")
	out, code := hookRun(t, work, env, "git", "push", "-q", "origin", "feature")
	if code == 0 || !strings.Contains(out, "secrets guard on 1 pushed commit: 1 refused") ||
		!strings.Contains(out, "commit "+sha[:12]+` "Add the password":`) || !strings.Contains(out, "base/db-secret.yaml:1: stringData.password: value is not encrypted") ||
		strings.Contains(out, "plaintext-password") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if refs := testrepo.Git(t, bare, "for-each-ref", "refs/heads/feature"); refs != "" {
		t.Errorf("the branch reached the remote: %s", refs)
	}
}
