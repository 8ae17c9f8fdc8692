// Package mutate is what each kubectl verb does to one object: set image, set env, set resources,
// label, annotate, patch. It works on the object as the repository renders it; where the change
// is written is placement's job.
package mutate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// PodSpecPath is where a kind keeps its pod spec, or nil for kinds without one.
func PodSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		return []string{"spec"}
	}
	return nil
}

// containerLists are the pod spec's container lists kubectl's set commands reach.
var containerLists = []string{"initContainers", "containers"}

// eachContainer calls fn for every container of the object whose name matches sel ("*" or "" for
// all) and writes the lists back; it reports whether any matched.
func eachContainer(u *unstructured.Unstructured, sel string, fn func(c map[string]any) error) (bool, error) {
	path := PodSpecPath(u.GetKind())
	if path == nil {
		return false, fmt.Errorf("%s has no pod template", strings.ToLower(u.GetKind()))
	}
	matched := false
	for _, list := range containerLists {
		p := append(append([]string{}, path...), list)
		cs, found, err := unstructured.NestedSlice(u.Object, p...)
		if err != nil || !found {
			continue
		}
		for _, c := range cs {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if sel != "" && sel != "*" && m["name"] != sel {
				continue
			}
			matched = true
			if err := fn(m); err != nil {
				return matched, err
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, cs, p...); err != nil {
			return matched, err
		}
	}
	return matched, nil
}

// SetImages sets container images: images maps a container name (or "*" for all) to an image.
func SetImages(u *unstructured.Unstructured, images map[string]string) error {
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		img := images[name]
		matched, err := eachContainer(u, name, func(c map[string]any) error {
			c["image"] = img
			return nil
		})
		if err != nil {
			return err
		}
		if !matched {
			return fmt.Errorf("unable to find container named %q", name)
		}
	}
	return nil
}

// EnvChange is `set env`'s arguments: KEY=VALUE pairs, KEY- removals, and values taken from a
// ConfigMap or Secret by reference.
type EnvChange struct {
	Container string // "" or "*" for all
	Set       [][2]string
	Remove    []string
	// From holds env entries that reference another object (valueFrom), added as given.
	From []map[string]any
}

