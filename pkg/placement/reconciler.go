package placement

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// fluxPatchLayer and fluxImageLayer are a Flux Kustomization's spec.patches[i] and
// spec.images[i] as render names them in Origin.Layer.
var (
	fluxPatchLayer = regexp.MustCompile(`^spec\.patches\[(\d+)\]$`)
	fluxImageLayer = regexp.MustCompile(`^spec\.images\[(\d+)\]$`)
)

// reconcilerFile is the reconciler's file parsed, for a candidate that edits its own options.
func reconcilerFile(in Input) (*reconciler.Applied, *yamledit.File, error) {
	a := in.Applied
	if a == nil || a.Reconciler.File == "" || a.Reconciler.Obj == nil || len(in.Changes) == 0 {
		return nil, nil, nil
	}
	src, err := in.read(a.Reconciler.File)
	if err != nil {
		return nil, nil, err
	}
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", a.Reconciler.File, err)
	}
	return a, f, nil
}

// reconcilerPatch writes the change into the reconciler's own strategic-merge patch that
// already sets every changed field of the object, in the reconciler's file: a Flux
// Kustomization's spec.patches[i] that the render says patched the object (the last one
// first), or an entry of an Argo CD source's kustomize.patches. Such a patch applies after the
// repository's files: a change anywhere else would be overridden by it.
func reconcilerPatch(in Input) (*Candidate, error) {
	a, f, err := reconcilerFile(in)
	if f == nil {
		return nil, err
	}
	var entries []string
	switch a.Reconciler.Kind() {
	case "Kustomization":
		layers := in.Object.Origin.Layers()
		for i := len(layers) - 1; i >= 0; i-- {
			if m := fluxPatchLayer.FindStringSubmatch(layers[i][strings.LastIndexByte(layers[i], ' ')+1:]); m != nil {
				entries = append(entries, "spec.patches["+m[1]+"]")
			}
		}
	case "Application":
		list := reconciler.ArgoSourceField(a.Reconciler.Obj, a.Source) + ".kustomize.patches"
		if node, ok := f.Get(a.Reconciler.Doc, mustPath(list)); ok && node.Kind == yaml.SequenceNode {
			for j := range node.Content {
				entries = append(entries, fmt.Sprintf("%s[%d]", list, j))
			}
		}
	}
	for _, entry := range entries {
		at := mustPath(entry + ".patch")
		text, ok := f.Get(a.Reconciler.Doc, at)
		if !ok || text.Kind != yaml.ScalarNode {
			continue
		}
		patch, ok := patchSettingAll(in, text.Value)
		if !ok {
			continue
		}
		if err := applyChanges(patch, 0, in.Changes, removeFields, in.Object.Obj().Object); err != nil {
			return nil, fmt.Errorf("%s: %s.patch: %w", a.Reconciler.File, entry, err)
		}
		if err := f.Set(a.Reconciler.Doc, at, yamledit.ScalarNode(string(patch.Bytes()))); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Reconciler.File, err)
		}
		return &Candidate{
			Layer: fmt.Sprintf("%s (%s %s)", a.Reconciler.File, a.Reconciler.Ref(), entry),
			Files: map[string][]byte{a.Reconciler.File: f.Bytes()},
		}, nil
	}
	return nil, nil
}

// patchSettingAll parses a reconciler's inline patch and returns it when it is a strategic-merge
// patch of the object (its kind, and its name as the repository's files write it) that sets
// every changed field.
func patchSettingAll(in Input, text string) (*yamledit.File, bool) {
	f, err := yamledit.Parse([]byte(text))
	if err != nil || f.NumDocs() != 1 {
		return nil, false
	}
	doc := f.Doc(0)
	if doc == nil || doc.Kind != yaml.MappingNode || scalarField(doc, "kind") != in.Object.ID.Kind {
		return nil, false
	}
	if name, ok := f.Get(0, mustPath("metadata.name")); ok && name.Value != in.Object.Origin.Name && name.Value != in.Object.ID.Name {
		return nil, false
	}
	for _, c := range in.Changes {
		p, err := yamledit.ParsePath(c.Path.String())
		if err != nil {
			return nil, false
		}
		if _, ok := f.Get(0, p); !ok {
			return nil, false
		}
	}
	return f, true
}

