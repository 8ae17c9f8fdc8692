package plugin

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// scriptedEditor makes EDITOR a shell script: body runs with the file as $1, $RUN the number of
// this launch (1, 2, ...) and $LOG a directory where each launch's file is copied as it was
// opened (run1.yaml, ...), so a test can see what the user saw.
type scriptedEditor struct {
	path, log string
}

func newScriptedEditor(t *testing.T, body string) *scriptedEditor {
	t.Helper()
	dir := t.TempDir()
	e := &scriptedEditor{path: filepath.Join(dir, "editor.sh"), log: filepath.Join(dir, "log")}
	if err := os.Mkdir(e.log, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nset -e\nLOG=" + e.log + "\n" +
		`RUN=$(( $(cat "$LOG/count" 2>/dev/null || echo 0) + 1 ))` + "\n" +
		`echo "$RUN" > "$LOG/count"` + "\n" +
		`cp "$1" "$LOG/run$RUN.yaml"` + "\n" + body + "\n"
	if err := os.WriteFile(e.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// use makes this editor the one the command launches.
func (e *scriptedEditor) use(t *testing.T) {
	t.Setenv("KUBE_EDITOR", "")
	t.Setenv("EDITOR", e.path)
}

// runs returns what the editor saw at each launch.
func (e *scriptedEditor) runs(t *testing.T) []string {
	t.Helper()
	var out []string
	for i := 1; ; i++ {
		b, err := os.ReadFile(filepath.Join(e.log, "run"+strconv.Itoa(i)+".yaml"))
		if err != nil {
			return out
		}
		out = append(out, string(b))
	}
}

// renderedReplicas is web's spec.replicas as a target renders it.
func renderedReplicas(t *testing.T, dir, path string) int64 {
	t.Helper()
	r, err := render.Render(dir, path, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	web := r.Find(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "shop", "web")
	if len(web) != 1 {
		t.Fatalf("%d deployments web in %s", len(web), path)
	}
	n, _, _ := unstructured.NestedInt64(web[0].Obj().Object, "spec", "replicas")
	return n
}

// A saved change becomes one commit in the layer that owns the field: staging's replicas: entry.
func TestEditChange(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	head := revParse(t, dir, "HEAD")
	ed := newScriptedEditor(t, `sed -i 's/^  replicas: 1$/  replicas: 3/' "$1"`)
	ed.use(t)
	stdout, stderr, code := gitops(t, "edit", "deploy/web", "--repo", dir, "--path", "overlays/staging")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout != "deployment.apps/web edited\n" {
		t.Errorf("stdout %q", stdout)
	}
	if parent := revParse(t, dir, "HEAD~1"); parent != head {
		t.Fatalf("HEAD~1 is %s, want the previous HEAD %s: one edit, one commit", parent, head)
	}
	if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); len(files) != 1 || files[0] != "overlays/staging/kustomization.yaml" {
		t.Errorf("the commit changes %v, want the staging kustomization", files)
	}
	if n := renderedReplicas(t, dir, "overlays/staging"); n != 3 {
		t.Errorf("staging renders %d replicas, want 3", n)
	}
	runs := ed.runs(t)
	if len(runs) != 1 {
		t.Fatalf("the editor ran %d times, want once", len(runs))
	}
	for _, want := range []string{"# Please edit the object below", dir, "overlays/staging", "kind: Deployment", "name: web"} {
		if !strings.Contains(runs[0], want) {
			t.Errorf("the editor's file does not show %q:\n%s", want, runs[0])
		}
	}
	if strings.Contains(runs[0], "status:") {
		t.Errorf("the editor's file shows status:\n%s", runs[0])
	}
	if st := gitRun(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the worktree is not clean:\n%s", st)
	}
}

// Invalid YAML reopens the editor with the error on top and the user's text kept; the fixed
// text is committed.
func TestEditInvalidThenFixed(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	ed := newScriptedEditor(t, `case $RUN in
1) sed -i 's/^  replicas: 1$/  replicas: 3\n  bad: [unclosed/' "$1" ;;
2) sed -i '/^  bad: \[unclosed$/d' "$1" ;;
esac`)
	ed.use(t)
	stdout, stderr, code := gitops(t, "edit", "deploy/web", "--repo", dir, "--path", "overlays/staging")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	runs := ed.runs(t)
	if len(runs) != 2 {
		t.Fatalf("the editor ran %d times, want twice", len(runs))
	}
	second := runs[1]
	if !strings.HasPrefix(second, "# The edit could not be saved") || !strings.Contains(second, "not valid YAML") {
		t.Errorf("the second launch does not start with the error:\n%s", second)
	}
	if !strings.Contains(second, "  replicas: 3\n") || !strings.Contains(second, "  bad: [unclosed\n") {
		t.Errorf("the second launch lost the user's text:\n%s", second)
	}
	if strings.Contains(runs[0], "could not be saved") {
		t.Errorf("the first launch shows an error:\n%s", runs[0])
	}
	if n := renderedReplicas(t, dir, "overlays/staging"); n != 3 {
		t.Errorf("staging renders %d replicas, want 3", n)
	}
	if n := strings.Count(gitRun(t, dir, "log", "--oneline"), "\n"); n != 2 {
		t.Errorf("%d commits, want the sample's and the edit's", n)
	}
}

// Saving the file as it was opened cancels, as kubectl does; so does an empty file.
func TestEditCancel(t *testing.T) {
	gitEnv(t)
	for name, body := range map[string]string{"unchanged": "true", "emptied": `: > "$1"`} {
		t.Run(name, func(t *testing.T) {
			dir := testrepo.New(t, "kustomize")
			before := snapshot(t, dir)
			newScriptedEditor(t, body).use(t)
			stdout, stderr, code := gitops(t, "edit", "deploy/web", "--repo", dir, "--path", "overlays/staging")
			if code != 0 || stdout != "" || stderr != "Edit cancelled, no changes made.\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and kubectl's \"Edit cancelled, no changes made.\"", code, stdout, stderr)
			}
			assertUnchanged(t, dir, before, "a cancelled edit")
		})
	}
}

// A change the closed loop refuses (staging's layers all reach the canary, which includes
// staging) reopens the editor with the refusal on top; emptying the file then cancels, and
// nothing is written.
func TestEditClosedLoopRefusalReopens(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	withCanary(t, dir)
	before := snapshot(t, dir)
	ed := newScriptedEditor(t, `case $RUN in
1) sed -i 's/^  replicas: 1$/  replicas: 6/' "$1" ;;
*) : > "$1" ;;
esac`)
	ed.use(t)
	stdout, stderr, code := gitops(t, "edit", "deploy/web", "--target", "staging", "--repo", dir)
	if code != 0 || stderr != "Edit cancelled, no changes made.\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	runs := ed.runs(t)
	if len(runs) != 2 {
		t.Fatalf("the editor ran %d times, want twice", len(runs))
	}
	for _, want := range []string{"# The edit could not be saved", "web-canary", "overlays/staging-canary", "spec.replicas: 1 → 6", "  replicas: 6\n"} {
		if !strings.Contains(runs[1], want) {
			t.Errorf("the reopened editor does not show %q:\n%s", want, runs[1])
		}
	}
	assertUnchanged(t, dir, before, "the refused edit")
}

// Ctrl-C while the editor is open: the plugin stops the editor, exits with the shell's code for
// the signal, nothing is written, and the private directory with the editor's file is gone. The
// built binary runs with its own TMPDIR, and an editor that blocks on a FIFO that nobody writes.
func TestEditInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name string
		// group sends the signal to the plugin's process group, as a terminal's Ctrl-C does (the
		// editor gets it too); otherwise to the plugin alone, as `kill -INT` does, and the plugin
		// must stop the editor itself.
		group bool
		sig   syscall.Signal
		code  int
	}{
		{name: "Ctrl-C in the terminal", group: true, sig: syscall.SIGINT, code: 130},
		{name: "SIGINT to the plugin alone", sig: syscall.SIGINT, code: 130},
		{name: "SIGTERM to the plugin alone", sig: syscall.SIGTERM, code: 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gitEnv(t)
			dir := testrepo.New(t, "kustomize")
			before := snapshot(t, dir)
			tmp := t.TempDir()
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ed := newScriptedEditor(t, `echo $$ > "$LOG/pid"; echo "$1" > "$LOG/file"; read line < `+fifo)
			cmd := exec.Command(pluginBin, "edit", "deploy/web", "--repo", dir, "--path", "overlays/staging")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "KUBE_EDITOR=", "EDITOR="+ed.path)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			release := func() {
				// Lets a still-blocked editor go, so that nothing outlives a failed test.
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					_, _ = f.WriteString("\n")
					_ = f.Close()
				}
			}
			defer release()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			deadline := time.Now().Add(time.Minute)
			var opened string
			for opened == "" && time.Now().Before(deadline) {
				// The shell creates the file before it writes the name: an empty file is read again.
				if b, err := os.ReadFile(filepath.Join(ed.log, "file")); err == nil {
					if opened = strings.TrimSpace(string(b)); opened != "" {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if opened == "" {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("the editor never opened\n%s", out.String())
			}
			editorPid := readPid(t, filepath.Join(ed.log, "pid"))
			if !strings.HasPrefix(opened, tmp+string(os.PathSeparator)) {
				t.Errorf("the editor's file %s is not below TMPDIR %s", opened, tmp)
			}
			if fi, err := os.Stat(filepath.Dir(opened)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("the editor's directory: %v, mode %v; want a private 0700 directory", err, fi.Mode().Perm())
			}

			pid := cmd.Process.Pid
			if tc.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
					t.Errorf("the interrupted edit ended with %v, want exit status %d\n%s", err, tc.code, out.String())
				}
			case <-time.After(30 * time.Second):
				release()
				<-done
				t.Fatalf("the plugin did not exit on %v while the editor ran; it waited for the editor to end\n%s", tc.sig, out.String())
			}
			// The editor shares the output and may say something when it gets the signal too,
			// before or after the plugin's last words: its lines (the script names itself) are
			// left out.
			var own []string
			for _, line := range strings.SplitAfter(out.String(), "\n") {
				if !strings.Contains(line, "editor.sh") {
					own = append(own, line)
				}
			}
			if got, want := strings.Join(own, ""), "error: edit interrupted, no changes made\n"; !strings.HasSuffix(got, want) {
				t.Errorf("output %q, want it to end with %q", got, want)
			}
			// The plugin reaped the editor before it exited: no such process any more.
			if err := syscall.Kill(editorPid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the editor (pid %d) outlived the plugin: kill -0 gives %v", editorPid, err)
			}
			if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("TMPDIR holds %v after the interrupt (err %v), want nothing", names, err)
			}
			assertUnchanged(t, dir, before, "the interrupted edit")
		})
	}
}

// readPid reads the process id a script wrote to file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return pid
}
