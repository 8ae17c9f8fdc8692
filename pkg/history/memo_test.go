package history

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func TestMemoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := loadMemo(dir)
	heads := fileHeads{ok: true, docs: []docHead{{APIVersion: "apps/v1", Kind: "Deployment"}}}
	heads.docs[0].Metadata.Name, heads.docs[0].Metadata.Namespace = "web", "shop"
	m.heads["b1"], m.heads["b2"] = heads, fileHeads{}
	m.possible["object\x00apps\x00Deployment\x00web\x00b1"], m.possible["hint\x00web\x00b2"] = true, false
	obj := &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "spec": map[string]any{"replicas": int64(3)}}}
	with, without, fails := [sha256.Size]byte{1}, [sha256.Size]byte{2}, [sha256.Size]byte{3}
	m.keep(with, obj, map[string]bool{"a.yaml": true, "kustomization.yaml": true})
	m.keep(without, nil, map[string]bool{})
	m.keep(fails, nil, nil)
	m.save()

	got := loadMemo(dir)
	if !reflect.DeepEqual(got.heads, m.heads) {
		t.Errorf("heads: got %+v, want %+v", got.heads, m.heads)
	}
	if !reflect.DeepEqual(got.possible, m.possible) {
		t.Errorf("possible: got %v, want %v", got.possible, m.possible)
	}
	var p, q pending
	if _, ok := got.recall(with, &p); !ok || !reflect.DeepEqual(p.obj, obj) || !reflect.DeepEqual(p.inputs, map[string]bool{"a.yaml": true, "kustomization.yaml": true}) {
		t.Errorf("state with the object: got %v %v", p.obj, p.inputs)
	}
	if _, ok := got.recall(without, &q); !ok || q.obj != nil || len(q.inputs) != 0 {
		t.Errorf("state without the object: got %v %v", q.obj, q.inputs)
	}
	if failed, ok := got.recall(fails, &q); !ok || !failed {
		t.Errorf("a state that does not render: recalled %v, failed %v", ok, failed)
	}
	if _, ok := got.recall([sha256.Size]byte{4}, &q); ok {
		t.Error("a state never kept was recalled")
	}
}

func TestMemoUnreadableIsNotUsed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "history.memo"), []byte("not a memo"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := loadMemo(dir)
	if len(m.heads) != 0 || len(m.states) != 0 {
		t.Fatalf("an unreadable memo gave %d heads and %d states", len(m.heads), len(m.states))
	}
	m.heads["b"] = fileHeads{ok: true}
	m.save()
	if got := loadMemo(dir); len(got.heads) != 1 {
		t.Errorf("the memo written over an unreadable one holds %d heads, want 1", len(got.heads))
	}
}

// A Secret's rendered form holds its data: it is never a key's, so never written.
func TestMemoKeepsNoSecretForm(t *testing.T) {
	w := &walker{memo: &memo{file: "memo"}, root: "."}
	files := map[string]string{"kustomization.yaml": "b"}
	w.x = match{known: true, id: render.ObjectID{Kind: "Secret", Namespace: "shop", Name: "db"}}
	if _, ok := w.stateKey("slice", files); ok {
		t.Error("a Secret's state has a memo key")
	}
	w.x.id.Kind = "ConfigMap"
	if _, ok := w.stateKey("slice", files); !ok {
		t.Error("a ConfigMap's state has no memo key")
	}
}

// A kustomization with a transformers: file is rendered whole at every state a commit reaches;
// those forms are kept too, and the second walk (assertSameHistory's) renders none again.
func TestHistoryWholeRendersFromMemo(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: team label by a transformer", map[string]string{
		"overlays/staging/team-labels.yaml": `apiVersion: builtin
kind: LabelTransformer
metadata:
  name: team
labels:
  team: shop
fieldSpecs:
  - path: metadata/labels
    create: true
`,
		"overlays/staging/kustomization.yaml": read(t, dir, "overlays/staging/kustomization.yaml") + "\ntransformers:\n  - team-labels.yaml\n",
	})
	commitAll(t, dir, "base: web memory", replace(t, dir, "base/web.yaml", "memory: 256Mi", "memory: 384Mi"))
	commitAll(t, dir, "base: worker image", replace(t, dir, "base/worker.yaml", "worker:2.0.0", "worker:2.0.1"))
	commitAll(t, dir, "staging: team label", replace(t, dir, "overlays/staging/team-labels.yaml", "team: shop", "team: storefront"))
	res := assertSameHistory(t, dir, "overlays/staging", "Deployment", "web")
	if res.Stats.Whole == 0 {
		t.Errorf("no state rendered whole (%+v): the case does not cover whole renders", res.Stats)
	}
	if n := len(res.Revisions); n < 4 {
		t.Errorf("%d revisions, want the sample's, the transformer's, the memory's and the label's", n)
	}
}

