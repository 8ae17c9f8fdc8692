package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// captureBenchKinds are the objects of BenchmarkCaptureNamespace200's namespace: how many of
// each kind, 200 in all. Secrets are among them, so the capture encrypts (sops, age).
var captureBenchKinds = []struct {
	kind  string
	count int
}{
	{"ConfigMap", 40}, {"Service", 40}, {"Deployment", 40}, {"Secret", 20},
	{"ServiceAccount", 20}, {"Role", 20}, {"RoleBinding", 20},
}

// BenchmarkCaptureNamespace200 captures a namespace of 200 objects of seven kinds (ConfigMaps,
// Services, Deployments, Secrets, ServiceAccounts, Roles, RoleBindings) on the real test API
// server, `kubectl-gitops capture --all -n NS` (the binary the package's TestMain builds, run
// as a user runs it) into a fresh repository each run: discovery and listing of every
// namespaced type, a server-side dry-run per object to find the defaults, sops encryption of
// the Secrets, render, and one commit of 200 files.
//
// The anchor, in the same run against the same namespace: `kubectl get TYPES -n NS -o yaml`
// with bin/testbin/kubectl, TYPES being every namespaced type that can be listed (as
// `kubectl api-resources --verbs=list --namespaced -o name` prints them, outside the timing),
// written to a pipe. That is the least a person does to dump a namespace: reading the same
// objects, without cleaning, encrypting or committing them. Both read discovery from the same
// warm cache. capture-per-kubectl-get-x is their ratio; *-cpu-ms are the processes' CPU time
// (user and system), which a machine shared with other work inflates less than wall time, and
// *-server-cpu-ms the test control plane's (its API server and etcd, on the same cores) while
// each ran.
//
// It needs the control plane: it skips unless $KUBECTL_GITOPS_E2E is set (make bench).
// KUBECTL_GITOPS_BENCH_CAPTURE_PROFILE=FILE also runs one capture in this process, after the
// timed ones, and writes its CPU profile to FILE (go tool pprof -top -cum plugin.test FILE).
func BenchmarkCaptureNamespace200(b *testing.B) {
	if os.Getenv(testcluster.E2EEnv) == "" {
		b.Skipf("needs the test control plane: set %s=1 (make bench)", testcluster.E2EEnv)
	}
	c := testcluster.Shared(b)
	benchEnv(b)
	kubectl := benchKubectl(b)
	ctx := b.Context()
	ns := "bench-capture-" + utilrand.String(6)
	if err := c.CreateNamespace(ctx, ns); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	manifest, want := captureBenchObjects(ns)
	if _, err := c.ApplyYAML(ctx, "kubectl", manifest); err != nil {
		b.Fatal(err)
	}
	b.Logf("applied %d objects in %s", len(want), time.Since(start).Round(time.Millisecond))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	kc := "--kubeconfig=" + c.KubeconfigPath
	types, err := exec.Command(kubectl, kc, "api-resources", "--verbs=list", "--namespaced", "-o", "name").Output()
	if err != nil {
		b.Fatalf("kubectl api-resources: %v", err)
	}
	typeList := strings.Join(strings.Fields(string(types)), ",")

	var capture, get samples
	var captureServer, getServer []float64
	for b.Loop() {
		var listed bytes.Buffer
		before := controlPlaneCPU()
		get.add(runTo(b, &listed, time.Minute, "", kubectl, kc, "get", typeList, "-n", ns, "-o", "yaml"))
		getServer = append(getServer, controlPlaneCPU()-before)
		expectListed(b, listed.Bytes(), want)

		repo := captureBenchRepo(b, id.Recipient().String())
		before = controlPlaneCPU()
		capture.add(runTo(b, nil, 5*time.Minute, repo, pluginBin, kc, "capture", "--all", "-n", ns,
			"--repo", repo, "--path", "captured", "--secrets", "sops"))
		captureServer = append(captureServer, controlPlaneCPU()-before)
		expectCaptured(b, repo, ns, len(want))
	}
	if f := os.Getenv("KUBECTL_GITOPS_BENCH_CAPTURE_PROFILE"); f != "" {
		captureProfile(b, f, kc, ns, captureBenchRepo(b, id.Recipient().String()), len(want))
	}
	b.ReportMetric(capture.median(), "capture-ms")
	b.ReportMetric(get.median(), "kubectl-get-ms")
	b.ReportMetric(capture.median()/get.median(), "capture-per-kubectl-get-x")
	b.ReportMetric(capture.cpuMedian(), "capture-cpu-ms")
	b.ReportMetric(get.cpuMedian(), "kubectl-get-cpu-ms")
	b.ReportMetric(median(captureServer), "capture-server-cpu-ms")
	b.ReportMetric(median(getServer), "kubectl-get-server-cpu-ms")
	b.ReportMetric(float64(len(want)), "objects")
	b.Logf("%d objects: capture --all %s ms (CPU %.0f ms, server %.0f ms), kubectl get -o yaml %s ms (CPU %.0f ms, server %.0f ms); capture = %.1fx kubectl get",
		len(want), capture.String(), capture.cpuMedian(), median(captureServer), get.String(), get.cpuMedian(), median(getServer), capture.median()/get.median())
}

