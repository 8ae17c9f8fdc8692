package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// An Argo CD Application's source renders as its repo-server renders it
// (reconciler.ReadArgoSource tells the type, after the repository's .argocd-source files):
//
//   - Kustomize: the source's kustomize options are what Argo CD's `kustomize edit set|add`
//     commands and its patches step write into the path's kustomization before `kustomize build`;
//     here they are written into the kustomization in memory (the overlay). namePrefix,
//     nameSuffix, images (${ARGOCD_APP_*} substituted), replicas, commonLabels (substituted;
//     forceCommonLabels, labelWithoutSelector, labelIncludeTemplates), commonAnnotations
//     (forceCommonAnnotations, commonAnnotationsEnvsubst), namespace, patches, components
//     (ignoreMissingComponents). version, kubeVersion and apiVersions change nothing kustomize
//     builds here. argocd-cm's kustomize.buildOptions are not known offline: kustomize's
//     defaults apply.
//   - Directory: the manifests of the path (recursing with directory.recurse), files named
//     *.yaml, *.yml, *.json (any name with directory.disableExtensionFilter) that
//     directory.include matches and directory.exclude does not (globs on the path below the
//     directory, '*' matching '/'), but those that hold "+argocd:skip-file-rendering"; YAML that
//     is no object is ignored as Argo CD ignores it; a .jsonnet file is refused.
//   - Helm and Config Management Plugins are refused here.
//
// spec.destination.namespace is not in the render: Argo CD gives it, when it applies them, to
// the namespaced objects that name no namespace, which a render cannot tell from cluster-scoped
// ones without the cluster; what applies a target carries it. Neither are Argo CD's tracking
// label or annotation.

// argoRender is what the Application adds to a kustomize build: the options that change the
// kustomization, to tell which changed each object (Origin.Layer).
type argoRender struct {
	name     string // "Argo CD Application NS/NAME"
	src      *reconciler.ArgoSource
	kustFile string
	base     []byte // the kustomization before the options
	options  []argoOption
	overlay  map[string][]byte
	root     string
	absDir   string
}

// argoOption is one kustomize option of a source: the kustomization field it sets, how, and
// the layer it is.
type argoOption struct {
	key   string // "images", as in the source's kustomize block
	layer string
	apply func(k *types.Kustomization) error
}

func isArgoApplied(a *reconciler.Applied) bool {
	return a != nil && reconciler.IsArgoApplication(a.Reconciler)
}

// prepareArgo readies the render of an Argo CD Application's source: it returns the
// kustomization kustomize builds (written, or rewritten, in the overlay), whether the render
// generated it, and what marks the layers after the build (nil when nothing does).
func prepareArgo(fsys *overlayFS, root, dir, absDir string, opts Options, setOverlay func(string, []byte) error) (*argoRender, string, bool, error) {
	app := opts.Applied.Reconciler
	name := fmt.Sprintf("Argo CD Application %s/%s", app.Namespace(), app.Name())
	obj, err := currentReconciler(fsys, root, app, reconciler.IsArgoApplication, "Argo CD Application")
	if err != nil {
		return nil, "", false, err
	}
	app.Obj = obj
	src, err := reconciler.ReadArgoSource(app.Obj, opts.Applied.Source, repoFS{o: fsys, root: root})
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: %w", name, err)
	}
	if src.Path != path.Clean(dir) {
		return nil, "", false, fmt.Errorf("%s %s applies %s, not %s", name, src.Field, src.Path, dir)
	}
	switch src.Type {
	case reconciler.ArgoPlugin:
		return nil, "", false, fmt.Errorf("%s %s: a Config Management Plugin renders it, which kubectl-gitops cannot", name, src.Field)
	case reconciler.ArgoDirectory:
		kustFile, err := argoDirectory(fsys, root, absDir, name, src, setOverlay)
		return nil, kustFile, true, err
	}
	kustFile := findKustomization(fsys, absDir)
	if kustFile == "" {
		return nil, "", false, fmt.Errorf("%s renders %s with kustomize (%s.kustomize), but it has no kustomization", name, dir, src.Field)
	}
	opt, _ := src.Spec["kustomize"].(map[string]any)
	a := &argoRender{name: name, src: src, kustFile: kustFile, root: root, absDir: absDir}
	if a.options, err = a.kustomizeOptions(opt, app, fsys, absDir); err != nil {
		return nil, "", false, err
	}
	if len(a.options) == 0 {
		return nil, kustFile, false, nil
	}
	if a.base, err = fsys.ReadFile(kustFile); err != nil {
		return nil, "", false, err
	}
	edited, err := a.edit(len(a.options), argoEditOrder)
	if err != nil {
		return nil, "", false, err
	}
	if err := setOverlay(kustFile, edited); err != nil {
		return nil, "", false, err
	}
	a.overlay = fsys.overlay
	return a, kustFile, false, nil
}

