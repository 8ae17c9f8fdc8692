package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	"github.com/fluxcd/pkg/sourceignore"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// A Flux Kustomization's render is kustomize-controller's: the directory's kustomization (or
// the one the controller generates for a directory without one) with the Kustomization's own
// options merged into it by the controller's generator (github.com/fluxcd/pkg/kustomize:
// targetNamespace, namePrefix, nameSuffix, patches, images, components), built with the
// controller's kustomize options (no load restrictions, no plugins), then postBuild variable
// substitution by the controller's own function, then commonMetadata. SOPS-encrypted Secrets
// stay encrypted: the render never decrypts. The order of the objects is kustomize's legacy
// order, as `kubectl kustomize` prints them (the controller applies them in its own stages).
//
// Each object's Origin.Layer names the Flux options that changed it, in the order the
// controller applies them, where the render can tell: "Flux Kustomization NS/NAME
// spec.components[0]", then spec.patchesStrategicMerge[i], spec.patches[i],
// spec.targetNamespace, spec.namePrefix, spec.nameSuffix, spec.patchesJson6902[i],
// spec.images[i], spec.postBuild, spec.commonMetadata. A component names the objects its
// files define (not those its patches change), patches the objects their targets select (a
// patch that changes nothing still names them), images the objects that end up with the image.

// fluxRender is what a Flux Kustomization adds to a render.
type fluxRender struct {
	fsys *overlayFS
	root string
	dir  string // the rendered path: the repository's, or the artifact's
	// absDir is dir as kustomize reads it: in the artifact's tree (art) when there is one.
	absDir string
	art    *artifactFS
	// ks is the Kustomization as the render reads it: from its file through the overlay (so a
	// change to its spec.patches is rendered), else as Applied holds it.
	ks     *unstructured.Unstructured
	ns     string
	label  string // "Flux Kustomization NS/NAME"
	lookup func(kind, namespace, name string) (map[string]string, error)
	// file is the repository file that defines the Kustomization ("" when read from a cluster).
	file string
	// marks are, by object, the options that changed it (post, then finish).
	marks [][]layerMark
}

// layerMark is an option that changed an object; rank is its place in the order the
// controller applies the options.
type layerMark struct {
	rank int
	name string
}

// The order in which the controller applies the options.
const (
	rankComponents = iota
	rankPatchesStrategicMerge
	rankPatches
	rankTargetNamespace
	rankNamePrefix
	rankNameSuffix
	rankPatchesJSON6902
	rankImages
	rankPostBuild
	rankCommonMetadata
)

func newFluxRender(fsys *overlayFS, root, dir string, opts Options) (*fluxRender, error) {
	a := opts.Applied
	f := &fluxRender{fsys: fsys, root: root, dir: dir, lookup: opts.Lookup, ns: a.Reconciler.Namespace(), file: a.Reconciler.File}
	ks, err := f.readKustomization(a.Reconciler)
	if err != nil {
		return nil, err
	}
	f.ks = ks
	if ns := ks.GetNamespace(); ns != "" {
		f.ns = ns
	}
	f.label = fmt.Sprintf("Flux Kustomization %s/%s", f.ns, ks.GetName())
	f.absDir = filepath.Join(root, filepath.FromSlash(dir))
	if a.Artifact != nil {
		// The artifact's path is Applied's; dir may be the repository directory it is copied
		// from, as a target names it.
		f.dir = a.Path
		f.art = newArtifactFS(fsys, root, a.Artifact)
		f.absDir = f.art.virtual(a.Path)
	}
	return f, nil
}

// readKustomization reads the Kustomization from its document through the overlay (recorded as
// an input of the render), or takes it as Applied holds it: read from a cluster, or defined in
// another repository than the rendered one (a tenant's).
func (f *fluxRender) readKustomization(o reconciler.Object) (*unstructured.Unstructured, error) {
	return currentReconciler(f.fsys, f.root, o, reconciler.IsFluxKustomization, "Flux Kustomization")
}

// fs is the file system kustomize builds from.
func (f *fluxRender) fs() filesys.FileSystem {
	if f.art != nil {
		return existingOnly{f.art}
	}
	return existingOnly{f.fsys}
}

// existingOnly reads only files that exist: without load restrictions, kustomize reads every
// name a kustomization may have (kustomization.yml, Kustomization) to find the one there is,
// and a name that is not there is no input of the render.
type existingOnly struct{ filesys.FileSystem }

