// Package placement decides which file and layer of a config repository receives a field change,
// in kustomize's idiom: the object's own file when only this target renders it; else this
// target's overlay (a replicas: or images: entry, else a strategic-merge patch, extending a patch
// that already targets the object first). It proposes candidates in that order; the closed loop
// (package change) renders each and keeps the first that does exactly what was asked.
package placement

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// Input is one object's change in one target.
type Input struct {
	// Root is the repository's worktree root; Target the rendered directory, repository-relative.
	Root   string
	Target string
	// Object is the object as the target renders it now; Changes what must change in it.
	Object  *render.Object
	Changes []FieldChange
	// Files holds repository-relative file contents already changed by earlier objects of the
	// same command, so several objects land in one consistent commit.
	Files map[string][]byte
	// Shared tells whether a repository-relative file is read by another target too.
	Shared func(file string) bool
	// Applied, when set, is what the reconciler applies: its own options (a Flux
	// Kustomization's spec.patches, an Argo CD source's kustomize block) are a layer too.
	Applied *reconciler.Applied
}

// Candidate is one way to express the change: the full new content of each file it touches.
type Candidate struct {
	// Layer says where the change goes, for messages: "base/web.yaml", "overlays/staging (replicas)".
	Layer string
	Files map[string][]byte
}

// Candidates returns the ways to write the change, most preferred first. Errors met while
// building a candidate (an aliased value, a file that does not parse) are returned joined when no
// candidate could be built at all.
func Candidates(in Input) ([]Candidate, error) {
	var out []Candidate
	var errs []error
	add := func(c *Candidate, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	o := in.Object
	// A reconciler's own patch or option that sets the fields applies after every file: it owns them.
	add(reconcilerPatch(in))
	add(reconcilerOption(in))
	if o.Origin.File != "" && o.Origin.Doc >= 0 && !in.Shared(o.Origin.File) {
		add(ownFile(in))
	}
	if o.Origin.Generated != "" {
		add(generatorFile(in))
		// A patch in the kustomization whose generator makes it, when only this target reads
		// that kustomization (a Flux path without a kustomization.yaml of its own holds none).
		if !in.Shared(o.Origin.Generated) {
			add(overlay(in, o.Origin.Generated, false, removeFields))
		}
	}
	if kust := in.kustomizationFile(); kust != "" {
		// A patch of this target that already sets the fields owns them: extend it first.
		if patchSetsAll(in, kust) {
			add(overlay(in, kust, false, removeFields))
		}
		add(overlay(in, kust, true, removeFields))
		add(overlay(in, kust, false, removeFields))
		add(overlay(in, kust, false, deleteDirectives))
		add(latePatch(in, kust))
	}
	out = dedupeCandidates(out)
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		where := o.Origin.File
		if where == "" {
			where = "a generator in " + o.Origin.Generated
		}
		return nil, fmt.Errorf("%s comes from %s, which other targets share, and target %s has no kustomization.yaml to hold an override: add one there, or pass --path to a target that has", o.ID, where, in.Target)
	}
	return out, nil
}

func (in Input) read(p string) ([]byte, error) {
	if b, ok := in.Files[p]; ok {
		return b, nil
	}
	return os.ReadFile(filepath.Join(in.Root, filepath.FromSlash(p)))
}

func (in Input) exists(p string) bool {
	if b, ok := in.Files[p]; ok {
		return b != nil
	}
	_, err := os.Stat(filepath.Join(in.Root, filepath.FromSlash(p)))
	return err == nil
}

func (in Input) kustomizationFile() string {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		p := path.Join(in.Target, n)
		if in.exists(p) {
			return p
		}
	}
	return ""
}

