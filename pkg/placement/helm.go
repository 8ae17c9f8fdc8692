package placement

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// HelmPostRenderer returns the HelmRelease as it must become so that the object Helm renders
// from it changes from live to desired: the change is a strategic-merge patch for that object in
// the release's spec.postRenderers[].kustomize.patches, which Flux's helm-controller applies to
// the chart's output. A patch already targeting the same object is extended, not repeated.
func HelmPostRenderer(release *unstructured.Unstructured, live, desired *unstructured.Unstructured) (*unstructured.Unstructured, []FieldChange, error) {
	changes := Diff(live.Object, desired.Object, PatchMeta(live.GroupVersionKind()))
	if len(changes) == 0 {
		return release, nil, nil
	}
	for _, c := range changes {
		if len(c.Path) > 0 && c.Path[0].Key == "metadata" && len(c.Path) > 1 && (c.Path[1].Key == "name" || c.Path[1].Key == "namespace") {
			return nil, nil, fmt.Errorf("a post-renderer patch cannot change %s", c.Path)
		}
	}
	out := release.DeepCopy()
	renderers, _, _ := unstructured.NestedSlice(out.Object, "spec", "postRenderers")
	var kust map[string]any
	for _, r := range renderers {
		if m, ok := r.(map[string]any); ok {
			if k, ok := m["kustomize"].(map[string]any); ok {
				kust = k
				break
			}
		}
	}
	if kust == nil {
		kust = map[string]any{}
		renderers = append(renderers, map[string]any{"kustomize": kust})
	}
	patches, _ := kust["patches"].([]any)
	target := map[string]any{"kind": live.GetKind(), "name": live.GetName()}
	doc := StrategicPatch(live.GetAPIVersion(), live.GetKind(), "", live.GetName(), changes)
	found := false
	for i, p := range patches {
		m, ok := p.(map[string]any)
		if !ok || !reflect.DeepEqual(m["target"], target) {
			continue
		}
		var old map[string]any
		if s, ok := m["patch"].(string); ok {
			if err := yaml.Unmarshal([]byte(s), &old); err != nil {
				return nil, nil, fmt.Errorf("the existing post-renderer patch for %s/%s does not parse: %w", target["kind"], target["name"], err)
			}
		}
		mergeInto(old, doc)
		b, err := yaml.Marshal(old)
		if err != nil {
			return nil, nil, err
		}
		m["patch"] = string(b)
		patches[i] = m
		found = true
	}
	if !found {
		b, err := yaml.Marshal(doc)
		if err != nil {
			return nil, nil, err
		}
		patches = append(patches, map[string]any{"target": target, "patch": string(b)})
	}
	kust["patches"] = patches
	if err := unstructured.SetNestedSlice(out.Object, renderers, "spec", "postRenderers"); err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// mergeInto merges patch document src into dst: maps recursively, everything else replaced.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}
