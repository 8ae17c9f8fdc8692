// Package render renders a target path of a config repository the way its reconciler does: a
// kustomization with the kustomize API in-process (so the output equals `kubectl kustomize`), a
// plain directory as Flux renders it (every manifest below it), an Argo CD Application's source as
// its repo-server renders it (argo.go). Each rendered object knows the file and document it came
// from.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	sigsyaml "sigs.k8s.io/yaml"
)

// ObjectID names a rendered object the way the API server does.
type ObjectID struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

func (id ObjectID) String() string {
	gk := id.Kind
	if id.Group != "" {
		gk += "." + id.Group
	}
	if id.Namespace == "" {
		return gk + "/" + id.Name
	}
	return gk + " " + id.Namespace + "/" + id.Name
}

// GroupKind is the object's group and kind.
func (id ObjectID) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: id.Group, Kind: id.Kind}
}

// Origin is where a rendered object was written in the repository.
type Origin struct {
	// File is the repository-relative, slash-separated file the object's document is in.
	File string
	// Doc is the document's index within File; -1 when the object was generated.
	Doc int
	// Generated names the kustomization file whose generator (configMapGenerator, ...) made it.
	Generated string
	// Name and Namespace are the object's in the file, before namePrefix, namespace and the like.
	Name      string
	Namespace string
	// Layer names the reconciler's own options that changed the object, in the order the
	// reconciler applies them and separated by "; " (the last changed it last), where the render
	// can tell: "Flux Kustomization flux-system/apps spec.patches[0]" (flux.go), "Argo CD
	// Application argocd/web spec.source.kustomize.images" or the .argocd-source file that set
	// it (argo.go). Empty when the repository's files alone made it. A string, so that an Origin
	// compares with ==.
	Layer string
}

// Layers are the options Layer names, in order.
func (o Origin) Layers() []string {
	if o.Layer == "" {
		return nil
	}
	return strings.Split(o.Layer, LayerSeparator)
}

// LayerSeparator separates the options of Origin.Layer.
const LayerSeparator = "; "

// Object is one object of a render with its origin.
type Object struct {
	ID     ObjectID
	Origin Origin
	// raw is the object's JSON, decoded on first use: a command in a large target looks at the
	// content of few of its objects, and a render stored in the cache is stored as this.
	raw  []byte
	once sync.Once
	obj  *unstructured.Unstructured
	// version is the object's API version, set by Render (Combine sorts by it).
	version string
}

// NewObject is an object with the given content; the render does not change it afterwards.
func NewObject(id ObjectID, origin Origin, u *unstructured.Unstructured) *Object {
	o := &Object{ID: id, Origin: origin, obj: u}
	o.once.Do(func() {})
	return o
}

// lazyObject is an object decoded from its JSON when first used.
func lazyObject(id ObjectID, origin Origin, raw []byte) *Object {
	return &Object{ID: id, Origin: origin, raw: raw}
}

// Obj is the object's content. Callers change a deep copy, never it.
func (o *Object) Obj() *unstructured.Unstructured {
	o.once.Do(func() {
		var m map[string]any
		if err := utiljson.Unmarshal(o.raw, &m); err != nil {
			// raw was encoded by this package and checked with the cache file's checksum.
			panic(fmt.Sprintf("render: object %s: %v", o.ID, err))
		}
		o.obj = &unstructured.Unstructured{Object: m}
	})
	return o.obj
}

// json is the object's JSON encoding.
func (o *Object) json() ([]byte, error) {
	if o.raw != nil {
		return o.raw, nil
	}
	return o.Obj().MarshalJSON()
}