func (e existingOnly) ReadFile(p string) ([]byte, error) {
	if !e.Exists(p) || e.IsDir(p) {
		return nil, notExist("open", p)
	}
	return e.FileSystem.ReadFile(p)
}

// prepare writes, for this render only, the kustomization kustomize-controller builds: the
// directory's, or one generated for it, with the Kustomization's options merged in. It returns
// the kustomization's file when the repository path of the rendered directory holds it
// (kustFile, for render.go's bookkeeping; "" in an artifact, whose reads are recorded where
// they lead), and whether the render added origin annotations (or generated the kustomization).
func (f *fluxRender) prepare(noOrigins bool) (kustFile string, injected bool, err error) {
	kfs := f.fs()
	if !kfs.IsDir(f.absDir) {
		return "", false, fmt.Errorf("render %s: %s applies %s, which is no directory of its source", f.dir, f.label, f.dir)
	}
	var src []byte
	generated := false
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(f.absDir, n)
		if kfs.Exists(p) && !kfs.IsDir(p) {
			kustFile = p
			break
		}
	}
	if kustFile != "" {
		if src, err = kfs.ReadFile(kustFile); err != nil {
			return "", false, fmt.Errorf("render %s: %w", f.dir, err)
		}
	} else {
		kustFile = filepath.Join(f.absDir, konfig.DefaultKustomizationFileName())
		if src, err = f.generate(); err != nil {
			return "", false, fmt.Errorf("render %s: %w", f.dir, err)
		}
		generated = true
	}
	out, err := f.merge(src)
	if err != nil {
		return "", false, fmt.Errorf("render %s: %s: %w", f.dir, f.label, err)
	}
	if !noOrigins || generated {
		if out, injected, err = withOriginAnnotations(out); err != nil {
			return "", false, err
		}
	}
	injected = injected || generated
	if mayPatch(out) {
		warmSchema()
	}
	if f.art != nil {
		f.art.gen[kustFile] = out
		return "", injected, nil
	}
	rel, _, err := f.fsys.resolve(kustFile)
	if err != nil {
		return "", false, fmt.Errorf("render %s: %w", f.dir, err)
	}
	f.fsys.overlay[rel] = out
	return kustFile, injected, nil
}

// merge is the kustomization src with the Kustomization's options merged in by the
// controller's own generator. The generator reads the kustomization from a directory on disk:
// it is given a private temporary one holding src alone, removed at once (components it is told
// to skip when missing are checked here, through the overlay).
func (f *fluxRender) merge(src []byte) ([]byte, error) {
	ks := f.ks.DeepCopy()
	if ignore, _, _ := unstructured.NestedBool(ks.Object, "spec", "ignoreMissingComponents"); ignore {
		comps, _, _ := unstructured.NestedStringSlice(ks.Object, "spec", "components")
		kept := []any{}
		for _, c := range comps {
			if !fluxkustomize.IsLocalRelativePath(c) || f.fs().Exists(filepath.Join(f.absDir, filepath.FromSlash(c))) {
				kept = append(kept, c)
			}
		}
		if err := unstructured.SetNestedSlice(ks.Object, kept, "spec", "components"); err != nil {
			return nil, err
		}
		unstructured.RemoveNestedField(ks.Object, "spec", "ignoreMissingComponents")
	}
	// A directory of its own (mode 0700) per call: renders run concurrently.
	dir, err := os.MkdirTemp("", "kubectl-gitops-flux-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, konfig.DefaultKustomizationFileName()), src, 0o600); err != nil {
		return nil, err
	}
	out, _, _, err := fluxkustomize.NewGenerator("", *ks).GenerateManifest(dir)
	return out, err
}

