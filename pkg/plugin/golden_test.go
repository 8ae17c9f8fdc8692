package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixedDate is the author and committer date of every commit these tests make, git's and the
// plugin's, so that commit ids are the same on every run.
const fixedDate = "@1717243200 +0000"

// gitEnv isolates git (testrepo.Env) and fixes the clock.
func gitEnv(t *testing.T) {
	t.Helper()
	testrepo.Env(t)
	t.Setenv("GIT_AUTHOR_DATE", fixedDate)
	t.Setenv("GIT_COMMITTER_DATE", fixedDate)
}

// gitops runs the command tree in-process as main does and returns what it printed and its
// exit code.
func gitops(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewRootCmd(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = ReportError(errOut, root, err)
	}
	return out.String(), errOut.String(), code
}

// gitRun runs git in dir and returns its output untrimmed; a failure fails the test.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

func revParse(t *testing.T, dir, rev string) string {
	t.Helper()
	return strings.TrimSpace(gitRun(t, dir, "rev-parse", rev))
}

// writeFiles writes repository-relative files into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// commitFiles writes files into the repository at dir and commits them with git.
func commitFiles(t *testing.T, dir, msg string, files map[string]string) {
	t.Helper()
	writeFiles(t, dir, files)
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", msg)
}

// repoState is everything of a repository a command may change: HEAD and its branch, the
// index, the status, the loose objects and every file of the working tree.
type repoState struct {
	Head, Branch, Index, Status, Objects string
	Files                                map[string]string
}

func snapshot(t *testing.T, dir string) repoState {
	t.Helper()
	s := repoState{
		Head:    revParse(t, dir, "HEAD"),
		Branch:  gitRun(t, dir, "symbolic-ref", "HEAD"),
		Index:   gitRun(t, dir, "ls-files", "--stage"),
		Status:  gitRun(t, dir, "status", "--porcelain=v1", "--untracked-files=all"),
		Objects: gitRun(t, dir, "count-objects"),
		Files:   map[string]string{},
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		s.Files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertUnchanged fails unless the repository is exactly as in before.
func assertUnchanged(t *testing.T, dir string, before repoState, what string) {
	t.Helper()
	after := snapshot(t, dir)
	if reflect.DeepEqual(before, after) {
		return
	}
	var diffs []string
	if before.Head != after.Head || before.Branch != after.Branch {
		diffs = append(diffs, fmt.Sprintf("HEAD %s %s -> %s %s", strings.TrimSpace(before.Branch), before.Head, strings.TrimSpace(after.Branch), after.Head))
	}
	if before.Index != after.Index {
		diffs = append(diffs, "index:\n"+lineDiff(before.Index, after.Index))
	}
	if before.Status != after.Status {
		diffs = append(diffs, "status:\n"+lineDiff(before.Status, after.Status))
	}
	if before.Objects != after.Objects {
		diffs = append(diffs, fmt.Sprintf("objects: %q -> %q", before.Objects, after.Objects))
	}
	for _, p := range unionKeys(before.Files, after.Files) {
		if before.Files[p] != after.Files[p] {
			diffs = append(diffs, "file "+p+":\n"+lineDiff(before.Files[p], after.Files[p]))
		}
	}
	t.Errorf("%s changed the repository:\n%s", what, strings.Join(diffs, "\n"))
}

func unionKeys(a, b map[string]string) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func lineDiff(a, b string) string {
	s, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: "before", ToFile: "after", Context: 2,
	})
	return s
}

// renderCache holds renderTargets' results by the tree they were rendered from: the cases of a
// sample start from the same tree.
var renderCache = map[string]map[string]*render.Result{}

// renderTargetsOfTree is renderTargets for a clean worktree, cached by HEAD's tree.
func renderTargetsOfTree(t *testing.T, dir string) map[string]*render.Result {
	t.Helper()
	tree := revParse(t, dir, "HEAD^{tree}")
	if r, ok := renderCache[tree]; ok {
		return r
	}
	r := renderTargets(t, dir)
	renderCache[tree] = r
	return r
}

// renderTargets renders every target of the repository, as the closed loop knows them.
func renderTargets(t *testing.T, dir string) map[string]*render.Result {
	t.Helper()
	ts, err := target.Discover(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*render.Result{}
	for _, tt := range ts {
		r, err := render.Render(dir, tt.Path, render.Options{})
		if err != nil {
			t.Fatalf("render %s: %v", tt.Path, err)
		}
		out[tt.Path] = r
	}
	return out
}

func objectYAML(t *testing.T, r *render.Result) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range r.Objects {
		b, err := yaml.Marshal(o.Obj().Object)
		if err != nil {
			t.Fatal(err)
		}
		out[o.ID.String()] = string(b)
	}
	return out
}

// assertRendersUnchanged fails unless every target renders byte for byte as before, except the
// objects of changed (render.ObjectID strings) in target tgt, which must have changed. It returns
// those objects as they render now.
func assertRendersUnchanged(t *testing.T, before, after map[string]*render.Result, tgt string, changed ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	if !reflect.DeepEqual(sortedKeys(before), sortedKeys(after)) {
		t.Errorf("targets changed: %v -> %v", sortedKeys(before), sortedKeys(after))
	}
	if _, ok := before[tgt]; !ok && len(changed) > 0 {
		t.Fatalf("target %s is not one of the repository's targets %v", tgt, sortedKeys(before))
	}
	got := map[string]*unstructured.Unstructured{}
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			continue
		}
		if p != tgt || len(changed) == 0 {
			if !bytes.Equal(b.YAML(), a.YAML()) {
				t.Errorf("target %s renders differently:\n%s", p, lineDiff(string(b.YAML()), string(a.YAML())))
			}
			continue
		}
		bo, ao := objectYAML(t, b), objectYAML(t, a)
		for _, id := range unionKeys(bo, ao) {
			isChanged := false
			for _, c := range changed {
				isChanged = isChanged || c == id
			}
			switch {
			case isChanged && bo[id] == ao[id]:
				t.Errorf("target %s: %s renders as before; the command changed nothing", p, id)
			case !isChanged && bo[id] != ao[id]:
				t.Errorf("target %s: %s changed too:\n%s", p, id, lineDiff(bo[id], ao[id]))
			}
		}
		for _, o := range a.Objects {
			got[o.ID.String()] = o.Obj()
		}
	}
	return got
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lineEdits says which line changes a minimal edit of an existing file may make.
type lineEdits struct {
	// swap: a changed line equals the old line with the first old value replaced by the new.
	swap [][2]string
	// insert: every block of added lines contains one of these.
	insert []string
	// remove: every block of removed lines contains one of these.
	remove []string
}