// captureProfile runs one capture of namespace ns into repo in this process, under a CPU
// profile written to file.
func captureProfile(b *testing.B, file, kc, ns, repo string, objects int) {
	b.Helper()
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		b.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr})
	root.SetArgs([]string{kc, "capture", "--all", "-n", ns, "--repo", repo, "--path", "captured", "--secrets", "sops"})
	err = root.ExecuteContext(context.Background())
	pprof.StopCPUProfile()
	if cerr := out.Close(); cerr != nil {
		b.Error(cerr)
	}
	if err != nil {
		b.Fatalf("capture: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	expectCaptured(b, repo, ns, objects)
}

// controlPlaneCPU is the CPU time, in milliseconds, of this process' running children: the
// test control plane's servers (a command run by runTo has been waited for, and is not one).
// Zero where /proc does not tell.
func controlPlaneCPU() float64 {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	ticks := 0.0
	for _, t := range tasks {
		children, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(children)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			i := bytes.LastIndexByte(stat, ')')
			if err != nil || i < 0 {
				continue
			}
			// After the command's name: state is field 3, utime 14 and stime 15.
			f := strings.Fields(string(stat[i+1:]))
			if len(f) < 13 {
				continue
			}
			for _, v := range f[11:13] {
				n, _ := strconv.ParseFloat(v, 64)
				ticks += n
			}
		}
	}
	// Linux reports them in clock ticks of 1/100 s (USER_HZ).
	return ticks * 10
}

// captureBenchObjects is the namespace's manifest and the Kind/name of each of its objects.
func captureBenchObjects(ns string) ([]byte, map[string]bool) {
	var m strings.Builder
	names := map[string]bool{}
	for _, k := range captureBenchKinds {
		for i := range k.count {
			name := fmt.Sprintf("%s-%03d", strings.ToLower(k.kind), i)
			names[k.kind+"/"+name] = true
			app := fmt.Sprintf("app-%03d", i)
			fmt.Fprintf(&m, "---\nkind: %s\nmetadata: {name: %s, namespace: %s, labels: {app: %s}}\n", k.kind, name, ns, app)
			switch k.kind {
			case "ConfigMap":
				fmt.Fprintf(&m, "apiVersion: v1\ndata: {LOG_LEVEL: info, INDEX: \"%d\"}\n", i)
			case "Service":
				fmt.Fprintf(&m, "apiVersion: v1\nspec: {selector: {app: %s}, ports: [{name: http, port: 80, targetPort: %d}]}\n", app, 8000+i)
			case "Deployment":
				fmt.Fprintf(&m, `apiVersion: apps/v1
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      serviceAccountName: serviceaccount-%03d
      containers:
        - name: app
          image: registry.example.com/shop/%s:1.%d.0
          ports: [{name: http, containerPort: %d}]
          env: [{name: CONFIG, value: configmap-%03d}]
          resources: {requests: {cpu: 100m, memory: 128Mi}}
`, 1+i%3, app, app, i%20, app, i%7, 8000+i, i)
			case "Secret":
				fmt.Fprintf(&m, "apiVersion: v1\nstringData: {username: app-%03d, password: bench-password-%03d}\n", i, i)
			case "ServiceAccount":
				m.WriteString("apiVersion: v1\n")
			case "Role":
				m.WriteString("apiVersion: rbac.authorization.k8s.io/v1\nrules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, watch]}]\n")
			case "RoleBinding":
				fmt.Fprintf(&m, "apiVersion: rbac.authorization.k8s.io/v1\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-%03d}\nsubjects: [{kind: ServiceAccount, name: serviceaccount-%03d, namespace: %s}]\n", i, i, ns)
			}
		}
	}
	return []byte(m.String()), names
}

// captureBenchRepo is a new repository with an empty target, captured/, and sops creation
// rules for the age recipient.
func captureBenchRepo(b *testing.B, recipient string) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "repo")
	files := map[string]string{
		".sops.yaml":                  "creation_rules:\n  - path_regex: ^captured/.*\\.yaml$\n    age: " + recipient + "\n",
		"captured/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchGit(b, dir, "init", "-q", "-b", "main")
	benchGit(b, dir, "add", "-A")
	benchGit(b, dir, "commit", "-q", "-m", "an empty target for captures")
	return dir
}

func benchGit(b *testing.B, dir string, args ...string) string {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// expectListed checks that kubectl's list holds every object of the namespace.
func expectListed(b *testing.B, listed []byte, want map[string]bool) {
	b.Helper()
	var list struct {
		Items []struct {
			Kind     string
			Metadata struct{ Name string }
		}
	}
	if err := yaml.Unmarshal(listed, &list); err != nil {
		b.Fatalf("kubectl get -o yaml: %v", err)
	}
	found := 0
	for _, it := range list.Items {
		if want[it.Kind+"/"+it.Metadata.Name] {
			found++
		}
	}
	if found != len(want) {
		b.Fatalf("kubectl get listed %d of the %d objects (%d items in all)", found, len(want), len(list.Items))
	}
}

// expectCaptured checks the capture's commit: one file per object and the kustomization, the
// Secrets encrypted.
func expectCaptured(b *testing.B, repo, ns string, objects int) {
	b.Helper()
	if subject, want := benchGit(b, repo, "log", "-1", "--format=%s"), fmt.Sprintf("capture %d objects from namespace %s (captured)", objects, ns); subject != want {
		b.Fatalf("the commit's subject is %q, want %q", subject, want)
	}
	files := strings.Split(benchGit(b, repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"), "\n")
	if len(files) != objects+1 {
		b.Fatalf("the commit changed %d files, want %d and the kustomization", len(files), objects)
	}
	secret, err := os.ReadFile(filepath.Join(repo, "captured", ns, "secret-secret-000.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(secret, []byte("ENC[AES256_GCM,")) {
		b.Fatalf("the captured Secret is not encrypted:\n%s", secret)
	}
	for _, form := range plaintextForms("bench-password-000") {
		if bytes.Contains(secret, []byte(form)) {
			b.Fatalf("the captured Secret holds its password in plaintext")
		}
	}
}
