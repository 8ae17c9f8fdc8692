package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gobwas/glob"
	"github.com/jeremywohl/flatten"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// argoResourcesFinalizer is the finalizer the ApplicationSet controller gives the Applications
// it generates unless told to keep their resources on deletion.
const argoResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"

// ExpandApplicationSet returns the Applications the ApplicationSet set generates, as Argo CD's
// ApplicationSet controller does, from the repository fsys, whose own remote is repoURL (""
// when unknown: every git generator then reads fsys). The repository's files stand for the
// revision the git generators name.
//
// Supported: the list generator (elements, elementsYaml), the git generator (directories with
// path.Match globs and exclude entries, as the repo-server lists directories: not hidden, holding
// a file; files matched as git ls-files matches a pathspec, JSON or YAML objects or lists of
// them, flattened for fasttemplate; pathParamPrefix, values), a matrix of two of them, generator
// templates and selectors; templates with fasttemplate or goTemplate (Sprig functions but
// slugify, goTemplateOptions). Refused with an error naming them: the cluster, SCM provider,
// pull request, cluster decision resource, plugin and merge generators (they need the cluster
// or a forge), git generators of another repository, and templatePatch.
//
// Each Application is an Object of set's file and document, in set's namespace, owned by set.
func ExpandApplicationSet(set Object, fsys fs.FS, repoURL string) ([]Object, error) {
	x, err := newAppSetExpander(set, fsys, repoURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(set), err)
	}
	apps, err := x.expand()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(set), err)
	}
	return apps, nil
}

type appSetExpander struct {
	set     Object
	spec    map[string]any
	fsys    fs.FS
	repoURL string
	tmpl    argoTemplater
	// the repository's directories and files, listed on first use
	dirs, files []string
	listed      bool
}

func newAppSetExpander(set Object, fsys fs.FS, repoURL string) (*appSetExpander, error) {
	spec, _ := set.Obj.Object["spec"].(map[string]any)
	if spec == nil {
		return nil, errors.New("it has no spec")
	}
	if spec["templatePatch"] != nil {
		return nil, errors.New("spec.templatePatch is not supported by kubectl-gitops: write the fields in spec.template")
	}
	goTemplate, _ := spec["goTemplate"].(bool)
	var options []string
	if raw, ok := spec["goTemplateOptions"].([]any); ok {
		for _, o := range raw {
			s, _ := o.(string)
			options = append(options, s)
		}
	}
	tmpl, err := newArgoTemplater(goTemplate, options)
	if err != nil {
		return nil, err
	}
	return &appSetExpander{set: set, spec: spec, fsys: fsys, repoURL: repoURL, tmpl: tmpl}, nil
}

func (x *appSetExpander) expand() ([]Object, error) {
	base, _ := x.spec["template"].(map[string]any)
	gens, _ := x.spec["generators"].([]any)
	if len(gens) == 0 {
		return nil, errors.New("spec.generators is empty")
	}
	var out []Object
	names := map[string]bool{}
	for i, g := range gens {
		field := fmt.Sprintf("spec.generators[%d]", i)
		gen, ok := g.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not a mapping", field)
		}
		results, err := x.generate(gen, nil, field)
		if err != nil {
			return nil, err
		}
		for _, r := range results {
			tmpl := mergeTemplate(r.template, base)
			for _, params := range r.params {
				app, err := x.application(tmpl, params)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", field, err)
				}
				if names[app.GetName()] {
					return nil, fmt.Errorf("it generates two Applications named %q", app.GetName())
				}
				names[app.GetName()] = true
				out = append(out, Object{File: x.set.File, Doc: x.set.Doc, Obj: app})
			}
		}
	}
	return out, nil
}

// generated are the parameter sets one kind of generator made, and its own template.
type generated struct {
	params   []map[string]any
	template map[string]any
}