// assertMinimal fails unless old became new through the line changes that edits allow.
func assertMinimal(t *testing.T, file, old, new string, edits lineEdits) {
	t.Helper()
	a, b := difflib.SplitLines(old), difflib.SplitLines(new)
	containsAny := func(block []string, tokens []string) bool {
		text := strings.Join(block, "")
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				return true
			}
		}
		return false
	}
	for _, op := range difflib.NewMatcher(a, b).GetOpCodes() {
		removed, added := a[op.I1:op.I2], b[op.J1:op.J2]
		switch op.Tag {
		case 'e':
		case 'i':
			if !containsAny(added, edits.insert) {
				t.Errorf("%s: added lines that carry none of %q:\n%s", file, edits.insert, strings.Join(added, ""))
			}
		case 'd':
			if !containsAny(removed, edits.remove) {
				t.Errorf("%s: removed lines that carry none of %q:\n%s", file, edits.remove, strings.Join(removed, ""))
			}
		case 'r':
			if len(removed) != len(added) {
				t.Errorf("%s: %d lines replaced by %d:\n-%s+%s", file, len(removed), len(added), strings.Join(removed, "-"), strings.Join(added, "+"))
				continue
			}
			for i := range removed {
				ok := false
				for _, s := range edits.swap {
					ok = ok || (strings.Contains(removed[i], s[0]) && strings.Replace(removed[i], s[0], s[1], 1) == added[i])
				}
				if !ok {
					t.Errorf("%s: line changed beyond the value (allowed %q):\n-%s+%s", file, edits.swap, removed[i], added[i])
				}
			}
		}
	}
}

// diffHunks keeps what a unified diff says about content: file headers, hunk ranges and lines.
// git's index and mode lines and the context git prints after a hunk range are dropped.
func diffHunks(d string) string {
	var out []string
	for _, l := range strings.SplitAfter(d, "\n") {
		switch {
		case l == "", strings.HasPrefix(l, "index "), strings.HasPrefix(l, "new file mode "), strings.HasPrefix(l, "deleted file mode "):
			continue
		case strings.HasPrefix(l, "@@ "):
			if i := strings.Index(l[3:], " @@"); i >= 0 {
				l = l[:3+i+3] + "\n"
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// goldenCase is one command on one sample repository.
type goldenCase struct {
	name   string // the golden file: testdata/golden/NAME.golden
	sample string // testdata/repos/SAMPLE
	// setup commits changes to the sample before the command runs.
	setup func(t *testing.T, dir string)
	args  []string // the command, without --repo and --path
	path  string   // the target path (--path)
	// targetName passes --target NAME instead of --path (path still names the target's path).
	targetName string
	files      []string // the files the commit changes
	object     string   // the changed object (render.ObjectID), default "Deployment.apps shop/web"
	oname      string   // what -o name prints, default "deployment.apps/web"
	edits      lineEdits
	// check looks at the changed object as the target renders it after the commit.
	check func(t *testing.T, obj *unstructured.Unstructured)
}

func (tc goldenCase) argv(dir string, extra ...string) []string {
	args := append([]string{}, tc.args...)
	args = append(args, "--repo", dir)
	if tc.targetName != "" {
		args = append(args, "--target", tc.targetName)
	} else {
		args = append(args, "--path", tc.path)
	}
	return append(args, extra...)
}

func (tc goldenCase) repo(t *testing.T) string {
	t.Helper()
	dir := testrepo.New(t, tc.sample)
	if tc.setup != nil {
		tc.setup(t, dir)
	}
	return dir
}

// Checks of the changed object.

func wantReplicas(n int64) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		if got, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); got != n {
			t.Errorf("spec.replicas = %d, want %d", got, n)
		}
	}
}

func findContainer(u *unstructured.Unstructured, name string) map[string]any {
	for _, field := range []string{"containers", "initContainers"} {
		list, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", field)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok && m["name"] == name {
				return m
			}
		}
	}
	return nil
}

// wantContainer checks a field of a container (path below the container) against want; want
// nil means absent.
func wantContainer(name string, want any, path ...string) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		c := findContainer(u, name)
		if c == nil {
			t.Fatalf("no container %s", name)
		}
		got, found, _ := unstructured.NestedFieldNoCopy(c, path...)
		if want == nil && found || want != nil && !reflect.DeepEqual(got, want) {
			t.Errorf("container %s %s = %v (found %v), want %v", name, strings.Join(path, "."), got, found, want)
		}
	}
}

// wantEnv checks a variable of a container; want "" means absent.
func wantEnv(name, key, want string) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		env, _ := findContainer(u, name)["env"].([]any)
		got, found := "", false
		for _, e := range env {
			if m, ok := e.(map[string]any); ok && m["name"] == key {
				got, found = fmt.Sprint(m["value"]), true
			}
		}
		if want == "" && found || want != "" && got != want {
			t.Errorf("container %s env %s = %q (found %v), want %q", name, key, got, found, want)
		}
	}
}

// wantField checks a field of the object.
func wantField(want any, path ...string) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		got, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", strings.Join(path, "."), got, want)
		}
	}
}

// Repository variants.

