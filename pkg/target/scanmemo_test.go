package target

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// scanMemoFile is the path of the repository's scan memo, which must exist.
func scanMemoFile(t *testing.T, repo string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repo, ".git", "kubectl-gitops", "scan-*.memo"))
	if len(files) != 1 {
		t.Fatalf("scan memos in %s: %v", repo, files)
	}
	return files[0]
}

// memoRepo is a git repository for the memo's tests, with a clock for the files it writes.
type memoRepo struct {
	t    *testing.T
	dir  string
	tick time.Time
}

func newMemoRepo(t *testing.T) *memoRepo {
	testrepo.Env(t)
	r := &memoRepo{t: t, dir: t.TempDir(), tick: time.Now().Add(-time.Hour)}
	testrepo.Git(t, r.dir, "init", "-q")
	return r
}

// stamp gives p a modification time of its own, earlier than the racy window: each write is
// told from the last by its stat even when the clock's tick is coarse.
func (r *memoRepo) stamp(p string) {
	r.t.Helper()
	r.tick = r.tick.Add(time.Second)
	if err := os.Chtimes(p, r.tick, r.tick); err != nil {
		r.t.Fatal(err)
	}
}

func (r *memoRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	parent, err := os.Stat(filepath.Dir(p))
	writeFile(r.t, p, content)
	r.stamp(p)
	if err != nil || !parent.IsDir() {
		return
	}
	if after, _ := os.Stat(filepath.Dir(p)); !after.ModTime().Equal(parent.ModTime()) {
		r.stamp(filepath.Dir(p)) // a new file
	}
}

func (r *memoRepo) remove(rel string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.RemoveAll(p); err != nil {
		r.t.Fatal(err)
	}
	r.stamp(filepath.Dir(p))
}

func (r *memoRepo) rename(from, to string) {
	r.t.Helper()
	a, b := filepath.Join(r.dir, filepath.FromSlash(from)), filepath.Join(r.dir, filepath.FromSlash(to))
	if err := os.Rename(a, b); err != nil {
		r.t.Fatal(err)
	}
	r.stamp(filepath.Dir(a))
	r.stamp(filepath.Dir(b))
}

// discover runs discovery with the memo and without, which must agree, and returns the memo.
// The file system's clock moves first: every file written before vouches for its content, as
// in a command run a moment after the edits (TestScanMemoRacy has those that do not).
func (r *memoRepo) discover(step string) *scanMemo {
	r.t.Helper()
	testrepo.NextTick(r.t)
	m := openScanMemo(r.dir)
	if m == nil {
		r.t.Fatalf("%s: no memo", step)
	}
	got, _, err := discover(r.dir, &Config{}, m)
	if err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
	want, _, err := discover(r.dir, &Config{}, nil)
	if err != nil {
		r.t.Fatalf("%s: without the memo: %v", step, err)
	}
	if !reflect.DeepEqual(got.Targets, want.Targets) || !reflect.DeepEqual(got.Includes, want.Includes) {
		r.t.Errorf("%s: with the memo\n%v\nwithout\n%v", step, summary(got), summary(want))
	}
	return m
}

const memoDeploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 1\n"

func (r *memoRepo) kustomizeSample() {
	r.write("base/kustomization.yaml", "resources:\n- apps/a\n- apps/b\n")
	for _, app := range []string{"a", "b"} {
		r.write("apps/"+app+"/kustomization.yaml", "resources:\n- d.yaml\n- s.yaml\n")
		r.write("apps/"+app+"/d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: "+app+"\nspec:\n  replicas: 1\n")
		r.write("apps/"+app+"/s.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: "+app+"\n")
		r.write("apps/"+app+"/notes.txt", "notes\n")
	}
	r.remove("base/apps") // never there: base names apps/ as ../apps below
	r.write("base/kustomization.yaml", "resources:\n- ../apps/a\n- ../apps/b\n")
	for _, env := range []string{"dev", "prod"} {
		r.write("overlays/"+env+"/kustomization.yaml", "resources:\n- ../../base\nlabels:\n- pairs:\n    env: "+env+"\n")
	}
	r.write("plain/p.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\n")
	r.write("README.md", "# sample\n")
	for _, d := range []string{"base", "apps/a", "apps/b", "apps", "overlays/dev", "overlays/prod", "overlays", "plain", "."} {
		r.stamp(filepath.Join(r.dir, d))
	}
}