// generatorKinds are the fields of a generator, in the order the controller takes them.
var generatorKinds = []string{"list", "clusters", "git", "scmProvider", "clusterDecisionResource", "pullRequest", "matrix", "merge", "plugin"}

// generate runs each kind of generator gen holds. outer, for the second generator of a matrix,
// are the first one's parameters, rendered into gen's strings first.
func (x *appSetExpander) generate(gen map[string]any, outer map[string]any, field string) ([]generated, error) {
	if len(outer) > 0 {
		var err error
		if gen, err = x.interpolate(gen, outer); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
	}
	sel, err := parseParamSelector(gen["selector"])
	if err != nil {
		return nil, fmt.Errorf("%s.selector: %w", field, err)
	}
	var out []generated
	for _, kind := range generatorKinds {
		spec, ok := gen[kind].(map[string]any)
		if !ok {
			continue
		}
		f := field + "." + kind
		var params []map[string]any
		switch kind {
		case "list":
			params, err = x.listParams(spec, f)
		case "git":
			params, err = x.gitParams(spec, f)
		case "matrix":
			if outer != nil {
				return nil, fmt.Errorf("%s: a matrix inside a matrix is not supported by kubectl-gitops", f)
			}
			params, err = x.matrixParams(spec, f)
		case "merge":
			return nil, fmt.Errorf("%s: the merge generator is not supported by kubectl-gitops; name its Applications' paths as targets in .kubectl-gitops.yaml", f)
		default:
			return nil, fmt.Errorf("%s: the %s generator needs the cluster or a forge, which kubectl-gitops does not read; name its Applications' paths as targets in .kubectl-gitops.yaml", f, kind)
		}
		if err != nil {
			return nil, err
		}
		var kept []map[string]any
		for _, p := range params {
			ok, err := sel.matches(p)
			if err != nil {
				return nil, fmt.Errorf("%s.selector: %w", field, err)
			}
			if ok {
				kept = append(kept, p)
			}
		}
		t, _ := spec["template"].(map[string]any)
		out = append(out, generated{params: kept, template: t})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no generator", field)
	}
	return out, nil
}

// listParams are a list generator's elements.
func (x *appSetExpander) listParams(spec map[string]any, field string) ([]map[string]any, error) {
	elems, _ := spec["elements"].([]any)
	var out []map[string]any
	for i, e := range elems {
		elem, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.elements[%d] is not a mapping", field, i)
		}
		if x.tmpl.goTemplate {
			out = append(out, elem)
			continue
		}
		params := map[string]any{}
		for k, v := range elem {
			if k == "values" {
				values, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s.elements[%d].values is not a mapping", field, i)
				}
				for vk, vv := range values {
					s, ok := vv.(string)
					if !ok {
						return nil, fmt.Errorf("%s.elements[%d].values.%s is not a string (without goTemplate, parameters are strings)", field, i, vk)
					}
					params["values."+vk] = s
				}
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s.elements[%d].%s is not a string (without goTemplate, parameters are strings)", field, i, k)
			}
			params[k] = s
		}
		out = append(out, params)
	}
	if raw, ok := spec["elementsYaml"].(string); ok && raw != "" {
		var more []map[string]any
		if err := yaml.Unmarshal([]byte(raw), &more); err != nil {
			return nil, fmt.Errorf("%s.elementsYaml: %w", field, err)
		}
		out = append(out, more...)
	}
	return out, nil
}

