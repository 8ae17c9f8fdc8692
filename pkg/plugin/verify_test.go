package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// runVerify runs `kubectl gitops verify` in-process with the kubeconfig and returns its exit
// code and output.
func runVerify(t *testing.T, kubeconfig string, args ...string) (int, string, string) {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdVerify(cmdutil.NewFactory(flags), streams)
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

// verify against the test cluster: an applied sample passes; an object the API server refuses
// is reported with its message (exit 1); a target that is not there is an error (exit 2).
func TestE2EVerifyCommand(t *testing.T) {
	c := testcluster.Shared(t)
	testrepo.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("verify-cmd-%d", time.Now().UnixNano()%1e6)
	repo := testrepo.New(t, "kustomize")
	hookReplace(t, repo, "overlays/staging/kustomization.yaml", "namespace: shop", "namespace: "+ns)
	res, err := render.Render(repo, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fluxApply(t, ctx, c, res, "apps-"+ns)

	code, out, errOut := runVerify(t, c.KubeconfigPath, "--repo", repo, "overlays/staging")
	if code != 0 || !strings.HasPrefix(out, "target overlays/staging, context testcluster: 8 objects\n") || !strings.HasSuffix(out, "verify: everything passes\n") {
		t.Fatalf("applied sample: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colors on a buffer:\n%q", out)
	}

	hookReplace(t, repo, "overlays/staging/kustomization.yaml", "count: 1", "count: -1")
	code, out, errOut = runVerify(t, c.KubeconfigPath, "--repo", repo, "overlays/staging")
	if code != 1 || !strings.Contains(out, "  Deployment.apps "+ns+"/web (base/web.yaml)\n    dry-run: Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n") {
		t.Errorf("admission error: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runVerify(t, c.KubeconfigPath, "--repo", repo, "overlays/staging", "-o", "json")
	var rep struct {
		Targets []struct {
			Context string
			Objects []struct {
				Kind, Name, Namespace string
				Findings              []struct{ Check, Message string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || len(rep.Targets) != 1 || len(rep.Targets[0].Objects) != 1 ||
		rep.Targets[0].Objects[0].Findings[0].Check != "dry-run" || rep.Targets[0].Objects[0].Namespace != ns {
		t.Errorf("-o json: exit %d, %v\n%s", code, err, out)
	}

	for _, args := range [][]string{
		{"--repo", repo, "overlays/nowhere"},
		{"--repo", repo, "-o", "yaml"},
		{"--repo", filepath.Join(repo, "no-such-dir")},
	} {
		if code, out, errOut := runVerify(t, c.KubeconfigPath, args...); code != 2 || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("%q: exit %d, want 2\n%s\n%s", args, code, out, errOut)
		}
	}
	if _, _, errOut := runVerify(t, c.KubeconfigPath, "--repo", repo, "overlays/nowhere"); !strings.Contains(errOut, "its targets: overlays/production, overlays/staging") {
		t.Errorf("unknown target: %s", errOut)
	}
}

// verify --offline needs no cluster: it finds a plaintext Secret and an unknown field.
func TestVerifyOfflineCommand(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "kustomize")
	noKubeconfig := filepath.Join(t.TempDir(), "none")
	if code, out, errOut := runVerify(t, noKubeconfig, "--repo", repo, "--offline"); code != 0 || !strings.Contains(out, "ok: renders, every object has a valid schema") {
		t.Fatalf("clean sample: exit %d\n%s\n%s", code, out, errOut)
	}
	hookWrite(t, repo, "overlays/staging/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: in-the-clear\n")
	hookReplace(t, repo, "overlays/staging/web-patch.yaml", "          env:", "          imagePullPolicyy: Always\n          env:")
	code, out, errOut := runVerify(t, noKubeconfig, "--repo", repo, "--offline")
	if code != 1 || strings.Contains(out, "in-the-clear") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"    schema: strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"\n",
		"  overlays/staging/db.yaml:1: stringData.password: ",
		"verify: 2 findings\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