// generate is the kustomization kustomize-controller generates for a directory without one:
// every .yaml and .yml file below it (each must decode as Kubernetes objects), and each
// subdirectory that has a kustomization as one resource, in the order of a walk; no resources
// give a placeholder namespace. Files the source's artifact leaves out (source-controller's
// default exclusions: .git, CI configuration, .sops.yaml, ...) are not in the walk.
func (f *fluxRender) generate() ([]byte, error) {
	// files are the walk's manifests and subdirectories with a kustomization, in its order;
	// decode is set for a manifest, which must decode.
	type file struct {
		full   string
		decode bool
	}
	var files []file
	matcher := sourceignore.NewDefaultMatcher(nil, nil)
	rf := provider.NewDefaultDepProvider().GetResourceFactory()
	kfs := f.fs()
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := f.list(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			full := filepath.Join(dir, e.name)
			if matcher.Match(f.sourceSegments(full), e.dir) {
				continue
			}
			if e.dir {
				if hasKustomization(kfs, full) {
					files = append(files, file{full, false})
					continue
				}
				if err := walk(full); err != nil {
					return err
				}
				continue
			}
			if ext := filepath.Ext(e.name); ext != ".yaml" && ext != ".yml" {
				continue
			}
			files = append(files, file{full, true})
		}
		return nil
	}
	// A walk that fails ends after the files found so far.
	walkErr := walk(f.absDir)
	// The manifests are decoded on every core, in a large directory; the first error in the
	// order of the walk is the one returned.
	errs := make([]error, len(files))
	eachParallel(len(files), func(i int) {
		if !files[i].decode {
			return
		}
		b, err := kfs.ReadFile(files[i].full)
		if err == nil {
			if _, err = rf.SliceFromBytes(b); err != nil {
				err = fmt.Errorf("failed to decode Kubernetes YAML from %s: %w", f.repoPath(files[i].full), err)
			}
		}
		errs[i] = err
	})
	var resources []string
	for i, fl := range files {
		if errs[i] != nil {
			return nil, errs[i]
		}
		resources = append(resources, "./"+relSlash(f.absDir, fl.full))
	}
	if walkErr != nil {
		return nil, walkErr
	}
	k := kustypes.Kustomization{TypeMeta: kustypes.TypeMeta{APIVersion: kustypes.KustomizationVersion, Kind: kustypes.KustomizationKind}}
	if len(resources) == 0 {
		k.Namespace = "_placeholder"
	} else {
		k.Resources = resources
	}
	return sigsyaml.Marshal(k)
}

// sourceSegments are the path's segments from the root of the Kustomization's source.
func (f *fluxRender) sourceSegments(abs string) []string {
	base := f.root
	if f.art != nil {
		base = f.art.vroot
	}
	return strings.Split(relSlash(base, abs), "/")
}

func hasKustomization(kfs filesys.FileSystem, dir string) bool {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, n)
		if kfs.Exists(p) && !kfs.IsDir(p) {
			return true
		}
	}
	return false
}

// list is the listing of directory dir (as kustomize sees it), by name.
func (f *fluxRender) list(dir string) ([]dirEntry, error) {
	if f.art != nil {
		return f.art.list(dir)
	}
	rel, _, err := f.fsys.resolve(dir)
	if err != nil {
		return nil, err
	}
	return f.fsys.listDir(rel)
}

// repoPath is the repository path an absolute path of the build stands for ("" for none).
func (f *fluxRender) repoPath(abs string) string {
	if f.art != nil {
		return f.art.repoPath(abs)
	}
	return relSlash(f.root, abs)
}

// translate makes origins of an artifact's objects name the repository's files.
func (f *fluxRender) translate(origins []Origin) {
	if f.art == nil {
		return
	}
	for i := range origins {
		o := &origins[i]
		if o.File != "" {
			o.File = f.art.repoPath(filepath.Join(f.root, filepath.FromSlash(o.File)))
		}
		if o.Generated != "" {
			o.Generated = f.art.repoPath(filepath.Join(f.root, filepath.FromSlash(o.Generated)))
		}
	}
}