// reconcilerOption writes a replica count or a container image into the reconciler's option
// that sets it, in the reconciler's file: an Argo CD source's kustomize.replicas or
// kustomize.images entry (the repo-server sets those on the kustomization before it builds),
// a Flux Kustomization's spec.images entry (applied after the build). Either wins over the
// repository's files.
func reconcilerOption(in Input) (*Candidate, error) {
	if in.Applied == nil || len(in.Changes) != 1 || in.Changes[0].Delete {
		return nil, nil
	}
	switch in.Applied.Reconciler.Kind() {
	case "Kustomization":
		return fluxImage(in)
	case "Application":
	default:
		return nil, nil
	}
	a, f, err := reconcilerFile(in)
	if f == nil {
		return nil, err
	}
	c := in.Changes[0]
	list := reconciler.ArgoSourceField(a.Reconciler.Obj, a.Source) + ".kustomize."
	count, isCount := c.New.(int64)
	img, isImage := c.New.(string)
	switch {
	case c.Path.String() == "spec.replicas" && isCount:
		list += "replicas"
	case isContainerImage(c.Path) && isImage:
		list += "images"
	default:
		return nil, nil
	}
	node, ok := f.Get(a.Reconciler.Doc, mustPath(list))
	if !ok || node.Kind != yaml.SequenceNode {
		return nil, nil
	}
	for j, it := range node.Content {
		var at yamledit.Path
		var value *yaml.Node
		if isCount {
			if name := scalarField(it, "name"); name != in.Object.Origin.Name && name != in.Object.ID.Name {
				continue
			}
			at, value = mustPath(fmt.Sprintf("%s[%d].count", list, j)), yamledit.ScalarNode(count)
		} else {
			old, _ := c.Old.(string)
			entry, ok := argoImage(it.Value, old, img)
			if it.Kind != yaml.ScalarNode || !ok {
				continue
			}
			at, value = mustPath(fmt.Sprintf("%s[%d]", list, j)), yamledit.ScalarNode(entry)
		}
		if err := f.Set(a.Reconciler.Doc, at, value); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Reconciler.File, err)
		}
		return &Candidate{
			Layer: fmt.Sprintf("%s (%s %s)", a.Reconciler.File, a.Reconciler.Ref(), list),
			Files: map[string][]byte{a.Reconciler.File: f.Bytes()},
		}, nil
	}
	return nil, nil
}

// fluxImage writes a container image into the Flux Kustomization's spec.images entry that the
// render says set the object's image and that renders the old image: newTag and digest as the
// new image has them, newName only when the image's name changes.
func fluxImage(in Input) (*Candidate, error) {
	c := in.Changes[0]
	img, ok := c.New.(string)
	if !ok || !isContainerImage(c.Path) {
		return nil, nil
	}
	a, f, err := reconcilerFile(in)
	if f == nil {
		return nil, err
	}
	old, _ := c.Old.(string)
	o, n := parseImage(old), parseImage(img)
	layers := in.Object.Origin.Layers()
	for i := len(layers) - 1; i >= 0; i-- {
		m := fluxImageLayer.FindStringSubmatch(layers[i][strings.LastIndexByte(layers[i], ' ')+1:])
		if m == nil {
			continue
		}
		entry := "spec.images[" + m[1] + "]"
		it, ok := f.Get(a.Reconciler.Doc, mustPath(entry))
		if !ok || it.Kind != yaml.MappingNode {
			continue
		}
		name, newName := scalarField(it, "name"), scalarField(it, "newName")
		if (newName != "" && newName != o.name) || (newName == "" && name != o.name) {
			continue
		}
		fields := [][2]any{{"newTag", nilIfEmpty(n.tag)}, {"digest", nilIfEmpty(n.digest)}}
		switch {
		case n.name == o.name:
		case n.name != name:
			fields = append(fields, [2]any{"newName", n.name})
		default:
			fields = append(fields, [2]any{"newName", nil})
		}
		for _, kv := range fields {
			p := mustPath(entry + "." + kv[0].(string))
			if kv[1] == nil {
				if _, ok := f.Get(a.Reconciler.Doc, p); ok {
					if err := f.Delete(a.Reconciler.Doc, p); err != nil {
						return nil, fmt.Errorf("%s: %w", a.Reconciler.File, err)
					}
				}
				continue
			}
			if err := f.Set(a.Reconciler.Doc, p, yamledit.ScalarNode(kv[1])); err != nil {
				return nil, fmt.Errorf("%s: %w", a.Reconciler.File, err)
			}
		}
		return &Candidate{
			Layer: fmt.Sprintf("%s (%s %s)", a.Reconciler.File, a.Reconciler.Ref(), entry),
			Files: map[string][]byte{a.Reconciler.File: f.Bytes()},
		}, nil
	}
	return nil, nil
}

// argoImage rewrites an Argo CD kustomize.images entry ("name=newName:tag", "name:tag",
// "name@digest", as `kustomize edit set image` takes them) that renders the image old so that
// it renders img; ok is false when the entry does not render old.
func argoImage(entry, old, img string) (string, bool) {
	name, repl, hasRepl := strings.Cut(entry, "=")
	r := parseImage(entry)
	if hasRepl {
		r = parseImage(repl)
	} else {
		name = r.name
	}
	o := parseImage(old)
	if r.name != o.name || (r.tag != "" && r.tag != o.tag) || (r.digest != "" && r.digest != o.digest) {
		return "", false
	}
	n := parseImage(img)
	ref := n.name
	if n.tag != "" {
		ref += ":" + n.tag
	}
	if n.digest != "" {
		ref += "@" + n.digest
	}
	if !hasRepl && n.name == name {
		return ref, true
	}
	return name + "=" + ref, true
}