// Result is a rendered target.
type Result struct {
	// Path is the rendered directory, repository-relative.
	Path string
	// Key names the target rendered, as the render cache and the closed loop key it: Path for a
	// directory rendered as kustomize renders it, else Path and the reconciler (see Key).
	Key     string
	Objects []*Object
	// Inputs are the repository-relative files the render read.
	Inputs []string
	// Dirs are the repository-relative directories whose listing the render depends on (the
	// directories of a plain target: a file added there is a new manifest).
	Dirs []string
	// Cacheable is false when the render read something outside the repository, or is partial.
	Cacheable bool
	// drop is set for a partial render (Options.Drop): what it left out. sums hash the content
	// each input was rendered from (a link's: its target), as a fresh render read it (for a
	// partial render, every input's): the cache stores only a render of the files as they
	// are, and a partial render stands for one made later over the same contents.
	drop map[string][]string
	sums map[string][sha256.Size]byte
	// dirSums hash the listings of Dirs as the render saw them.
	dirSums map[string][sha256.Size]byte
	// partial is a partial render kept with a cached render: the last one the closed loop made.
	partial *Result
	// Release is set for the render of a Flux HelmRelease target (Applied.Release): its chart
	// and values; nil for a render from the cache.
	Release *Release
	// docs are a HelmRelease target's manifests, for YAML and Documents.
	docs [][]byte
	// resmap is kustomize's result, kept for YAML.
	resmap  interface{ AsYaml() ([]byte, error) }
	outside bool                  // the render read a file outside the repository
	split   bool                  // kustomize built it in groups of files (split.go)
	stamps  map[string]inputStamp // from the cache: what the inputs were when it was loaded
	index   map[ObjectID]*Object
	indexed int
}

// Key is the key of the render of dir with the reconciler options of a (nil: none).
func Key(dir string, a *reconciler.Applied) string {
	if a == nil {
		return dir
	}
	return dir + "|" + a.Key()
}

// YAML is the render as `kubectl kustomize` prints it (nil for a render from the cache).
func (r *Result) YAML() []byte {
	if r.docs != nil {
		return joinDocs(r.docs)
	}
	if r.resmap == nil {
		return nil
	}
	b, err := r.resmap.AsYaml()
	if err != nil {
		return nil
	}
	return b
}

// Documents are the YAML documents of YAML, one per object in the order of Objects (nil for a
// render from the cache).
func (r *Result) Documents() ([][]byte, error) {
	if r.docs != nil {
		return r.docs, nil
	}
	rm, ok := r.resmap.(interface{ Resources() []*resource.Resource })
	if !ok {
		return nil, nil
	}
	out := make([][]byte, 0, len(r.Objects))
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Find returns the objects whose kind (or group kind) and name match, in any namespace when ns is "".
func (r *Result) Find(gk schema.GroupKind, ns, name string) []*Object {
	var out []*Object
	for _, o := range r.Objects {
		if o.ID.Kind != gk.Kind || (gk.Group != "" && o.ID.Group != gk.Group) || o.ID.Name != name {
			continue
		}
		if ns != "" && o.ID.Namespace != "" && o.ID.Namespace != ns {
			continue
		}
		out = append(out, o)
	}
	return out
}

// Get returns the object with exactly this ID. Calls index the objects (again when Objects grew);
// an object of Objects is not to be replaced by another with the same ID.
func (r *Result) Get(id ObjectID) *Object {
	if r.index == nil || r.indexed != len(r.Objects) {
		r.indexed = len(r.Objects)
		r.index = make(map[ObjectID]*Object, len(r.Objects))
		for _, o := range r.Objects {
			if _, dup := r.index[o.ID]; !dup {
				r.index[o.ID] = o
			}
		}
	}
	return r.index[id]
}

// Merge is full with the objects of a partial render (reducedBefore) replaced by those of the
// same partial render after edits (reducedAfter): the full render after the edits, when the
// objects left out of the partial render do not depend on the edited files. edited are the new
// contents of the edited files (nil: deleted).
func Merge(full, reducedBefore, reducedAfter *Result, edited map[string][]byte) *Result {
	// The files the edits changed were rendered as the partial render after them read them.
	out := &Result{Path: full.Path, Key: full.Key, Cacheable: full.Cacheable, stamps: full.stamps, Dirs: full.Dirs, sums: reducedAfter.sums}
	if reducedAfter.drop != nil {
		out.partial = reducedAfter
	}
	replaced := make(map[ObjectID]bool, len(reducedBefore.Objects))
	for _, o := range reducedBefore.Objects {
		replaced[o.ID] = true
	}
	after := make(map[ObjectID]*Object, len(reducedAfter.Objects))
	for _, o := range reducedAfter.Objects {
		after[o.ID] = o
	}
	out.Objects = make([]*Object, 0, len(full.Objects)+len(reducedAfter.Objects)-len(reducedBefore.Objects))
	for _, o := range full.Objects {
		switch {
		case !replaced[o.ID]:
			out.Objects = append(out.Objects, o)
		case after[o.ID] != nil:
			out.Objects = append(out.Objects, after[o.ID])
			delete(after, o.ID)
		}
	}
	for _, o := range reducedAfter.Objects {
		if after[o.ID] != nil {
			out.Objects = append(out.Objects, o)
		}
	}
	// Partial renders may come without origins: an object keeps its origin, and documents are
	// counted again in the edited files.
	heads := map[string][]docHead{}
	for _, o := range reducedAfter.Objects {
		if o.Origin.File != "" || o.Origin.Generated != "" {
			continue
		}
		if f := full.Get(o.ID); f != nil {
			o.Origin = f.Origin
		}
		b, ok := edited[o.Origin.File]
		if !ok || b == nil {
			continue
		}
		if _, done := heads[o.Origin.File]; !done {
			heads[o.Origin.File], _ = documentHeads(b)
		}
		o.Origin.Doc = -1
		for i, h := range heads[o.Origin.File] {
			if h.Kind == o.ID.Kind && h.Metadata.Name == o.Origin.Name {
				o.Origin.Doc = i
				break
			}
		}
	}
	// Both lists of inputs are sorted: merged in one pass, less the files the edits delete.
	out.Inputs = make([]string, 0, len(full.Inputs)+len(reducedAfter.Inputs))
	for a, b := full.Inputs, reducedAfter.Inputs; len(a) > 0 || len(b) > 0; {
		var p string
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			p, a = a[0], a[1:]
		case len(a) == 0 || b[0] < a[0]:
			p, b = b[0], b[1:]
		default:
			p, a, b = a[0], a[1:], b[1:]
		}
		if c, ok := edited[p]; ok && c == nil {
			continue
		}
		out.Inputs = append(out.Inputs, p)
	}
	return out
}

