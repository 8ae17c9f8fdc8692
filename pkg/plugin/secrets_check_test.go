package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
)

func runSecretsCheck(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdSecretsCheck(cmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
	cmd.SetArgs(append(args, "--repo", dir))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	code := 0
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		code = ReportError(&errOut, cmd, err)
	}
	return code, out.String(), errOut.String()
}

func writeRepoFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func corpusFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testrepo.Root(), "testdata", "secrets", "guard", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const checkConfig = "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\nguard:\n  allow:\n"

// --staged reads guard.allow from the index, as the pre-commit hook does, whatever the work
// tree's configuration says; without --staged, the work tree's applies to the work tree.
func TestSecretsCheckStagedAllowFromIndex(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	allowKeys := checkConfig + "    - path: \"test/keys/*.pem\"\n      reason: test-only key\n"
	writeRepoFile(t, repo, ".kubectl-gitops.yaml", allowKeys)
	testrepo.Git(t, repo, "add", "-A")
	testrepo.Git(t, repo, "commit", "-q", "-m", "allow test keys")
	writeRepoFile(t, repo, "test/keys/ec.pem", corpusFile(t, "fail-ec-private-key.pem"))
	testrepo.Git(t, repo, "add", "-A")
	// The work tree drops the entry without staging it: the index still allows the key.
	writeRepoFile(t, repo, ".kubectl-gitops.yaml", checkConfig+"    - path: \"none/*\"\n      reason: none\n")
	if code, out, errOut := runSecretsCheck(t, repo, "--staged", "--verbose"); code != 0 || !strings.Contains(errOut, "test/keys/ec.pem: allowed: test-only key") {
		t.Errorf("the index's entry: exit %d\n%s%s", code, out, errOut)
	}
	// The work tree's configuration checks the work tree.
	if code, out, _ := runSecretsCheck(t, repo, filepath.Join(repo, "test")); code != 1 || !strings.Contains(out, "ec.pem: line 1: PEM private key (EC)") {
		t.Errorf("paths: exit %d\n%s", code, out)
	}
	// Staged, the dropped entry allows nothing.
	testrepo.Git(t, repo, "add", ".kubectl-gitops.yaml")
	code, out, errOut := runSecretsCheck(t, repo, "--staged")
	if code != 1 || out != "test/keys/ec.pem: line 1: PEM private key (EC)\n" || !strings.Contains(errOut, "refused: 1 finding") {
		t.Errorf("the entry dropped in the index: exit %d\n%s%s", code, out, errOut)
	}
}

// An allow entry staged with the plaintext it allows is named on standard error, and the
// files it would allow are refused, in text and in JSON.
func TestSecretsCheckStagedNewAllowEntry(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	writeRepoFile(t, repo, ".kubectl-gitops.yaml", checkConfig+"    - path: \"**\"\n      reason: everything\n")
	writeRepoFile(t, repo, "apps/db.yaml", corpusFile(t, "fail-stringdata-plaintext.yaml"))
	testrepo.Git(t, repo, "add", "-A")
	code, out, errOut := runSecretsCheck(t, repo, "--staged")
	if code != 1 || !strings.Contains(out, `apps/db.yaml:1: stringData.DATABASE_URL: value is not encrypted: the Secret has no sops metadata; only guard.allow entry "**", added in the same commit, lets this file through`) ||
		!strings.Contains(errOut, `.kubectl-gitops.yaml: guard.allow entry "**" (everything) is added in this commit; it newly allows: .kubectl-gitops.yaml, apps/db.yaml`) {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runSecretsCheck(t, repo, "--staged", "-o", "json")
	var rep guard.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || len(rep.AllowChanges) != 1 || rep.AllowChanges[0].Entry != "**" || len(rep.Findings) == 0 {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}
}

// A symbolic link staged as a plaintext file (git status T) is checked.
func TestSecretsCheckStagedTypeChange(t *testing.T) {
	testrepo.Env(t)
	repo := testrepo.New(t, "plain")
	writeRepoFile(t, repo, "secrets/db.enc.yaml", corpusFile(t, "pass-sops-age.yaml"))
	if err := os.Symlink("secrets/db.enc.yaml", filepath.Join(repo, "db.yaml")); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, repo, "add", "-A")
	testrepo.Git(t, repo, "commit", "-q", "-m", "link")
	if err := os.Remove(filepath.Join(repo, "db.yaml")); err != nil {
		t.Fatal(err)
	}
	writeRepoFile(t, repo, "db.yaml", corpusFile(t, "fail-stringdata-plaintext.yaml"))
	testrepo.Git(t, repo, "add", "db.yaml")
	if code, out, errOut := runSecretsCheck(t, repo, "--staged"); code != 1 || !strings.HasPrefix(out, "db.yaml:1: stringData.") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
