package change

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// reductionCase is one change, planned twice: on reduced renders and on whole ones.
type reductionCase struct {
	name    string
	target  string
	gk      schema.GroupKind
	object  string
	mutate  func(u *unstructured.Unstructured)
	del     bool
	reduced bool // the reduced render must be used (the repository allows it)
}

func setImage(container, image string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m := c.(map[string]any); m["name"] == container {
				m["image"] = image
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}
}

func setLabel(k, v string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[k] = v
		u.SetLabels(l)
	}
}

// TestReducedEqualsWhole: on a generated fleet (a base listing every application, three
// overlays) and on the sample repositories, the closed loop on reduced renders accepts and
// refuses exactly what it accepts and refuses on whole renders, with the same bytes.
func TestReducedEqualsWhole(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	opts := repogen.Options{Apps: 12, ManifestsPerApp: 20, Overlays: []string{"dev", "staging", "production"}, Commits: 1}
	if err := repogen.Generate(fleet, opts); err != nil {
		t.Fatal(err)
	}
	staged := opts.OverlayReplicas("staging")[0]
	app := repogen.AppName(5)
	other := repogen.AppName(7)
	fleetTargets := []string{"overlays/dev", "overlays/staging", "overlays/production"}
	cases := []reductionCase{
		{name: "replicas entry changed", target: "overlays/staging", gk: deployments, object: staged, mutate: setReplicas(9), reduced: true},
		{name: "replicas entry added", target: "overlays/staging", gk: deployments, object: app + "-web", mutate: setReplicas(17), reduced: true},
		{name: "image", target: "overlays/production", gk: deployments, object: app + "-web", mutate: setImage("web", "registry.example.com/"+app+"/web:9.9.9"), reduced: true},
		{name: "label by patch", target: "overlays/dev", gk: schema.GroupKind{Kind: "ConfigMap"}, object: other + "-web-config", mutate: setLabel("tier", "frontend"), reduced: true},
		{name: "delete", target: "overlays/dev", gk: schema.GroupKind{Kind: "ConfigMap"}, object: other + "-web-config", del: true, reduced: true},
	}
	for _, c := range cases {
		t.Run("fleet/"+c.name, func(t *testing.T) { compareReduced(t, fleet, fleetTargets, c) })
	}

	// The platform shape: an overlay over applications whose own kustomizations copy fields
	// between objects (replacements, generators, components). A change in one application
	// renders that application whole and leaves the others out.
	platform := filepath.Join(t.TempDir(), "platform")
	shape, err := repogen.Platform(platform, 1)
	if err != nil {
		t.Fatal(err)
	}
	app = strings.TrimSuffix(shape.Deployment, "-controller-manager")
	// The scale is placed in the file under the replacements and generators. A replacement's
	// source and target, and a CRD (left out of the reduced render unless edited), are changed
	// in their own files.
	for _, c := range []reductionCase{
		{name: "scale", target: shape.Path, gk: deployments, object: shape.Deployment, mutate: setReplicas(4), reduced: true},
		{name: "delete from a component", target: shape.Path, gk: schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}, object: app + "-web", del: true},
		{name: "label on a replacement's source", target: shape.Path, gk: schema.GroupKind{Kind: "Service"}, object: app + "-webhook-service", mutate: setLabel("tier", "edge"), reduced: true},
		{name: "label on a replacement's target", target: shape.Path, gk: schema.GroupKind{Group: "certs.platform.example.com", Kind: "Certificate"}, object: app + "-serving-cert", mutate: setLabel("tier", "edge"), reduced: true},
		{name: "label on a CRD", target: shape.Path, gk: schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, object: app + "jobs." + app + ".platform.example.com", mutate: setLabel("tier", "edge"), reduced: true},
	} {
		t.Run("platform/"+c.name, func(t *testing.T) { compareReduced(t, platform, []string{shape.Path}, c) })
	}

	samples := []struct {
		repo    string
		targets []string
		c       reductionCase
	}{
		{"kustomize", []string{"overlays/staging", "overlays/production"}, reductionCase{name: "scale", target: "overlays/staging", gk: deployments, object: "web", mutate: setReplicas(7)}},
		{"kustomize", []string{"overlays/staging", "overlays/production"}, reductionCase{name: "image", target: "overlays/production", gk: deployments, object: "web", mutate: setImage("web", "ghcr.io/example/shop-web:9.9.9")}},
		{"kustomize", []string{"overlays/staging", "overlays/production"}, reductionCase{name: "label", target: "overlays/staging", gk: deployments, object: "web", mutate: setLabel("tier", "frontend")}},
	}
	for _, s := range samples {
		t.Run(s.repo+"/"+s.c.name, func(t *testing.T) { compareReduced(t, sample(t, s.repo), s.targets, s.c) })
	}
}