// post applies what kustomize-controller does after the build (postBuild substitution, then
// commonMetadata) to the resources of m, and names each object's last Flux layer in origins.
func (f *fluxRender) post(m built, origins []Origin) error {
	res := m.Resources()
	f.marks = make([][]layerMark, len(res))
	f.layers(m, origins)
	if spec, ok, _ := unstructured.NestedMap(f.ks.Object, "spec", "postBuild"); ok && spec != nil {
		vars, err := f.variables()
		if err != nil {
			return err
		}
		sub := unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"postBuild": map[string]any{"substitute": vars}}}}
		for i, r := range res {
			y, err := r.AsYAML()
			if err != nil {
				return err
			}
			// Substitution of a resource without a "$" changes nothing.
			if !bytes.Contains(y, []byte("$")) {
				continue
			}
			before, err := r.Map()
			if err != nil {
				return err
			}
			out, err := fluxkustomize.SubstituteVariables(context.Background(), nil, sub, r, fluxkustomize.SubstituteWithDryRun(true))
			if err != nil {
				return fmt.Errorf("%s: post build failed for '%s/%s': %w", f.label, r.GetGvk(), r.GetName(), err)
			}
			if out == nil {
				continue // kustomize.toolkit.fluxcd.io/substitute: disabled
			}
			after, err := r.Map()
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(before, after) {
				f.mark(i, rankPostBuild, "spec.postBuild")
			}
		}
	}
	labels, _, _ := unstructured.NestedStringMap(f.ks.Object, "spec", "commonMetadata", "labels")
	annotations, _, _ := unstructured.NestedStringMap(f.ks.Object, "spec", "commonMetadata", "annotations")
	for i, r := range res {
		changed := false
		if l, ok := withEntries(r.GetLabels(), labels); ok {
			if err := r.SetLabels(l); err != nil {
				return err
			}
			changed = true
		}
		if a, ok := withEntries(r.GetAnnotations(), annotations); ok {
			if err := r.SetAnnotations(a); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			f.mark(i, rankCommonMetadata, "spec.commonMetadata")
		}
	}
	return nil
}

func (f *fluxRender) mark(i, rank int, name string) {
	f.marks[i] = append(f.marks[i], layerMark{rank, name})
}

// finish names, once the objects' documents are located, what targetNamespace, namePrefix and
// nameSuffix changed (an object's document tells its namespace and name before them), and sets
// each object's Origin.Layer.
func (f *fluxRender) finish(objs []*Object) error {
	tn, _, _ := unstructured.NestedString(f.ks.Object, "spec", "targetNamespace")
	prefix, _, _ := unstructured.NestedString(f.ks.Object, "spec", "namePrefix")
	suffix, _, _ := unstructured.NestedString(f.ks.Object, "spec", "nameSuffix")
	heads := map[string][]docHead{}
	for i, o := range objs {
		if i >= len(f.marks) {
			break
		}
		if tn != "" && o.ID.Namespace == tn {
			written := ""
			if o.Origin.File != "" && o.Origin.Doc >= 0 {
				hs, ok := heads[o.Origin.File]
				if !ok {
					b, err := f.fsys.ReadFile(filepath.Join(f.root, filepath.FromSlash(o.Origin.File)))
					if err != nil {
						return err
					}
					hs, _ = documentHeads(b)
					heads[o.Origin.File] = hs
				}
				if o.Origin.Doc < len(hs) {
					written = hs[o.Origin.Doc].Metadata.Namespace
				}
			}
			if written != tn {
				f.mark(i, rankTargetNamespace, "spec.targetNamespace")
			}
		}
		n := o.ID.Name
		renamed := o.Origin.File == "" || n != o.Origin.Name
		if prefix != "" && renamed && strings.HasPrefix(n, prefix) {
			f.mark(i, rankNamePrefix, "spec.namePrefix")
		}
		if suffix != "" && renamed && (strings.HasSuffix(n, suffix) || (o.Origin.Generated != "" && strings.Contains(n, suffix+"-"))) {
			f.mark(i, rankNameSuffix, "spec.nameSuffix")
		}
		marks := f.marks[i]
		sort.SliceStable(marks, func(a, b int) bool { return marks[a].rank < marks[b].rank })
		named := make([]string, len(marks))
		for j, m := range marks {
			named[j] = f.label + " " + m.name
		}
		o.Origin.Layer = strings.Join(named, LayerSeparator)
	}
	return nil
}

// withEntries is m with the entries of add set (as the controller sets commonMetadata, over
// existing keys), and whether that changed m.
func withEntries(m, add map[string]string) (map[string]string, bool) {
	changed := false
	for k, v := range add {
		if old, ok := m[k]; !ok || old != v {
			changed = true
		}
	}
	if !changed {
		return m, false
	}
	out := make(map[string]string, len(m)+len(add))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	return out, true
}