// TestScanMemoChanges: a discovery with the memo finds what one without it finds after each kind
// of change, lists only the directories that changed and reads only the files that changed,
// and takes the targets as they were when what changed does not change them.
func TestScanMemoChanges(t *testing.T) {
	r := newMemoRepo(t)
	r.kustomizeSample()

	m := r.discover("first")
	if m.reused || m.listed == 0 || m.read == 0 {
		t.Errorf("first: listed %d, read %d, reused %v", m.listed, m.read, m.reused)
	}
	expect := func(m *scanMemo, step string, listed, read int, reused bool) {
		t.Helper()
		if m.listed != listed || m.read != read || m.reused != reused {
			t.Errorf("%s: listed %d directories, read %d files, reused the targets %v; want %d, %d, %v",
				step, m.listed, m.read, m.reused, listed, read, reused)
		}
	}
	expect(r.discover("unchanged"), "unchanged", 0, 0, true)
	if fi, err := os.Stat(scanMemoFile(t, r.dir)); err != nil {
		t.Fatal(err)
	} else if r.discover("unchanged again"); true {
		if after, _ := os.Stat(scanMemoFile(t, r.dir)); !after.ModTime().Equal(fi.ModTime()) {
			t.Error("an unchanged scan wrote the memo")
		}
	}

	r.write("apps/a/d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  replicas: 3\n")
	expect(r.discover("manifest edited"), "manifest edited", 0, 1, true)
	r.write("overlays/dev/kustomization.yaml", "resources:\n- ../../base\nlabels:\n- pairs:\n    env: dev\nreplicas:\n- name: a\n  count: 2\n")
	expect(r.discover("kustomization edited, same resources"), "kustomization edited", 0, 1, true)
	expect(r.discover("after the edit"), "after the edit", 0, 0, true)

	// An atomic write (a new file renamed over the old) changes the directory too.
	r.write("overlays/dev/tmp", "resources:\n- ../../base\n")
	r.rename("overlays/dev/tmp", "overlays/dev/kustomization.yaml")
	expect(r.discover("kustomization replaced"), "kustomization replaced", 1, 1, true)

	r.write("overlays/dev/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
	r.discover("file added, not included")
	r.write("overlays/dev/kustomization.yaml", "resources:\n- ../../base\n- extra.yaml\n")
	r.discover("file included")
	r.rename("apps/a/s.yaml", "apps/a/svc.yaml")
	r.discover("included file renamed")
	r.write("apps/a/kustomization.yaml", "resources:\n- d.yaml\n- svc.yaml\n")
	r.discover("kustomization follows the rename")
	r.remove("apps/b/notes.txt")
	r.discover("file removed")
	r.write("apps/c/kustomization.yaml", "resources:\n- d.yaml\n")
	r.write("apps/c/d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: c\n")
	r.discover("directory added, a root kustomization")
	r.write("base/kustomization.yaml", "resources:\n- ../apps/a\n- ../apps/b\n- ../apps/c\n")
	r.discover("the base includes it")
	r.write("plain/p.yaml", "kind: ConfigMap\n")
	r.discover("plain manifest no longer one")
	r.write("plain/more/q.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: q\n")
	r.discover("plain directory added")
	r.remove("plain/more")
	r.discover("plain directory removed")
	r.write("overlays/.hidden", "x")
	expect(r.discover("hidden file added"), "hidden file added", 1, 0, true)
	r.write("apps/a/chart/Chart.yaml", "apiVersion: v2\nname: a\n")
	r.write("apps/a/chart/templates/d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: t\n")
	r.discover("chart added")
	if err := os.Symlink("../apps/a", filepath.Join(r.dir, "overlays", "linked")); err != nil {
		t.Fatal(err)
	}
	r.stamp(filepath.Join(r.dir, "overlays"))
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n- ../linked\n")
	r.discover("a kustomization through a symlink")
	expect(r.discover("again"), "a symlink again", 0, 0, false)
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n")
	r.discover("no symlink")
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n- missing.yaml\n")
	r.discover("a missing resource")
	r.write("plain/missing.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n")
	r.discover("still missing")
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n")
	expect(r.discover("complete again"), "complete again", 0, 1, false)
	expect(r.discover("unchanged again"), "unchanged again", 0, 0, true)

	// Reconciler objects make the targets.
	r.write("clusters/prod/apps.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./overlays/prod\n")
	r.discover("a Flux Kustomization")
	expect(r.discover("Flux unchanged"), "Flux unchanged", 0, 0, true)
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n- ../../nothing\n")
	expect(r.discover("a kustomization changes under Flux"), "Flux, kustomization changed", 0, 0, true)
	r.write("clusters/prod/apps.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./overlays/dev\n")
	r.discover("the Flux Kustomization's path changes")
	r.write("clusters/prod/apps.yaml", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./overlays/none\n")
	r.discover("the Flux Kustomization's path is missing")
	r.write("overlays/none/kustomization.yaml", "resources:\n- ../../base\n")
	r.discover("the missing path appears")
	r.remove("clusters")
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n")
	r.discover("no Flux Kustomization")
	expect(r.discover("back to kustomizations"), "back to kustomizations", 0, 0, true)
}

// TestScanMemoRacy: a file or directory whose times are not older than the file system's clock
// when it was read (here: modified in the future) is read again by every scan, even when its
// stat does not change.
func TestScanMemoRacy(t *testing.T) {
	r := newMemoRepo(t)
	r.kustomizeSample()
	p := filepath.Join(r.dir, "plain", "p.yaml")
	future := time.Now().Add(time.Hour)
	racy := func(content string) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, content)
		if err := os.Chtimes(p, future, future); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.Stat(p); after.Size() != fi.Size() {
			t.Fatalf("the test's contents differ in size")
		}
	}
	// The stat does not vouch for it: the same stat with another content is read again.
	racy("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\n")
	r.discover("racy")
	if m := r.discover("racy, unchanged"); m.read != 1 {
		t.Errorf("racy, unchanged: %d files read, want the racy one", m.read)
	}
	racy("apiVersion: v1\nkinx: ConfigMap\nmetadata:\n  name: p\n")
	m := r.discover("same stat, not a manifest any more")
	if m.read == 0 {
		t.Error("the racy file was not read again")
	}
	for _, tg := range discoverSummary(t, r.dir, &Config{}) {
		if tg.Path == "plain" {
			t.Error("plain still a target")
		}
	}

	// A racy edit that changes nothing discovery looks at leaves the memo as it was: the next
	// scan reads the file again anyway.
	memoFile := scanMemoFile(t, r.dir)
	r.discover("settled")
	before, _ := os.Stat(memoFile)
	racy("apiVersion: v1\nkinx: ConfigMap\nmetadata:\n  name: x\n")
	if m := r.discover("racy edit"); !m.reused || m.read != 1 {
		t.Errorf("racy edit: read %d, reused %v", m.read, m.reused)
	}
	if after, _ := os.Stat(memoFile); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a racy edit rewrote the memo")
	}

	// A directory whose stat does not vouch is listed again, even with its time restored.
	dir := filepath.Join(r.dir, "plain")
	if err := os.Chtimes(dir, future, future); err != nil {
		t.Fatal(err)
	}
	r.discover("directory racy")
	writeFile(t, filepath.Join(dir, "q.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: q\n")
	if err := os.Chtimes(dir, future, future); err != nil {
		t.Fatal(err)
	}
	if m := r.discover("file added, directory time restored"); m.listed == 0 {
		t.Error("the racy directory was not listed again")
	}
	found := false
	for _, tg := range discoverSummary(t, r.dir, &Config{}) {
		found = found || tg.Path == "plain"
	}
	if !found {
		t.Error("plain/q.yaml not found")
	}
}

