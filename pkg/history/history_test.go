package history

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// selectByName picks the one object of a kind and name, as the commands' selection does.
func selectByName(kind, name string) func(*render.Result) (*render.Object, error) {
	return func(r *render.Result) (*render.Object, error) {
		var found []*render.Object
		for _, o := range r.Objects {
			if o.ID.Kind == kind && o.ID.Name == name {
				found = append(found, o)
			}
		}
		if len(found) == 0 {
			return nil, NotRendered(fmt.Errorf("%s %s not found in %s", kind, name, r.Path))
		}
		if len(found) != 1 {
			return nil, fmt.Errorf("%s %s: %d objects in %s", kind, name, len(found), r.Path)
		}
		return found[0], nil
	}
}

// bruteForce is the definition of an object's history: the target rendered whole at every
// first-parent commit, and the commits after which the object renders differently.
func bruteForce(t *testing.T, dir, target string, id render.ObjectID) []Revision {
	t.Helper()
	var out []Revision
	var prev *unstructured.Unstructured
	for _, s := range fullRenders(t, dir, target) {
		var cur *unstructured.Unstructured
		if s.render != nil {
			if o := s.render.Get(id); o != nil {
				cur = o.Obj()
			}
		}
		if !sameForm(prev, cur) {
			out = append(out, Revision{Number: len(out) + 1, Commit: commitInfo(t, dir, s.commit), Object: cur, Created: prev == nil, Deleted: cur == nil})
		}
		prev = cur
	}
	return out
}

type fullRender struct {
	commit string
	render *render.Result // nil when the target does not exist
}

// renders caches fullRenders by repository and target: the cases of one history share them.
var renders = map[string][]fullRender{}

// fullRenders renders the target whole at every first-parent commit, oldest first.
func fullRenders(t *testing.T, dir, target string) []fullRender {
	t.Helper()
	if r, ok := renders[dir+"\x00"+target]; ok {
		return r
	}
	var out []fullRender
	for _, c := range strings.Fields(testrepo.Git(t, dir, "rev-list", "--first-parent", "--reverse", "HEAD")) {
		tree := t.TempDir()
		archive := exec.Command("sh", "-c", "git archive "+c+" | tar -x -C "+tree)
		archive.Dir = dir
		if b, err := archive.CombinedOutput(); err != nil {
			t.Fatalf("archive %s: %v\n%s", c, err, b)
		}
		s := fullRender{commit: c}
		if _, err := os.Stat(filepath.Join(tree, filepath.FromSlash(target))); err == nil {
			r, err := render.Render(tree, target, render.Options{})
			if err != nil {
				t.Fatalf("render %s at %s: %v", target, c, err)
			}
			s.render = r
		}
		out = append(out, s)
	}
	renders[dir+"\x00"+target] = out
	return out
}

func commitInfo(t *testing.T, dir, c string) gitrepo.CommitInfo {
	t.Helper()
	return gitrepo.CommitInfo{Hash: c, Subject: testrepo.Git(t, dir, "log", "-1", "--format=%s", c)}
}

// assertSameHistory compares the engine's revisions with the brute force's, and those of a
// second walk, which takes the forms the first rendered as slices from its memo, with the first's.
func assertSameHistory(t *testing.T, dir, target string, kind, name string) *Result {
	t.Helper()
	req := Request{RepoDir: dir, Path: target, Name: name, Select: selectByName(kind, name), TempDir: t.TempDir(), MemoDir: t.TempDir()}
	res, err := Object(context.Background(), req)
	if err != nil {
		t.Fatalf("history of %s %s in %s: %v", kind, name, target, err)
	}
	defer func() {
		next, err := Object(context.Background(), req)
		if err != nil {
			t.Fatalf("history of %s %s in %s, again: %v", kind, name, target, err)
		}
		if !reflect.DeepEqual(next.Revisions, res.Revisions) {
			t.Errorf("history of %s %s in %s: the second walk, with the first's memo, found other revisions", kind, name, target)
		}
		// Every state the first walk rendered comes from the memo; where the object is gone at
		// Rev, the renders that look for it are not kept.
		first, second := res.Stats, next.Stats
		searched := len(res.Revisions) > 0 && res.Revisions[len(res.Revisions)-1].Deleted
		exact := second.Renders == 0 && second.Memo == first.Memo+first.Renders
		if second.Renders+second.Memo != first.Renders+first.Memo || !searched && !exact || first.Renders > 0 && second.Memo == 0 {
			t.Errorf("history of %s %s in %s: the first walk rendered %d states (%d whole, %d from the memo), the second %d (%d from the memo); want none rendered again",
				kind, name, target, first.Renders, first.Whole, first.Memo, second.Renders, second.Memo)
		}
	}()
	want := bruteForce(t, dir, target, res.ID)
	var gotList, wantList []string
	for _, r := range res.Revisions {
		gotList = append(gotList, fmt.Sprintf("%d %s %s created=%v deleted=%v", r.Number, r.Commit.Hash[:7], r.Commit.Subject, r.Created, r.Deleted))
	}
	for _, r := range want {
		wantList = append(wantList, fmt.Sprintf("%d %s %s created=%v deleted=%v", r.Number, r.Commit.Hash[:7], r.Commit.Subject, r.Created, r.Deleted))
	}
	if !reflect.DeepEqual(gotList, wantList) {
		t.Errorf("history of %s %s in %s:\n got  %s\n want %s", kind, name, target, strings.Join(gotList, "\n      "), strings.Join(wantList, "\n      "))
		return res
	}
	for i, r := range res.Revisions {
		if !sameForm(r.Object, want[i].Object) {
			t.Errorf("revision %d of %s %s: the form differs from the brute force's", r.Number, kind, name)
		}
	}
	return res
}

