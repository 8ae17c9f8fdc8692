// Package reach is the one model of what a kustomization reads and how far each of its fields
// reaches: the paths it names, in which role, and whether a field leaves every object alone,
// acts on each object alone, or copies between objects. Discovery (pkg/target), the closed
// loop's reduced renders (pkg/change), history's slices (pkg/history) and the split build
// (pkg/render) all ask it.
//
// It is an allow-list: a field it does not know, and those that run code (plugins, Helm
// charts), are Whole, and every fast path then renders the whole target.
package reach

import (
	"encoding/json"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"
)

// Class is how far a kustomization field reaches.
type Class int

const (
	// Whole: not known to be followed by a partial render; the default.
	Whole Class = iota
	// Gathers names the objects gathered: resources (and the legacy bases).
	Gathers
	// Inert changes no object: apiVersion, kind, metadata, and buildMetadata asking only for
	// origin annotations (which the renders ask for themselves and remove).
	Inert
	// Orders changes the order of the output, not any object: sortOptions.
	Orders
	// PerObject acts on each object alone: labels, annotations, namespace, name prefix and
	// suffix, replicas, images, patches.
	PerObject
	// Links copies between objects, or adds objects made from files: replacements, vars,
	// ConfigMap and Secret generators and their options, components, and the rules name
	// references follow (crds, configurations).
	Links
)

var classes = map[string]Class{
	"apiVersion": Inert, "kind": Inert, "metadata": Inert,
	"resources": Gathers, "bases": Gathers,
	"sortOptions": Orders,
	"namePrefix":  PerObject, "nameSuffix": PerObject, "namespace": PerObject,
	"commonLabels": PerObject, "labels": PerObject, "commonAnnotations": PerObject,
	"patches": PerObject, "patchesStrategicMerge": PerObject, "patchesJson6902": PerObject,
	"images": PerObject, "imageTags": PerObject, "replicas": PerObject,
	"replacements": Links, "vars": Links, "configMapGenerator": Links, "secretGenerator": Links,
	"generatorOptions": Links, "components": Links, "crds": Links, "configurations": Links,
	// openapi, helmGlobals, helmCharts, helmChartInflationGenerator, generators, transformers,
	// validators and anything newer: Whole.
}

// Kustomization is one kustomization file as parsed: its content as kustomize reads it (legacy
// fields moved to their current ones) and the top-level fields written in it.
type Kustomization struct {
	*types.Kustomization
	Fields map[string]bool
}

// Parse parses a kustomization file's YAML.
func Parse(data []byte) (*Kustomization, error) {
	js, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	return Decode(js)
}

// Decode parses a kustomization file's JSON form.
func Decode(js []byte) (*Kustomization, error) {
	var fields map[string]skip
	if err := json.Unmarshal(js, &fields); err != nil {
		return nil, err
	}
	k := &Kustomization{Kustomization: &types.Kustomization{}, Fields: make(map[string]bool, len(fields))}
	for f := range fields {
		k.Fields[f] = true
	}
	if err := json.Unmarshal(js, k.Kustomization); err != nil {
		return nil, err
	}
	k.FixKustomization()
	return k, nil
}

// skip decodes any JSON value to nothing (without copying it, as json.RawMessage does).
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// FieldClass is the class of a kustomization field whatever its value: buildMetadata is
// PerObject (it can ask for labels and annotations on every object).
func FieldClass(f string) Class {
	if f == "buildMetadata" {
		return PerObject
	}
	return classes[f]
}

// ClassOf is the class of field f of k: buildMetadata asking only for origin annotations is
// Inert.
func (k *Kustomization) ClassOf(f string) Class {
	if f == "buildMetadata" {
		for _, m := range k.BuildMetadata {
			if m != types.OriginAnnotations {
				return PerObject
			}
		}
		return Inert
	}
	return FieldClass(f)
}

// Within tells whether every field of k is of one of the classes.
func (k *Kustomization) Within(cs ...Class) bool {
	for f := range k.Fields {
		c := k.ClassOf(f)
		found := false
		for _, want := range cs {
			found = found || c == want
		}
		if !found {
			return false
		}
	}
	return true
}

// Role is what a kustomization reads a path for.
type Role int

const (
	// Resource: an entry of resources: (or bases:): a file of objects, or a kustomization.
	Resource Role = iota
	// Component: an entry of components:.
	Component
	// Other: a patch, a generator's file, a replacement, a plugin's configuration, crds,
	// configurations, openapi, Helm values or chart home.
	Other
)

// Ref is a path a kustomization names, as written (relative to its directory, or a URL).
type Ref struct {
	Path string
	Role Role
}

// Refs lists every path k names, empty ones left out.
func (k *Kustomization) Refs() []Ref {
	var refs []Ref
	add := func(role Role, paths ...string) {
		for _, p := range paths {
			if p != "" {
				refs = append(refs, Ref{Path: p, Role: role})
			}
		}
	}
	add(Resource, k.Resources...)
	add(Component, k.Components...)
	add(Other, k.Crds...)
	add(Other, k.Configurations...)
	add(Other, k.Generators...)
	add(Other, k.Transformers...)
	add(Other, k.Validators...)
	for _, p := range append(k.Patches, k.PatchesJson6902...) {
		add(Other, p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") {
			add(Other, string(p))
		}
	}
	for _, r := range k.Replacements {
		add(Other, r.Path)
	}
	add(Other, k.OpenAPI["path"])
	gens := make([]types.GeneratorArgs, 0, len(k.ConfigMapGenerator)+len(k.SecretGenerator))
	for _, g := range k.ConfigMapGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range k.SecretGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range gens {
		for _, f := range g.FileSources {
			if _, file, ok := strings.Cut(f, "="); ok {
				f = file
			}
			add(Other, f)
		}
		add(Other, g.EnvSources...)
	}
	for _, h := range k.HelmCharts {
		add(Other, h.ValuesFile)
		add(Other, h.AdditionalValuesFiles...)
	}
	if k.HelmGlobals != nil {
		add(Other, k.HelmGlobals.ChartHome)
	}
	return refs
}

// IsRemote tells a remote reference (a URL, a git repository) from a local path.
func IsRemote(ref string) bool {
	return strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") ||
		strings.HasPrefix(ref, "github.com/") || strings.HasPrefix(ref, "gitlab.com/") ||
		strings.HasPrefix(ref, "bitbucket.org/")
}

// Join joins a repository-relative directory and a reference written in its kustomization;
// false when the result leaves the repository.
func Join(dir, ref string) (string, bool) {
	p := path.Join(dir, filepath.ToSlash(ref))
	if p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p) {
		return "", false
	}
	return p, true
}

// IsFileName tells whether name is one kustomize reads as a kustomization file.
func IsFileName(name string) bool {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if n == name {
			return true
		}
	}
	return false
}

// FileIn is the path of dir's kustomization file, the first of kustomize's names that exists,
// or "".
func FileIn(dir string, exists func(p string) bool) string {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if p := path.Join(dir, n); exists(p) {
			return p
		}
	}
	return ""
}

// Changed lists the entries of a and b that the other does not have: what a change to one
// field of a kustomization added, removed or edited.
func Changed[T any](a, b []T) []T {
	var out []T
	for _, pair := range [2][2][]T{{a, b}, {b, a}} {
		for _, x := range pair[0] {
			if !slices.ContainsFunc(pair[1], func(y T) bool { return reflect.DeepEqual(x, y) }) {
				out = append(out, x)
			}
		}
	}
	return out
}