// Options change how a render sees the repository.
type Options struct {
	// Overlay replaces the content of repository-relative files for this render only (nil content
	// deletes the file), so candidate edits are rendered without touching the working tree.
	Overlay map[string][]byte
	// Drop removes, for this render only, entries of the resources: list of kustomizations: the
	// kustomization directory (repository-relative) maps to the entries as written there. The
	// closed loop renders only the parts of a target a change can reach this way. DropReplicas
	// and DropPatch name, in the same list, a replicas: entry and a patch (by its path) to
	// remove: those whose objects the render leaves out (kustomize fails on them otherwise).
	Drop map[string][]string
	// NoOrigins skips kustomize's origin tracking, which costs as much as the rest of a render:
	// objects then know only their names before transformers (see Merge).
	NoOrigins bool
	// whole builds a kustomization in one piece even when it could be built in groups
	// (split.go): tests compare the two.
	whole bool
	// Applied, when set, is what a reconciler applies from dir: the render applies its
	// reconciler's own options on top of the build, as Flux's kustomize-controller or Argo CD's
	// repo-server does. Nil renders dir as kustomize does (as Flux does a directory without a
	// kustomization).
	Applied *reconciler.Applied
	// Lookup reads a ConfigMap or Secret that a Flux Kustomization's postBuild.substituteFrom
	// names: its data, decoded (nil and no error when it does not exist). Nil makes every such
	// reference that is not optional an error naming it.
	// It also reads the Secrets of a Helm chart source's spec.secretRef.
	Lookup func(kind, namespace, name string) (map[string]string, error)
	// Cluster, when set, is the cluster the target's reconciler runs in: a chart that cannot
	// be fetched is rendered from source-controller's copy, and Argo CD's repository
	// credentials are read from it. Nil renders from the repository and the chart cache alone.
	Cluster Cluster
}