// variables are the values postBuild substitutes, as the controller loads them: the data of
// each substituteFrom ConfigMap or Secret in order (later ones win; an optional one that does
// not exist is skipped), then spec.postBuild.substitute over them; newlines removed.
func (f *fluxRender) variables() (map[string]any, error) {
	vars := map[string]any{}
	refs, _, _ := unstructured.NestedSlice(f.ks.Object, "spec", "postBuild", "substituteFrom")
	for i, r := range refs {
		m, _ := r.(map[string]any)
		kind, _, _ := unstructured.NestedString(m, "kind")
		name, _, _ := unstructured.NestedString(m, "name")
		optional, _, _ := unstructured.NestedBool(m, "optional")
		data, err := f.fromRepository(kind, f.ns, name)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.postBuild.substituteFrom[%d] (%s %s/%s): %w", f.label, i, kind, f.ns, name, err)
		}
		fromCluster := false
		if data == nil && f.lookup != nil {
			if data, err = f.lookup(kind, f.ns, name); err != nil {
				return nil, fmt.Errorf("%s: spec.postBuild.substituteFrom[%d] (%s %s/%s): %w", f.label, i, kind, f.ns, name, err)
			}
			fromCluster = data != nil
		}
		if data == nil {
			if optional {
				continue
			}
			how := "is neither in the repository nor in the cluster"
			if f.lookup == nil {
				how = "is not in the repository and cannot be read offline"
			}
			return nil, fmt.Errorf("%s: spec.postBuild.substituteFrom[%d]: %s %s/%s %s, and the variables it defines have no value; connect to the cluster, or mark it optional", f.label, i, kind, f.ns, name, how)
		}
		if fromCluster {
			// Values from outside the repository's files: the render cannot be cached.
			f.fsys.mu.Lock()
			f.fsys.outside = true
			f.fsys.mu.Unlock()
		}
		for k, v := range data {
			vars[k] = strings.ReplaceAll(v, "\n", "")
		}
	}
	inline, _, _ := unstructured.NestedStringMap(f.ks.Object, "spec", "postBuild", "substitute")
	for k, v := range inline {
		vars[k] = strings.ReplaceAll(v, "\n", "")
	}
	return vars, nil
}

// layers marks, for each resource of m, the Kustomization's kustomize options that changed it
// and that the build alone tells (finish adds those that need the objects' documents).
func (f *fluxRender) layers(m built, origins []Origin) {
	res := m.Resources()
	spec, _, _ := unstructured.NestedMap(f.ks.Object, "spec")
	comps, _, _ := unstructured.NestedStringSlice(spec, "components")
	for i, c := range comps {
		dir := f.repoPath(filepath.Join(f.absDir, filepath.FromSlash(c)))
		for j, o := range origins {
			if dir != "" && o.File != "" && strings.HasPrefix(o.File, dir+"/") {
				f.mark(j, rankComponents, fmt.Sprintf("spec.components[%d]", i))
			}
		}
	}
	prefix, _, _ := unstructured.NestedString(spec, "namePrefix")
	suffix, _, _ := unstructured.NestedString(spec, "nameSuffix")
	tn, _, _ := unstructured.NestedString(spec, "targetNamespace")
	mark := func(field string, rank, i int, sel *kustypes.Selector) {
		if sel == nil {
			return
		}
		sr, err := kustypes.NewSelectorRegex(sel)
		if err != nil {
			return
		}
		for j, r := range res {
			// The patch selected the object before the Kustomization's own namePrefix,
			// nameSuffix and targetNamespace: the build forgets the names it had then.
			name := r.GetName()
			bare := strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix)
			if !sr.MatchGvk(r.GetGvk()) || (!sr.MatchName(name) && !sr.MatchName(bare)) ||
				(tn == "" && !sr.MatchNamespace(r.GetNamespace())) {
				continue
			}
			if ok, err := r.MatchesLabelSelector(sel.LabelSelector); err != nil || !ok {
				continue
			}
			if ok, err := r.MatchesAnnotationSelector(sel.AnnotationSelector); err != nil || !ok {
				continue
			}
			f.mark(j, rank, fmt.Sprintf("spec.%s[%d]", field, i))
		}
	}
	patches, _, _ := unstructured.NestedSlice(spec, "patchesStrategicMerge")
	for i, p := range patches {
		pm, _ := p.(map[string]any)
		mark("patchesStrategicMerge", rankPatchesStrategicMerge, i, patchSelector(pm))
	}
	patches, _, _ = unstructured.NestedSlice(spec, "patches")
	for i, p := range patches {
		pm, _ := p.(map[string]any)
		sel := targetSelector(pm)
		if sel == nil {
			text, _, _ := unstructured.NestedString(pm, "patch")
			var doc map[string]any
			if sigsyaml.Unmarshal([]byte(text), &doc) == nil {
				sel = patchSelector(doc)
			}
		}
		mark("patches", rankPatches, i, sel)
	}
	patches, _, _ = unstructured.NestedSlice(spec, "patchesJson6902")
	for i, p := range patches {
		pm, _ := p.(map[string]any)
		mark("patchesJson6902", rankPatchesJSON6902, i, targetSelector(pm))
	}
	images, _, _ := unstructured.NestedSlice(spec, "images")
	for i, img := range images {
		im, _ := img.(map[string]any)
		for j, r := range res {
			if obj, err := r.Map(); err == nil && hasImage(obj, im) {
				f.mark(j, rankImages, fmt.Sprintf("spec.images[%d]", i))
			}
		}
	}
}

