package guard

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestCheckRenderedCorpus renders every kustomization of the corpus with kustomize, as
// `kubectl kustomize` does, and checks the Secrets it makes: the shapes the file check
// refuses reach the cluster in the clear, and the rendered check refuses them too, whatever
// shape made them; what the file check passes (sops-encrypted generators, sops-encrypted
// manifests of any name) passes rendered.
func TestCheckRenderedCorpus(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	// Cases kustomize refuses to render: nothing of them reaches a cluster.
	unrenderable := map[string]bool{
		"pass-generator-env-not-in-repo":  true, // its env file is not in the repository
		"fail-inline-patch-secret-target": true, // a strategic merge patch without a kind
	}
	rendered := 0
	for _, e := range entries {
		dir := filepath.Join(corpusDir, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			objs, err := kustomize(dir)
			if unrenderable[e.Name()] {
				if err == nil {
					t.Fatal("kustomize renders it; take it off the list of cases it refuses")
				}
				return
			}
			if err != nil {
				t.Fatalf("kustomize: %v", err)
			}
			rendered++
			rep := CheckRendered(objs, Options{})
			var secrets int
			for _, o := range objs {
				if o.Object["kind"] == "Secret" {
					secrets++
				}
			}
			switch {
			case strings.HasPrefix(e.Name(), "pass-"):
				if len(rep.Findings) != 0 {
					t.Errorf("findings on a pass case: %v", rep.Findings)
				}
			case secrets == 0:
				t.Fatal("a fail case renders no Secret")
			case len(rep.Findings) == 0:
				t.Errorf("no finding on the %d rendered Secrets of a fail case", secrets)
			}
			for _, f := range rep.Findings {
				if !strings.HasPrefix(f.Object, "Secret ") || f.File != filepath.ToSlash(filepath.Join(dir, "kustomization.yaml")) {
					t.Errorf("finding %+v, want it to name the Secret and its origin", f)
				}
			}
			files, _ := ReadPaths([]string{dir})
			assertNoLeak(t, files, rep)
		})
	}
	if rendered < 15 {
		t.Errorf("%d cases rendered, want at least 15", rendered)
	}
}

// kustomize renders dir as `kubectl kustomize` does, every object with the kustomization as
// its origin.
func kustomize(dir string) ([]Rendered, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var out []Rendered
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			return nil, err
		}
		out = append(out, Rendered{ID: r.GetKind() + " " + r.GetName(), Origin: filepath.ToSlash(filepath.Join(dir, "kustomization.yaml")), Object: obj})
	}
	return out, nil
}

func object(t *testing.T, yml string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := sigsyaml.Unmarshal([]byte(yml), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCheckRendered covers what a rendered object may be beyond the corpus's renders.
func TestCheckRendered(t *testing.T) {
	sealed := readCorpus(t, "pass-sealedsecret-strict.yaml")
	encrypted := readCorpus(t, "pass-sops-age.yaml")
	for _, tc := range []struct {
		name string
		obj  string
		want []string // paths of the findings
	}{
		{"empty Secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: empty}\ntype: Opaque\n", nil},
		{"empty values", "apiVersion: v1\nkind: Secret\nmetadata: {name: e}\ndata: {a: ''}\nstringData: {b: ''}\n", nil},
		{"Flux substitution", "apiVersion: v1\nkind: Secret\nmetadata: {name: f}\nstringData: {password: '${DB_PASSWORD}'}\n", nil},
		{"sops-encrypted manifest", encrypted, nil},
		{"sops values without metadata", encrypted[:strings.Index(encrypted, "\nsops:")+1], []string{"sops"}},
		{"SealedSecret", sealed, nil},
		{"plaintext data", "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\ndata: {password: " + b64(marker) + "}\n", []string{"data.password"}},
		{"plaintext stringData", "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\nstringData: {password: " + marker + "}\n", []string{"stringData.password"}},
		{"data that is not base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\ndata: {password: '" + marker + "!'}\n", []string{"data.password"}},
		{"SealedSecret with plaintext in its template", readCorpus(t, "fail-sealedsecret-template-stringdata.yaml"), []string{"spec.template.stringData.api-key"}},
		{"ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {password: " + marker + "}\n", nil},
		{"Secret of another group", "apiVersion: example.com/v1\nkind: Secret\nmetadata: {name: c}\nstringData: {password: " + marker + "}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := CheckRendered([]Rendered{{ID: "Secret prod/x", Origin: "apps/x.yaml", Object: object(t, tc.obj)}}, Options{})
			var got []string
			for _, f := range rep.Findings {
				got = append(got, f.Path)
				if f.File != "apps/x.yaml" || f.Object != "Secret prod/x" || f.Doc != 0 {
					t.Errorf("finding %+v, want it on apps/x.yaml, Secret prod/x", f)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("findings %v, want %v", rep.Findings, tc.want)
			}
			assertNoLeak(t, []File{{Path: "x", Data: []byte(tc.obj)}}, rep)
		})
	}

	t.Run("allowed by origin", func(t *testing.T) {
		obj := object(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\nstringData: {password: "+marker+"}\n")
		rep := CheckRendered([]Rendered{{ID: "Secret p", Origin: "test/fixture.yaml", Object: obj}}, Options{
			Allow: func(p string) (string, bool) { return "fixture", p == "test/fixture.yaml" },
		})
		if len(rep.Findings) != 0 || len(rep.Allowed) != 1 || rep.Allowed[0].File != "test/fixture.yaml" {
			t.Errorf("findings %v, allowed %v; want the fixture allowed", rep.Findings, rep.Allowed)
		}
	})
}