// Argo CD runs its edits in this order (so a refusal is the one it would report first);
// kustomize applies what they set in the order of kustomizeOrder, which Origin.Layer follows.
var (
	argoEditOrder  = []string{"namePrefix", "nameSuffix", "images", "replicas", "commonLabels", "commonAnnotations", "namespace", "patches", "components"}
	kustomizeOrder = []string{"components", "patches", "namespace", "namePrefix", "nameSuffix", "commonLabels", "commonAnnotations", "replicas", "images"}
)

// edit is the kustomization with the first n options in the order given.
func (a *argoRender) edit(n int, order []string) ([]byte, error) {
	var k types.Kustomization
	if err := k.Unmarshal(a.base); err != nil {
		return nil, fmt.Errorf("%s: %w", relSlash(a.root, a.kustFile), err)
	}
	k.FixKustomization()
	byKey := map[string]argoOption{}
	for _, o := range a.options {
		byKey[o.key] = o
	}
	applied := 0
	for _, key := range order {
		o, ok := byKey[key]
		if !ok {
			continue
		}
		if applied == n {
			break
		}
		applied++
		if err := o.apply(&k); err != nil {
			return nil, fmt.Errorf("%s: %w", o.layer, err)
		}
	}
	return yaml.Marshal(&k)
}

// layerName names where an option is set: the Application's field, or the override file.
func (a *argoRender) layerName(key string) string {
	if f := a.src.SetBy["kustomize."+key]; f != "" {
		return fmt.Sprintf("%s kustomize.%s", f, key)
	}
	if f := a.src.SetBy["kustomize"]; f != "" {
		return fmt.Sprintf("%s kustomize.%s", f, key)
	}
	return fmt.Sprintf("%s %s.kustomize.%s", a.name, a.src.Field, key)
}