// Render renders the directory dir (repository-relative) of the repository at root.
func Render(root, dir string, opts Options) (*Result, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	overlay := make(map[string][]byte, len(opts.Overlay))
	fsys := newOverlayFS(root, overlay)
	// The overlay holds files by their path with links resolved: the change engine's edits are
	// of the files links lead to, and seen through every link.
	for p, b := range opts.Overlay {
		rel, ok, err := fsys.resolve(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		if !ok {
			return nil, fmt.Errorf("render %s: %s is outside the repository", dir, p)
		}
		overlay[rel] = b
	}
	absDir := filepath.Join(root, filepath.FromSlash(dir))
	// fl is set when a Flux Kustomization applies dir (flux.go).
	var fl *fluxRender
	if a := opts.Applied; a != nil && reconciler.IsFluxKustomization(a.Reconciler) {
		if fl, err = newFluxRender(fsys, root, dir, opts); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		absDir = fl.absDir
	}
	if fl == nil || fl.art == nil {
		if _, _, err := fsys.resolve(absDir); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		if !fsys.IsDir(absDir) {
			return nil, fmt.Errorf("render %s: no such directory in the repository", dir)
		}
	}
	// setOverlay replaces, for this render, the content of the file at path.
	setOverlay := func(path string, b []byte) error {
		rel, _, err := fsys.resolve(path)
		if err != nil {
			return err
		}
		overlay[rel] = b
		return nil
	}

	if isArgoApplied(opts.Applied) {
		if res, ok, err := renderArgoHelm(fsys, root, dir, opts); ok {
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", dir, err)
			}
			return res, nil
		}
	}
	for kdir, entries := range opts.Drop {
		kf := findKustomization(fsys, filepath.Join(root, filepath.FromSlash(kdir)))
		if kf == "" {
			return nil, fmt.Errorf("render %s: %s has no kustomization to drop resources from", dir, kdir)
		}
		src, err := fsys.ReadFile(kf)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		dropped, err := DropResources(src, entries)
		if err != nil {
			return nil, fmt.Errorf("render %s: %s: %w", dir, relSlash(root, kf), err)
		}
		if err := setOverlay(kf, dropped); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}

	var kustFile string
	injected := false
	var argo *argoRender
	if isArgoApplied(opts.Applied) {
		if argo, kustFile, injected, err = prepareArgo(fsys, root, dir, absDir, opts, setOverlay); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	} else if fl == nil {
		kustFile = findKustomization(fsys, absDir)
	}
	if fl != nil {
		if kustFile, injected, err = fl.prepare(opts.NoOrigins); err != nil {
			return nil, err
		}
	} else if kustFile == "" {
		if opts.Applied == nil && fsys.Exists(filepath.Join(absDir, "Chart.yaml")) {
			// kustomize would read the templates as manifests and fail on their first {{ }}.
			return nil, fmt.Errorf("render %s: it is a Helm chart (it has Chart.yaml), and no Argo CD Application or Flux HelmRelease of this repository installs it, so its release name and values are unknown: name the one that does with --target, or add it to the repository", dir)
		}
		gen, err := flatKustomization(fsys, absDir)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		kustFile = filepath.Join(absDir, konfig.DefaultKustomizationFileName())
		if err := setOverlay(kustFile, gen); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		injected = true
	} else if !injected && !opts.NoOrigins {
		src, err := fsys.ReadFile(kustFile)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		withMeta, added, err := withOriginAnnotations(src)
		if err != nil {
			return nil, fmt.Errorf("render %s: %s: %w", dir, relSlash(root, kustFile), err)
		}
		if err := setOverlay(kustFile, withMeta); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		injected = added
	}

	kopts := krusty.MakeDefaultOptions()
	// Unspecified is what `kubectl kustomize` and Flux use: the legacy order unless sortOptions say otherwise.
	kopts.Reorder = krusty.ReorderOptionUnspecified
	var kfs filesys.FileSystem = fsys
	if fl != nil {
		// kustomize-controller's build options: files may be loaded from anywhere in the source.
		kopts.LoadRestrictions = types.LoadRestrictionsNone
		kfs = fl.fs()
	}
	k := krusty.MakeKustomizer(kopts)
	fsys.kustomizing = true
	var m built
	split := false
	// A split build reads each group's kustomization in place of kustFile: not in an artifact.
	if kustFile != "" && (fl == nil || fl.art == nil) && !opts.whole {
		if rel, inRepo, err := fsys.resolve(kustFile); err == nil && inRepo {
			m, split = buildSplit(kopts, kfs, absDir, kustFile, fsys.abs(rel))
		}
	}
	if !split {
		m, err = k.Run(kfs, absDir)
	}
	fsys.kustomizing = false
	if le := fsys.linkError(); le != nil {
		// kustomize tries a kustomization's other file names when one cannot be loaded: the
		// refusal would otherwise read as a missing kustomization.
		return nil, fmt.Errorf("render %s: %w", dir, le)
	}
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}

	res := &Result{Path: dir, Key: Key(dir, opts.Applied), resmap: m, split: split}
	resources := m.Resources()
	origins := make([]Origin, len(resources))
	for i, r := range resources {
		if origins[i], err = originOf(root, absDir, r); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}
	if injected {
		for _, r := range resources {
			if err := r.SetOrigin(nil); err != nil {
				return nil, err
			}
		}
	}
	if fl != nil {
		fl.translate(origins)
		if err := fl.post(m, origins); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}
	// Through JSON so numbers are int64/float64 as in objects read from the API server; a
	// large target's resources are encoded on every core.
	res.Objects = make([]*Object, len(resources))
	errs := make([]error, len(resources))
	eachParallel(len(resources), func(i int) {
		r := resources[i]
		js, err := ResourceJSON(r)
		if err != nil {
			errs[i] = err
			return
		}
		gvk := r.GetGvk()
		id := ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: r.GetNamespace(), Name: r.GetName()}
		res.Objects[i] = lazyObject(id, origins[i], js)
		res.Objects[i].version = gvk.Version
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	if err := locateDocuments(fsys, root, res.Objects); err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	if argo != nil && !opts.NoOrigins {
		if err := argo.setLayers(res.Objects); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}
	if fl != nil {
		if err := fl.finish(res.Objects); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}
	if a := opts.Applied; a != nil && a.Release != nil {
		rel, objs, err := renderRelease(fsys, root, res.Objects, opts)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
		res.Objects, res.Release, res.resmap = objs, rel, nil
		for _, o := range objs {
			b, err := sigsyaml.Marshal(o.Obj().Object)
			if err != nil {
				return nil, err
			}
			res.docs = append(res.docs, b)
		}
	}
	// kustFile is "" in an ExternalArtifact, whose kustomization is recorded where it leads.
	if kustFile != "" {
		if rel, _, err := fsys.resolve(kustFile); err == nil {
			delete(fsys.reads, rel) // re-recorded below only if it is a real file
		}
	}
	if kustFile != "" && (!injected || findKustomization(newOverlayFS(root, nil), absDir) != "") {
		if _, err := fsys.record(kustFile); err != nil {
			return nil, fmt.Errorf("render %s: %w", dir, err)
		}
	}
	res.Inputs = fsys.Inputs()
	res.Dirs = fsys.Dirs()
	res.dirSums = fsys.dirs
	// The content each input was rendered from: the cache checks what it stores against it, and
	// a partial render stands for another by it.
	res.sums = make(map[string][sha256.Size]byte, len(res.Inputs))
	for _, p := range res.Inputs {
		sum, ok := fsys.sums[p]
		if !ok {
			if len(opts.Drop) == 0 {
				continue
			}
			b, err := fsys.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return nil, err
			}
			sum = sha256.Sum256(b)
		}
		res.sums[p] = sum
	}
	if len(opts.Drop) > 0 {
		res.drop = opts.Drop
	}
	// With an overlay the render is of the files a commit is about to write.
	res.outside = fsys.outside
	// A chart's render is not cached (the cache stores kustomize's renders, not a release).
	res.Cacheable = !fsys.outside && len(opts.Drop) == 0 && res.Release == nil
	return res, nil
}