// gitParams are a git generator's parameters, read from this repository.
func (x *appSetExpander) gitParams(spec map[string]any, field string) ([]map[string]any, error) {
	url, _ := spec["repoURL"].(string)
	if url == "" {
		return nil, fmt.Errorf("%s has no repoURL", field)
	}
	if x.repoURL != "" && !SameRepository(url, x.repoURL) {
		return nil, fmt.Errorf("%s reads %s, not this repository (%s): kubectl-gitops reads only the repository it changes", field, url, x.repoURL)
	}
	prefix, _ := spec["pathParamPrefix"].(string)
	values := map[string]string{}
	if raw, ok := spec["values"].(map[string]any); ok {
		for k, v := range raw {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s.values.%s is not a string", field, k)
			}
			values[k] = s
		}
	}
	if err := x.list(); err != nil {
		return nil, err
	}
	var out []map[string]any
	if dirs, _ := spec["directories"].([]any); len(dirs) > 0 {
		items, err := pathItems(dirs, field+".directories")
		if err != nil {
			return nil, err
		}
		for _, d := range x.dirs {
			include, exclude := false, false
			for _, it := range items {
				ok, err := path.Match(it.path, d)
				if err != nil {
					return nil, fmt.Errorf("%s.directories: path %q: %w", field, it.path, err)
				}
				include = include || ok && !it.exclude
				exclude = exclude || ok && it.exclude
			}
			if include && !exclude {
				out = append(out, x.pathParams(d, "", prefix))
			}
		}
	} else if files, _ := spec["files"].([]any); len(files) > 0 {
		items, err := pathItems(files, field+".files")
		if err != nil {
			return nil, err
		}
		for _, f := range x.files {
			include, exclude := false, false
			for _, it := range items {
				ok, err := matchPathspec(it.path, f)
				if err != nil {
					return nil, fmt.Errorf("%s.files: path %q: %w", field, it.path, err)
				}
				include = include || ok && !it.exclude
				exclude = exclude || ok && it.exclude
			}
			if !include || exclude {
				continue
			}
			params, err := x.fileParams(f, prefix)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", field, f, err)
			}
			out = append(out, params...)
		}
	} else {
		return nil, fmt.Errorf("%s has neither directories nor files", field)
	}
	for _, p := range out {
		if err := x.appendValues(p, values); err != nil {
			return nil, fmt.Errorf("%s.values: %w", field, err)
		}
	}
	return out, nil
}

type pathItem struct {
	path    string
	exclude bool
}

func pathItems(raw []any, field string) ([]pathItem, error) {
	var out []pathItem
	for i, r := range raw {
		m, _ := r.(map[string]any)
		p, _ := m["path"].(string)
		if p == "" {
			return nil, fmt.Errorf("%s[%d] has no path", field, i)
		}
		ex, _ := m["exclude"].(bool)
		out = append(out, pathItem{path: p, exclude: ex})
	}
	return out, nil
}