func compareReduced(t *testing.T, root string, targets []string, c reductionCase) {
	plan := func(whole bool) (*Plan, *Engine, error) {
		eng := NewEngine(root, Paths(targets...), Options{Whole: whole})
		r, err := eng.Rendered(c.target)
		if err != nil {
			t.Fatal(err)
		}
		objs := r.Find(c.gk, "", c.object)
		if len(objs) != 1 {
			t.Fatalf("%s %s: found %d in %s", c.gk, c.object, len(objs), c.target)
		}
		var desired map[string]any
		if !c.del {
			u := objs[0].Obj().DeepCopy()
			c.mutate(u)
			desired = u.Object
		}
		p, err := eng.Plan([]ObjectChange{{Target: c.target, Object: objs[0], Desired: desired}})
		return p, eng, err
	}
	whole, _, werr := plan(true)
	reduced, eng, rerr := plan(false)
	if c.reduced && eng.Stats().Reduced == 0 {
		t.Errorf("the closed loop rendered %s whole; it can be reduced", c.target)
	}
	var wref, rref *RefusedError
	if errors.As(werr, &wref) != errors.As(rerr, &rref) || (werr == nil) != (rerr == nil) {
		t.Fatalf("whole: %v\nreduced: %v", werr, rerr)
	}
	if werr != nil {
		return
	}
	if !maps.EqualFunc(whole.Files, reduced.Files, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("whole changes %v, reduced %v", whole.Paths(), reduced.Paths())
		for _, f := range whole.Paths() {
			if string(whole.Files[f]) != string(reduced.Files[f]) {
				t.Errorf("%s:\n--- whole\n%s\n--- reduced\n%s", f, whole.Files[f], reduced.Files[f])
			}
		}
	}
	// The full render after the change that the reduced loop composes is the whole render.
	for tgt, after := range eng.accepted {
		got := objectsOf(after)
		want, err := render.Render(root, tgt, render.Options{Overlay: reduced.Files})
		if err != nil {
			t.Fatal(err)
		}
		if w := objectsOf(want); !maps.EqualFunc(got, w, func(a, b string) bool { return a == b }) {
			t.Errorf("target %s: the composed render after the change differs from the whole render (%d objects, want %d)", tgt, len(got), len(w))
		}
		for _, o := range after.Objects {
			if w := want.Get(o.ID); w != nil && o.Origin != w.Origin {
				t.Errorf("%s: origin %+v, the whole render says %+v", o.ID, o.Origin, w.Origin)
			}
		}
	}
}

func objectsOf(r *render.Result) map[render.ObjectID]string {
	out := map[render.ObjectID]string{}
	for _, o := range r.Objects {
		b, _ := o.Obj().MarshalJSON()
		out[o.ID] = string(b)
	}
	return out
}