// ownFile edits the object's own document in place.
func ownFile(in Input) (*Candidate, error) {
	file := in.Object.Origin.File
	src, err := in.read(file)
	if err != nil {
		return nil, err
	}
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := applyChanges(f, in.Object.Origin.Doc, in.Changes, inPlace, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &Candidate{Layer: file, Files: map[string][]byte{file: f.Bytes()}}, nil
}

// patchMode says how a removal is written.
type patchMode int

const (
	// inPlace edits the object's own document: a removal deletes the field.
	inPlace patchMode = iota
	// removeFields edits a strategic-merge patch: a removal deletes the field from the patch when
	// the patch sets it, else writes a delete directive (null, or `$patch: delete` for an item).
	removeFields
	// deleteDirectives always writes the directive, for a field the base sets too.
	deleteDirectives
)

// applyChanges writes each change into document doc. In a patch (any mode but inPlace), before
// is the object as it renders without the change, whose keyed lists keep their order.
func applyChanges(f *yamledit.File, doc int, changes []FieldChange, mode patchMode, before map[string]any) error {
	for _, c := range changes {
		p, err := yamledit.ParsePath(c.Path.String())
		if err != nil {
			return err
		}
		if mode != inPlace {
			if err := keepOrder(f, doc, before, c); err != nil {
				return err
			}
		}
		_, present := f.Get(doc, p)
		item := c.Path[len(c.Path)-1].MergeKey != ""
		switch {
		case !c.Delete:
			n, err := valueNode(c.New)
			if err != nil {
				return err
			}
			if err := f.Set(doc, p, n); err != nil {
				return err
			}
		case mode == inPlace || (mode == removeFields && present):
			if err := f.Delete(doc, p); err != nil {
				return err
			}
		case item:
			if present {
				if err := f.Delete(doc, p); err != nil {
					return err
				}
			}
			dp, err := yamledit.ParsePath(c.Path.String() + ".$patch")
			if err != nil {
				return err
			}
			if err := f.Set(doc, dp, yamledit.ScalarNode("delete")); err != nil {
				return err
			}
		default:
			if err := f.Set(doc, p, yamledit.ScalarNode(nil)); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepOrder makes a strategic-merge patch keep the order of the keyed lists on c's path as the
// object renders them. kustomize merges a patch's list items first, in the patch's order, and
// the object's other items after them, and reads no $setElementOrder: an item the patch sets
// needs each item before it in the patch too (a new item, all of them). Those are written with
// their merge key alone, which changes nothing in them.
func keepOrder(f *yamledit.File, doc int, before map[string]any, c FieldChange) error {
	var cur any = before
	for j, s := range c.Path {
		if s.MergeKey == "" {
			m, _ := cur.(map[string]any)
			cur = m[s.Key]
			continue
		}
		list, _ := cur.([]any)
		cur = nil
		var keys []any
		idx := -1
		for _, it := range list {
			m, ok := it.(map[string]any)
			if !ok {
				return nil
			}
			k, ok := m[s.MergeKey]
			if !ok {
				return nil
			}
			if keyString(k) == keyString(s.Value) {
				idx, cur = len(keys), m
			}
			keys = append(keys, k)
		}
		if j == len(c.Path)-1 && c.Delete {
			return nil // a removed item has no place to keep
		}
		if idx >= 0 {
			keys = keys[:idx]
		}
		lp, err := yamledit.ParsePath(c.Path[:j].String())
		if err != nil {
			return err
		}
		present := map[string]bool{}
		node, ok := f.Get(doc, lp)
		if ok && node.Kind == yaml.SequenceNode {
			for _, it := range node.Content {
				present[scalarField(it, s.MergeKey)] = true
			}
		}
		if present[fmt.Sprint(s.Value)] {
			continue
		}
		var missing []*yaml.Node
		for _, k := range keys {
			if !present[fmt.Sprint(k)] {
				missing = append(missing, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{yamledit.ScalarNode(s.MergeKey), yamledit.ScalarNode(k)}})
			}
		}
		if len(missing) == 0 {
			continue
		}
		if !ok || node.Kind != yaml.SequenceNode {
			if err := f.Set(doc, lp, &yaml.Node{Kind: yaml.SequenceNode, Content: missing}); err != nil {
				return err
			}
			continue
		}
		for i, m := range missing {
			ip, err := yamledit.ParsePath(fmt.Sprintf("%s[%d]", c.Path[:j], len(node.Content)+i))
			if err != nil {
				return err
			}
			if err := f.Set(doc, ip, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// dedupeCandidates drops candidates that write exactly what an earlier one writes.
func dedupeCandidates(cs []Candidate) []Candidate {
	var out []Candidate
next:
	for _, c := range cs {
		for _, o := range out {
			if sameFiles(c.Files, o.Files) {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func valueNode(v any) (*yaml.Node, error) {
	switch v.(type) {
	case map[string]any, []any:
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return nil, err
		}
		return &n, nil
	}
	return yamledit.ScalarNode(v), nil
}

// overlay writes the change into the target's own kustomization layer: with idioms, replicas and
// image changes become replicas:/images: entries and the rest a patch; without, all of it goes
// into a strategic-merge patch for this object alone.
func overlay(in Input, kustPath string, idioms bool, mode patchMode) (*Candidate, error) {
	files := map[string][]byte{}
	src, err := in.read(kustPath)
	if err != nil {
		return nil, err
	}
	kust, err := yamledit.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kustPath, err)
	}
	var rest []FieldChange
	var layers []string
	for _, c := range in.Changes {
		if idioms {
			handled, err := kustomizeIdiom(in, kust, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kustPath, err)
			}
			if handled != "" {
				layers = append(layers, handled)
				continue
			}
		}
		rest = append(rest, c)
	}
	if idioms && len(rest) == len(in.Changes) {
		return nil, nil // no idiom applies: the patch-only candidate covers it
	}
	if len(rest) > 0 {
		patchFile, err := writePatch(in, kust, kustPath, rest, files, mode)
		if err != nil {
			return nil, err
		}
		layers = append(layers, "patch "+patchFile)
	}
	files[kustPath] = kust.Bytes()
	if bytes.Equal(files[kustPath], src) {
		delete(files, kustPath)
	}
	return &Candidate{Layer: in.Target + " (" + strings.Join(dedupe(layers), ", ") + ")", Files: files}, nil
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