// kustomizeOptions are the options of a source's kustomize block that change the kustomization.
func (a *argoRender) kustomizeOptions(opt map[string]any, app reconciler.Object, fsys *overlayFS, absDir string) ([]argoOption, error) {
	var out []argoOption
	add := func(key string, apply func(k *types.Kustomization) error) {
		out = append(out, argoOption{key: key, layer: a.layerName(key), apply: apply})
	}
	str := func(key string) string { s, _ := opt[key].(string); return s }
	flag := func(key string) bool { b, _ := opt[key].(bool); return b }
	env := argoEnv(app, a.src)
	if p := str("namePrefix"); p != "" {
		add("namePrefix", func(k *types.Kustomization) error { k.NamePrefix = p; return nil })
	}
	if s := str("nameSuffix"); s != "" {
		add("nameSuffix", func(k *types.Kustomization) error { k.NameSuffix = s; return nil })
	}
	if images, _ := opt["images"].([]any); len(images) > 0 {
		add("images", func(k *types.Kustomization) error {
			var args []string
			for _, im := range images {
				s, _ := im.(string)
				sub, err := env.subst(s)
				if err != nil {
					return err
				}
				args = append(args, sub)
			}
			return setImages(k, args)
		})
	}
	if replicas, _ := opt["replicas"].([]any); len(replicas) > 0 {
		add("replicas", func(k *types.Kustomization) error { return setReplicas(k, replicas) })
	}
	if labels, _ := opt["commonLabels"].(map[string]any); len(labels) > 0 {
		add("commonLabels", func(k *types.Kustomization) error {
			m := map[string]string{}
			for key, v := range labels {
				s, err := env.subst(fmt.Sprint(v))
				if err != nil {
					return err
				}
				m[key] = s
			}
			return addLabels(k, m, flag("forceCommonLabels"), flag("labelWithoutSelector"), flag("labelIncludeTemplates"))
		})
	}
	if annotations, _ := opt["commonAnnotations"].(map[string]any); len(annotations) > 0 {
		add("commonAnnotations", func(k *types.Kustomization) error {
			m := map[string]string{}
			for key, v := range annotations {
				s := fmt.Sprint(v)
				if flag("commonAnnotationsEnvsubst") {
					var err error
					if s, err = env.subst(s); err != nil {
						return err
					}
				}
				m[key] = s
			}
			return addAnnotations(k, m, flag("forceCommonAnnotations"))
		})
	}
	if ns := str("namespace"); ns != "" {
		add("namespace", func(k *types.Kustomization) error {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				return fmt.Errorf("%q is not a valid namespace name: %s", ns, strings.Join(errs, ";"))
			}
			k.Namespace = ns
			return nil
		})
	}
	if patches, _ := opt["patches"].([]any); len(patches) > 0 {
		add("patches", func(k *types.Kustomization) error {
			for i, p := range patches {
				b, err := json.Marshal(p)
				if err != nil {
					return err
				}
				var patch types.Patch
				if err := json.Unmarshal(b, &patch); err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
				k.Patches = append(k.Patches, patch)
			}
			return nil
		})
	}
	if comps, _ := opt["components"].([]any); len(comps) > 0 {
		ignoreMissing := flag("ignoreMissingComponents")
		add("components", func(k *types.Kustomization) error {
			return addComponents(k, comps, ignoreMissing, fsys, absDir)
		})
	}
	return out, nil
}

// argoEnvironment is what Argo CD substitutes for ${ARGOCD_APP_*} in images, labels and
// (when asked) annotations.
type argoEnvironment map[string]string

func argoEnv(app reconciler.Object, src *reconciler.ArgoSource) argoEnvironment {
	project, _, _ := unstructured.NestedString(app.Obj.Object, "spec", "project")
	ns, _, _ := unstructured.NestedString(app.Obj.Object, "spec", "destination", "namespace")
	url, _ := src.Spec["repoURL"].(string)
	p, _ := src.Spec["path"].(string)
	rev, _ := src.Spec["targetRevision"].(string)
	return argoEnvironment{
		"ARGOCD_APP_NAME":                   app.Name(),
		"ARGOCD_APP_NAMESPACE":              ns,
		"ARGOCD_APP_PROJECT_NAME":           project,
		"ARGOCD_APP_SOURCE_REPO_URL":        url,
		"ARGOCD_APP_SOURCE_PATH":            p,
		"ARGOCD_APP_SOURCE_TARGET_REVISION": rev,
	}
}

// subst expands $VAR and ${VAR} as Argo CD does ($$ is a '$', an unknown variable nothing);
// the revision's commit, which a render of the working tree does not have, is refused.
func (e argoEnvironment) subst(s string) (string, error) {
	var err error
	out := os.Expand(s, func(v string) string {
		if v == "$" {
			return "$"
		}
		if strings.HasPrefix(v, "ARGOCD_APP_REVISION") {
			err = fmt.Errorf("%q uses ${%s}, the commit Argo CD renders, which a render of the working tree does not know", s, v)
		}
		return e[v]
	})
	return out, err
}