func commitAll(t *testing.T, dir, msg string, files map[string]string, remove ...string) {
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
	for _, name := range remove {
		testrepo.Git(t, dir, "rm", "-q", "-r", name)
	}
	testrepo.Git(t, dir, "add", "-A")
	testrepo.Git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replace(t *testing.T, dir, name, old, new string) map[string]string {
	t.Helper()
	s := read(t, dir, name)
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	return map[string]string{name: strings.Replace(s, old, new, 1)}
}

// A kustomize history with every kind of change: each object's revisions are those of the brute
// force, whatever the engine skips or slices.
func TestHistoryMatchesFullRendersKustomize(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: web to 3", replace(t, dir, "overlays/staging/kustomization.yaml", "count: 1", "count: 3"))
	commitAll(t, dir, "staging: comment only", replace(t, dir, "overlays/staging/kustomization.yaml", "# Staging:", "# Staging (edited):"))
	commitAll(t, dir, "base: worker image", replace(t, dir, "base/worker.yaml", "worker:2.0.0", "worker:2.0.1"))
	commitAll(t, dir, "staging: worker tag", replace(t, dir, "overlays/staging/kustomization.yaml", `newTag: "2.1.0"`, `newTag: "2.2.0"`))
	commitAll(t, dir, "staging: web tag (web and cache-warmup)", replace(t, dir, "overlays/staging/kustomization.yaml", "newTag: 1.5.0-rc.1", "newTag: 1.5.0-rc.2"))
	commitAll(t, dir, "production: web to 5", replace(t, dir, "overlays/production/kustomization.yaml", "count: 4", "count: 5"))
	commitAll(t, dir, "base: service port name", replace(t, dir, "base/service.yaml", "name: http\n      port: 80", "name: web\n      port: 80"))
	commitAll(t, dir, "base: config value", replace(t, dir, "base/config.yaml", "MAX_RETRIES: \"5\"", "MAX_RETRIES: \"6\""))
	commitAll(t, dir, "staging: flags", replace(t, dir, "overlays/staging/kustomization.yaml", "RECOMMENDATIONS=false", "RECOMMENDATIONS=true"))
	commitAll(t, dir, "staging: log level", replace(t, dir, "overlays/staging/web-patch.yaml", "value: debug", "value: info"))
	commitAll(t, dir, "README", map[string]string{"README.md": "# shop\n"})
	// The overlay moves to a copy of the base: the old base's history must still be followed.
	base := map[string]string{}
	for _, f := range []string{"config.yaml", "cronjob.yaml", "kustomization.yaml", "namespace.yaml", "service.yaml", "web.yaml", "worker.yaml"} {
		base["base-v2/"+f] = read(t, dir, "base/"+f)
	}
	base["base-v2/web.yaml"] = strings.Replace(base["base-v2/web.yaml"], "revisionHistoryLimit: 5", "revisionHistoryLimit: 7", 1)
	for k, v := range replace(t, dir, "overlays/staging/kustomization.yaml", "../../base", "../../base-v2") {
		base[k] = v
	}
	commitAll(t, dir, "staging: base v2", base)
	commitAll(t, dir, "base (old): web image, staging no longer reads it", replace(t, dir, "base/web.yaml", "web:1.4.0\n          imagePullPolicy", "web:1.4.1\n          imagePullPolicy"))
	commitAll(t, dir, "base-v2: web moved to its own directory", map[string]string{
		"base-v2/kustomization.yaml":     strings.Replace(read(t, dir, "base-v2/kustomization.yaml"), "  - web.yaml\n", "  - web\n", 1),
		"base-v2/web/kustomization.yaml": "resources:\n  - deployment.yaml\n",
		"base-v2/web/deployment.yaml":    read(t, dir, "base-v2/web.yaml"),
	}, "base-v2/web.yaml")
	commitAll(t, dir, "staging: worker removed", replace(t, dir, "overlays/staging/kustomization.yaml", "patches:\n", "patches:\n  - patch: |-\n      $patch: delete\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: worker\n        namespace: shop\n"))

	for _, o := range []struct{ kind, name string }{
		{"Deployment", "web"}, {"Deployment", "worker"}, {"CronJob", "cache-warmup"}, {"Service", "web"},
		{"ConfigMap", "worker-config"}, {"Namespace", "shop"},
	} {
		t.Run(o.kind+"/"+o.name, func(t *testing.T) {
			if o.name == "worker" {
				// Production still renders worker; staging's history of it is the "removed" case.
				assertSameHistory(t, dir, "overlays/production", o.kind, o.name)
				return
			}
			res := assertSameHistory(t, dir, "overlays/staging", o.kind, o.name)
			t.Logf("%d commits read, %d renders (%d whole), paths %v", res.Stats.Commits, res.Stats.Renders, res.Stats.Whole, res.Stats.Paths)
			// web's history is judged without a render at the commits that change the comment,
			// the worker's image and tag, production, the old base and the README: a judgement
			// that spoils the parsed kustomizations it compares renders more.
			if o.name == "web" && o.kind == "Deployment" && (res.Stats.Renders > 7 || res.Stats.Whole > 0) {
				t.Errorf("%d renders (%d whole) for web's history, want at most 7 (none whole)", res.Stats.Renders, res.Stats.Whole)
			}
		})
	}
	// worker no longer renders in staging: its history ends with the commit that removed it, and
	// its last form is the one before.
	t.Run("removed", func(t *testing.T) {
		res := assertSameHistory(t, dir, "overlays/staging", "Deployment", "worker")
		last := res.Revisions[len(res.Revisions)-1]
		if !last.Deleted || last.Object != nil || last.Commit.Subject != "staging: worker removed" || last.Commit.Hash != testrepo.Git(t, dir, "rev-parse", "HEAD") {
			t.Errorf("the last revision is %+v, want the removal at HEAD", last)
		}
		if res.Object == nil || res.Object.ID.String() != "Deployment.apps shop/worker" || !sameForm(res.Object.Obj(), res.Revisions[len(res.Revisions)-2].Object) {
			t.Errorf("the result's object is not worker's last form: %+v", res.Object)
		}
	})
}

// A commit that changes only images: and replicas: entries is judged without the object's form:
// an entry that renames an image another entry then matches, and entries for other objects,
// must give the full renders' history.
func TestHistoryImageAndReplicaEntries(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	const kust = "overlays/staging/kustomization.yaml"
	commitAll(t, dir, "staging: web from the mirror", replace(t, dir, kust,
		"  - name: registry.example.com/shop/web\n    newTag: 1.5.0-rc.1\n",
		"  - name: registry.example.com/shop/web\n    newName: mirror.example.com/shop/web\n    newTag: 1.5.0-rc.1\n"+
			"  - name: mirror.example.com/shop/web\n    newTag: 1.5.0-rc.2\n"))
	commitAll(t, dir, "staging: the mirror's tag", replace(t, dir, kust, "newTag: 1.5.0-rc.2", "newTag: 1.5.0-rc.3"))
	commitAll(t, dir, "staging: an image nothing runs", replace(t, dir, kust, "images:\n",
		"images:\n  - name: registry.example.com/shop/unused\n    newTag: \"9\"\n"))
	commitAll(t, dir, "staging: its tag", replace(t, dir, kust, `newTag: "9"`, `newTag: "10"`))
	commitAll(t, dir, "staging: worker's replicas", replace(t, dir, kust, "replicas:\n", "replicas:\n  - name: worker\n    count: 2\n"))
	commitAll(t, dir, "staging: worker to 3", replace(t, dir, kust, "name: worker\n    count: 2", "name: worker\n    count: 3"))
	commitAll(t, dir, "base: web image", replace(t, dir, "base/web.yaml", "web:1.4.0", "web:1.4.1"))
	for _, o := range []struct{ kind, name string }{{"Deployment", "web"}, {"CronJob", "cache-warmup"}, {"Deployment", "worker"}} {
		t.Run(o.kind+"/"+o.name, func(t *testing.T) {
			res := assertSameHistory(t, dir, "overlays/staging", o.kind, o.name)
			t.Logf("%d commits read, %d renders (%d whole)", res.Stats.Commits, res.Stats.Renders, res.Stats.Whole)
		})
	}
}

// An object that refers to a ConfigMap another directory generates, by its own documents or a
// patch, carries the hash kustomize gives the name in every form of its history: slices keep
// the directories that generate. (The generated names share nothing with the Deployments'
// names, which would keep a directory for its Deployment's file.)
func TestHistoryGeneratorDirectories(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	app := func(name, ref string) map[string]string {
		env := ""
		if ref != "" {
			env = "          envFrom:\n            - configMapRef:\n                name: " + ref + "\n"
		}
		return map[string]string{
			"apps/" + name + "/kustomization.yaml": "resources:\n  - deployment.yaml\nconfigMapGenerator:\n  - name: " + name[:3] +
				"-cfg\n    literals:\n      - LEVEL=1\n",
			"apps/" + name + "/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
				"\nspec:\n  selector:\n    matchLabels:\n      app: " + name + "\n  template:\n    metadata:\n      labels:\n        app: " +
				name + "\n    spec:\n      containers:\n        - name: main\n          image: registry.example.com/" + name + ":1\n" + env,
		}
	}
	files := map[string]string{"apps/kustomization.yaml": "namespace: apps\nresources:\n  - reader\n  - loner\n  - patched\npatches:\n  - path: patch.yaml\n",
		"apps/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: patched\nspec:\n  template:\n    spec:\n      containers:\n        - name: main\n          envFrom:\n            - configMapRef:\n                name: lon-cfg\n"}
	for name, ref := range map[string]string{"reader": "rea-cfg", "loner": "", "patched": ""} {
		maps.Copy(files, app(name, ref))
	}
	commitAll(t, dir, "three applications", files)
	commitAll(t, dir, "reader's level", replace(t, dir, "apps/reader/kustomization.yaml", "LEVEL=1", "LEVEL=2"))
	commitAll(t, dir, "loner's level", replace(t, dir, "apps/loner/kustomization.yaml", "LEVEL=1", "LEVEL=2"))
	commitAll(t, dir, "patched's level", replace(t, dir, "apps/patched/kustomization.yaml", "LEVEL=1", "LEVEL=2"))
	commitAll(t, dir, "loner's level again", replace(t, dir, "apps/loner/kustomization.yaml", "LEVEL=2", "LEVEL=3"))
	commitAll(t, dir, "reader's image", replace(t, dir, "apps/reader/deployment.yaml", "reader:1", "reader:2"))
	for _, name := range []string{"reader", "loner", "patched"} {
		t.Run(name, func(t *testing.T) {
			res := assertSameHistory(t, dir, "apps", "Deployment", name)
			t.Logf("%d revisions, %d commits read, %d renders (%d whole)", len(res.Revisions), res.Stats.Commits, res.Stats.Renders, res.Stats.Whole)
		})
	}
}

// An object that no state of the history renders is an error, the one the render at HEAD gave.
func TestHistoryNeverRendered(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: web to 3", replace(t, dir, "overlays/staging/kustomization.yaml", "count: 1", "count: 3"))
	_, err := Object(context.Background(), Request{RepoDir: dir, Path: "overlays/staging", Name: "nope", Select: selectByName("Deployment", "nope"), TempDir: t.TempDir()})
	if err == nil || err.Error() != "Deployment nope not found in overlays/staging" {
		t.Errorf("history of a deployment that never was: %v", err)
	}
}

// A plain directory, rendered as Flux does: files come and go.
func TestHistoryMatchesFullRendersPlain(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "plain")
	commitAll(t, dir, "web to 4", replace(t, dir, "apps/shop/deployment.yaml", "replicas: 2", "replicas: 4"))
	commitAll(t, dir, "a new config map", map[string]string{"apps/shop/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: shop\ndata:\n  a: b\n"})
	commitAll(t, dir, "values file, not a manifest", map[string]string{"apps/shop/values.yaml": "replicas: 9\n"})
	commitAll(t, dir, "extra changes", replace(t, dir, "apps/shop/extra.yaml", "a: b", "a: c"))
	commitAll(t, dir, "extra goes", nil, "apps/shop/extra.yaml")
	commitAll(t, dir, "web config", replace(t, dir, "apps/shop/config.yaml", "CURRENCY: EUR", "CURRENCY: USD"))
	commitAll(t, dir, "web image", replace(t, dir, "apps/shop/deployment.yaml", "replicas: 4", "replicas: 5"))
	// extra, gone since "extra goes": its history ends with that commit.
	for _, o := range []struct{ kind, name string }{{"Deployment", "web"}, {"ConfigMap", "web-config"}, {"Service", "web"}, {"ConfigMap", "extra"}} {
		t.Run(o.kind+"/"+o.name, func(t *testing.T) {
			assertSameHistory(t, dir, ".", o.kind, o.name)
		})
	}
}