// onlyStagingConfig makes overlays/staging the kustomize sample's only target, so that the base
// is rendered by that target alone and changes go into the base's own files.
func onlyStagingConfig(t *testing.T, dir string) {
	t.Helper()
	commitFiles(t, dir, "Configure the staging target", map[string]string{
		target.ConfigFile: `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    path: overlays/staging
`,
	})
}

const canaryKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../staging
nameSuffix: -canary
`

const canaryConfig = `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    path: overlays/staging
  - name: staging-canary
    path: overlays/staging-canary
  - name: production
    path: overlays/production
`

// withCanary adds a target that includes overlays/staging: whatever staging's overlay sets
// reaches the canary too.
func withCanary(t *testing.T, dir string) {
	t.Helper()
	commitFiles(t, dir, "Add a staging canary", map[string]string{
		"overlays/staging-canary/kustomization.yaml": canaryKustomization,
		target.ConfigFile: canaryConfig,
	})
}

var goldenCases = []goldenCase{
	// kustomize: base, two overlays, a component.
	{
		name: "kustomize-staging-scale-web", sample: "kustomize", path: "overlays/staging",
		args:  []string{"scale", "deploy/web", "--replicas=3"},
		files: []string{"overlays/staging/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"count: 1", "count: 3"}}},
		check: wantReplicas(3),
	},
	{
		name: "kustomize-production-scale-web", sample: "kustomize", path: "overlays/production",
		args:  []string{"scale", "deployment", "web", "--replicas=6", "--current-replicas=4"},
		files: []string{"overlays/production/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"count: 4", "count: 6"}}},
		check: wantReplicas(6),
	},
	{
		// The base is shared: the staging overlay gets a replicas: entry for worker.
		name: "kustomize-staging-scale-worker-shared-base", sample: "kustomize", path: "overlays/staging",
		args:   []string{"scale", "deploy/worker", "--replicas=2"},
		files:  []string{"overlays/staging/kustomization.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{insert: []string{"name: worker"}},
		check: wantReplicas(2),
	},
	{
		// worker has an HPA in production: the commit is made, with a warning.
		name: "kustomize-production-scale-worker-hpa", sample: "kustomize", path: "overlays/production",
		args:   []string{"scale", "deploy/worker", "--replicas=4"},
		files:  []string{"overlays/production/kustomization.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{insert: []string{"name: worker"}},
		check: wantReplicas(4),
	},
	{
		name: "kustomize-staging-set-image-worker", sample: "kustomize", path: "overlays/staging",
		args:   []string{"set", "image", "deploy/worker", "worker=registry.example.com/shop/worker:2.2.0"},
		files:  []string{"overlays/staging/kustomization.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{`newTag: "2.1.0"`, `newTag: "2.2.0"`}}},
		check: wantContainer("worker", "registry.example.com/shop/worker:2.2.0", "image"),
	},
	{
		name: "kustomize-production-set-image-worker", sample: "kustomize", path: "overlays/production",
		args:   []string{"set", "image", "deploy/worker", "worker=registry.example.com/shop/worker:2.2.0"},
		files:  []string{"overlays/production/kustomization.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{"newTag: 2.0.3", "newTag: 2.2.0"}}},
		check: wantContainer("worker", "registry.example.com/shop/worker:2.2.0", "image"),
	},
	{
		// The images: entry for the web image would retag the cache-warmup CronJob too: the
		// change goes into a patch for web alone.
		name: "kustomize-staging-set-image-web-shared-image", sample: "kustomize", path: "overlays/staging",
		args:  []string{"set", "image", "deploy/web", "web=registry.example.com/shop/web:1.6.0"},
		files: []string{"overlays/staging/kustomization.yaml", "overlays/staging/web-deployment-override.yaml"},
		edits: lineEdits{insert: []string{"web-deployment-override.yaml"}},
		check: wantContainer("web", "registry.example.com/shop/web:1.6.0", "image"),
	},
	{
		name: "kustomize-staging-set-image-init-container", sample: "kustomize", path: "overlays/staging",
		args:   []string{"set", "image", "deploy/worker", "wait-for-db=busybox:1.37.0"},
		files:  []string{"overlays/staging/kustomization.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{insert: []string{"name: busybox"}},
		check: wantContainer("wait-for-db", "busybox:1.37.0", "image"),
	},
	{
		name: "kustomize-staging-set-env-web", sample: "kustomize", path: "overlays/staging",
		args:  []string{"set", "env", "deploy/web", "LOG_LEVEL=info"},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{swap: [][2]string{{"value: debug", "value: info"}}},
		check: wantEnv("web", "LOG_LEVEL", "info"),
	},
	{
		// LOG_LEVEL exists only in staging's patch: removing it removes it from there.
		name: "kustomize-staging-set-env-web-remove", sample: "kustomize", path: "overlays/staging",
		args:  []string{"set", "env", "deploy/web", "LOG_LEVEL-"},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{remove: []string{"LOG_LEVEL"}},
		check: wantEnv("web", "LOG_LEVEL", ""),
	},
	{
		name: "kustomize-production-set-env-web-quoted", sample: "kustomize", path: "overlays/production",
		args:  []string{"set", "env", "deploy/web", "CACHE_TTL_SECONDS=600"},
		files: []string{"overlays/production/web-production.yaml"},
		edits: lineEdits{swap: [][2]string{{`"900"`, `"600"`}}},
		check: wantEnv("web", "CACHE_TTL_SECONDS", "600"),
	},
	{
		// A new variable in an overlay: a strategic-merge patch for worker.
		name: "kustomize-staging-set-env-worker-new", sample: "kustomize", path: "overlays/staging",
		args:   []string{"set", "env", "deploy/worker", "-c", "worker", "QUEUE_PREFETCH=8"},
		files:  []string{"overlays/staging/kustomization.yaml", "overlays/staging/worker-patch.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{insert: []string{"worker-patch.yaml"}},
		check: wantEnv("worker", "QUEUE_PREFETCH", "8"),
	},
	{
		name: "kustomize-staging-set-resources-web", sample: "kustomize", path: "overlays/staging",
		args:  []string{"set", "resources", "deploy/web", "-c", "web", "--limits=cpu=1"},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{`cpu: "1"`}},
		check: wantContainer("web", "1", "resources", "limits", "cpu"),
	},
	{
		name: "kustomize-production-set-resources-web", sample: "kustomize", path: "overlays/production",
		args:  []string{"set", "resources", "deploy/web", "-c", "web", "--limits=memory=2Gi"},
		files: []string{"overlays/production/web-production.yaml"},
		edits: lineEdits{swap: [][2]string{{"memory: 1Gi", "memory: 2Gi"}}},
		check: wantContainer("web", "2Gi", "resources", "limits", "memory"),
	},
	{
		name: "kustomize-staging-label-web", sample: "kustomize", path: "overlays/staging",
		args:  []string{"label", "deploy/web", "tier=edge", "--overwrite"},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{"tier: edge"}},
		check: wantField("edge", "metadata", "labels", "tier"),
	},
	{
		name: "kustomize-staging-annotate-web", sample: "kustomize", path: "overlays/staging",
		args:  []string{"annotate", "deploy/web", "a.example.com/x=y"},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{"a.example.com/x"}},
		check: wantField("y", "metadata", "annotations", "a.example.com/x"),
	},
	{
		name: "kustomize-staging-patch-strategic", sample: "kustomize", path: "overlays/staging",
		args:  []string{"patch", "deploy/web", "-p", `{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":60}}}}`},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{"terminationGracePeriodSeconds: 60"}},
		check: wantField(int64(60), "spec", "template", "spec", "terminationGracePeriodSeconds"),
	},
	{
		name: "kustomize-staging-patch-merge", sample: "kustomize", path: "overlays/staging",
		args:  []string{"patch", "deploy/web", "--type", "merge", "-p", `{"spec":{"revisionHistoryLimit":3}}`},
		files: []string{"overlays/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{"revisionHistoryLimit: 3"}},
		check: wantField(int64(3), "spec", "revisionHistoryLimit"),
	},
	{
		name: "kustomize-production-patch-json", sample: "kustomize", path: "overlays/production",
		args:  []string{"patch", "deploy/web", "--type", "json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"Always"}]`},
		files: []string{"overlays/production/web-production.yaml"},
		edits: lineEdits{insert: []string{"imagePullPolicy: Always"}},
		check: wantContainer("web", "Always", "imagePullPolicy"),
	},
	// The four-space file, when the target alone renders it (the only configured target).
	{
		name: "kustomize-4space-scale-worker", sample: "kustomize", setup: onlyStagingConfig,
		path: "overlays/staging", targetName: "staging",
		args:   []string{"scale", "deploy/worker", "--replicas=2"},
		files:  []string{"base/worker.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{"replicas: 1", "replicas: 2"}}},
		check: wantReplicas(2),
	},
	{
		name: "kustomize-4space-set-image-init-container", sample: "kustomize", setup: onlyStagingConfig,
		path: "overlays/staging", targetName: "staging",
		args:   []string{"set", "image", "deploy/worker", "wait-for-db=busybox:1.37.0"},
		files:  []string{"base/worker.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{"busybox:1.36.1", "busybox:1.37.0"}}},
		check: wantContainer("wait-for-db", "busybox:1.37.0", "image"),
	},
	{
		name: "kustomize-4space-set-env-worker", sample: "kustomize", setup: onlyStagingConfig,
		path: "overlays/staging", targetName: "staging",
		args:   []string{"set", "env", "deploy/worker", "-c", "worker", "QUEUE_URL=amqp://mq.shop.svc.cluster.local:5672"},
		files:  []string{"base/worker.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{"rabbitmq.shop", "mq.shop"}}},
		check: wantEnv("worker", "QUEUE_URL", "amqp://mq.shop.svc.cluster.local:5672"),
	},
	{
		name: "kustomize-4space-patch-json-flow-args", sample: "kustomize", setup: onlyStagingConfig,
		path: "overlays/staging", targetName: "staging",
		args:   []string{"patch", "deploy/worker", "--type", "json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/args/1","value":"--concurrency=8"}]`},
		files:  []string{"base/worker.yaml"},
		object: "Deployment.apps shop/worker", oname: "deployment.apps/worker",
		edits: lineEdits{swap: [][2]string{{"--concurrency=4", "--concurrency=8"}}},
		check: wantContainer("worker", []any{"--queue=orders", "--concurrency=8"}, "args"),
	},

	// plain: manifests as Flux applies them; each object's own file is edited in place.
	{
		name: "plain-scale-web", sample: "plain", path: ".",
		args:  []string{"scale", "deploy/web", "--replicas=5"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"replicas: 2", "replicas: 5"}}},
		check: wantReplicas(5),
	},
	{
		name: "plain-set-image-web", sample: "plain", path: ".",
		args:  []string{"set", "image", "deploy/web", "web=registry.example.com/shop/web:1.6.0"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"web:1.4.0", "web:1.6.0"}}},
		check: wantContainer("web", "registry.example.com/shop/web:1.6.0", "image"),
	},
	{
		name: "plain-set-env-web", sample: "plain", path: ".",
		args:  []string{"set", "env", "deploy/web", "LOG_LEVEL=debug"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"value: info", "value: debug"}}},
		check: wantEnv("web", "LOG_LEVEL", "debug"),
	},
	{
		name: "plain-set-env-web-single-quoted", sample: "plain", path: ".",
		args:  []string{"set", "env", "deploy/web", "FEATURE_NEW_CHECKOUT=true"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"'false'", "'true'"}}},
		check: wantEnv("web", "FEATURE_NEW_CHECKOUT", "true"),
	},
	{
		name: "plain-set-env-web-remove", sample: "plain", path: ".",
		args:  []string{"set", "env", "deploy/web", "LOG_LEVEL-"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{remove: []string{"LOG_LEVEL"}},
		check: wantEnv("web", "LOG_LEVEL", ""),
	},
	{
		name: "plain-set-resources-web", sample: "plain", path: ".",
		args:  []string{"set", "resources", "deploy/web", "-c", "web", "--limits=cpu=1"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{insert: []string{`cpu: "1"`}},
		check: wantContainer("web", "1", "resources", "limits", "cpu"),
	},
	{
		// Only metadata.labels has tier: frontend changed, not the pod template's.
		name: "plain-label-web-overwrite", sample: "plain", path: ".",
		args:  []string{"label", "deploy/web", "tier=edge", "--overwrite"},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"tier: frontend", "tier: edge"}}},
		check: wantField("edge", "metadata", "labels", "tier"),
	},
	{
		name: "plain-annotate-service-4space", sample: "plain", path: ".",
		args:   []string{"annotate", "svc/web", "a.example.com/x=y"},
		files:  []string{"apps/shop/service.yaml"},
		object: "Service shop/web", oname: "service/web",
		edits: lineEdits{insert: []string{"a.example.com/x"}},
		check: wantField("y", "metadata", "annotations", "a.example.com/x"),
	},
	{
		name: "plain-patch-merge-quoted-annotation", sample: "plain", path: ".",
		args:  []string{"patch", "deploy/web", "--type", "merge", "-p", `{"metadata":{"annotations":{"shop.example.com/restarted-at":"2024-06-01T08:00:00Z"}}}`},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"2024-05-02T10:00:00Z", "2024-06-01T08:00:00Z"}}},
		check: wantField("2024-06-01T08:00:00Z", "metadata", "annotations", "shop.example.com/restarted-at"),
	},
	{
		name: "plain-patch-strategic-flow-args", sample: "plain", path: ".",
		args:  []string{"patch", "deploy/web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","args":["--port","8080","--log-format=text"]}]}}}}`},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{"--log-format=json", "--log-format=text"}}},
		check: wantContainer("web", []any{"--port", "8080", "--log-format=text"}, "args"),
	},
	{
		name: "plain-patch-json-flow-args", sample: "plain", path: ".",
		args:  []string{"patch", "deploy/web", "--type", "json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/args/1","value":"9090"}]`},
		files: []string{"apps/shop/deployment.yaml"},
		edits: lineEdits{swap: [][2]string{{`"8080"`, `"9090"`}}},
		check: wantContainer("web", []any{"--port", "9090", "--log-format=json"}, "args"),
	},
	{
		// .yml, multi-document, indentless sequences.
		name: "plain-set-image-blog-yml", sample: "plain", path: ".",
		args:   []string{"set", "image", "deploy/blog", "ghost=ghost:5.83-alpine"},
		files:  []string{"apps/blog/blog.yml"},
		object: "Deployment.apps blog/blog", oname: "deployment.apps/blog",
		edits: lineEdits{swap: [][2]string{{"5.82-alpine", "5.83-alpine"}}},
		check: wantContainer("ghost", "ghost:5.83-alpine", "image"),
	},
	{
		name: "plain-scale-blog-yml", sample: "plain", path: ".",
		args:   []string{"scale", "deploy/blog", "-n", "blog", "--replicas=2"},
		files:  []string{"apps/blog/blog.yml"},
		object: "Deployment.apps blog/blog", oname: "deployment.apps/blog",
		edits: lineEdits{swap: [][2]string{{"replicas: 1", "replicas: 2"}}},
		check: wantReplicas(2),
	},

	// flux: apps/<cluster> kustomizations over shared bases.
	{
		name: "flux-staging-scale-web", sample: "flux", path: "apps/staging",
		args:  []string{"scale", "deploy/web", "--replicas=2"},
		files: []string{"apps/staging/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"count: 1", "count: 2"}}},
		check: wantReplicas(2),
	},
	{
		name: "flux-production-scale-web", sample: "flux", path: "apps/production",
		args:  []string{"scale", "deploy/web", "--replicas=5"},
		files: []string{"apps/production/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"count: 3", "count: 5"}}},
		check: wantReplicas(5),
	},
	{
		name: "flux-staging-set-image-web", sample: "flux", path: "apps/staging",
		args:  []string{"set", "image", "deploy/web", "web=registry.example.com/shop/web:1.6.0"},
		files: []string{"apps/staging/kustomization.yaml"},
		edits: lineEdits{insert: []string{"newTag: 1.6.0"}},
		check: wantContainer("web", "registry.example.com/shop/web:1.6.0", "image"),
	},
	{
		name: "flux-staging-set-resources-web", sample: "flux", path: "apps/staging",
		args:  []string{"set", "resources", "deploy/web", "-c", "web", "--requests=cpu=200m"},
		files: []string{"apps/staging/kustomization.yaml", "apps/staging/web-patch.yaml"},
		edits: lineEdits{insert: []string{"web-patch.yaml"}},
		check: wantContainer("web", "200m", "resources", "requests", "cpu"),
	},
	{
		// nodeSelector is set by production's inline patch (patch: |- in kustomization.yaml),
		// which only production renders: that patch's line changes.
		name: "flux-production-patch-inline-patch", sample: "flux", path: "apps/production",
		args:  []string{"patch", "deploy/web", "-p", `{"spec":{"template":{"spec":{"nodeSelector":{"node.kubernetes.io/pool":"compute"}}}}}`},
		files: []string{"apps/production/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"pool: general", "pool: compute"}}},
		check: wantField("compute", "spec", "template", "spec", "nodeSelector", "node.kubernetes.io/pool"),
	},

	// argocd: envs/<env> over a base with two containers and indentless sequences.
	{
		name: "argocd-staging-scale-web", sample: "argocd", path: "envs/staging",
		args:  []string{"scale", "deploy/web", "--replicas=2"},
		files: []string{"envs/staging/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{"count: 1", "count: 2"}}},
		check: wantReplicas(2),
	},
	{
		// production's replicas come from its patch file web-production.yaml (no replicas:
		// entry): the patch's line changes.
		name: "argocd-production-scale-web-patch-file", sample: "argocd", path: "envs/production",
		args:  []string{"scale", "deploy/web", "--replicas=5"},
		files: []string{"envs/production/web-production.yaml"},
		edits: lineEdits{swap: [][2]string{{"replicas: 3", "replicas: 5"}}},
		check: wantReplicas(5),
	},
	{
		name: "argocd-staging-set-image-sidecar", sample: "argocd", path: "envs/staging",
		args:  []string{"set", "image", "deploy/web", "redis-proxy=registry.example.com/infra/twemproxy:0.6.0"},
		files: []string{"envs/staging/kustomization.yaml"},
		edits: lineEdits{insert: []string{"twemproxy"}},
		check: wantContainer("redis-proxy", "registry.example.com/infra/twemproxy:0.6.0", "image"),
	},
	{
		name: "argocd-production-set-image-web", sample: "argocd", path: "envs/production",
		args:  []string{"set", "image", "deploy/web", "web=registry.example.com/shop/web:1.6.0"},
		files: []string{"envs/production/kustomization.yaml"},
		edits: lineEdits{swap: [][2]string{{`"1.4.2"`, `"1.6.0"`}}},
		check: wantContainer("web", "registry.example.com/shop/web:1.6.0", "image"),
	},
	{
		name: "argocd-staging-set-env-web", sample: "argocd", path: "envs/staging",
		args:  []string{"set", "env", "deploy/web", "-c", "web", "LOG_LEVEL=info"},
		files: []string{"envs/staging/web-env.yaml"},
		edits: lineEdits{swap: [][2]string{{"value: debug", "value: info"}}},
		check: wantEnv("web", "LOG_LEVEL", "info"),
	},
	{
		name: "argocd-production-set-resources-web", sample: "argocd", path: "envs/production",
		args:  []string{"set", "resources", "deploy/web", "-c", "web", "--limits=cpu=1"},
		files: []string{"envs/production/web-production.yaml"},
		edits: lineEdits{swap: [][2]string{{`cpu: "2"`, `cpu: "1"`}}},
		check: wantContainer("web", "1", "resources", "limits", "cpu"),
	},
	{
		name: "argocd-staging-label-web", sample: "argocd", path: "envs/staging",
		args:  []string{"label", "deploy/web", "release=canary"},
		files: []string{"envs/staging/web-env.yaml"},
		edits: lineEdits{insert: []string{"release: canary"}},
		check: wantField("canary", "metadata", "labels", "release"),
	},

	// prefixed: overlays with their own namespace and a name prefix or suffix.
	{
		// The patch names the object as the base does (catalog, no namespace), lists the
		// variables before DB_POOL_SIZE by name alone so the env order stays the base's, and is
		// registered in the file's own style: a blank line before the new key, above the
		// commented-out images: block.
		name: "prefixed-dev-set-env-catalog", sample: "prefixed", path: "overlays/dev",
		args:   []string{"set", "env", "deploy/dev-catalog", "-c", "catalog", "DB_POOL_SIZE=20"},
		files:  []string{"overlays/dev/catalog-patch.yaml", "overlays/dev/kustomization.yaml"},
		object: "Deployment.apps catalog-dev/dev-catalog", oname: "deployment.apps/dev-catalog",
		edits: lineEdits{insert: []string{"catalog-patch.yaml"}},
		check: wantEnvOrder("catalog", "LOG_LEVEL", "LISTEN_ADDR", "DB_POOL_SIZE=20"),
	},
	{
		// exporter is the second container: the patch lists catalog first, by name alone.
		name: "prefixed-prod-set-env-exporter", sample: "prefixed", path: "overlays/prod",
		args:   []string{"set", "env", "deploy/catalog-prod", "-c", "exporter", "EXPORT_INTERVAL=30s"},
		files:  []string{"overlays/prod/catalog-patch.yaml", "overlays/prod/kustomization.yaml"},
		object: "Deployment.apps catalog-prod/catalog-prod", oname: "deployment.apps/catalog-prod",
		edits: lineEdits{insert: []string{"catalog-patch.yaml"}},
		check: wantContainerOrder("catalog", "exporter"),
	},
	{
		// mailcatcher is rendered by dev alone: its own file is edited.
		name: "prefixed-dev-scale-mailcatcher", sample: "prefixed", path: "overlays/dev",
		args:   []string{"scale", "deploy/dev-mailcatcher", "--replicas=3"},
		files:  []string{"overlays/dev/mailcatcher.yaml"},
		object: "Deployment.apps catalog-dev/dev-mailcatcher", oname: "deployment.apps/dev-mailcatcher",
		edits: lineEdits{swap: [][2]string{{"replicas: 1", "replicas: 3"}}},
		check: wantReplicas(3),
	},
	{
		// The entry repeats its name in newName:, as `kustomize edit set image` writes it: a
		// new tag leaves that line alone.
		name: "prefixed-prod-set-image-exporter", sample: "prefixed", path: "overlays/prod",
		args:   []string{"set", "image", "deploy/catalog-prod", "exporter=registry.example.com/tools/exporter:0.4.0"},
		files:  []string{"overlays/prod/kustomization.yaml"},
		object: "Deployment.apps catalog-prod/catalog-prod", oname: "deployment.apps/catalog-prod",
		edits: lineEdits{swap: [][2]string{{"newTag: 0.3.1", "newTag: 0.4.0"}}},
		check: wantContainer("exporter", "registry.example.com/tools/exporter:0.4.0", "image"),
	},
	{
		// The renamed image keeps its newName: only the tag changes.
		name: "prefixed-prod-set-image-catalog", sample: "prefixed", path: "overlays/prod",
		args:   []string{"set", "image", "deploy/catalog-prod", "catalog=registry.example.com/shop/catalog-hardened:3.3.0"},
		files:  []string{"overlays/prod/kustomization.yaml"},
		object: "Deployment.apps catalog-prod/catalog-prod", oname: "deployment.apps/catalog-prod",
		edits: lineEdits{swap: [][2]string{{"newTag: 3.2.0", "newTag: 3.3.0"}}},
		check: wantContainer("catalog", "registry.example.com/shop/catalog-hardened:3.3.0", "image"),
	},
}

// wantEnvOrder checks a container's variables in order: NAME, or NAME=VALUE for its value too.
func wantEnvOrder(container string, want ...string) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		env, _ := findContainer(u, container)["env"].([]any)
		var got []string
		for i, e := range env {
			m, _ := e.(map[string]any)
			name := fmt.Sprint(m["name"])
			if i < len(want) && strings.Contains(want[i], "=") {
				name += "=" + fmt.Sprint(m["value"])
			}
			got = append(got, name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("container %s env %q, want %q", container, got, want)
		}
	}
}

// wantContainerOrder checks the names of the containers, in order.
func wantContainerOrder(want ...string) func(*testing.T, *unstructured.Unstructured) {
	return func(t *testing.T, u *unstructured.Unstructured) {
		t.Helper()
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprint(c.(map[string]any)["name"]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("containers %q, want %q", got, want)
		}
	}
}

// TestGolden runs every change command on every sample layout, in-process, and checks the
// commit byte for byte against testdata/golden (go test -run TestGolden -update rewrites them),
// and structurally: only the expected files change, and in them only the lines that carry the
// value; every other object of every target renders as before; the worktree is clean; the
// dry run writes nothing and prints the commit's diff; -o json and -o name print the result.
func TestGolden(t *testing.T) {
	gitEnv(t)
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		if seen[tc.name] {
			t.Fatalf("two cases named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			runGoldenCase(t, tc)
		})
	}
}

func runGoldenCase(t *testing.T, tc goldenCase) {
	if tc.object == "" {
		tc.object = "Deployment.apps shop/web"
	}
	if tc.oname == "" {
		tc.oname = "deployment.apps/web"
	}
	dir := tc.repo(t)
	before := snapshot(t, dir)
	rendersBefore := renderTargetsOfTree(t, dir)

	dryOut, dryErr, code := gitops(t, tc.argv(dir, "--dry-run")...)
	if code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", code, dryErr)
	}
	assertUnchanged(t, dir, before, "--dry-run")

	stdout, stderr, code := gitops(t, tc.argv(dir)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	head := revParse(t, dir, "HEAD")
	if parent := revParse(t, dir, "HEAD~1"); parent != before.Head {
		t.Fatalf("the commit's parent is %s, want the previous HEAD %s (one command, one commit)", parent, before.Head)
	}
	if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); !reflect.DeepEqual(files, tc.files) {
		t.Errorf("the commit changes %q, want %q", files, tc.files)
	}
	if st := gitRun(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("the worktree is not clean after the commit:\n%s", st)
	}
	for _, f := range tc.files {
		now := gitRun(t, dir, "show", "HEAD:"+f)
		if disk, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f))); err != nil || string(disk) != now {
			t.Errorf("%s in the worktree differs from the commit (err %v)", f, err)
		}
		if _, ok := before.Files[f]; ok {
			assertMinimal(t, f, before.Files[f], now, tc.edits)
		}
	}
	got := assertRendersUnchanged(t, rendersBefore, renderTargets(t, dir), tc.path, tc.object)
	if obj := got[tc.object]; obj == nil {
		t.Errorf("%s is not in the render of %s", tc.object, tc.path)
	} else if tc.check != nil {
		tc.check(t, obj)
	}

	commitDiff := gitRun(t, dir, "show", "--format=", "HEAD")
	if !strings.Contains(dryErr, "dry run") {
		t.Errorf("--dry-run says nothing about the dry run on stderr: %q", dryErr)
	}
	if d, w := diffHunks(dryOut), diffHunks(commitDiff); d != w {
		t.Errorf("the dry run's diff is not the commit's:\n--- dry run\n%s--- commit\n%s", d, w)
	}

	// The same command with -o json, and again with -o name, on fresh copies: the same commit
	// (same id, with the fixed clock), reported for scripts.
	other := tc.repo(t)
	jsonOut, jsonErr, code := gitops(t, tc.argv(other, "-o", "json")...)
	if code != 0 {
		t.Fatalf("-o json: exit %d\n%s", code, jsonErr)
	}
	var res struct {
		Commit string   `json:"commit"`
		Branch string   `json:"branch"`
		Files  []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &res); err != nil {
		t.Fatalf("-o json printed no JSON: %v\n%s", err, jsonOut)
	}
	if otherHead := revParse(t, other, "HEAD"); res.Commit != otherHead || otherHead != head {
		t.Errorf("-o json: commit %q, HEAD %s, want both %s", res.Commit, otherHead, head)
	}
	if !reflect.DeepEqual(res.Files, tc.files) || res.Branch != "main" {
		t.Errorf("-o json: files %q on %q, want %q on main", res.Files, res.Branch, tc.files)
	}
	gitRun(t, other, "reset", "-q", "--hard", "HEAD~1")
	nameOut, nameErr, code := gitops(t, tc.argv(other, "-o", "name")...)
	if code != 0 || nameOut != tc.oname+"\n" {
		t.Errorf("-o name: exit %d, printed %q, want %q\n%s", code, nameOut, tc.oname+"\n", nameErr)
	}
	if otherHead := revParse(t, other, "HEAD"); otherHead != head {
		t.Errorf("-o name made commit %s, want %s", otherHead, head)
	}

	mask := strings.NewReplacer(head, "<commit>", head[:7], "<commit>", dir, "<repo>")
	var g strings.Builder
	fmt.Fprintf(&g, "$ kubectl gitops %s\n", strings.Join(tc.argv("REPO"), " "))
	fmt.Fprintf(&g, "==== stdout\n%s==== stderr\n%s", mask.Replace(stdout), mask.Replace(stderr))
	fmt.Fprintf(&g, "==== -o json\n%s", mask.Replace(jsonOut))
	fmt.Fprintf(&g, "==== commit message\n%s", gitRun(t, dir, "log", "-1", "--format=%B"))
	fmt.Fprintf(&g, "==== commit diff\n%s", commitDiff)
	assertGolden(t, tc.name, g.String())
}

func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/plugin -run TestGolden -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -run TestGolden -update rewrites it):\n%s", file, lineDiff(string(want), got))
	}
}

// Scaling worker in staging, whose base production shares, writes staging's overlay: every file
// of the base and production's whole render stay byte for byte as they were.
func TestGoldenSharedBaseScaleWritesOverlay(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	before := snapshot(t, dir)
	prodBefore, err := render.Render(dir, "overlays/production", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := gitops(t, "scale", "deploy/worker", "--replicas=3", "--repo", dir, "--path", "overlays/staging"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if files := strings.Fields(gitRun(t, dir, "diff", "--name-only", "HEAD~1", "HEAD")); !reflect.DeepEqual(files, []string{"overlays/staging/kustomization.yaml"}) {
		t.Errorf("the commit changes %q, want only the staging overlay's kustomization.yaml", files)
	}
	after := snapshot(t, dir)
	for p, content := range before.Files {
		if strings.HasPrefix(p, "base/") || strings.HasPrefix(p, "overlays/production/") || strings.HasPrefix(p, "components/") {
			if after.Files[p] != content {
				t.Errorf("%s changed:\n%s", p, lineDiff(content, after.Files[p]))
			}
			if committed := gitRun(t, dir, "show", "HEAD:"+p); committed != content {
				t.Errorf("%s changed in the commit", p)
			}
		}
	}
	prodAfter, err := render.Render(dir, "overlays/production", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(prodBefore.YAML(), prodAfter.YAML()) {
		t.Errorf("production renders differently:\n%s", lineDiff(string(prodBefore.YAML()), string(prodAfter.YAML())))
	}
	staging, err := render.Render(dir, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range staging.Objects {
		if o.ID.String() == "Deployment.apps shop/worker" {
			wantReplicas(3)(t, o.Obj())
		}
	}
}

// A change that any staging layer would also make to the canary, which includes staging, is
// refused: the error names the canary object and the field, and the repository stays as it was.
func TestGoldenClosedLoopRefusal(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	withCanary(t, dir)
	before := snapshot(t, dir)
	stdout, stderr, code := gitops(t, "scale", "deploy/web", "--replicas=6", "--target", "staging", "--repo", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"error: ", "web-canary", "spec.replicas", "overlays/staging-canary"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout: %q, want nothing", stdout)
	}
	assertUnchanged(t, dir, before, "the refused change")
}

// Mistakes are reported with what to do about them, exit code 1, and nothing written.
func TestGoldenErrors(t *testing.T) {
	gitEnv(t)
	repos := map[string]string{}
	for _, s := range []string{"kustomize", "plain", "argocd"} {
		repos[s] = testrepo.New(t, s)
	}
	cases := []struct {
		name, sample, path string
		args               []string
		want               []string
	}{
		{"object not found", "kustomize", "overlays/staging",
			[]string{"scale", "deploy/nope", "--replicas=3"},
			[]string{`"nope" not found`, "overlays/staging", "kubectl gitops capture deploy/nope"}},
		{"unknown kind", "kustomize", "overlays/staging",
			[]string{"label", "frobnicator/web", "a=b"},
			[]string{`"frobnicator"`, "unknown", "overlays/staging"}},
		{"negative replicas", "kustomize", "overlays/staging",
			[]string{"scale", "deploy/web", "--replicas=-2"},
			[]string{"--replicas", "greater than or equal to 0", "-2", "See 'kubectl gitops scale --help' for usage."}},
		{"current replicas mismatch", "kustomize", "overlays/staging",
			[]string{"scale", "deploy/web", "--replicas=3", "--current-replicas=7"},
			[]string{"expected replicas to be 7, was 1"}},
		{"label exists without --overwrite", "plain", ".",
			[]string{"label", "deploy/web", "tier=edge"},
			[]string{"'tier' already has a value (frontend)", "--overwrite"}},
		{"container not found for set image", "argocd", "envs/staging",
			[]string{"set", "image", "deploy/web", "nope=registry.example.com/x:1"},
			[]string{`unable to find container named "nope"`}},
		{"container not found for set env", "kustomize", "overlays/staging",
			[]string{"set", "env", "deploy/web", "-c", "nope", "A=b"},
			[]string{`"nope"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := repos[tc.sample]
			before := snapshot(t, dir)
			args := append(append([]string{}, tc.args...), "--repo", dir, "--path", tc.path)
			stdout, stderr, code := gitops(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "error: ") {
				t.Errorf("stderr does not start with \"error: \": %q", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, stderr)
				}
			}
			assertUnchanged(t, dir, before, "the failed command")
		})
	}
}

// --dry-run with -o json|yaml|name prints the result for scripts, alone on stdout.
func TestGoldenDryRunMachineOutput(t *testing.T) {
	gitEnv(t)
	dir := testrepo.New(t, "kustomize")
	before := snapshot(t, dir)
	base := []string{"scale", "deploy/web", "--replicas=3", "--dry-run", "--repo", dir, "--path", "overlays/staging"}
	out, stderr, code := gitops(t, append(base, "-o", "json")...)
	var res struct {
		Commit string   `json:"commit"`
		Files  []string `json:"files"`
		DryRun bool     `json:"dryRun"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Errorf("--dry-run -o json: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if !res.DryRun || res.Commit != "" || !reflect.DeepEqual(res.Files, []string{"overlays/staging/kustomization.yaml"}) {
		t.Errorf("--dry-run -o json: %+v", res)
	}
	if out, _, _ := gitops(t, append(base, "-o", "name")...); out != "deployment.apps/web\n" {
		t.Errorf("--dry-run -o name printed %q", out)
	}
	assertUnchanged(t, dir, before, "--dry-run")
}