// SetEnv applies an EnvChange; entries keep their order, new ones are appended.
func SetEnv(u *unstructured.Unstructured, ch EnvChange) error {
	for _, kv := range ch.Set {
		if errs := validation.IsEnvVarName(kv[0]); len(errs) > 0 {
			return fmt.Errorf("invalid env var name %q: %s", kv[0], strings.Join(errs, "; "))
		}
	}
	matched, err := eachContainer(u, ch.Container, func(c map[string]any) error {
		env, _ := c["env"].([]any)
		set := func(name string, entry map[string]any) {
			for i, e := range env {
				if m, ok := e.(map[string]any); ok && m["name"] == name {
					env[i] = entry
					return
				}
			}
			env = append(env, entry)
		}
		for _, kv := range ch.Set {
			set(kv[0], map[string]any{"name": kv[0], "value": kv[1]})
		}
		for _, e := range ch.From {
			set(e["name"].(string), e)
		}
		for _, name := range ch.Remove {
			kept := env[:0]
			for _, e := range env {
				if m, ok := e.(map[string]any); ok && m["name"] == name {
					continue
				}
				kept = append(kept, e)
			}
			env = kept
		}
		if len(env) == 0 {
			delete(c, "env")
		} else {
			c["env"] = env
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !matched {
		return fmt.Errorf("unable to find container named %q", ch.Container)
	}
	return nil
}

// ParseResourceList reads `cpu=200m,memory=512Mi` as kubectl set resources does.
func ParseResourceList(s string) (map[string]any, error) {
	out := map[string]any{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid resource %q: want NAME=QUANTITY", kv)
		}
		if _, err := resource.ParseQuantity(v); err != nil {
			return nil, fmt.Errorf("invalid quantity %q for %s: %w", v, k, err)
		}
		out[k] = v
	}
	return out, nil
}

// SetResources sets requests and limits on the selected containers ("" or "*" for all).
func SetResources(u *unstructured.Unstructured, container string, limits, requests map[string]any) error {
	matched, err := eachContainer(u, container, func(c map[string]any) error {
		res, _ := c["resources"].(map[string]any)
		if res == nil {
			res = map[string]any{}
		}
		for part, vals := range map[string]map[string]any{"limits": limits, "requests": requests} {
			if len(vals) == 0 {
				continue
			}
			m, _ := res[part].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for k, v := range vals {
				// Keep the repository's spelling when the quantity is the same.
				if old, ok := m[k]; ok && sameQuantity(old, v) {
					continue
				}
				m[k] = v
			}
			res[part] = m
		}
		c["resources"] = res
		return nil
	})
	if err != nil {
		return err
	}
	if !matched {
		return fmt.Errorf("unable to find container named %q", container)
	}
	return nil
}

func sameQuantity(a, b any) bool {
	qa, err1 := resource.ParseQuantity(fmt.Sprint(a))
	qb, err2 := resource.ParseQuantity(fmt.Sprint(b))
	return err1 == nil && err2 == nil && qa.Cmp(qb) == 0
}

// MetaChange is `label`/`annotate`'s arguments: KEY=VALUE pairs and KEY- removals.
type MetaChange struct {
	Set       map[string]string
	Remove    []string
	Overwrite bool
}

// ParseMetaArgs splits kubectl's KEY=VALUE and KEY- arguments.
func ParseMetaArgs(args []string, validateKey func(string) []string) (MetaChange, error) {
	ch := MetaChange{Set: map[string]string{}}
	for _, a := range args {
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if errs := validateKey(k); len(errs) > 0 {
				return ch, fmt.Errorf("invalid key %q: %s", k, strings.Join(errs, "; "))
			}
			ch.Set[k] = v
		case strings.HasSuffix(a, "-"):
			ch.Remove = append(ch.Remove, strings.TrimSuffix(a, "-"))
		default:
			return ch, fmt.Errorf("invalid argument %q: want KEY=VALUE or KEY-", a)
		}
	}
	for _, r := range ch.Remove {
		if _, ok := ch.Set[r]; ok {
			return ch, fmt.Errorf("can not both modify and remove %q in the same command", r)
		}
	}
	return ch, nil
}

// Labels applies a MetaChange to the labels.
func Labels(u *unstructured.Unstructured, ch MetaChange) error {
	m, err := applyMeta(u.GetLabels(), ch)
	if err != nil {
		return err
	}
	u.SetLabels(m)
	return nil
}

// Annotations applies a MetaChange to the annotations.
func Annotations(u *unstructured.Unstructured, ch MetaChange) error {
	m, err := applyMeta(u.GetAnnotations(), ch)
	if err != nil {
		return err
	}
	u.SetAnnotations(m)
	return nil
}

func applyMeta(m map[string]string, ch MetaChange) (map[string]string, error) {
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range ch.Set {
		if old, ok := m[k]; ok && old != v && !ch.Overwrite {
			return nil, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old)
		}
		m[k] = v
	}
	for _, k := range ch.Remove {
		delete(m, k)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// Patch applies a patch of type strategic, merge or json to the object, as kubectl patch does.
func Patch(u *unstructured.Unstructured, patchType string, patch []byte) error {
	patchJSON, err := toJSON(patch)
	if err != nil {
		return fmt.Errorf("the patch is not valid JSON or YAML: %w", err)
	}
	orig, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	var out []byte
	switch patchType {
	case "", "strategic":
		typed, err := scheme.Scheme.New(u.GroupVersionKind())
		if err != nil {
			return fmt.Errorf("strategic merge patch is not supported for %s: use --type merge or --type json", u.GroupVersionKind().Kind)
		}
		out, err = strategicpatch.StrategicMergePatch(orig, patchJSON, typed)
		if err != nil {
			return err
		}
	case "merge":
		out, err = jsonpatch.MergePatch(orig, patchJSON)
		if err != nil {
			return err
		}
	case "json":
		p, err := jsonpatch.DecodePatch(patchJSON)
		if err != nil {
			return fmt.Errorf("invalid JSON patch: %w", err)
		}
		out, err = p.Apply(orig)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("--type must be one of strategic, merge, json; not %q", patchType)
	}
	var next unstructured.Unstructured
	if err := next.UnmarshalJSON(out); err != nil {
		return err
	}
	if next.GetName() != u.GetName() || next.GetNamespace() != u.GetNamespace() || next.GetKind() != u.GetKind() {
		return fmt.Errorf("a patch cannot change the object's kind, name or namespace")
	}
	u.Object = next.Object
	return nil
}

func toJSON(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		return b, nil
	}
	var y any
	if err := yaml.Unmarshal(b, &y); err != nil {
		return nil, err
	}
	return json.Marshal(y)
}

// HasStrategicMerge tells whether the object's kind has strategic-merge metadata (a built-in
// kind); custom resources are patched with JSON merge patches instead, as kubectl does.
func HasStrategicMerge(u *unstructured.Unstructured) bool {
	_, err := scheme.Scheme.New(u.GroupVersionKind())
	return err == nil
}
