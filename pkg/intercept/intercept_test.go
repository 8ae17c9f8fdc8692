package intercept

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFindsTheCommandPastGlobalFlags(t *testing.T) {
	for _, tc := range []struct {
		args      string
		verb, sub string
		changes   bool
	}{
		{"scale deploy/web --replicas=3", "scale", "", true},
		{"-n shop --context prod scale deploy web --replicas 3", "scale", "", true},
		{"--kubeconfig=/k -v 6 edit deploy/web", "edit", "", true},
		{"--namespace shop set image deploy/web web=x:1", "set", "image", true},
		{"set subject rolebinding/x --user=u", "set", "subject", true},
		{"rollout undo deploy/web --to-revision=2", "rollout", "undo", true},
		{"rollout status deploy/web", "rollout", "status", false},
		{"rollout restart deploy/web", "rollout", "restart", false},
		{"apply -f web.yaml", "apply", "", true},
		{"apply view-last-applied deploy/web", "apply", "view-last-applied", false},
		{"delete -l app=web deploy", "delete", "", true},
		{"label deploy/web a=b", "label", "", true},
		{"annotate deploy/web a=b", "annotate", "", true},
		{"patch deploy/web -p {}", "patch", "", true},
		{"get deploy", "get", "", false},
		{"gitops scale deploy/web --replicas=3", "gitops", "", false},
		{"--help", "", "", false},
		{"", "", "", false},
	} {
		l, err := Parse(strings.Fields(tc.args))
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if l.Verb != tc.verb || l.Sub != tc.sub || l.Changes() != tc.changes {
			t.Errorf("%q: verb %q sub %q changes %v, want %q %q %v", tc.args, l.Verb, l.Sub, l.Changes(), tc.verb, tc.sub, tc.changes)
		}
	}
}

func TestParseTakesGitopsFlagOut(t *testing.T) {
	for _, tc := range []struct {
		args []string
		mode Mode
		rest []string
	}{
		{[]string{"scale", "--gitops=off", "deploy/web", "--replicas=3"}, Off, []string{"scale", "deploy/web", "--replicas=3"}},
		{[]string{"--gitops", "on", "scale", "deploy/web"}, On, []string{"scale", "deploy/web"}},
		{[]string{"scale", "deploy/web", "--gitops=auto"}, Auto, []string{"scale", "deploy/web"}},
		// After --, arguments belong to the command (kubectl exec ... -- cmd --gitops=off).
		{[]string{"exec", "pod", "--", "echo", "--gitops=off"}, Auto, []string{"exec", "pod", "--", "echo", "--gitops=off"}},
		{[]string{"annotate", "deploy/web", "note=two words"}, Auto, []string{"annotate", "deploy/web", "note=two words"}},
	} {
		l, err := Parse(tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if l.Mode != tc.mode || !reflect.DeepEqual(l.Args, tc.rest) {
			t.Errorf("%q: mode %v args %q, want %v %q", tc.args, l.Mode, l.Args, tc.mode, tc.rest)
		}
	}
	for _, bad := range [][]string{{"scale", "--gitops=maybe"}, {"scale", "--gitops"}} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBypassed(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "off": false, "1": true, "true": true, "yes": true} {
		if got := Bypassed(func(string) string { return v }); got != want {
			t.Errorf("%s=%q: bypassed %v, want %v", BypassEnv, v, got, want)
		}
	}
}

func TestManager(t *testing.T) {
	noApp := func(string, string) bool { return false }
	app := func(ns, name string) bool { return ns == "argocd" && name == "shop" }
	for _, tc := range []struct {
		labels, annotations map[string]string
		app                 func(string, string) bool
		want                string
	}{
		{map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, nil, noApp, "Flux Kustomization flux-system/apps"},
		{map[string]string{"helm.toolkit.fluxcd.io/name": "podinfo", "helm.toolkit.fluxcd.io/namespace": "podinfo"}, nil, noApp, "Flux HelmRelease podinfo/podinfo"},
		{nil, map[string]string{"argocd.argoproj.io/tracking-id": "shop-staging:apps/Deployment:shop/web"}, noApp, "Argo CD Application shop-staging"},
		{map[string]string{"app.kubernetes.io/instance": "shop"}, nil, app, "Argo CD Application argocd/shop"},
		// A Helm chart's instance label, no Application: not managed.
		{map[string]string{"app.kubernetes.io/instance": "my-release"}, nil, app, ""},
		{map[string]string{"app": "web"}, nil, app, ""},
	} {
		if got := Manager(tc.labels, tc.annotations, tc.app); got != tc.want {
			t.Errorf("%v %v: %q, want %q", tc.labels, tc.annotations, got, tc.want)
		}
	}
}

// The shell functions parse in their shells, and pass arguments through as the shell split them.
func TestScripts(t *testing.T) {
	if _, err := Script("tcsh"); err == nil {
		t.Error("tcsh: no error")
	}
	for _, shell := range Shells {
		script, err := Script(shell)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(script, "__intercept") || !strings.Contains(script, BypassEnv) {
			t.Errorf("%s: the function does not call __intercept or read %s:\n%s", shell, BypassEnv, script)
		}
		sh, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s is not installed: its syntax is not checked", shell)
			continue
		}
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
		// A fake kubectl-gitops and kubectl print their arguments, one per line.
		bin := t.TempDir()
		for _, name := range []string{"kubectl-gitops", "kubectl"} {
			fake := "#!/bin/sh\necho " + name + "\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n"
			if err := os.WriteFile(filepath.Join(bin, name), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		run := func(bypass string) string {
			cmd := exec.Command(sh, "-c", script+"\nkubectl annotate deploy/web 'note=two  words' \"it's\" ''")
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), BypassEnv+"="+bypass)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", shell, err, out)
			}
			return string(out)
		}
		if got, want := run(""), "kubectl-gitops\n[__intercept]\n[--]\n[annotate]\n[deploy/web]\n[note=two  words]\n[it's]\n[]\n"; got != want {
			t.Errorf("%s: the function ran\n%s\nwant\n%s", shell, got, want)
		}
		if got, want := run("1"), "kubectl\n[annotate]\n[deploy/web]\n[note=two  words]\n[it's]\n[]\n"; got != want {
			t.Errorf("%s with %s=1: the function ran\n%s\nwant\n%s", shell, BypassEnv, got, want)
		}
	}
}
