package plugin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// pluginAt runs the built plugin in dir, as a user does, and returns its output and exit code.
func pluginAt(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(pluginBin, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the plugin: %v", err)
	}
	return out.String(), errOut.String(), code
}

// applyAs applies a target's render to the cluster server-side as manager, each object marked
// by mark (the reconciler's labels or annotations).
func applyAs(t *testing.T, ctx context.Context, c *testcluster.Cluster, dir, name, manager string, mark func(u *unstructured.Unstructured)) {
	t.Helper()
	var docs [][]byte
	for _, o := range renderTarget(t, dir, name).Objects {
		u := o.Obj().DeepCopy()
		mark(u)
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	if _, err := c.ApplyYAML(ctx, manager, bytes.Join(docs, []byte("---\n"))); err != nil {
		t.Fatal(err)
	}
}

func setLabel(u *unstructured.Unstructured, k, v string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[k] = v
	u.SetLabels(l)
}

func setAnnotation(u *unstructured.Unstructured, k, v string) {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	u.SetAnnotations(a)
}

// handScale changes a Deployment's replicas as `kubectl scale` would, behind the reconciler's back.
func handScale(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name string, n int) {
	t.Helper()
	p := []byte(`{"spec":{"replicas":` + strconv.Itoa(n) + `}}`)
	if _, err := kube.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
}

// argoHelmCluster sets the cluster up as Argo CD would have it for the argocd-helm sample:
// the Application CRD, Applications web-staging and web-production following the bare
// repository, and each one's chart render applied in its namespace, staging tracked by
// Argo CD's label (its default before 3.0), production by its annotation (the default since).
func argoHelmCluster(t *testing.T, ctx context.Context, c *testcluster.Cluster) (bare, work string) {
	t.Helper()
	if err := c.InstallCRDs(ctx, filepath.Join(testrepo.Root(), "testdata", "crds", "argoproj.io_applications.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"argocd", "web-staging", "web-production"} {
		if err := c.CreateNamespace(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	bare, work = testrepo.NewWithRemote(t, "argocd-helm")
	for _, app := range []string{"web-staging", "web-production"} {
		b, err := os.ReadFile(filepath.Join(work, "apps", app+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		live := strings.ReplaceAll(string(b), "https://git.example.com/platform/argo-helm.git", "file://"+bare)
		if _, err := c.ApplyYAML(ctx, "", []byte(live)); err != nil {
			t.Fatal(err)
		}
	}
	applyAs(t, ctx, c, work, "application/argocd/web-staging", "argocd-controller", func(u *unstructured.Unstructured) {
		setLabel(u, target.ArgoCDInstanceLabel, "web-staging")
	})
	applyAs(t, ctx, c, work, "application/argocd/web-production", "argocd-controller", func(u *unstructured.Unstructured) {
		gvk := u.GroupVersionKind()
		setAnnotation(u, target.ArgoCDTrackingIDAnnotation, "web-production:"+gvk.Group+"/"+gvk.Kind+":"+u.GetNamespace()+"/"+u.GetName())
	})
	return bare, work
}

// The same chart (charts/web) is rendered by two Applications, so the repository alone does not
// say which environment's value file a change of deploy/web goes to; the live object's Argo CD
// tracking does. With label tracking (app.kubernetes.io/instance, which the chart also sets, to
// the release name), from the user's checkout; with annotation tracking, from a directory
// outside any repository (the tool's own clone, pushed); and with --repo naming the checkout,
// whose targets alone are ambiguous.
func TestE2EArgoHelmScaleFromLiveTracking(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	bare, work := argoHelmCluster(t, ctx, c)
	kc := "--kubeconfig=" + c.KubeconfigPath
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	handScale(t, ctx, kube, "web-staging", "web", 3)

	t.Run("diff", func(t *testing.T) {
		// Named by the target, or found through the object's tracking label.
		for _, args := range [][]string{{"--target", "application/argocd/web-staging"}, {"deploy/web", "-n", "web-staging"}} {
			stdout, stderr, code := pluginAt(t, work, env, append([]string{kc, "diff"}, args...)...)
			if code != 1 {
				t.Fatalf("diff %s: exit %d, want 1\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
			}
			if got, want := diffLines(stdout), []string{"-  replicas: 3", "+  replicas: 1"}; !slices.Equal(got, want) {
				t.Errorf("diff %s shows\n%s\nwant only %q", strings.Join(args, " "), stdout, want)
			}
		}
		// Annotation tracking leaves the chart's own instance label, which is then no drift.
		stdout, stderr, code := pluginAt(t, work, env, kc, "diff", "--target", "application/argocd/web-production")
		if code != 0 {
			t.Errorf("diff of the untouched production: exit %d, want 0\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("verify", func(t *testing.T) {
		stdout, stderr, code := pluginAt(t, work, env, kc, "verify", "application/argocd/web-staging")
		if code != 1 {
			t.Fatalf("verify: exit %d, want 1\n%s\n%s", code, stdout, stderr)
		}
		for _, want := range []string{"Deployment.apps web-staging/web\n    drift:\n      .spec.replicas: 3 -> 1\n  FAIL: 1 finding"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("verify does not say %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("capture --drift", func(t *testing.T) {
		_, stderr, code := pluginAt(t, work, env, kc, "capture", "--drift", "deploy/web", "-n", "web-staging", "--push")
		if code != 0 {
			t.Fatalf("capture --drift: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, bare, "diff", "--name-only", "main~1", "main"); got != "charts/web/values-staging.yaml" {
			t.Fatalf("the commit changes %q, want charts/web/values-staging.yaml\n%s", got, stderr)
		}
		want := "# Staging: one replica, debug logging.\nreplicaCount: 3\n\nenv:\n  - name: LOG_LEVEL\n    value: debug\n"
		if got, _ := os.ReadFile(filepath.Join(work, "charts", "web", "values-staging.yaml")); string(got) != want {
			t.Errorf("values-staging.yaml:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("annotation tracking, the tool's clone", func(t *testing.T) {
		_, stderr, code := pluginAt(t, t.TempDir(), env, kc, "-n", "web-production", "scale", "deploy/web", "--replicas=5")
		if code != 0 {
			t.Fatalf("scale: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, bare, "diff", "--name-only", "main~1", "main"); got != "charts/web/values-production.yaml" {
			t.Fatalf("the pushed commit changes %q, want charts/web/values-production.yaml\n%s", got, stderr)
		}
		want := "# Production: three replicas and limits.\nreplicaCount: 5\n\nresources:\n  limits:\n    cpu: \"1\"\n    memory: 512Mi\n"
		if got := testrepo.Git(t, bare, "show", "main:charts/web/values-production.yaml") + "\n"; got != want {
			t.Errorf("values-production.yaml:\n%s\nwant:\n%s", got, want)
		}
		testrepo.Git(t, work, "pull", "-q", "--ff-only")
	})

	t.Run("label tracking, the user's checkout", func(t *testing.T) {
		// The live object's label, not the chart's (web), names the Application.
		_, stderr, code := pluginAt(t, work, env, kc, "-n", "web-staging", "scale", "deploy/web", "--replicas=4")
		if code != 0 {
			t.Fatalf("scale: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, work, "diff", "--name-only", "HEAD~1", "HEAD"); got != "charts/web/values-staging.yaml" {
			t.Fatalf("the commit changes %q, want charts/web/values-staging.yaml\n%s", got, stderr)
		}
		want := "# Staging: one replica, debug logging.\nreplicaCount: 4\n\nenv:\n  - name: LOG_LEVEL\n    value: debug\n"
		if got, _ := os.ReadFile(filepath.Join(work, "charts", "web", "values-staging.yaml")); string(got) != want {
			t.Errorf("values-staging.yaml:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("--repo with several targets of the chart", func(t *testing.T) {
		_, stderr, code := pluginAt(t, t.TempDir(), env, kc, "-n", "web-staging", "scale", "deploy/web", "--replicas=6", "--repo", work)
		if code != 0 {
			t.Fatalf("scale --repo: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, work, "diff", "--name-only", "HEAD~1", "HEAD"); got != "charts/web/values-staging.yaml" {
			t.Fatalf("the commit changes %q, want charts/web/values-staging.yaml\n%s", got, stderr)
		}
		want := "# Staging: one replica, debug logging.\nreplicaCount: 6\n\nenv:\n  - name: LOG_LEVEL\n    value: debug\n"
		if got, _ := os.ReadFile(filepath.Join(work, "charts", "web", "values-staging.yaml")); string(got) != want {
			t.Errorf("values-staging.yaml:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("rollout undo", func(t *testing.T) {
		_, stderr, code := pluginAt(t, work, env, kc, "-n", "web-staging", "rollout", "undo", "deploy/web")
		if code != 0 {
			t.Fatalf("rollout undo: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, work, "diff", "--name-only", "HEAD~1", "HEAD"); got != "charts/web/values-staging.yaml" {
			t.Fatalf("the commit changes %q, want charts/web/values-staging.yaml\n%s", got, stderr)
		}
		// The scale before the last one.
		want := "# Staging: one replica, debug logging.\nreplicaCount: 4\n\nenv:\n  - name: LOG_LEVEL\n    value: debug\n"
		if got, _ := os.ReadFile(filepath.Join(work, "charts", "web", "values-staging.yaml")); string(got) != want {
			t.Errorf("values-staging.yaml:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("capture --drift of a field no values key drives", func(t *testing.T) {
		// The chart's template writes targetPort: http as it is.
		p := []byte(`[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]`)
		if _, err := kube.CoreV1().Services("web-staging").Patch(ctx, "web", types.JSONPatchType, p, metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
			t.Fatal(err)
		}
		head := testrepo.Git(t, work, "rev-parse", "HEAD")
		_, stderr, code := pluginAt(t, work, env, kc, "capture", "--drift", "svc/web", "-n", "web-staging")
		if code != 1 {
			t.Fatalf("capture --drift: exit %d, want 1\n%s", code, stderr)
		}
		for _, want := range []string{"no values key of the chart drives service/web alone", "targetPort", "web/templates/service.yaml"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the refusal does not say %q:\n%s", want, stderr)
			}
		}
		if now := testrepo.Git(t, work, "rev-parse", "HEAD"); now != head {
			t.Errorf("a refused capture committed %s", now)
		}
		if st := testrepo.Git(t, work, "status", "--porcelain"); st != "" {
			t.Errorf("a refused capture left the working tree changed:\n%s", st)
		}
	})
}

// diffLines are the removed and added lines of a unified diff.
func diffLines(d string) []string {
	var out []string
	for _, l := range strings.Split(d, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			out = append(out, l)
		}
	}
	return out
}

// fluxHelmCluster sets the cluster up as Flux would have it for the flux-helm sample's staging
// cluster: the CRDs, the GitRepository and Kustomization (suspended: no controller of another
// test acts on them) following the bare repository, the Kustomization's render applied with
// kustomize-controller's labels, and the web release's chart render as helm-controller applies
// it (its labels are in the render).
func fluxHelmCluster(t *testing.T, ctx context.Context, c *testcluster.Cluster) (bare, work string) {
	t.Helper()
	var crds []string
	for _, n := range []string{"source.toolkit.fluxcd.io_gitrepositories", "kustomize.toolkit.fluxcd.io_kustomizations", "helm.toolkit.fluxcd.io_helmreleases"} {
		crds = append(crds, filepath.Join(testrepo.Root(), "testdata", "crds", n+".yaml"))
	}
	if err := c.InstallCRDs(ctx, crds...); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, "flux-system"); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	bare, work = testrepo.NewWithRemote(t, "flux-helm")
	sync := `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: "file://` + bare + `", ref: {branch: main}, interval: 1h, suspend: true}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {path: ./apps/staging, interval: 1h, prune: true, suspend: true, sourceRef: {kind: GitRepository, name: flux-system}}
`
	if _, err := c.ApplyYAML(ctx, "", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	applyAs(t, ctx, c, work, "kustomization/flux-system/apps@clusters/staging", "kustomize-controller", func(u *unstructured.Unstructured) {
		setLabel(u, target.FluxKustomizationNameLabel, "apps")
		setLabel(u, target.FluxKustomizationNamespaceLabel, "flux-system")
		if u.GetKind() == "HelmRelease" {
			_ = unstructured.SetNestedField(u.Object, true, "spec", "suspend")
		}
	})
	applyAs(t, ctx, c, work, "helmrelease/web/web@apps/staging", "helm-controller", func(*unstructured.Unstructured) {})
	return bare, work
}

// A Deployment that a Flux HelmRelease's chart makes, scaled by hand in the cluster: diff and
// verify show the hand change, capture --drift writes it into the values key of the staging
// overlay's HelmRelease patch, and a later scale is undone by rollout undo, each found from
// the live object's helm-controller labels in the user's checkout.
func TestE2EFluxHelmDriftAndUndo(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	_, work := fluxHelmCluster(t, ctx, c)
	kc := "--kubeconfig=" + c.KubeconfigPath
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	handScale(t, ctx, kube, "web", "web", 5)
	const tgt, file = "helmrelease/web/web@apps/staging", "apps/staging/web-values.yaml"
	values := func(replicas string) string {
		return "# staging values for web.\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: web\nspec:\n  values:\n    replicaCount: " + replicas + "\n    image:\n      tag: \"1.5.0-rc.1\"\n"
	}
	checkCommit := func(t *testing.T, replicas, stderr string) {
		t.Helper()
		if got := testrepo.Git(t, work, "diff", "--name-only", "HEAD~1", "HEAD"); got != file {
			t.Fatalf("the commit changes %q, want %s\n%s", got, file, stderr)
		}
		if got, _ := os.ReadFile(filepath.Join(work, filepath.FromSlash(file))); string(got) != values(replicas) {
			t.Errorf("%s:\n%s\nwant:\n%s", file, got, values(replicas))
		}
	}
	if got, _ := os.ReadFile(filepath.Join(work, filepath.FromSlash(file))); string(got) != values("2") {
		t.Fatalf("the sample's %s is not what the test expects:\n%s", file, got)
	}

	t.Run("diff", func(t *testing.T) {
		// Named by the target, or found through helm-controller's labels on the object.
		for _, args := range [][]string{{"--target", tgt}, {"deploy/web", "-n", "web"}} {
			stdout, stderr, code := pluginAt(t, work, env, append([]string{kc, "diff"}, args...)...)
			if code != 1 {
				t.Fatalf("diff %s: exit %d, want 1\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
			}
			if got, want := diffLines(stdout), []string{"-  replicas: 5", "+  replicas: 2"}; !slices.Equal(got, want) {
				t.Errorf("diff %s shows\n%s\nwant only %q", strings.Join(args, " "), stdout, want)
			}
		}
	})
	t.Run("verify", func(t *testing.T) {
		stdout, stderr, code := pluginAt(t, work, env, kc, "verify", tgt)
		if code != 1 {
			t.Fatalf("verify: exit %d, want 1\n%s\n%s", code, stdout, stderr)
		}
		if want := "Deployment.apps web/web\n    drift:\n      .spec.replicas: 5 -> 2\n  FAIL: 1 finding"; !strings.Contains(stdout, want) {
			t.Errorf("verify does not say %q:\n%s", want, stdout)
		}
	})
	t.Run("capture --drift", func(t *testing.T) {
		_, stderr, code := pluginAt(t, work, env, kc, "capture", "--drift", "deploy/web", "-n", "web")
		if code != 0 {
			t.Fatalf("capture --drift: exit %d\n%s", code, stderr)
		}
		checkCommit(t, "5", stderr)
	})
	t.Run("scale, then rollout undo", func(t *testing.T) {
		_, stderr, code := pluginAt(t, work, env, kc, "-n", "web", "scale", "deploy/web", "--replicas=3")
		if code != 0 {
			t.Fatalf("scale: exit %d\n%s", code, stderr)
		}
		checkCommit(t, "3", stderr)
		_, stderr, code = pluginAt(t, work, env, kc, "-n", "web", "rollout", "undo", "deploy/web")
		if code != 0 {
			t.Fatalf("rollout undo: exit %d\n%s", code, stderr)
		}
		checkCommit(t, "5", stderr)
	})
	t.Run("history", func(t *testing.T) {
		stdout, stderr, code := pluginAt(t, work, env, kc, "-n", "web", "history", "deploy/web")
		if code != 0 {
			t.Fatalf("history: exit %d\n%s", code, stderr)
		}
		for _, want := range []string{"record drift of deployment web/web", "scale deployment web/web to 3 replicas via HelmRelease web/web values", "roll back deployment web/web to revision 2"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("history lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("--repo with both environments' releases of web", func(t *testing.T) {
		_, stderr, code := pluginAt(t, t.TempDir(), env, kc, "-n", "web", "scale", "deploy/web", "--replicas=4", "--repo", work)
		if code != 0 {
			t.Fatalf("scale --repo: exit %d\n%s", code, stderr)
		}
		checkCommit(t, "4", stderr)
	})
}

// An Application whose chart comes from a Helm repository (served on 127.0.0.1) and whose values
// are a $values file of the config repository: the live object's tracking label leads to the
// Application, its values source to the repository, where the Application's file is found, and
// the change is written in the $values file.
func TestE2EArgoHelmRepositoryChartFromLiveTracking(t *testing.T) {
	c := testcluster.Shared(t)
	env := testrepo.Env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := c.InstallCRDs(ctx, filepath.Join(testrepo.Root(), "testdata", "crds", "argoproj.io_applications.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"argocd", "web-remote"} {
		if err := c.CreateNamespace(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	bare, work := testrepo.NewWithRemote(t, "argocd-helm")
	srv := serveChart(t, filepath.Join(work, "charts", "web"))
	app := func(valuesURL string) string { return remoteWebApplication(srv.URL, valuesURL) }
	writeFiles(t, work, map[string]string{"values/web/remote.yaml": remoteWebValues, "apps/web-remote.yaml": app("https://git.example.com/platform/argo-helm.git")})
	testrepo.Git(t, work, "add", "-A")
	testrepo.Git(t, work, "commit", "-qm", "web from the chart repository")
	testrepo.Git(t, work, "push", "-q", "origin", "main")
	if _, err := c.ApplyYAML(ctx, "", []byte(app("file://"+bare))); err != nil {
		t.Fatal(err)
	}
	applyAs(t, ctx, c, work, "application/argocd/web-remote", "argocd-controller", func(u *unstructured.Unstructured) {
		setLabel(u, target.ArgoCDInstanceLabel, "web-remote")
	})
	kc := "--kubeconfig=" + c.KubeconfigPath

	_, stderr, code := pluginAt(t, work, env, kc, "-n", "web-remote", "scale", "deploy/web", "--replicas=4")
	if code != 0 {
		t.Fatalf("scale: exit %d\n%s", code, stderr)
	}
	if got := testrepo.Git(t, work, "diff", "--name-only", "HEAD~1", "HEAD"); got != "values/web/remote.yaml" {
		t.Fatalf("the commit changes %q, want values/web/remote.yaml\n%s", got, stderr)
	}
	if got, want := readFile(t, work, "values/web/remote.yaml"), strings.Replace(remoteWebValues, "replicaCount: 2", "replicaCount: 4", 1); got != want {
		t.Errorf("values/web/remote.yaml:\n%s\nwant:\n%s", got, want)
	}

	t.Run("values in the Application, applied by the app of apps", func(t *testing.T) {
		single := `# web from the chart repository, its values its own.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-single
  namespace: argocd
spec:
  project: default
  source:
    repoURL: ` + srv.URL + `
    chart: web
    targetRevision: 0.3.0
    helm:
      releaseName: web
      valuesObject:
        replicaCount: 2
  destination:
    server: https://kubernetes.default.svc
    namespace: web-single
`
		writeFiles(t, work, map[string]string{"apps/web-single.yaml": single})
		testrepo.Git(t, work, "add", "-A")
		testrepo.Git(t, work, "commit", "-qm", "web-single")
		testrepo.Git(t, work, "push", "-q", "origin", "main")
		if err := c.CreateNamespace(ctx, "web-single"); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		// The root Application applied web-single, tracking it by annotation.
		root := strings.Replace(readFile(t, work, "bootstrap/root.yaml"), "https://git.example.com/platform/argo-helm.git", "file://"+bare, 1)
		if _, err := c.ApplyYAML(ctx, "", []byte(root)); err != nil {
			t.Fatal(err)
		}
		tracked := strings.Replace(single, "  namespace: argocd\n", "  namespace: argocd\n  annotations:\n    argocd.argoproj.io/tracking-id: root:argoproj.io/Application:argocd/web-single\n", 1)
		if _, err := c.ApplyYAML(ctx, "argocd-controller", []byte(tracked)); err != nil {
			t.Fatal(err)
		}
		applyAs(t, ctx, c, work, "application/argocd/web-single", "argocd-controller", func(u *unstructured.Unstructured) {
			setLabel(u, target.ArgoCDInstanceLabel, "web-single")
		})
		_, stderr, code := pluginAt(t, t.TempDir(), env, kc, "-n", "web-single", "scale", "deploy/web", "--replicas=3")
		if code != 0 {
			t.Fatalf("scale: exit %d\n%s", code, stderr)
		}
		if got := testrepo.Git(t, bare, "diff", "--name-only", "main~1", "main"); got != "apps/web-single.yaml" {
			t.Fatalf("the pushed commit changes %q, want apps/web-single.yaml\n%s", got, stderr)
		}
		if got, want := testrepo.Git(t, bare, "show", "main:apps/web-single.yaml")+"\n", strings.Replace(single, "replicaCount: 2", "replicaCount: 3", 1); got != want {
			t.Errorf("apps/web-single.yaml:\n%s\nwant:\n%s", got, want)
		}
	})
}
