package change

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// linkRepo is the kustomize sample as a git repository, with the file at each key of links
// moved to its value (repository-relative) and a relative link left in its place, committed.
func linkRepo(t *testing.T, links map[string]string) string {
	t.Helper()
	testrepo.Env(t)
	root := testrepo.New(t, "kustomize")
	for from, to := range links {
		src, dst := filepath.Join(root, filepath.FromSlash(from)), filepath.Join(root, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(filepath.Dir(src), dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(rel, src); err != nil {
			t.Fatal(err)
		}
	}
	testrepo.Git(t, root, "add", "-A")
	testrepo.Git(t, root, "commit", "-q", "-m", "links")
	return root
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestWritePath: the path a change of a repository path writes, through links within the
// repository to tracked files, and the refusals, each naming the link.
func TestWritePath(t *testing.T) {
	root := linkRepo(t, map[string]string{
		"overlays/staging/kustomization.yaml": "overlays/staging/staging.yaml",
		"overlays/staging/web-patch.yaml":     "overlays/staging/patches/web.yaml",
	})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "x.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "../base", filepath.Join(root, "overlays", "linked-base"))
	symlink(t, "kustomization.yaml", filepath.Join(root, "overlays", "staging", "chain.yaml"))
	symlink(t, filepath.Join(outside, "x.yaml"), filepath.Join(root, "overlays", "staging", "outside.yaml"))
	symlink(t, outside, filepath.Join(root, "overlays", "outside-dir"))
	if err := os.WriteFile(filepath.Join(root, "overlays", "staging", "untracked.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "untracked.yaml", filepath.Join(root, "overlays", "staging", "to-untracked.yaml"))
	symlink(t, "missing.yaml", filepath.Join(root, "overlays", "staging", "dangling.yaml"))

	for _, tc := range []struct {
		path, want string
		deleted    bool
		err        string // in the refusal, with the link's name
	}{
		{path: "base/web.yaml", want: "base/web.yaml"},
		{path: "overlays/staging/new.yaml", want: "overlays/staging/new.yaml"},
		{path: "overlays/staging/kustomization.yaml", want: "overlays/staging/staging.yaml"},
		{path: "overlays/staging/web-patch.yaml", want: "overlays/staging/patches/web.yaml"},
		{path: "overlays/staging/chain.yaml", want: "overlays/staging/staging.yaml"},
		{path: "overlays/linked-base/web.yaml", want: "base/web.yaml"},
		{path: "overlays/linked-base/new.yaml", want: "base/new.yaml"},
		{path: "overlays/staging/outside.yaml", err: "overlays/staging/outside.yaml is a symbolic link to " + filepath.Join(outside, "x.yaml") + ", outside the repository"},
		{path: "overlays/outside-dir/x.yaml", err: "overlays/outside-dir is a symbolic link to " + outside + ", outside the repository"},
		{path: "overlays/staging/to-untracked.yaml", err: "overlays/staging/to-untracked.yaml is a symbolic link to overlays/staging/untracked.yaml, which git does not track"},
		{path: "overlays/staging/dangling.yaml", err: "overlays/staging/dangling.yaml is a symbolic link to overlays/staging/missing.yaml, which does not exist"},
		{path: "overlays/staging/web-patch.yaml", deleted: true, err: "overlays/staging/web-patch.yaml is a symbolic link to overlays/staging/patches/web.yaml; delete the link"},
	} {
		got, err := writePath(root, tc.path, tc.deleted)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("writePath(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("writePath(%s) = %q, %v; want an error with %q", tc.path, got, err, tc.err)
		}
	}

	// A tree exported from a commit (no .git) is the commit's files: a link to one is edited.
	exported := t.TempDir()
	if err := os.WriteFile(filepath.Join(exported, "real.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "real.yaml", filepath.Join(exported, "link.yaml"))
	if got, err := writePath(exported, "link.yaml", false); err != nil || got != "real.yaml" {
		t.Errorf("in an exported tree: %q, %v", got, err)
	}
}

// commitPlan writes a plan's files as a commit writes them: each at its path.
func commitPlan(t *testing.T, root string, p *Plan) {
	t.Helper()
	for f, b := range p.Files {
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func isLink(t *testing.T, root, rel string) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a link (%v)", rel, err)
	}
}

// TestPlanThroughLinkedKustomization: a scale whose replicas: entry is in a kustomization file
// that is a link edits the file it leads to, byte for byte as it would edit the kustomization;
// the link stays a link and the target renders the new count.
func TestPlanThroughLinkedKustomization(t *testing.T) {
	kust, real := "overlays/staging/kustomization.yaml", "overlays/staging/staging.yaml"
	root := linkRepo(t, map[string]string{kust: real})
	before := read(t, root, real)
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "web", setReplicas(3))
	if err != nil {
		t.Fatal(err)
	}
	wantOnly(t, p, map[string]string{real: replaceOnce(t, before, "    count: 1\n", "    count: 3\n")})
	if string(p.Original[real]) != before {
		t.Errorf("the plan's original of %s is not its content", real)
	}
	commitPlan(t, root, p)
	isLink(t, root, kust)
	r, err := render.Render(root, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if objs := r.Find(deployments, "shop", "web"); len(objs) != 1 {
		t.Fatalf("%d web Deployments", len(objs))
	} else if n, _, _ := unstructured.NestedInt64(objs[0].Obj().Object, "spec", "replicas"); n != 3 {
		t.Errorf("after the change web renders %d replicas, want 3", n)
	}
}

// setEnv sets the value of the web container's environment variable name.
func setEnv(name, value string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		for _, e := range c["env"].([]any) {
			if e.(map[string]any)["name"] == name {
				e.(map[string]any)["value"] = value
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}
}

// TestPlanThroughLinkedPatch: a change to a field a patch file sets, when the patch file is a
// link, edits the file it leads to. Every target that reads that file is checked: when another
// reads it directly and would change, the edit through the link is refused and the change goes
// elsewhere.
func TestPlanThroughLinkedPatch(t *testing.T) {
	patch, real := "overlays/staging/web-patch.yaml", "overlays/staging/patches/web.yaml"
	root := linkRepo(t, map[string]string{patch: real})
	before := read(t, root, real)
	p, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "web", setEnv("LOG_LEVEL", "trace"))
	if err != nil {
		t.Fatal(err)
	}
	wantOnly(t, p, map[string]string{real: replaceOnce(t, before, "value: debug", "value: trace")})
	commitPlan(t, root, p)
	isLink(t, root, patch)

	// Another target reads the patch file directly.
	root = linkRepo(t, map[string]string{patch: real})
	if err := os.WriteFile(filepath.Join(root, "overlays", "staging", "patches", "kustomization.yaml"), []byte("resources:\n- web.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, root, "add", "-A")
	testrepo.Git(t, root, "commit", "-q", "-m", "a target reading the patch")
	targets := append([]string{"overlays/staging/patches"}, kustomizeTargets...)
	p, err = planOne(t, root, targets, "overlays/staging", deployments, "web", setEnv("LOG_LEVEL", "trace"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Files[real]; ok {
		t.Errorf("the patch another target reads was edited through the link: %v", p.Paths())
	}
	for f := range p.Files {
		if f == patch {
			t.Errorf("the plan writes the link %s", patch)
		}
	}
}

// TestPlanRefusesLinks: a kustomization file that is a link to a file git does not track is not
// edited (the change is refused, naming the link); one that leads out of the repository is not
// even rendered.
func TestPlanRefusesLinks(t *testing.T) {
	kust := "overlays/staging/kustomization.yaml"
	root := linkRepo(t, map[string]string{kust: "overlays/staging/staging.yaml"})
	testrepo.Git(t, root, "rm", "-q", "--cached", "overlays/staging/staging.yaml")
	_, err := planOne(t, root, kustomizeTargets, "overlays/staging", deployments, "web", setReplicas(3))
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), kust+" is a symbolic link to overlays/staging/staging.yaml, which git does not track") {
		t.Errorf("a change through a link to an untracked file: %v", err)
	}

	root = testrepo.New(t, "kustomize")
	outside := filepath.Join(t.TempDir(), "kustomization.yaml")
	if err := os.Rename(filepath.Join(root, filepath.FromSlash(kust)), outside); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(root, filepath.FromSlash(kust)))
	_, err = NewEngine(root, Paths(kustomizeTargets...), Options{}).Rendered("overlays/staging")
	if err == nil || !strings.Contains(err.Error(), kust+" is a symbolic link to "+outside+", outside the repository") {
		t.Errorf("a target whose kustomization leads out of the repository: %v", err)
	}
}

// TestPlanTwoChangesThroughLink: the second change of a plan reads the linked kustomization as
// the first left it: both edits land in the file the link leads to.
func TestPlanTwoChangesThroughLink(t *testing.T) {
	kust, real := "overlays/staging/kustomization.yaml", "overlays/staging/staging.yaml"
	root := linkRepo(t, map[string]string{kust: real})
	before := read(t, root, real)
	eng := NewEngine(root, Paths(kustomizeTargets...), Options{})
	r, err := eng.Rendered("overlays/staging")
	if err != nil {
		t.Fatal(err)
	}
	var changes []ObjectChange
	for name, n := range map[string]int64{"web": 3, "worker": 2} {
		objs := r.Find(deployments, "", name)
		if len(objs) != 1 {
			t.Fatalf("%d %s", len(objs), name)
		}
		desired := objs[0].Obj().DeepCopy()
		setReplicas(n)(desired)
		changes = append(changes, ObjectChange{Target: "overlays/staging", Object: objs[0], Desired: desired.Object})
	}
	p, err := eng.Plan(changes)
	if err != nil {
		t.Fatal(err)
	}
	want := replaceOnce(t, before, "    count: 1\n", "    count: 3\n  - name: worker\n    count: 2\n")
	wantOnly(t, p, map[string]string{real: want})
}

// TestPlanSeesTargetReadingThroughDirLink: a target that reads the base through a linked
// directory shares the base's files: a change for another target is not written into them.
func TestPlanSeesTargetReadingThroughDirLink(t *testing.T) {
	testrepo.Env(t)
	root := testrepo.New(t, "kustomize")
	symlink(t, "../../base", filepath.Join(root, "overlays", "linked", "base"))
	if err := os.WriteFile(filepath.Join(root, "overlays", "linked", "kustomization.yaml"), []byte("resources:\n- base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testrepo.Git(t, root, "add", "-A")
	testrepo.Git(t, root, "commit", "-q", "-m", "an overlay reading the base through a link")
	p, err := planOne(t, root, []string{"overlays/linked", "overlays/staging"}, "overlays/staging", deployments, "worker", setReplicas(3))
	if err != nil {
		t.Fatal(err)
	}
	kust := "overlays/staging/kustomization.yaml"
	wantOnly(t, p, map[string]string{kust: replaceOnce(t, read(t, root, kust), "    count: 1\n", "    count: 1\n  - name: worker\n    count: 3\n")})
}