// DropReplicas is the Options.Drop item that removes the replicas: entry for name.
func DropReplicas(name string) string { return dropReplicasPrefix + name }

// DropPatch is the Options.Drop item that removes the patches: entry with this path (as written).
func DropPatch(path string) string { return dropPatchPrefix + path }

// No resources: entry holds a NUL.
const (
	dropReplicasPrefix = "\x00replicas\x00"
	dropPatchPrefix    = "\x00patch\x00"
)

// DropResources is a kustomization without entries of its resources: (and bases:) list, and,
// for the items DropReplicas and DropPatch make, of its replicas: and patches: lists: the
// kustomization a partial render reads (Options.Drop; history's slices).
func DropResources(src []byte, entries []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping")
	}
	drop := map[string]bool{}
	for _, e := range entries {
		drop[e] = true
	}
	// field is the key of an item's mapping that names it; "" for a plain scalar.
	byList := map[string]struct{ prefix, field string }{
		"resources": {"", ""}, "bases": {"", ""}, "replicas": {dropReplicasPrefix, "name"}, "patches": {dropPatchPrefix, "path"}}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		how, ok := byList[m.Content[i].Value]
		if !ok || m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		seq := m.Content[i+1]
		kept := seq.Content[:0]
		for _, n := range seq.Content {
			if !drop[how.prefix+itemName(n, how.field)] {
				kept = append(kept, n)
			}
		}
		seq.Content = kept
	}
	return yaml.Marshal(&doc)
}