// TestScanMemoSameSizeSameMtime: a file rewritten with the same size and its modification time
// restored, or replaced by a rename with both kept, is read again: a Flux Kustomization written
// this way into a file that held a ConfigMap makes a target.
func TestScanMemoSameSizeSameMtime(t *testing.T) {
	r := newMemoRepo(t)
	r.kustomizeSample()
	flux := "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./overlays/prod\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: apps\n"
	cm += "data:\n  x: " + strings.Repeat("y", len(flux)-len(cm)-len("data:\n  x: \n")) + "\n"
	if len(cm) != len(flux) {
		t.Fatalf("the test's contents differ in size: %d, %d", len(cm), len(flux))
	}
	r.write("clusters/prod/apps.yaml", cm)
	r.write("clusters/dev/apps.yaml", cm)
	r.discover("a ConfigMap")
	if m := r.discover("settled"); !m.reused || m.read != 0 {
		t.Fatalf("settled: read %d, reused %v", m.read, m.reused)
	}
	hasTarget := func(step string) {
		t.Helper()
		for _, tg := range discoverSummary(t, r.dir, &Config{}) {
			if tg.Path == "overlays/prod" && tg.Name != "overlays/prod" {
				return
			}
		}
		t.Errorf("%s: the Flux Kustomization's target was not found", step)
	}

	p := filepath.Join(r.dir, "clusters", "prod", "apps.yaml")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, flux)
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if m := r.discover("rewritten with size and mtime kept"); m.read != 1 || m.reused {
		t.Errorf("rewritten: read %d, reused %v; want 1, false", m.read, m.reused)
	}
	hasTarget("rewritten")

	// Replaced by a rename, the directory's time restored too.
	p = filepath.Join(r.dir, "clusters", "dev", "apps.yaml")
	dir := filepath.Dir(p)
	di, _ := os.Stat(dir)
	fi, _ = os.Stat(p)
	tmp := filepath.Join(dir, "apps.tmp")
	writeFile(t, tmp, strings.Replace(flux, "name: apps", "name: appx", 1))
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, di.ModTime(), di.ModTime()); err != nil {
		t.Fatal(err)
	}
	if m := r.discover("renamed over with size and mtime kept"); m.read != 1 || m.listed != 1 || m.reused {
		t.Errorf("renamed over: read %d, listed %d, reused %v; want 1, 1, false", m.read, m.listed, m.reused)
	}
}