// setImages is `kustomize edit set image ARGS...`: an image replaces the entry of its name, '*'
// keeps the entry's value of that part; entries sorted by name.
func setImages(k *types.Kustomization, args []string) error {
	byName := map[string]types.Image{}
	for _, arg := range args {
		im, err := parseImageArg(arg)
		if err != nil {
			return err
		}
		byName[im.Name] = im
	}
	for _, old := range k.Images {
		im, ok := byName[old.Name]
		if !ok {
			byName[old.Name] = old
			continue
		}
		if im.NewName == "*" {
			im.NewName = old.NewName
		}
		if im.NewTag == "*" {
			im.NewTag = old.NewTag
		}
		if im.Digest == "*" {
			im.Digest = old.Digest
		}
		byName[old.Name] = im
	}
	images := make([]types.Image, 0, len(byName))
	for _, im := range byName {
		for _, p := range []*string{&im.NewName, &im.NewTag, &im.Digest} {
			if *p == "*" {
				*p = ""
			}
		}
		images = append(images, im)
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	k.Images = images
	return nil
}

// parseImageArg reads NAME[=NEWNAME][:TAG][@DIGEST] as kustomize edit set image does.
func parseImageArg(arg string) (types.Image, error) {
	key, value, hasKey := strings.Cut(arg, "=")
	if !hasKey {
		key, value = "", arg
	}
	name, tag, digest := util.SplitImageName(value)
	if name == arg {
		return types.Image{}, fmt.Errorf("image %q: give NAME:TAG, NAME@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]", arg)
	}
	im := types.Image{NewTag: tag, Digest: digest}
	if key == "" {
		im.Name = name
	} else {
		im.Name, im.NewName = key, name
	}
	return im, nil
}

// setReplicas is `kustomize edit set replicas NAME=COUNT...`: a count replaces the entry of its
// name; entries sorted by name.
func setReplicas(k *types.Kustomization, replicas []any) error {
	byName := map[string]types.Replica{}
	for i, r := range replicas {
		m, _ := r.(map[string]any)
		name, _ := m["name"].(string)
		var count int64
		switch c := m["count"].(type) {
		case float64:
			count = int64(c)
		case int64:
			count = c
		case string:
			n, err := strconv.ParseInt(c, 10, 64)
			if err != nil {
				return fmt.Errorf("[%d].count %q is not a number", i, c)
			}
			count = n
		default:
			return fmt.Errorf("[%d].count is not a number", i)
		}
		byName[name] = types.Replica{Name: name, Count: count}
	}
	for _, old := range k.Replicas {
		if _, ok := byName[old.Name]; !ok {
			byName[old.Name] = old
		}
	}
	out := make([]types.Replica, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	k.Replicas = out
	return nil
}

// addLabels is `kustomize edit add label [--force] [--without-selector [--include-templates]]`.
func addLabels(k *types.Kustomization, labels map[string]string, force, withoutSelector, includeTemplates bool) error {
	for key, v := range labels {
		if e := validation.IsQualifiedName(key); len(e) > 0 {
			return fmt.Errorf("label %q: %s", key, strings.Join(e, "; "))
		}
		if e := validation.IsValidLabelValue(v); len(e) > 0 {
			return fmt.Errorf("label %s=%q: %s", key, v, strings.Join(e, "; "))
		}
	}
	if includeTemplates && !withoutSelector {
		return errors.New("labelIncludeTemplates needs labelWithoutSelector")
	}
	keys := slices.Sorted(maps.Keys(labels))
	if !withoutSelector {
		if k.CommonLabels == nil {
			k.CommonLabels = map[string]string{}
		}
		return putAll(k.CommonLabels, labels, keys, "label", "forceCommonLabels", force)
	}
	idx := -1
	for i, l := range k.Labels {
		if !l.IncludeSelectors && l.IncludeTemplates == includeTemplates {
			idx = i
			break
		}
	}
	if idx < 0 {
		k.Labels = append(k.Labels, types.Label{Pairs: map[string]string{}, IncludeTemplates: includeTemplates})
		idx = len(k.Labels) - 1
	}
	if k.Labels[idx].Pairs == nil {
		k.Labels[idx].Pairs = map[string]string{}
	}
	return putAll(k.Labels[idx].Pairs, labels, keys, "label", "forceCommonLabels", force)
}

// addAnnotations is `kustomize edit add annotation [--force]`.
func addAnnotations(k *types.Kustomization, annotations map[string]string, force bool) error {
	keys := slices.Sorted(maps.Keys(annotations))
	for _, key := range keys {
		if e := validation.IsQualifiedName(strings.ToLower(key)); len(e) > 0 {
			return fmt.Errorf("annotation %q: %s", key, strings.Join(e, "; "))
		}
	}
	if k.CommonAnnotations == nil {
		k.CommonAnnotations = map[string]string{}
	}
	return putAll(k.CommonAnnotations, annotations, keys, "annotation", "forceCommonAnnotations", force)
}

func putAll(dst, src map[string]string, keys []string, kind, forceField string, force bool) error {
	for _, key := range keys {
		if _, ok := dst[key]; ok && !force {
			return fmt.Errorf("%s %s is already in the kustomization; Argo CD refuses to override it without %s", kind, key, forceField)
		}
		dst[key] = src[key]
	}
	return nil
}

// addComponents is `kustomize edit add component PATHS...` (paths relative to the source's
// directory, globs allowed), less the missing ones with ignoreMissingComponents.
func addComponents(k *types.Kustomization, comps []any, ignoreMissing bool, fsys *overlayFS, absDir string) error {
	for _, c := range comps {
		p, _ := c.(string)
		full := filepath.Join(absDir, filepath.FromSlash(p))
		var found []string
		if strings.ContainsAny(p, "*?[") {
			matches, err := filepath.Glob(full)
			if err != nil {
				return fmt.Errorf("component %q: %w", p, err)
			}
			for _, m := range matches {
				found = append(found, relSlash(absDir, m))
			}
		} else if fsys.Exists(full) || strings.Contains(p, "://") {
			found = []string{p}
		}
		if len(found) == 0 {
			if ignoreMissing {
				continue
			}
			return fmt.Errorf("component %s has no match (ignoreMissingComponents skips it)", p)
		}
		for _, f := range found {
			if !slices.Contains(k.Components, f) {
				k.Components = append(k.Components, f)
			}
		}
	}
	return nil
}

// layerKey names an object across renders of the same source with other options: its ID in
// each. An option that renames an object (namePrefix, namespace) makes it a new one there,
// which that option changed.
type layerKey = ObjectID

// setLayers gives each object the layer of the last option (in kustomize's order) whose
// addition changes it: a render with the kustomization as written, then one more option at a
// time.
func (a *argoRender) setLayers(objs []*Object) error {
	layers := map[layerKey]string{}
	present := make([]argoOption, 0, len(a.options))
	for _, key := range kustomizeOrder {
		for _, o := range a.options {
			if o.key == key {
				present = append(present, o)
			}
		}
	}
	// The builds are independent: run side by side.
	builds := make([]map[layerKey][]byte, len(present)+1)
	g := new(errgroup.Group)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for n := range builds {
		g.Go(func() error {
			content, err := a.edit(n, kustomizeOrder)
			if err != nil {
				return err
			}
			if builds[n], err = a.build(content); err != nil {
				return fmt.Errorf("%s: without %s: %w", a.name, strings.Join(layerKeys(present[n:]), ", "), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for n := 1; n < len(builds); n++ {
		for k, js := range builds[n] {
			if !bytes.Equal(js, builds[n-1][k]) {
				layers[k] = present[n-1].layer
			}
		}
	}
	for _, o := range objs {
		if l, ok := layers[o.ID]; ok {
			o.Origin.Layer = l
		}
	}
	return nil
}

func layerKeys(opts []argoOption) []string {
	var out []string
	for _, o := range opts {
		out = append(out, o.key)
	}
	return out
}

// build runs kustomize with the kustomization's content replaced: each object's JSON by its ID.
func (a *argoRender) build(content []byte) (map[layerKey][]byte, error) {
	overlay := make(map[string][]byte, len(a.overlay)+1)
	for p, b := range a.overlay {
		overlay[p] = b
	}
	fsys := newOverlayFS(a.root, overlay)
	rel, _, err := fsys.resolve(a.kustFile)
	if err != nil {
		return nil, err
	}
	overlay[rel] = content
	kopts := krusty.MakeDefaultOptions()
	kopts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(kopts).Run(fsys, a.absDir)
	if err != nil {
		return nil, err
	}
	out := make(map[layerKey][]byte, m.Size())
	for _, r := range m.Resources() {
		gvk := r.GetGvk()
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		out[layerKey{Group: gvk.Group, Kind: gvk.Kind, Namespace: r.GetNamespace(), Name: r.GetName()}] = js
	}
	return out, nil
}

// manifestFile are the names Argo CD reads as manifests in a directory.
var manifestFile = regexp.MustCompile(`^.*\.(yaml|yml|json|jsonnet)$`)

// skipFileMarker in a file keeps Argo CD from reading it as a manifest.
const skipFileMarker = "+argocd:skip-file-rendering"

// argoDirectory writes, in the overlay, a kustomization of the manifests Argo CD reads from the
// source's directory, and returns its path.
func argoDirectory(fsys *overlayFS, root, absDir, name string, src *reconciler.ArgoSource, setOverlay func(string, []byte) error) (string, error) {
	if kf := findKustomization(fsys, absDir); kf != "" {
		return "", fmt.Errorf("%s %s.directory reads %s as plain manifests, but it holds a kustomization, which Argo CD would read as a manifest: remove %s.directory or the kustomization", name, src.Field, relSlash(root, absDir), src.Field)
	}
	d, _ := src.Spec["directory"].(map[string]any)
	recurse, _ := d["recurse"].(bool)
	noExtFilter, _ := d["disableExtensionFilter"].(bool)
	var include, exclude glob.Glob
	for _, g := range []struct {
		field string
		dst   *glob.Glob
	}{{"include", &include}, {"exclude", &exclude}} {
		if s, _ := d[g.field].(string); s != "" {
			c, err := glob.Compile(s)
			if err != nil {
				return "", fmt.Errorf("%s %s.directory.%s %q: %w", name, src.Field, g.field, s, err)
			}
			*g.dst = c
		}
	}
	var files []string
	var walk func(p string) error
	walk = func(p string) error {
		entries, err := fsys.readDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			full := filepath.Join(p, e.Name())
			switch {
			case e.IsDir() && recurse && e.Name() != ".git":
				if err := walk(full); err != nil {
					return err
				}
			case !e.IsDir():
				files = append(files, full)
			}
		}
		return nil
	}
	if err := walk(absDir); err != nil {
		return "", err
	}
	// Files that exist only in the overlay (a new object's file) are read too.
	dirRel, _, err := fsys.resolve(absDir)
	if err != nil {
		return "", err
	}
	for p, b := range fsys.overlay {
		rel := p
		if dirRel != "." {
			var ok bool
			if rel, ok = strings.CutPrefix(p, dirRel+"/"); !ok {
				continue
			}
		}
		if b == nil || (!recurse && strings.Contains(rel, "/")) {
			continue
		}
		if _, err := os.Lstat(fsys.abs(p)); err == nil {
			continue
		}
		files = append(files, filepath.Join(absDir, filepath.FromSlash(rel)))
	}
	sort.Strings(files)
	var resources []string
	for _, full := range files {
		rel := relSlash(absDir, full)
		if !noExtFilter && !manifestFile.MatchString(path.Base(rel)) {
			continue
		}
		if b, ok := fsys.lookup(full); ok && b == nil {
			continue
		}
		if exclude != nil && exclude.Match(rel) || include != nil && !include.Match(rel) {
			continue
		}
		b, err := fsys.ReadFile(full)
		if err != nil {
			return "", err
		}
		if bytes.Contains(b, []byte(skipFileMarker)) {
			continue
		}
		if strings.HasSuffix(rel, ".jsonnet") {
			return "", fmt.Errorf("%s: %s is Jsonnet, which kubectl-gitops does not evaluate", name, relSlash(root, full))
		}
		n, err := argoManifests(rel, b)
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", name, relSlash(root, full), err)
		}
		if n > 0 {
			resources = append(resources, rel)
		}
	}
	k := map[string]any{
		"apiVersion":    types.KustomizationVersion,
		"kind":          types.KustomizationKind,
		"resources":     resources,
		"buildMetadata": []string{types.OriginAnnotations},
	}
	gen, err := yaml.Marshal(k)
	if err != nil {
		return "", err
	}
	kustFile := filepath.Join(absDir, "kustomization.yaml")
	return kustFile, setOverlay(kustFile, gen)
}

// argoManifests counts the objects of a file as the repo-server reads them: a JSON file holds
// one; YAML documents are objects, and a file that fails to decode is ignored unless it looks
// like a manifest or some document before the failure was one.
func argoManifests(name string, b []byte) (int, error) {
	if strings.HasSuffix(name, ".json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj); err != nil {
			return 0, fmt.Errorf("failed to unmarshal %q: %w", name, err)
		}
		if dec.More() {
			return 0, fmt.Errorf("found multiple objects in %q: only single objects are allowed in JSON files", name)
		}
		return 1, nil
	}
	d := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	n := 0
	for {
		u := &unstructured.Unstructured{}
		err := d.Decode(&u)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			if n > 0 || bytes.Contains(b, []byte("apiVersion:")) && bytes.Contains(b, []byte("kind:")) && bytes.Contains(b, []byte("metadata:")) {
				return 0, fmt.Errorf("failed to unmarshal %q: %w", name, err)
			}
			return 0, nil
		}
		if u != nil {
			n++
		}
	}
}

// repoFS is the repository as a render sees it (its overlay), for reconciler.ReadArgoSource.
type repoFS struct {
	o    *overlayFS
	root string
}

func (r repoFS) full(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(r.root, filepath.FromSlash(name)), nil
}

func (r repoFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: errors.ErrUnsupported}
}

// ReadFile reads through the overlay, recording the input; a file that does not exist is not one.
func (r repoFS) ReadFile(name string) ([]byte, error) {
	p, err := r.full(name)
	if err != nil {
		return nil, err
	}
	if !r.o.Exists(p) || r.o.IsDir(p) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return r.o.ReadFile(p)
}

func (r repoFS) Stat(name string) (fs.FileInfo, error) {
	p, err := r.full(name)
	if err != nil {
		return nil, err
	}
	if b, ok := r.o.lookup(p); ok {
		if b == nil {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
		}
		return overlayInfo{name: path.Base(name), size: int64(len(b))}, nil
	}
	return os.Stat(p)
}

// ReadDir lists a directory with the overlay's files in it.
func (r repoFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := r.full(name)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []fs.DirEntry
	for _, e := range entries {
		if b, ok := r.o.lookup(filepath.Join(p, e.Name())); ok && b == nil {
			continue
		}
		out = append(out, e)
	}
	dirRel, ok, _ := r.o.resolve(p)
	for f, b := range r.o.overlay {
		if !ok || b == nil || path.Dir(f) != dirRel {
			continue
		}
		if _, err := os.Lstat(r.o.abs(f)); err == nil {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(overlayInfo{name: path.Base(f), size: int64(len(b))}))
	}
	if len(out) == 0 && err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// overlayInfo describes a file that exists only in the overlay.
type overlayInfo struct {
	name string
	size int64
}

func (i overlayInfo) Name() string       { return i.name }
func (i overlayInfo) Size() int64        { return i.size }
func (i overlayInfo) Mode() fs.FileMode  { return 0o644 }
func (i overlayInfo) ModTime() time.Time { return time.Time{} }
func (i overlayInfo) IsDir() bool        { return false }
func (i overlayInfo) Sys() any           { return nil }
