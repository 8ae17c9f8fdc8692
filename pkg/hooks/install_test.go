package hooks_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/hooks"
)

// fakePlugin puts a kubectl-gitops on PATH that records its arguments and input in dir/calls
// and exits with code.
func fakePlugin(t *testing.T, code string) (record string) {
	t.Helper()
	bin := t.TempDir()
	record = filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\necho \"args: $*\" >>" + record + "\ncat >>" + record + "\nexit " + code + "\n"
	if err := os.WriteFile(filepath.Join(bin, "kubectl-gitops"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return record
}

func runShim(t *testing.T, hook, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(hook, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// An existing hook is kept (renamed, bytes and mode untouched) and chained: both get the
// arguments and the same input. Installing twice changes nothing; uninstalling puts it back.
func TestInstallKeepsAndChainsExistingHook(t *testing.T) {
	testrepo.Env(t)
	ctx := context.Background()
	repo := testrepo.New(t, "plain")
	hooksDir := filepath.Join(repo, ".git", "hooks")
	sideEffect := filepath.Join(t.TempDir(), "own-hook-ran")
	own := "#!/bin/sh\n# the team's own hook\necho \"own: $*\" >" + sideEffect + "\ncat >>" + sideEffect + "\n"
	prePush := filepath.Join(hooksDir, "pre-push")
	if err := os.WriteFile(prePush, []byte(own), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prePush, 0o750); err != nil {
		t.Fatal(err)
	}
	record := fakePlugin(t, "0")

	rep, err := hooks.Install(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if rep.HooksDir != hooksDir || len(rep.Hooks) != 2 || rep.Hooks[1].Action != "installed" || rep.Hooks[1].Kept != prePush+".local" || rep.Hooks[0].Kept != "" {
		t.Fatalf("install report %+v", rep)
	}
	if got := readFile(t, prePush+".local"); got != own || mode(t, prePush+".local").Perm() != 0o750 {
		t.Errorf("kept hook: %q mode %v", got, mode(t, prePush+".local"))
	}
	if !hooks.IsShim([]byte(readFile(t, prePush))) || mode(t, prePush).Perm() != 0o755 {
		t.Errorf("pre-push is not the shim (mode %v)", mode(t, prePush))
	}

	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	input := "refs/heads/main 1111 refs/heads/main 2222\nrefs/tags/v1 3333 refs/tags/v1 0000\n"
	out, code := runShim(t, prePush, input, "origin", "file:///remote.git")
	if code != 0 {
		t.Fatalf("shim exit %d: %s", code, out)
	}
	if got := readFile(t, sideEffect); got != "own: origin file:///remote.git\n"+input {
		t.Errorf("own hook saw %q", got)
	}
	if got := readFile(t, record); got != "args: hook pre-push origin file:///remote.git\n"+input {
		t.Errorf("kubectl-gitops saw %q", got)
	}
	// The input copy is gone.
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary input files left: %v", left)
	}

	shim := readFile(t, prePush)
	rep, err = hooks.Install(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hooks[1].Action != "already installed" || readFile(t, prePush) != shim || readFile(t, prePush+".local") != own {
		t.Errorf("second install: %+v", rep.Hooks)
	}

	rep, err = hooks.Uninstall(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hooks[1].Action != "removed" || rep.Hooks[0].Action != "removed" {
		t.Errorf("uninstall report %+v", rep.Hooks)
	}
	if got := readFile(t, prePush); got != own || mode(t, prePush).Perm() != 0o750 {
		t.Errorf("restored hook: %q mode %v", got, mode(t, prePush))
	}
	for _, p := range []string{prePush + ".local", filepath.Join(hooksDir, "pre-commit")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after uninstall (%v)", p, err)
		}
	}
}

// The own hook's failure fails the hook, and kubectl-gitops does not run; kubectl-gitops's
// failure fails it too.
func TestShimFailures(t *testing.T) {
	testrepo.Env(t)
	ctx := context.Background()
	repo := testrepo.New(t, "plain")
	preCommit := filepath.Join(repo, ".git", "hooks", "pre-commit")
	if err := os.WriteFile(preCommit, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	record := fakePlugin(t, "1")
	if _, err := hooks.Install(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if _, code := runShim(t, preCommit, ""); code != 3 {
		t.Errorf("own hook failing: exit %d, want 3", code)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("kubectl-gitops ran after the own hook failed")
	}
	if err := os.WriteFile(preCommit+".local", []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, code := runShim(t, preCommit, ""); code != 1 {
		t.Errorf("kubectl-gitops failing: exit %d, want 1", code)
	}
	// A kept hook that is not executable is not run, as git would not run it.
	if err := os.Chmod(preCommit+".local", 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runShim(t, preCommit, ""); code != 1 || !strings.Contains(readFile(t, record), "args: hook pre-commit") {
		t.Errorf("exit %d: %s", code, out)
	}

	t.Setenv("PATH", "/nonexistent")
	if out, code := runShim(t, preCommit, ""); code != 1 || !strings.Contains(out, "kubectl-gitops is not on PATH") || !strings.Contains(out, "git commit --no-verify") {
		t.Errorf("without kubectl-gitops: exit %d: %s", code, out)
	}
}

// core.hooksPath decides where the hooks go; a hook there and a .local next to it is refused,
// and a foreign hook is left alone by uninstall.
func TestInstallHooksPath(t *testing.T) {
	testrepo.Env(t)
	ctx := context.Background()
	repo := testrepo.New(t, "plain")
	testrepo.Git(t, repo, "config", "core.hooksPath", "ci/hooks")
	rep, err := hooks.Install(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(repo, "ci", "hooks")
	if rep.HooksDir != want {
		t.Fatalf("hooks dir %s, want %s", rep.HooksDir, want)
	}
	for _, n := range hooks.Names {
		if !hooks.IsShim([]byte(readFile(t, filepath.Join(want, n)))) {
			t.Errorf("%s not installed in core.hooksPath", n)
		}
	}
	if _, err := hooks.Uninstall(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(want); len(entries) != 0 {
		t.Errorf("left in the hooks dir: %v", entries)
	}

	foreign := filepath.Join(want, "pre-push")
	for _, p := range []string{foreign, foreign + ".local"} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hooks.Install(ctx, repo); err == nil || !strings.Contains(err.Error(), "move one of them away") {
		t.Errorf("install next to pre-push and pre-push.local: %v", err)
	}
	rep, err = hooks.Uninstall(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hooks[1].Action != "not installed" || readFile(t, foreign) != "#!/bin/sh\n" || readFile(t, foreign+".local") != "#!/bin/sh\n" {
		t.Errorf("uninstall touched a foreign hook: %+v", rep.Hooks)
	}
}

func TestInstallPreCommitConfig(t *testing.T) {
	dir := t.TempDir()
	p, written, listed, err := hooks.InstallPreCommitConfig(dir, "v1.2.3")
	if err != nil || !written || !listed {
		t.Fatalf("first: %v %v %v", written, listed, err)
	}
	got := readFile(t, p)
	for _, want := range []string{"repo: " + hooks.ProjectURL, "rev: v1.2.3", "id: kubectl-gitops-pre-commit", "id: kubectl-gitops-pre-push", "default_install_hook_types: [pre-commit, pre-push]"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", p, want, got)
		}
	}
	if _, written, listed, err = hooks.InstallPreCommitConfig(dir, "v1.2.3"); err != nil || written || !listed {
		t.Errorf("again: %v %v %v", written, listed, err)
	}
	other := "repos: []\n"
	if err := os.WriteFile(p, []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, written, listed, err = hooks.InstallPreCommitConfig(dir, "v1.2.3"); err != nil || written || listed || readFile(t, p) != other {
		t.Errorf("existing file: %v %v %v", written, listed, err)
	}
}

// The project's .pre-commit-hooks.yaml and its shims agree with what the hooks expect.
func TestProjectHookFiles(t *testing.T) {
	root := testrepo.Root()
	var defs []struct {
		ID            string   `json:"id"`
		Entry         string   `json:"entry"`
		Language      string   `json:"language"`
		Stages        []string `json:"stages"`
		PassFilenames *bool    `json:"pass_filenames"`
		AlwaysRun     bool     `json:"always_run"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(root, ".pre-commit-hooks.yaml"))), &defs); err != nil || len(defs) != 2 {
		t.Fatalf(".pre-commit-hooks.yaml: %v (%d hooks)", err, len(defs))
	}
	for _, n := range hooks.Names {
		shim := filepath.Join(root, "hooks", n)
		if mode(t, shim).Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", shim)
		}
		if got := readFile(t, shim); !strings.HasPrefix(got, "#!/bin/sh\n") || !strings.Contains(got, `exec kubectl-gitops hook `+n+` "$@"`) {
			t.Errorf("%s does not exec kubectl-gitops hook %s", shim, n)
		}
		if out, err := exec.Command("sh", "-n", shim).CombinedOutput(); err != nil {
			t.Errorf("%s: %v %s", shim, err, out)
		}
	}
	for i, n := range hooks.Names {
		d := defs[i]
		if d.ID != "kubectl-gitops-"+n || d.Entry != "hooks/"+n || d.Language != "script" || len(d.Stages) != 1 || d.Stages[0] != n ||
			d.PassFilenames == nil || *d.PassFilenames || d.AlwaysRun != (n == "pre-push") {
			t.Errorf(".pre-commit-hooks.yaml entry %d: %+v", i, d)
		}
	}
	for _, n := range hooks.Names {
		if out, err := exec.Command("sh", "-n", "-c", string(hooks.Shim(n))).CombinedOutput(); err != nil {
			t.Errorf("installed %s shim: %v %s", n, err, out)
		}
	}
}