// TestScanMemoCorrupt: a memo that is not whole is not used.
func TestScanMemoCorrupt(t *testing.T) {
	r := newMemoRepo(t)
	r.kustomizeSample()
	r.discover("first")
	file := scanMemoFile(t, r.dir)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{b[:len(b)/2], append(append([]byte{}, b[:len(b)-3]...), 0xff, 0xff, 0xff), nil} {
		if err := os.WriteFile(file, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		m := openScanMemo(r.dir)
		if m.old != nil || m.oldResult != nil {
			t.Errorf("a memo of %d bytes was decoded", len(bad))
		}
		r.discover("corrupt memo")
	}
	if _, _, err := decodeScanMemo(b, "/elsewhere"); err == nil {
		t.Error("a memo of another directory was decoded")
	}
}

// TestScanMemoSplitsLargeDirectories: a directory with many subdirectories is scanned on two
// cores, and the scan finds, reads and stats what one core finds in either half.
func TestScanMemoSplitsLargeDirectories(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	r := newMemoRepo(t)
	apps := 2*splitDirs + 3
	var resources strings.Builder
	for i := range apps {
		app := fmt.Sprintf("app-%03d", i)
		r.write("apps/"+app+"/kustomization.yaml", "resources:\n- d.yaml\n")
		r.write("apps/"+app+"/d.yaml", fmt.Sprintf(memoDeploy, app))
		fmt.Fprintf(&resources, "- ../apps/%s\n", app)
	}
	r.write("base/kustomization.yaml", "resources:\n"+resources.String())
	r.write("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n")
	for _, d := range []string{"apps", "base", "overlays/prod", "overlays", "."} {
		r.stamp(filepath.Join(r.dir, d))
	}
	first, last := "apps/app-000/d.yaml", fmt.Sprintf("apps/app-%03d/d.yaml", apps-1)

	m := r.discover("first")
	if len(m.seen) != 2*apps+2 {
		t.Errorf("first: %d files' stats, want %d (every kustomization and manifest)", len(m.seen), 2*apps+2)
	}
	for _, p := range []string{first, last} {
		if _, ok := m.seen[p]; !ok {
			t.Errorf("first: no stat of %s", p)
		}
	}
	m = r.discover("unchanged")
	if m.listed != 0 || m.read != 0 || !m.reused {
		t.Errorf("unchanged: listed %d, read %d, reused %v; want 0, 0, true", m.listed, m.read, m.reused)
	}
	for _, p := range []string{first, last} {
		r.write(p, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: edited\n")
	}
	if m = r.discover("a manifest edited in each half"); m.read != 2 || !m.reused {
		t.Errorf("edited: read %d, reused %v; want 2, true", m.read, m.reused)
	}
	r.write(fmt.Sprintf("apps/app-%03d/flux.yaml", apps-1), "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./base\n")
	if m = r.discover("a Flux Kustomization in the last subdirectory"); m.reused || m.listed != 1 {
		t.Errorf("Flux added: listed %d, reused %v; want 1, false", m.listed, m.reused)
	}
}