// A generated repository: every kind of commit repogen makes, several objects.
func TestHistoryMatchesFullRendersGenerated(t *testing.T) {
	testrepo.Env(t)
	dir := filepath.Join(t.TempDir(), "fleet")
	opts := repogen.Options{Apps: 4, ManifestsPerApp: 6, Overlays: []string{"dev", "staging"}, Commits: 80}
	if err := repogen.Generate(dir, opts); err != nil {
		t.Fatal(err)
	}
	// One the staging overlay scales, the one its patch resizes, one only the base changes.
	names := []string{opts.OverlayReplicas("staging")[0], repogen.AppName(0) + "-web", repogen.AppName(3) + "-web"}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			res := assertSameHistory(t, dir, "overlays/staging", "Deployment", n)
			if len(res.Revisions) < 2 {
				t.Errorf("%s has %d revisions: the generated history should change it", n, len(res.Revisions))
			}
			t.Logf("%d revisions, %d commits read, %d renders", len(res.Revisions), res.Stats.Commits, res.Stats.Renders)
		})
	}
	t.Run("ConfigMap", func(t *testing.T) {
		assertSameHistory(t, dir, "overlays/staging", "ConfigMap", repogen.AppName(2)+"-web-config")
	})
}

// A kustomization with replacements copies one object's field into another: then another
// object's document can change the followed one, and the walk renders whole (no slice, no skip).
func TestHistoryMatchesFullRendersWithReplacements(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: currency annotation from web-config", replace(t, dir, "overlays/staging/kustomization.yaml", "patches:\n", `replacements:
  - source:
      kind: ConfigMap
      name: web-config
      fieldPath: data.CURRENCY
    targets:
      - select:
          kind: Deployment
          name: web
        fieldPaths:
          - metadata.annotations.[shop.example.com/currency]
        options:
          create: true

patches:
`))
	commitAll(t, dir, "base: currency", replace(t, dir, "base/config.yaml", "CURRENCY: EUR", "CURRENCY: USD"))
	commitAll(t, dir, "base: worker image", replace(t, dir, "base/worker.yaml", "worker:2.0.0", "worker:2.0.1"))
	res := assertSameHistory(t, dir, "overlays/staging", "Deployment", "web")
	if n := len(res.Revisions); n != 3 || res.Revisions[2].Commit.Subject != "base: currency" {
		t.Errorf("%d revisions, want the sample's, the replacement's and the currency's", n)
	}
}

// A generated ConfigMap's name changes with its content (kustomize's hash suffix): the history
// follows it by its generator's name.
func TestHistoryFollowsGeneratedName(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: recommendations on", replace(t, dir, "overlays/staging/kustomization.yaml", "RECOMMENDATIONS=false", "RECOMMENDATIONS=true"))
	commitAll(t, dir, "staging: web to 2", replace(t, dir, "overlays/staging/kustomization.yaml", "count: 1", "count: 2"))
	r, err := render.Render(dir, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, o := range r.Objects {
		if o.ID.Kind == "ConfigMap" && strings.HasPrefix(o.ID.Name, "web-feature-flags-") {
			name = o.ID.Name
		}
	}
	res, err := Object(context.Background(), Request{RepoDir: dir, Path: "overlays/staging", Name: name, Select: selectByName("ConfigMap", name), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rev := range res.Revisions {
		var cs []string
		for _, c := range rev.Changes {
			cs = append(cs, c.String())
		}
		got = append(got, fmt.Sprintf("%s created=%v %s", rev.Commit.Subject, rev.Created, strings.Join(cs, "; ")))
	}
	want := []string{
		"Initial kustomize created=true ",
		"staging: recommendations on created=false data.RECOMMENDATIONS: false → true; metadata.name: web-feature-flags-",
	}
	if len(got) != 2 || got[0] != want[0] || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("revisions of %s:\n got  %q\n want %q...", name, got, want)
	}
}