// itemName is a list item's scalar, or the value of field in its mapping ("\x00" when it has
// none, which no drop names).
func itemName(n *yaml.Node, field string) string {
	if field == "" {
		return n.Value
	}
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == field && n.Content[j+1].Kind == yaml.ScalarNode {
				return n.Content[j+1].Value
			}
		}
	}
	return "\x00"
}

func findKustomization(fsys *overlayFS, dir string) string {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, n)
		if fsys.Exists(p) {
			return p
		}
	}
	return ""
}

// withOriginAnnotations adds originAnnotations to the kustomization's buildMetadata so kustomize
// records each resource's source file; added reports whether the user had not asked for them.
func withOriginAnnotations(src []byte) ([]byte, bool, error) {
	var k map[string]any
	if err := yaml.Unmarshal(src, &k); err != nil {
		return nil, false, err
	}
	if k == nil {
		k = map[string]any{}
	}
	var meta []any
	if existing, ok := k["buildMetadata"].([]any); ok {
		meta = existing
	}
	for _, m := range meta {
		if m == types.OriginAnnotations {
			return src, false, nil
		}
	}
	k["buildMetadata"] = append(meta, types.OriginAnnotations)
	out, err := yaml.Marshal(k)
	return out, true, err
}

// flatKustomization is what Flux generates for a directory without a kustomization: every
// Kubernetes manifest below it, and a subdirectory with its own kustomization as one resource.
// Links are not followed into directories (as Flux's generator walks); a linked manifest is
// read where it leads, inside the repository.
func flatKustomization(fsys *overlayFS, dir string) ([]byte, error) {
	var resources, candidates []string
	var walk func(p string) error
	walk = func(p string) error {
		entries, err := fsys.readDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			full := filepath.Join(p, e.Name())
			if e.IsDir() {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				if findKustomization(fsys, full) != "" {
					resources = append(resources, relSlash(dir, full))
					continue
				}
				if err := walk(full); err != nil {
					return err
				}
				continue
			}
			if !isManifestName(full) {
				continue
			}
			if b, ok := fsys.lookup(full); ok && b == nil {
				continue // deleted by the overlay
			}
			candidates = append(candidates, full)
		}
		return nil
	}
	// A walk that fails ends after the candidates found so far.
	walkErr := walk(dir)
	// Each candidate is parsed to tell whether it holds manifests: on every core, in a large
	// directory. The first error in the order of the walk is the one returned.
	manifest := make([]bool, len(candidates))
	errs := make([]error, len(candidates))
	eachParallel(len(candidates), func(i int) {
		b, err := fsys.ReadFile(candidates[i])
		manifest[i], errs[i] = err == nil && isManifest(b), err
	})
	for i, full := range candidates {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if manifest[i] {
			resources = append(resources, relSlash(dir, full))
		}
	}
	if walkErr != nil {
		return nil, walkErr
	}
	// Files that exist only in the overlay (a new object's file) are manifests below dir too.
	dirRel, _, err := fsys.resolve(dir)
	if err != nil {
		return nil, err
	}
	for p, b := range fsys.overlay {
		rel := p
		if dirRel != "." {
			var ok bool
			if rel, ok = strings.CutPrefix(p, dirRel+"/"); !ok {
				continue
			}
		}
		if b == nil || !isManifestName(p) {
			continue
		}
		if _, onDisk := os.Lstat(fsys.abs(p)); onDisk == nil {
			continue
		}
		if isManifest(b) {
			resources = append(resources, rel)
		}
	}
	sort.Strings(resources)
	k := map[string]any{
		"apiVersion":    konfig.DefaultKustomizationFileName(),
		"kind":          types.KustomizationKind,
		"resources":     resources,
		"buildMetadata": []string{types.OriginAnnotations},
	}
	k["apiVersion"] = types.KustomizationVersion
	return yaml.Marshal(k)
}

