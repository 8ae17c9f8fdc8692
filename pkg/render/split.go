package render

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// A kustomization that only gathers files, built in groups. kustomize checks each resource it
// adds against every one added before it, computing each one's ID again (resWrangler.Append),
// and a build does so in three passes (accumulating, dropping local configuration, the legacy
// sort): a directory of 1,000 manifests, which Flux builds through a generated kustomization
// listing every file, took 2.0 s to render, most of it in these checks (BenchmarkDiff1000).
//
// A kustomization whose fields are only apiVersion, kind, metadata, resources: (or bases:) naming
// files, and buildMetadata: [originAnnotations] (pkg/reach's Inert and Gathers) does nothing across its resources as long as none renames
// (no transformer, no generator, no hash) and no file carries kustomize's own annotations (which
// could ask for a hash, a former name or a local-only object): so it builds in groups of files,
// each group by kustomize, and the groups' resources are put in the legacy order kustomize sorts
// a build in. TestSplitBuild compares the result with the whole build's, bytes and order.
// Anything else — another field, a directory or a URL among the resources, an ID in two groups,
// a group that fails to build, an order the sort cannot tell — leaves the build to kustomize in
// one piece, so its result, or its error, is kustomize's own.

// splitGroupFiles is how many files one group of a split build reads.
const splitGroupFiles = 16

// built is what a build yields: kustomize's ResMap, or the resources of a split build.
type built interface {
	Resources() []*resource.Resource
	AsYaml() ([]byte, error)
}

// joined is the resources of several builds in one list, in their final order.
type joined []*resource.Resource

func (j joined) Resources() []*resource.Resource { return j }

// AsYaml is the list as kustomize's ResMap prints it: each resource's YAML, separated by "---".
func (j joined) AsYaml() ([]byte, error) {
	var b bytes.Buffer
	for i, r := range j {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// withContent is a file system that reads the file at either of paths as content.
type withContent struct {
	filesys.FileSystem
	paths   [2]string
	content []byte
}

func (w withContent) ReadFile(p string) ([]byte, error) {
	if p == w.paths[0] || p == w.paths[1] {
		return bytes.Clone(w.content), nil
	}
	return w.FileSystem.ReadFile(p)
}

// buildSplit builds the kustomization in absDir, whose file is kustFile (links resolved: real),
// in groups of files when it only gathers files (see above), the groups side by side; ok is
// false when it cannot, and the caller builds it whole.
func buildSplit(kopts *krusty.Options, kfs filesys.FileSystem, absDir, kustFile, real string) (out joined, ok bool) {
	src, err := kfs.ReadFile(kustFile)
	if err != nil {
		return nil, false
	}
	k, err := reach.Parse(src)
	if err != nil || !k.Within(reach.Inert, reach.Gathers) || k.Kind != types.KustomizationKind ||
		k.APIVersion != types.KustomizationVersion || len(k.Resources) < 2*splitGroupFiles {
		return nil, false
	}
	var kust map[string]any
	if err := sigsyaml.Unmarshal(src, &kust); err != nil {
		return nil, false
	}
	delete(kust, "bases")
	list := k.Resources
	files := make([]string, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, f := range list {
		p := filepath.Join(absDir, filepath.FromSlash(f))
		if f == "" || reach.IsRemote(f) || seen[p] || !kfs.Exists(p) || kfs.IsDir(p) {
			return nil, false
		}
		seen[p] = true
		b, err := kfs.ReadFile(p)
		if err != nil || bytes.Contains(b, []byte("config.kubernetes.io/")) || bytes.Contains(b, []byte("config.k8s.io/")) {
			return nil, false
		}
		files = append(files, f)
	}

	// Each group's kustomization is the kustomization with its files alone, read in its place.
	var groups []withContent
	for start := 0; start < len(files); start += splitGroupFiles {
		kust["resources"] = files[start:min(start+splitGroupFiles, len(files))]
		b, err := sigsyaml.Marshal(kust)
		if err != nil {
			return nil, false
		}
		groups = append(groups, withContent{FileSystem: kfs, paths: [2]string{kustFile, real}, content: b})
	}
	built := make([][]*resource.Resource, len(groups))
	failed := make([]bool, len(groups))
	eachParallel(len(groups), func(i int) {
		m, err := krusty.MakeKustomizer(kopts).Run(groups[i], absDir)
		if err != nil {
			failed[i] = true
			return
		}
		built[i] = m.Resources()
	})

	type idKey struct {
		kind      gvk
		namespace string
		name      string
	}
	ids := map[idKey]bool{}
	for i, res := range built {
		if failed[i] {
			return nil, false
		}
		for _, r := range res {
			// kustomize's own test of a repeated ID (ResId.Equals): "" is the default namespace.
			id := r.CurId()
			key := idKey{gvk{id.Group, id.Version, id.Kind}, id.EffectiveNamespace(), id.Name}
			if ids[key] {
				return nil, false
			}
			ids[key] = true
			out = append(out, r)
		}
	}
	if err := legacySort(out); err != nil {
		return nil, false
	}
	return out, true
}

// legacySort sorts resources as kustomize's legacy sort sorts a build, as sortLegacy sorts
// objects. It fails when two resources sort alike: kustomize's sort is not stable.
func legacySort(res []*resource.Resource) error {
	type item struct {
		r    *resource.Resource
		kind gvk
		key  string
	}
	items := make([]item, len(res))
	kinds := make([]gvk, 0, len(res))
	have := map[gvk]bool{}
	for i, r := range res {
		id := r.CurId()
		items[i] = item{r, gvk{id.Group, id.Version, id.Kind}, legacyKey(id.Namespace, id.Name)}
		if !have[items[i].kind] {
			have[items[i].kind] = true
			kinds = append(kinds, items[i].kind)
		}
	}
	rank, err := kindRanks(kinds)
	if err != nil {
		return err
	}
	less := func(a, b item) bool {
		if a.kind != b.kind {
			return rank[a.kind] < rank[b.kind]
		}
		return a.key < b.key
	}
	sort.Slice(items, func(i, j int) bool { return less(items[i], items[j]) })
	for i, it := range items {
		if i > 0 && !less(items[i-1], it) {
			return fmt.Errorf("%s and %s sort alike", items[i-1].r.CurId(), it.r.CurId())
		}
		res[i] = it.r
	}
	return nil
}