// list lists the repository as the repo-server does for git generators: directories that hold a
// file (git keeps no empty one) and none of whose names starts with '.', in the order of a walk;
// every file, sorted. .git is not the repository's content.
func (x *appSetExpander) list() error {
	if x.listed {
		return nil
	}
	hasFile := map[string]bool{}
	var dirs []string
	err := fs.WalkDir(x.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != "." {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != "." {
				dirs = append(dirs, p)
			}
			return nil
		}
		x.files = append(x.files, p)
		for dir := path.Dir(p); dir != "." && !hasFile[dir]; dir = path.Dir(dir) {
			hasFile[dir] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the repository: %w", err)
	}
	for _, d := range dirs {
		if hasFile[d] && !hiddenPath(d) {
			x.dirs = append(x.dirs, d)
		}
	}
	slices.Sort(x.files)
	x.listed = true
	return nil
}

func hiddenPath(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// matchPathspec matches a file against a git generator's files path as git ls-files matches a
// pathspec: with wildcards, the whole path, '*' matching '/' too; without, the file itself or
// the files below the directory it names.
func matchPathspec(pattern, file string) (bool, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		p := strings.TrimSuffix(path.Clean(pattern), "/")
		return p == "." || file == p || strings.HasPrefix(file, p+"/"), nil
	}
	g, err := glob.Compile(pattern)
	if err != nil {
		return false, err
	}
	return g.Match(file), nil
}

// pathParams are the parameters of a directory (file "") or of a file of the git generator.
func (x *appSetExpander) pathParams(dir, file, prefix string) map[string]any {
	params := map[string]any{}
	if x.tmpl.goTemplate {
		p := map[string]any{
			"path":               dir,
			"basename":           path.Base(dir),
			"basenameNormalized": sanitizeName(path.Base(dir)),
			"segments":           toAny(strings.Split(dir, "/")),
		}
		if file != "" {
			p["filename"] = path.Base(file)
			p["filenameNormalized"] = sanitizeName(path.Base(file))
		}
		if prefix != "" {
			params[prefix] = map[string]any{"path": p}
		} else {
			params["path"] = p
		}
		return params
	}
	name := "path"
	if prefix != "" {
		name = prefix + ".path"
	}
	params[name] = dir
	params[name+".basename"] = path.Base(dir)
	params[name+".basenameNormalized"] = sanitizeName(path.Base(dir))
	if file != "" {
		params[name+".filename"] = path.Base(file)
		params[name+".filenameNormalized"] = sanitizeName(path.Base(file))
	}
	for i, seg := range strings.Split(dir, "/") {
		if seg != "" {
			params[name+"["+strconv.Itoa(i)+"]"] = seg
		}
	}
	return params
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// fileParams are the parameter sets of a file of the git files generator: one per object of
// the file (an object, or a list of them), flattened to "a.b.0" keys without goTemplate.
func (x *appSetExpander) fileParams(file, prefix string) ([]map[string]any, error) {
	b, err := fs.ReadFile(x.fsys, file)
	if err != nil {
		return nil, err
	}
	var objs []map[string]any
	single := map[string]any{}
	if err := yaml.Unmarshal(b, &single); err == nil {
		objs = append(objs, single)
	} else if err := yaml.Unmarshal(b, &objs); err != nil {
		return nil, fmt.Errorf("unable to parse file: %w", err)
	}
	var out []map[string]any
	for _, obj := range objs {
		params := map[string]any{}
		if x.tmpl.goTemplate {
			maps.Copy(params, obj)
		} else {
			flat, err := flatten.Flatten(obj, "", flatten.DotStyle)
			if err != nil {
				return nil, err
			}
			for k, v := range flat {
				params[k] = fmt.Sprintf("%v", v)
			}
		}
		maps.Copy(params, x.pathParams(path.Dir(file), file, prefix))
		out = append(out, params)
	}
	return out, nil
}

// appendValues adds a git generator's values, rendered with the parameters, as values.KEY.
func (x *appSetExpander) appendValues(params map[string]any, values map[string]string) error {
	rendered := map[string]string{}
	for k, v := range values {
		r, err := x.tmpl.replace(v, params)
		if err != nil {
			return err
		}
		rendered[k] = r
	}
	if len(rendered) == 0 {
		return nil
	}
	if x.tmpl.goTemplate {
		params["values"] = rendered
		return nil
	}
	for k, v := range rendered {
		params["values."+k] = v
	}
	return nil
}

// matrixParams combine the parameters of a matrix's two generators: each set of the first with
// each set the second makes once the first set is rendered into it.
func (x *appSetExpander) matrixParams(spec map[string]any, field string) ([]map[string]any, error) {
	children, _ := spec["generators"].([]any)
	if len(children) != 2 {
		return nil, fmt.Errorf("%s.generators: a matrix combines exactly two generators, not %d", field, len(children))
	}
	child := func(i int, outer map[string]any) ([]map[string]any, error) {
		f := fmt.Sprintf("%s.generators[%d]", field, i)
		gen, ok := children[i].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not a mapping", f)
		}
		if gen["matrix"] != nil || gen["merge"] != nil {
			return nil, fmt.Errorf("%s: a matrix or merge inside a matrix is not supported by kubectl-gitops", f)
		}
		res, err := x.generate(gen, outer, f)
		if err != nil {
			return nil, err
		}
		if len(res) > 1 {
			return nil, fmt.Errorf("%s names more than one generator", f)
		}
		return res[0].params, nil
	}
	first, err := child(0, nil)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, a := range first {
		second, err := child(1, a)
		if err != nil {
			return nil, err
		}
		for _, b := range second {
			if x.tmpl.goTemplate {
				out = append(out, mergeParams(mergeParams(map[string]any{}, b), a))
				continue
			}
			combined := map[string]any{}
			for k, v := range a {
				combined[k] = fmt.Sprintf("%v", v)
			}
			for k, v := range b {
				s := fmt.Sprintf("%v", v)
				if cur, ok := combined[k]; ok && cur != s {
					return nil, fmt.Errorf("%s: found duplicate key %s with different value, a: %s ,b: %s", field, k, cur, s)
				}
				combined[k] = s
			}
			out = append(out, combined)
		}
	}
	return out, nil
}

// mergeParams merges src into dst, src's values winning, maps merged key by key.
func mergeParams(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeParams(maps.Clone(dm), sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// interpolate renders outer parameters into the strings of a matrix's second generator. Its
// values are rendered only where every key they name is known, else kept for later.
func (x *appSetExpander) interpolate(gen map[string]any, outer map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(gen))
	for kind, spec := range gen {
		m, ok := spec.(map[string]any)
		if !ok {
			out[kind] = spec
			continue
		}
		values, hasValues := m["values"].(map[string]any)
		rest := maps.Clone(m)
		delete(rest, "values")
		r, err := x.tmpl.render(rest, outer)
		if err != nil {
			return nil, err
		}
		rm := r.(map[string]any)
		if hasValues {
			strict := x.tmpl
			if strict.goTemplate {
				strict.options = append(slices.DeleteFunc(slices.Clone(strict.options), func(o string) bool {
					return strings.HasPrefix(o, "missingkey=")
				}), "missingkey=error")
			}
			resolved := map[string]any{}
			for k, v := range values {
				s, _ := v.(string)
				rs, err := strict.replace(s, outer)
				if err != nil {
					if !strings.Contains(err.Error(), "map has no entry for key") && !strings.Contains(err.Error(), "can't evaluate field") {
						return nil, err
					}
					rs = s
				}
				resolved[k] = rs
			}
			rm["values"] = resolved
		}
		out[kind] = rm
	}
	return out, nil
}

// mergeTemplate is a generator's template completed with the ApplicationSet's: what the
// generator's sets stays, what it leaves empty comes from the ApplicationSet's.
func mergeTemplate(gen, base map[string]any) map[string]any {
	if len(gen) == 0 {
		return base
	}
	out := maps.Clone(gen)
	for k, bv := range base {
		gv, ok := out[k]
		switch {
		case !ok || isZero(gv):
			out[k] = bv
		default:
			gm, gok := gv.(map[string]any)
			bm, bok := bv.(map[string]any)
			if gok && bok {
				out[k] = mergeTemplate(gm, bm)
			}
		}
	}
	return out
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case int64:
		return v == 0
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// application renders the template with one set of parameters into an Application.
func (x *appSetExpander) application(tmpl map[string]any, params map[string]any) (*unstructured.Unstructured, error) {
	var rendered map[string]any
	if len(params) == 0 {
		rendered = tmpl
	} else {
		r, err := x.tmpl.render(tmpl, params)
		if err != nil {
			return nil, err
		}
		rendered, _ = r.(map[string]any)
	}
	meta, _ := rendered["metadata"].(map[string]any)
	spec, _ := rendered["spec"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, errors.New("the template gives an Application no name")
	}
	if spec == nil {
		return nil, fmt.Errorf("the template gives Application %s no spec", name)
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ArgoGroup + "/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{},
		"spec":       deepCopy(spec),
	}}
	app.SetName(name)
	app.SetNamespace(x.set.Namespace())
	for _, k := range []string{"labels", "annotations"} {
		if m, ok := meta[k].(map[string]any); ok && len(m) > 0 {
			if err := unstructured.SetNestedField(app.Object, deepCopy(m), "metadata", k); err != nil {
				return nil, err
			}
		}
	}
	var finalizers []string
	if list, ok := meta["finalizers"].([]any); ok {
		for _, f := range list {
			if s, ok := f.(string); ok {
				finalizers = append(finalizers, s)
			}
		}
	}
	preserve, _, _ := unstructured.NestedBool(x.spec, "syncPolicy", "preserveResourcesOnDeletion")
	if len(finalizers) == 0 && !preserve {
		finalizers = []string{argoResourcesFinalizer}
	}
	app.SetFinalizers(finalizers)
	app.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion":         x.set.Obj.GetAPIVersion(),
		"kind":               "ApplicationSet",
		"name":               x.set.Name(),
		"controller":         true,
		"blockOwnerDeletion": true,
	}}
	return app, nil
}

