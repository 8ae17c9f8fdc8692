package binenc

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestBuildKey: the key changes with every part of the build that can change what a memo holds,
// and with the executable only for a build that does not name its code.
func TestBuildKey(t *testing.T) {
	release := func() *debug.BuildInfo {
		return &debug.BuildInfo{
			GoVersion: "go1.26.2",
			Path:      "github.com/kubectl-gitops/kubectl-gitops/cmd/kubectl-gitops",
			Main:      debug.Module{Path: "github.com/kubectl-gitops/kubectl-gitops", Version: "v0.3.0"},
			Deps: []*debug.Module{
				{Path: "sigs.k8s.io/kustomize/api", Version: "v0.21.1", Sum: "h1:a"},
				{Path: "sigs.k8s.io/kustomize/kyaml", Version: "v0.21.1", Sum: "h1:b"},
			},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}},
		}
	}
	exe := func(s string) func() string { return func() string { return s } }
	base := buildKey(release(), exe("binary 1"))
	if base != buildKey(release(), exe("binary 2")) {
		t.Error("a release build's key depends on its executable")
	}
	changes := map[string]func(*debug.BuildInfo){
		"kustomize api upgraded": func(bi *debug.BuildInfo) { bi.Deps[0].Version = "v0.22.0" },
		"kyaml replaced": func(bi *debug.BuildInfo) {
			bi.Deps[1].Replace = &debug.Module{Path: "../kyaml", Version: "(devel)"}
		},
		"a module added": func(bi *debug.BuildInfo) {
			bi.Deps = append(bi.Deps, &debug.Module{Path: "sigs.k8s.io/yaml", Version: "v1.6.0"})
		},
		"another revision": func(bi *debug.BuildInfo) { bi.Settings[0].Value = "def" },
		"another version":  func(bi *debug.BuildInfo) { bi.Main.Version = "v0.3.1" },
		"another Go":       func(bi *debug.BuildInfo) { bi.GoVersion = "go1.26.3" },
		"another build option": func(bi *debug.BuildInfo) {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "-tags", Value: "x"})
		},
	}
	for name, change := range changes {
		bi := release()
		change(bi)
		if buildKey(bi, exe("binary 1")) == base {
			t.Errorf("%s: same key", name)
		}
	}
	dev := release()
	dev.Settings[1].Value = "true"
	if buildKey(dev, exe("binary 1")) == buildKey(dev, exe("binary 2")) {
		t.Error("a build of a modified tree does not key by its executable")
	}
	test := &debug.BuildInfo{Main: debug.Module{Path: "github.com/kubectl-gitops/kubectl-gitops", Version: "(devel)"}}
	if buildKey(test, exe("binary 1")) == buildKey(test, exe("binary 2")) {
		t.Error("an unversioned build does not key by its executable")
	}
	if buildKey(nil, exe("binary 1")) == buildKey(nil, exe("binary 2")) {
		t.Error("a build without build information does not key by its executable")
	}
	if f := Format("memo 1"); f != Format("memo 1") || !strings.HasPrefix(f, "memo 1; build ") || f == Format("memo 2") {
		t.Errorf("Format: %q", f)
	}
}
