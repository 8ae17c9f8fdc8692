package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

func runHooksCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdHooks(cmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
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

// --pre-commit-framework writes .pre-commit-config.yaml when there is none and leaves the
// hooks directory alone; with one that does not list the hooks, it prints the entry to add.
func TestHooksInstallPreCommitFramework(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	code, out, errOut := runHooksCmd(t, "install", "--repo", repo, "--pre-commit-framework")
	if code != 0 || out != "" || !strings.Contains(errOut, "wrote "+filepath.Join(repo, ".pre-commit-config.yaml")) || !strings.Contains(errOut, "pre-commit install") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	cfg, err := os.ReadFile(filepath.Join(repo, ".pre-commit-config.yaml"))
	if err != nil || !strings.Contains(string(cfg), "id: kubectl-gitops-pre-push") || !strings.Contains(string(cfg), "rev: ") {
		t.Errorf(".pre-commit-config.yaml: %v\n%s", err, cfg)
	}
	if _, err := os.Stat(filepath.Join(repo, ".git", "hooks", "pre-push")); !os.IsNotExist(err) {
		t.Errorf("a hook was written: %v", err)
	}
	if code, _, errOut := runHooksCmd(t, "install", "--repo", repo, "--pre-commit-framework"); code != 0 || !strings.Contains(errOut, "already runs the kubectl-gitops hooks") {
		t.Errorf("again: exit %d\n%s", code, errOut)
	}

	if err := os.WriteFile(filepath.Join(repo, ".pre-commit-config.yaml"), []byte("repos: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runHooksCmd(t, "install", "--repo", repo, "--pre-commit-framework")
	if code != 0 || !strings.HasPrefix(out, "  - repo: https://github.com/kubectl-gitops/kubectl-gitops\n") || !strings.Contains(errOut, "add this entry under its repos:") {
		t.Errorf("existing config: exit %d\n%s\n%s", code, out, errOut)
	}

	if code, _, errOut := runHooksCmd(t, "install", "--repo", t.TempDir()); code == 0 || !strings.Contains(errOut, "not a git repository") {
		t.Errorf("outside a repository: exit %d\n%s", code, errOut)
	}
}