// deepCopy copies a value decoded from JSON or YAML.
func deepCopy[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out T
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// paramSelector is a generator's selector over the flattened parameters: label selector
// semantics without the restrictions on label values.
type paramSelector struct {
	labels map[string]string
	exprs  []selectorExpr
}

type selectorExpr struct {
	key, op string
	values  []string
}

func parseParamSelector(raw any) (*paramSelector, error) {
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("not a mapping")
	}
	sel := &paramSelector{labels: map[string]string{}}
	if ml, ok := m["matchLabels"].(map[string]any); ok {
		for k, v := range ml {
			sel.labels[k] = fmt.Sprintf("%v", v)
		}
	}
	exprs, _ := m["matchExpressions"].([]any)
	for i, e := range exprs {
		em, _ := e.(map[string]any)
		key, _ := em["key"].(string)
		op, _ := em["operator"].(string)
		var values []string
		if vs, ok := em["values"].([]any); ok {
			for _, v := range vs {
				values = append(values, fmt.Sprintf("%v", v))
			}
		}
		switch op {
		case "In", "NotIn":
			if len(values) == 0 {
				return nil, fmt.Errorf("matchExpressions[%d]: operator %s needs values", i, op)
			}
		case "Exists", "DoesNotExist":
		default:
			return nil, fmt.Errorf("matchExpressions[%d]: %q is not a selector operator (In, NotIn, Exists, DoesNotExist)", i, op)
		}
		sel.exprs = append(sel.exprs, selectorExpr{key: key, op: op, values: values})
	}
	return sel, nil
}