// A state that does not render (a listed file missing) is kept as such: its slice and its whole
// render read only the state, and the second walk renders neither again.
func TestHistoryBrokenStateFromMemo(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "kustomize")
	commitAll(t, dir, "staging: list a file not written yet", replace(t, dir, "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - extra.yaml\n"))
	commitAll(t, dir, "staging: web to 3", replace(t, dir, "overlays/staging/kustomization.yaml", "count: 1", "count: 3"))
	commitAll(t, dir, "staging: the extra ConfigMap", map[string]string{"overlays/staging/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n"})
	commitAll(t, dir, "base: web memory", replace(t, dir, "base/web.yaml", "memory: 256Mi", "memory: 384Mi"))
	req := Request{RepoDir: dir, Path: "overlays/staging", Name: "web", Select: selectByName("Deployment", "web"), TempDir: t.TempDir(), MemoDir: t.TempDir()}
	first, err := Object(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Object(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second.Revisions, first.Revisions) {
		t.Errorf("the second walk found other revisions than the first")
	}
	if first.Stats.Whole == 0 || second.Stats.Renders != 0 || second.Stats.Memo != first.Stats.Renders+first.Stats.Memo {
		t.Errorf("the first walk rendered %+v, the second %+v: want the broken states rendered whole first, and nothing rendered second", first.Stats, second.Stats)
	}
	var subjects []string
	for _, r := range first.Revisions {
		subjects = append(subjects, r.Commit.Subject)
	}
	if last := subjects[len(subjects)-1]; last != "base: web memory" {
		t.Errorf("revisions %q: want the memory's last", subjects)
	}
}

// Past its bounds a memo keeps only the forms the last walk used or added.
func TestMemoBounded(t *testing.T) {
	dir := t.TempDir()
	m := loadMemo(dir)
	for i := range maxMemoHeads + 1 {
		m.heads[fmt.Sprint(i)] = fileHeads{ok: true}
	}
	m.states[[sha256.Size]byte{1}] = memoState{inputs: []string{"old.yaml"}}
	m.keep([sha256.Size]byte{2}, nil, map[string]bool{"new.yaml": true})
	m.save()
	got := loadMemo(dir)
	if len(got.heads) != 0 || len(got.states) != 1 {
		t.Fatalf("after the bound: %d heads and %d states, want none and the one added", len(got.heads), len(got.states))
	}
	var p pending
	if _, ok := got.recall([sha256.Size]byte{2}, &p); !ok {
		t.Error("the state the walk added was not kept")
	}
}

// Two objects of one kind and name in two namespaces of a target have their own forms in the
// memo: the history of the second, walked after the first's, is its own.
func TestMemoKeysTheObjectsNamespace(t *testing.T) {
	testrepo.Env(t)
	dir := testrepo.New(t, "plain")
	web := func(ns string, replicas int) string {
		return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: %s\nspec:\n  replicas: %d\n", ns, replicas)
	}
	commitAll(t, dir, "two webs", map[string]string{"apps/two/a.yaml": web("a", 1), "apps/two/b.yaml": web("b", 1)})
	commitAll(t, dir, "a to 2", map[string]string{"apps/two/a.yaml": web("a", 2)})
	commitAll(t, dir, "b to 3", map[string]string{"apps/two/b.yaml": web("b", 3)})
	commitAll(t, dir, "a to 4", map[string]string{"apps/two/a.yaml": web("a", 4)})
	memoDir := t.TempDir()
	for _, c := range []struct {
		ns   string
		want []string
	}{{"a", []string{"two webs", "a to 2", "a to 4"}}, {"b", []string{"two webs", "b to 3"}}} {
		sel := func(r *render.Result) (*render.Object, error) {
			if o := r.Get(render.ObjectID{Group: "apps", Kind: "Deployment", Namespace: c.ns, Name: "web"}); o != nil {
				return o, nil
			}
			return nil, NotRendered(fmt.Errorf("web not in %s", c.ns))
		}
		res, err := Object(context.Background(), Request{RepoDir: dir, Path: "apps/two", Name: "web", Select: sel, TempDir: t.TempDir(), MemoDir: memoDir})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res.Revisions {
			got = append(got, r.Commit.Subject)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("web in %s: revisions %q, want %q", c.ns, got, c.want)
		}
	}
}