func isManifestName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// isManifest tells a Kubernetes manifest from other YAML (values files, CI config, ...).
func isManifest(b []byte) bool {
	nodes, err := kio.FromBytes(b)
	if err != nil || len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		if n.GetKind() == "" || n.GetApiVersion() == "" {
			return false
		}
	}
	return true
}

// ResourceJSON is the resource's JSON encoding, as its MarshalJSON gives it: that encodes the
// resource as YAML text and parses it again before encoding the result, which took 1.0-1.9 s for
// kube-prometheus's 131 objects (large dashboards) against 0.12-0.2 s decoding its node directly
// (Map), and 195 ms against 36 ms for 1,000 small objects. TestResourceJSON compares the two.
// history's slices encode their objects with it too, as the whole render they stand for does.
//
// A mapping with a key that is not a string (`8080: web` unquoted, in a HelmRelease's values)
// decodes to a map neither JSON encoder takes: its keys are written as strings, as kubectl writes
// them when it sends such a manifest.
func ResourceJSON(r *resource.Resource) ([]byte, error) {
	m, err := r.Map()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(m)
	if _, ok := err.(*json.UnsupportedTypeError); ok {
		js, err = json.Marshal(stringKeys(m))
	}
	return js, err
}

// stringKeys is v with the keys of its maps written as strings.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = stringKeys(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			key := "null"
			if k != nil {
				key = fmt.Sprint(k)
			}
			out[key] = stringKeys(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = stringKeys(e)
		}
		return out
	}
	return v
}

// originOf is where kustomize says the resource came from (its origin annotation).
func originOf(root, absDir string, r *resource.Resource) (Origin, error) {
	org := r.OrgId()
	out := Origin{Name: org.Name, Namespace: org.Namespace, Doc: -1}
	origin, err := r.GetOrigin()
	if err != nil {
		return out, err
	}
	if origin != nil {
		if origin.ConfiguredIn != "" {
			out.Generated = relSlash(root, filepath.Join(absDir, origin.ConfiguredIn))
		} else if origin.Path != "" && origin.Repo == "" {
			out.File = relSlash(root, filepath.Join(absDir, origin.Path))
		}
	}
	return out, nil
}

// locateDocuments finds, in each object's origin file, the document that defines it, and names
// each object as its document (or, for a generated object, its generator) does: see nameObjects.
func locateDocuments(fsys *overlayFS, root string, objs []*Object) error {
	type group struct{ file, kind string }
	groups := map[group][]*Object{}
	var order []group
	for _, o := range objs {
		g := group{o.Origin.File, o.ID.Kind}
		if g.file == "" {
			if o.Origin.Generated == "" {
				continue
			}
			g.file = o.Origin.Generated
		}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], o)
	}
	read := map[string][]byte{}
	for _, g := range order {
		b, ok := read[g.file]
		if !ok {
			var err error
			if b, err = fsys.ReadFile(filepath.Join(root, filepath.FromSlash(g.file))); err != nil {
				return err
			}
			read[g.file] = b
		}
		group := groups[g]
		if group[0].Origin.File == "" {
			nameObjects(group, generatorNames(b, g.kind), true)
			continue
		}
		heads, err := documentHeads(b)
		if err != nil {
			return fmt.Errorf("%s: %w", g.file, err)
		}
		var names []docName
		for i, h := range heads {
			if h.Kind == g.kind {
				names = append(names, docName{h.Metadata.Name, h.Metadata.Namespace, i})
			}
		}
		nameObjects(group, names, false)
	}
	return nil
}

func relSlash(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return path.Clean(filepath.ToSlash(rel))
}

// docHead is the part of a document that identifies the object in it.
type docHead struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
}

// documentHeads decodes each document of a file, numbering them as yaml.v3 (and so the editor) does.
func documentHeads(b []byte) ([]docHead, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []docHead
	for {
		var h docHead
		err := dec.Decode(&h)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
}