func (s *paramSelector) matches(params map[string]any) (bool, error) {
	if s == nil {
		return true, nil
	}
	flat, err := flatten.Flatten(normalizeForFlatten(params), "", flatten.DotStyle)
	if err != nil {
		return false, err
	}
	get := func(k string) (string, bool) {
		v, ok := flat[k]
		if !ok {
			return "", false
		}
		return fmt.Sprintf("%v", v), true
	}
	for k, want := range s.labels {
		if v, ok := get(k); !ok || v != want {
			return false, nil
		}
	}
	for _, e := range s.exprs {
		v, ok := get(e.key)
		switch e.op {
		case "In":
			if !ok || !slices.Contains(e.values, v) {
				return false, nil
			}
		case "NotIn":
			if ok && slices.Contains(e.values, v) {
				return false, nil
			}
		case "Exists":
			if !ok {
				return false, nil
			}
		case "DoesNotExist":
			if ok {
				return false, nil
			}
		}
	}
	return true, nil
}

// normalizeForFlatten makes the string maps of parameters (git values) maps flatten descends into.
func normalizeForFlatten(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		switch v := v.(type) {
		case map[string]string:
			m := make(map[string]any, len(v))
			for kk, vv := range v {
				m[kk] = vv
			}
			out[k] = m
		case map[string]any:
			out[k] = normalizeForFlatten(v)
		default:
			out[k] = v
		}
	}
	return out
}