// targetSelector is a Flux patch's target as kustomize selects by it.
func targetSelector(p map[string]any) *kustypes.Selector {
	t, ok, _ := unstructured.NestedMap(p, "target")
	if !ok {
		return nil
	}
	s := func(k string) string { v, _, _ := unstructured.NestedString(t, k); return v }
	return &kustypes.Selector{
		ResId:              resid.ResId{Gvk: resid.Gvk{Group: s("group"), Version: s("version"), Kind: s("kind")}, Name: s("name"), Namespace: s("namespace")},
		LabelSelector:      s("labelSelector"),
		AnnotationSelector: s("annotationSelector"),
	}
}

// patchSelector selects what a strategic-merge patch without a target patches: the object of
// its kind and name (an exact name: the selector takes a regular expression).
func patchSelector(doc map[string]any) *kustypes.Selector {
	u := unstructured.Unstructured{Object: doc}
	if u.GetKind() == "" || u.GetName() == "" {
		return nil
	}
	gv := u.GroupVersionKind()
	return &kustypes.Selector{ResId: resid.ResId{Gvk: resid.Gvk{Group: gv.Group, Version: gv.Version, Kind: gv.Kind}, Name: "^" + regexp.QuoteMeta(u.GetName()) + "$", Namespace: u.GetNamespace()}}
}

// hasImage reports whether obj has an image field that a Flux images entry set: the new name
// (or the name), with the new tag or digest when the entry sets one.
func hasImage(obj map[string]any, img map[string]any) bool {
	s := func(k string) string { v, _, _ := unstructured.NestedString(img, k); return v }
	name := s("newName")
	if name == "" {
		name = s("name")
	}
	tag, digest := s("newTag"), s("digest")
	if name == "" {
		return false
	}
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				if found {
					return
				}
				if img, ok := c.(string); ok && k == "image" {
					n, rest := splitImage(img)
					if n == name && (digest == "" || rest == "@"+digest) && (tag == "" || digest != "" || rest == ":"+tag) {
						found = true
					}
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(obj)
	return found
}

// splitImage splits an image reference into its name and its ":tag" or "@digest" part.
func splitImage(img string) (name, rest string) {
	if i := strings.Index(img, "@"); i >= 0 {
		return img[:i], img[i:]
	}
	slash := strings.LastIndex(img, "/")
	if i := strings.LastIndex(img, ":"); i > slash {
		return img[:i], img[i:]
	}
	return img, ""
}

// dirEntry is an entry of a directory listing.
type dirEntry struct {
	name string
	dir  bool
}

// listDir lists the repository directory rel as the render sees it: on disk, less the files
// the overlay deletes, with the files (and the directories of files) it adds. The render
// depends on the listing (recordDir).
func (o *overlayFS) listDir(rel string) ([]dirEntry, error) {
	entries, err := os.ReadDir(o.abs(rel))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	o.recordDir(rel, entries)
	byName := make(map[string]bool, len(entries))
	for _, e := range entries {
		byName[e.Name()] = e.IsDir()
	}
	prefix := rel + "/"
	if rel == "." {
		prefix = ""
	}
	for p, b := range o.overlay {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" {
			continue
		}
		first, more, nested := strings.Cut(rest, "/")
		switch {
		case nested && more != "":
			if b != nil {
				byName[first] = true
			}
		case b == nil:
			delete(byName, first)
		default:
			byName[first] = false
		}
	}
	out := make([]dirEntry, 0, len(byName))
	for n, d := range byName {
		out = append(out, dirEntry{name: n, dir: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
