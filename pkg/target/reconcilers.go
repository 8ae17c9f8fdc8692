package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// withReconcilers makes the targets of a repository that holds reconciler objects: one target
// for each thing a Flux Kustomization or an Argo CD Application (the ones ApplicationSets
// generate included) applies from it, with the reconciler's own options (Target.Applied). ts are
// the targets found by path alone, returned as they are when files hold no reconciler object.
// Reconcilers whose sources or paths cannot be followed are left out: warnings say which.
func withReconcilers(repoDir string, ts []Target, files []string) ([]Target, []string) {
	if len(files) == 0 {
		return ts, nil
	}
	objs, warnings := readReconcilers(repoDir, files)
	var argo []reconciler.Object
	for _, o := range objs {
		if reconciler.IsArgoApplication(o) || reconciler.IsArgoApplicationSet(o) {
			argo = append(argo, o)
		}
	}
	url := repositoryURL(repoDir)
	var applied []reconciler.Applied
	if len(argo) > 0 {
		a, _, errs := reconciler.ArgoApplied(argo, repoDir, url)
		applied = append(applied, a...)
		for _, err := range errs {
			warnings = append(warnings, err.Error())
		}
	}
	flux, errs := reconciler.FluxApplied(os.DirFS(repoDir), objs)
	for _, err := range errs {
		warnings = append(warnings, err.Error())
	}
	for _, a := range flux {
		// A Kustomization of another Git repository (a hub's GitRepository of a tenant's
		// repository) applies none of this one's directories.
		if url != "" && a.URL != "" && !strings.HasPrefix(a.URL, "oci://") && !reconciler.SameRepository(a.URL, url) {
			continue
		}
		applied = append(applied, a)
	}
	if len(applied) == 0 {
		return ts, warnings
	}
	// A reconciler defined once per cluster directory (clusters/staging/apps.yaml and
	// clusters/production/apps.yaml both define flux-system/apps) is named with that directory.
	files4ref := map[string]map[string]bool{}
	for _, a := range applied {
		ref := a.Reconciler.Ref()
		if files4ref[ref] == nil {
			files4ref[ref] = map[string]bool{}
		}
		files4ref[ref][a.Reconciler.File] = true
	}
	out := make([]Target, 0, len(applied))
	for i := range applied {
		a := &applied[i]
		if a.Artifact == nil && !isDir(filepath.Join(repoDir, filepath.FromSlash(a.Path))) {
			warnings = append(warnings, fmt.Sprintf("%s in %s applies %s, which is not a directory of the repository", a.Reconciler.Ref(), a.Reconciler.File, a.Path))
			continue
		}
		name := a.Reconciler.Ref()
		if len(files4ref[name]) > 1 {
			name += "@" + path.Dir(a.Reconciler.File)
		}
		if a.Source > 0 {
			name += fmt.Sprintf("[%d]", a.Source)
		}
		t := Target{Name: name, RepoDir: repoDir, Path: a.Path, Applied: a}
		switch {
		case reconciler.IsArgoApplication(a.Reconciler):
			t.Source = SourceArgoCD
			t.Namespace = str(a.Reconciler.Obj.Object, "spec", "destination", "namespace")
		default:
			t.Source = SourceFlux
			t.Namespace = str(a.Reconciler.Obj.Object, "spec", "targetNamespace")
		}
		out = append(out, t)
	}
	return out, warnings
}

// readReconcilers reads the Flux and Argo CD objects of files.
func readReconcilers(repoDir string, files []string) ([]reconciler.Object, []string) {
	var out []reconciler.Object
	var warnings []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(f)))
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for doc := 0; ; doc++ {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var te *yaml.TypeError
				if errors.As(err, &te) {
					continue
				}
				break
			}
			apiVersion, _ := m["apiVersion"].(string)
			group, _, _ := strings.Cut(apiVersion, "/")
			if !strings.HasSuffix(group, ".fluxcd.io") && group != argoGroup {
				continue
			}
			obj, ok := jsonCompatible(m).(map[string]any)
			if !ok {
				continue
			}
			out = append(out, reconciler.Object{File: f, Doc: doc, Obj: &unstructured.Unstructured{Object: obj}})
		}
	}
	return out, warnings
}

// jsonCompatible turns what yaml.v3 decodes into what unstructured holds: int64 and float64
// numbers, string map keys.
func jsonCompatible(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonCompatible(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonCompatible(e)
		}
		return x
	case int:
		return int64(x)
	}
	return v
}

// repositoryURL is the URL of the repository's remote (its current branch's, else origin);
// "" when it has none.
func repositoryURL(repoDir string) string {
	ctx := context.Background()
	c, err := openCheckout(ctx, ExecGit{}, repoDir)
	if err != nil || c == nil {
		return ""
	}
	return c.remoteURL(ctx, ExecGit{})
}

// reconcilerFiles are the files of the scan that hold reconciler objects.
func (s *repoScan) reconcilerFiles() []string {
	var out []string
	for _, o := range s.objects {
		if o.file != "" && !slices.Contains(out, o.file) {
			out = append(out, o.file)
		}
	}
	slices.Sort(out)
	return out
}

// reconcilerFiles are the files the memo's tree knows to hold reconciler objects.
func (m *scanMemo) reconcilerFiles() []string {
	var out []string
	if m == nil || m.tree == nil {
		return nil
	}
	m.tree.number(func(_ uint32, d *memoDir, e *memoEntry) {
		if len(e.objects) > 0 {
			out = append(out, entryPath(d.path, e.name))
		}
	})
	slices.Sort(out)
	return out
}