// TestRefreshCachedRender: a cached render whose inputs changed since (an edit by hand, a pull)
// is brought up to date by a reduced render, and equals the whole render of the new files.
func TestRefreshCachedRender(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	opts := repogen.Options{Apps: 10, ManifestsPerApp: 20, Overlays: []string{"dev", "staging"}, Commits: 1}
	if err := repogen.Generate(fleet, opts); err != nil {
		t.Fatal(err)
	}
	targets := []string{"overlays/dev", "overlays/staging"}
	cache := render.Cache{Dir: t.TempDir()}
	eng := NewEngine(fleet, Paths(targets...), Options{Cache: cache})
	if _, err := eng.Rendered("overlays/staging"); err != nil {
		t.Fatal(err)
	}

	staged := opts.OverlayReplicas("staging")[0]
	kust := filepath.Join(fleet, "overlays", "staging", "kustomization.yaml")
	k := read(t, fleet, "overlays/staging/kustomization.yaml")
	i := strings.Index(k, "- name: "+staged+"\n")
	if i < 0 {
		t.Fatalf("no replicas: entry for %s", staged)
	}
	j := i + strings.Index(k[i:], "count: ")
	k = k[:j] + "count: 42" + k[j+len("count: ")+strings.IndexByte(k[j+len("count: "):], '\n'):]
	writeFile(t, kust, k)
	cm := filepath.Join("base", "apps", repogen.AppName(3), "web-config.yaml")
	cmText := read(t, fleet, cm)
	writeFile(t, filepath.Join(fleet, cm), replaceOnce(t, cmText, "\ndata:\n", "\ndata:\n  EDITED_BY_HAND: \"yes\"\n"))

	eng2 := NewEngine(fleet, Paths(targets...), Options{Cache: cache})
	got, err := eng2.Rendered("overlays/staging")
	if err != nil {
		t.Fatal(err)
	}
	if n := eng2.Stats().Refreshed; n != 1 {
		t.Errorf("the cached render was not refreshed (refreshed %d)", n)
	}
	want, err := render.Render(fleet, "overlays/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := objectsOf(got), objectsOf(want); !maps.Equal(g, w) {
		t.Errorf("refreshed render differs from the whole render (%d objects, want %d)", len(g), len(w))
	}
	for _, o := range got.Objects {
		if w := want.Get(o.ID); w == nil || w.Origin != o.Origin {
			t.Errorf("%s: origin %+v, the whole render says %+v", o.ID, o.Origin, w)
		}
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPartialRendersReused: a run of changes to one object, as a user makes them (each planned
// by a new engine, its files written, the cache kept), with an edit by hand in between. The
// partial render after one change stands for the partial render before the next (from the
// cache, or from the refresh of this command), and every plan and render equals the whole
// loop's.
func TestPartialRendersReused(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	opts := repogen.Options{Apps: 10, ManifestsPerApp: 20, Overlays: []string{"dev", "staging"}, Commits: 1}
	if err := repogen.Generate(fleet, opts); err != nil {
		t.Fatal(err)
	}
	targets := []string{"overlays/dev", "overlays/staging"}
	const tgt = "overlays/staging"
	staged := opts.OverlayReplicas("staging")[0]
	cache := render.Cache{Dir: t.TempDir()}
	kust := "overlays/staging/kustomization.yaml"

	scale := func(n int64, whole bool, c render.Cache) (*Plan, *Engine) {
		t.Helper()
		eng := NewEngine(fleet, Paths(targets...), Options{Cache: c, Whole: whole})
		r, err := eng.Rendered(tgt)
		if err != nil {
			t.Fatal(err)
		}
		objs := r.Find(deployments, "", staged)
		if len(objs) != 1 {
			t.Fatalf("found %d %s", len(objs), staged)
		}
		u := objs[0].Obj().DeepCopy()
		setReplicas(n)(u)
		p, err := eng.Plan([]ObjectChange{{Target: tgt, Object: objs[0], Desired: u.Object}})
		if err != nil {
			t.Fatal(err)
		}
		return p, eng
	}
	apply := func(p *Plan, eng *Engine) {
		t.Helper()
		for f, b := range p.Files {
			writeFile(t, filepath.Join(fleet, filepath.FromSlash(f)), string(b))
		}
		eng.Remember(true)
	}
	check := func(step string, p *Plan, eng *Engine, n int64, wantReused int) {
		t.Helper()
		if n := eng.Stats().PartialsReused; n != wantReused {
			t.Errorf("%s: %d partial renders reused, want %d", step, n, wantReused)
		}
		whole, _ := scale(n, true, render.Cache{})
		if !maps.EqualFunc(whole.Files, p.Files, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("%s: the plan differs from the whole loop's", step)
		}
		want, err := render.Render(fleet, tgt, render.Options{Overlay: p.Files})
		if err != nil {
			t.Fatal(err)
		}
		if got, w := objectsOf(eng.accepted[tgt]), objectsOf(want); !maps.Equal(got, w) {
			t.Errorf("%s: the render after the change differs from the whole render", step)
		}
	}

	p, eng := scale(5, false, cache)
	check("first change", p, eng, 5, 0) // nothing kept yet: both partial renders are made
	apply(p, eng)

	p, eng = scale(6, false, cache)
	check("second change", p, eng, 6, 1) // the render before is the last change's render after
	apply(p, eng)

	// An edit by hand of the same kustomization (another count), as a pull or a commit would
	// bring: the refresh's render before is the cached partial render, its render after is the
	// change's render before.
	k := read(t, fleet, kust)
	writeFile(t, filepath.Join(fleet, kust), strings.Replace(k, "count: 6", "count: 8", 1))
	p, eng = scale(7, false, cache)
	if n := eng.Stats().Refreshed; n != 1 {
		t.Errorf("the cached render was not refreshed (refreshed %d)", n)
	}
	check("change after an edit by hand", p, eng, 7, 2)
	apply(p, eng)

	// An edit of a file the partial render read: the cached partial render stands only for
	// the render of the old content (the refresh's before), and the render after the change
	// holds the edit (check compares it with the whole render).
	web := filepath.Join("base", "apps", strings.TrimSuffix(staged, "-web"), "web-deployment.yaml")
	src := read(t, fleet, web)
	writeFile(t, filepath.Join(fleet, web), replaceOnce(t, src, "\nspec:\n", "\nspec:\n  minReadySeconds: 3\n"))
	p, eng = scale(9, false, cache)
	check("change after the object's file was edited", p, eng, 9, 2)
}

// TestEntriesReading: the tree's index finds exactly the entries whose reads take in a file,
// as a scan of every entry does.
func TestEntriesReading(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	if err := repogen.Generate(fleet, repogen.Options{Apps: 4, ManifestsPerApp: 5, Overlays: []string{"dev", "staging"}, Commits: 1}); err != nil {
		t.Fatal(err)
	}
	entriesReadingIn(t, fleet, "overlays/staging")
	// Entries that read files outside their own directory.
	outside := t.TempDir()
	for f, content := range map[string]string{
		"top/kustomization.yaml":      "resources:\n- ../base\n- extra.yaml\n",
		"top/extra.yaml":              "kind: ConfigMap\n",
		"base/kustomization.yaml":     "resources:\n- app\n",
		"base/app/kustomization.yaml": "resources:\n- ../../shared/cm.yaml\n- d.yaml\npatches:\n- path: ../../patches/p.yaml\nconfigMapGenerator:\n- name: x\n  files:\n  - ../../shared/data/x.txt\n",
		"base/app/d.yaml":             "kind: Deployment\n",
		"shared/cm.yaml":              "kind: ConfigMap\n",
		"shared/data/x.txt":           "x\n",
		"patches/p.yaml":              "kind: Deployment\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(outside, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(outside, f), content)
	}
	entriesReadingIn(t, outside, "top")
	entriesReadingIn(t, sample(t, "kustomize"), "overlays/staging")
}

func entriesReadingIn(t *testing.T, root, target string) {
	tree, err := parseTree(root, target, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"base", "base/", "base/apps", "base/apps/x", "overlays", "overlays/staging/none.yaml", ".", "", "/base", "base//apps", "shared/data"}
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	outside := 0
	for _, n := range tree.nodes {
		for _, en := range n.entries {
			for _, r := range en.reads {
				if r != en.path && !strings.HasPrefix(r, en.path+"/") {
					outside++
				}
			}
		}
	}
	t.Logf("%s/%s: %d nodes, %d reads outside their entry", filepath.Base(root), target, len(tree.nodes), outside)
	for _, f := range files {
		got := map[*entry]bool{}
		tree.entriesReading(f, func(en *entry) { got[en] = true })
		want := map[*entry]bool{}
		for _, n := range tree.nodes {
			for _, en := range n.entries {
				if en.readsFile(f) {
					want[en] = true
				}
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%q: %d entries read it, the index finds %d", f, len(want), len(got))
		}
	}
}

// TestLister: the listing of directories tells what os.Stat tells, links and missing names
// included, and finds the kustomization file kustomizationIn finds.
func TestLister(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "yml", "upper", "none", "linked/real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/kustomization.yaml", "a/x.yaml", "a/b/kustomization.yaml", "yml/kustomization.yml", "upper/Kustomization", "none/x.yaml", "linked/real/kustomization.yaml"} {
		writeFile(t, filepath.Join(root, f), "resources: []\n")
	}
	links := map[string]string{"a/dirlink": "b", "a/filelink": "x.yaml", "a/broken": "missing", "linked/k": "real", "linked/k2": "real/kustomization.yaml"}
	for l, to := range links {
		if err := os.Symlink(to, filepath.Join(root, l)); err != nil {
			t.Skip("no symbolic links:", err)
		}
	}
	if err := os.Symlink("k2", filepath.Join(root, "linked", "kustomization.yaml")); err != nil {
		t.Fatal(err)
	}
	ls := &lister{root: root, dirs: map[string]map[string]os.FileMode{}}
	for _, p := range []string{".", "a", "a/b", "a/x.yaml", "a/dirlink", "a/filelink", "a/broken", "a/missing", "missing/x", "a/x.yaml/y",
		"yml", "upper", "none", "linked", "linked/k", "linked/k2", "linked/real", "a/kustomization.yaml", "A", "a/X.yaml"} {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		exists, dir := ls.stat(p)
		if exists != (err == nil) || dir != (err == nil && fi.IsDir()) {
			t.Errorf("%s: exists %v, directory %v; os.Stat says %v, %v", p, exists, dir, err == nil, err == nil && fi.IsDir())
		}
		if got, want := ls.kustomizationIn(p), kustomizationIn(root, p); got != want {
			t.Errorf("kustomization of %s: %q, want %q", p, got, want)
		}
	}
}

// TestReducedRenderLeavesOutOtherTargets: the reduced render of a change to one application
// holds that application alone: the overlay's replicas: entries, image entries and patch for
// other applications are left out with them (kustomize would fail on a replicas: entry or a
// patch without its object), and the closed loop still equals the whole one.
func TestReducedRenderLeavesOutOtherTargets(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "fleet")
	opts := repogen.Options{Apps: 12, ManifestsPerApp: 5, Overlays: []string{"staging"}, Commits: 1}
	if err := repogen.Generate(fleet, opts); err != nil {
		t.Fatal(err)
	}
	staged := opts.OverlayReplicas("staging")
	if len(staged) < 2 {
		t.Fatalf("the overlay sizes %d applications; the test needs several", len(staged))
	}
	c := reductionCase{name: "scale", target: "overlays/staging", gk: deployments, object: staged[0], mutate: setReplicas(9), reduced: true}
	compareReduced(t, fleet, []string{"overlays/staging"}, c)

	eng := NewEngine(fleet, Paths("overlays/staging"), Options{})
	r, err := eng.Rendered("overlays/staging")
	if err != nil {
		t.Fatal(err)
	}
	objs := r.Find(deployments, "", staged[0])
	u := objs[0].Obj().DeepCopy()
	setReplicas(9)(u)
	if _, err := eng.Plan([]ObjectChange{{Target: c.target, Object: objs[0], Desired: u.Object}}); err != nil {
		t.Fatal(err)
	}
	parts := eng.partials["overlays/staging"]
	if len(parts) == 0 {
		t.Fatal("no reduced render")
	}
	app := strings.TrimSuffix(staged[0], "-web")
	for _, p := range parts {
		for _, o := range p.Objects {
			if !strings.HasPrefix(o.ID.Name, app+"-") && o.ID.Name != app {
				t.Errorf("the reduced render of a change to %s holds %s, of another application", staged[0], o.ID)
			}
		}
		if p.Get(objs[0].ID) == nil {
			t.Errorf("the reduced render lacks %s", objs[0].ID)
		}
	}
}

// TestReducedRenderLeavesOutUnlinkedObjects: in an application whose kustomizations copy
// between objects (replacements, generators, components), a change to its Deployment renders
// the objects the copies and name references link it to, and leaves out its CRDs, which no
// replacement selects; the closed loop still equals the whole one.
func TestReducedRenderLeavesOutUnlinkedObjects(t *testing.T) {
	root := filepath.Join(t.TempDir(), "platform")
	shape, err := repogen.Platform(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := reductionCase{name: "scale", target: shape.Path, gk: deployments, object: shape.Deployment, mutate: setReplicas(6), reduced: true}
	compareReduced(t, root, []string{shape.Path}, c)

	eng := NewEngine(root, Paths(shape.Path), Options{})
	r, err := eng.Rendered(shape.Path)
	if err != nil {
		t.Fatal(err)
	}
	objs := r.Find(deployments, "", shape.Deployment)
	if len(objs) != 1 {
		t.Fatalf("found %d %s", len(objs), shape.Deployment)
	}
	u := objs[0].Obj().DeepCopy()
	setReplicas(6)(u)
	if _, err := eng.Plan([]ObjectChange{{Target: shape.Path, Object: objs[0], Desired: u.Object}}); err != nil {
		t.Fatal(err)
	}
	parts := eng.partials[shape.Path]
	if len(parts) == 0 {
		t.Fatal("no reduced render")
	}
	for _, p := range parts {
		for _, o := range p.Objects {
			if o.ID.Kind == "CustomResourceDefinition" {
				t.Errorf("the reduced render of a change to %s holds %s", shape.Deployment, o.ID)
			}
		}
		for _, kind := range []string{"ServiceAccount", "Certificate", "ValidatingWebhookConfiguration"} {
			if len(findKind(p, kind)) == 0 {
				t.Errorf("the reduced render lacks the application's %s, which the change's objects are linked to", kind)
			}
		}
	}
}

func findKind(r *render.Result, kind string) []*render.Object {
	var out []*render.Object
	for _, o := range r.Objects {
		if o.ID.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}
