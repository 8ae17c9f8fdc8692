package history

import (
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// layout is what a target reads at one state of the history, worked out from the kustomization
// files alone, as pkg/target.IncludedDirs does for the working tree: the kustomizations it
// includes, the files they list as resources, and what they name in every other role.
type layout struct {
	// plain is true when the target path has no kustomization: it renders as Flux renders a
	// directory, every manifest below it (those of flatFiles, its YAML and JSON files) and each
	// subdirectory with a kustomization as one resource (flatDirs).
	plain     bool
	flatFiles []string
	flatDirs  []string
	// simple: nothing transforms the target's objects (its kustomizations, if any, only gather
	// files: pkg/reach's Inert, Gathers and Orders fields), so an object's form is its own
	// document's, whatever the other files hold.
	simple bool

	kusts map[string]*kust // by directory
	// listed are the files kustomizations list in resources: and read in no other role; flat
	// are a plain target's YAML and JSON files. resourceFiles are both: files that only contribute
	// their objects.
	listed, flat, resourceFiles map[string]bool
	// blocked says why no object can be told apart from the others without a full render: a
	// kustomization with plugins, or replacements or vars whose sources are not named. Empty
	// when none.
	blocked string
	// remote is a remote resource the target reads: what it holds is not known, so no slice
	// can leave it out; as it is the same in every state that names it (a render fetches it
	// now), it does not keep a commit from being skipped.
	remote string
	// fetches is set when a kustomization names anything remote (a resource, a component): a
	// render of the state reads what the state does not hold.
	fetches bool
	// refs are the paths kustomizations name in roles other than resources (patches,
	// generators' files, components, configurations).
	refs []string
	// sources are the objects replacements and vars copy fields from: their content can reach
	// other objects.
	sources []copySource
	// err is a kustomization that does not parse: the target does not render in this state.
	err error
}

// kust is one kustomization of a target.
type kust struct {
	dir, file  string
	k          *reach.Kustomization
	resources  []resourceRef
	components []string
	generators bool
}

// resourceRef is one entry of a kustomization's resources: (and bases:).
type resourceRef struct {
	entry string
	path  string // repository-relative; "" for remote or outside the repository
	dir   bool
}

// kustomizationIn returns the kustomization file of dir in files, or "".
func kustomizationIn(files map[string]string, dir string) string {
	return reach.FileIn(dir, func(p string) bool { return files[p] != "" })
}

func under(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// layoutOf works out the layout of the target at root from the state's files. ensure is asked
// for every path a kustomization names before it is looked at, so that paths the target did not
// read at HEAD are brought into the state.
func (w *walker) layoutOf(root string) *layout {
	l := &layout{kusts: map[string]*kust{}, listed: map[string]bool{}, flat: map[string]bool{}, resourceFiles: map[string]bool{}}
	dirs := w.dirs()
	var queue []string
	if kustomizationIn(w.files, root) == "" {
		l.plain = true
		w.flatten(l, root)
		queue = append(queue, l.flatDirs...)
		for _, f := range l.flatFiles {
			l.flat[f] = true
		}
	} else {
		queue = append(queue, root)
	}
	seen := map[string]bool{}
	var otherRefs []string
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		file := kustomizationIn(w.files, dir)
		if file == "" {
			continue
		}
		parsed, err := w.kustomization(w.files[file])
		if err != nil {
			l.err = fmt.Errorf("%s: %w", file, err)
			return l
		}
		k := &kust{dir: dir, file: file, k: parsed}
		l.kusts[dir] = k
		if why := blocker(k.k); why != "" && l.blocked == "" {
			l.blocked = why + " in " + file
		}
		srcs, _ := copySources(k.k)
		l.sources = append(l.sources, srcs...)
		k.generators = len(k.k.ConfigMapGenerator) > 0 || len(k.k.SecretGenerator) > 0
		var others []string
		for _, ref := range k.k.Resources {
			r := resourceRef{entry: ref}
			if !reach.IsRemote(ref) {
				r.path, _ = reach.Join(dir, ref)
			} else if l.remote == "" {
				l.remote = ref + " in " + file
			}
			l.fetches = l.fetches || reach.IsRemote(ref)
			if r.path != "" {
				if w.ensure(r.path) {
					dirs = w.dirs()
				}
				r.dir = dirs[r.path]
				if r.dir {
					queue = append(queue, r.path)
				} else {
					l.listed[r.path] = true
				}
			}
			k.resources = append(k.resources, r)
		}
		for _, ref := range k.k.Refs() {
			if ref.Role == reach.Resource {
				continue
			}
			l.fetches = l.fetches || reach.IsRemote(ref.Path)
			if ref.Role == reach.Component && !reach.IsRemote(ref.Path) {
				if p, ok := reach.Join(dir, ref.Path); ok {
					k.components = append(k.components, p)
				}
			}
			others = append(others, ref.Path)
		}
		for _, ref := range others {
			if reach.IsRemote(ref) {
				continue
			}
			p, ok := reach.Join(dir, ref)
			if !ok {
				continue
			}
			if w.ensure(p) {
				dirs = w.dirs()
			}
			if dirs[p] && kustomizationIn(w.files, p) != "" {
				// A component (or another kustomization): its own files have their roles.
				queue = append(queue, p)
				continue
			}
			otherRefs = append(otherRefs, p)
		}
	}
	// A file listed as a resource by one kustomization and read otherwise by another (a patch,
	// a generator's file, a component) is not only a resource.
	for _, set := range []map[string]bool{l.listed, l.flat} {
		for f := range set {
			for _, o := range otherRefs {
				if under(f, o) {
					delete(set, f)
					break
				}
			}
		}
	}
	l.refs = otherRefs
	l.simple = l.remote == ""
	for _, k := range l.kusts {
		l.simple = l.simple && k.k.Within(reach.Inert, reach.Gathers, reach.Orders)
	}
	for f := range l.listed {
		l.resourceFiles[f] = true
	}
	for f := range l.flat {
		l.resourceFiles[f] = true
	}
	return l
}

// swapEntries gives the layout the kustomization c reverts to, when c changes only its
// replicas: and images: entries (the commonest change, an image automation's), which none of
// the layout's other fields depends on: working the layout out again, for every such commit,
// was a fifth of the fleet history's walk. TestLayoutSwapsEntries compares the two.
func (w *walker) swapEntries(c fileChange) bool {
	l := w.layout
	if l == nil || l.err != nil || c.before == zeroHash || c.after == zeroHash {
		return false
	}
	k := l.kusts[path.Dir(c.path)]
	if k == nil || k.file != c.path {
		return false
	}
	before, err := w.kustomization(c.before)
	if err != nil || !maps.Equal(before.Fields, k.k.Fields) || !reflect.DeepEqual(withoutEntries(before), withoutEntries(k.k)) {
		return false
	}
	swapped := *k
	swapped.k = before
	l.kusts[k.dir] = &swapped
	return true
}

// withoutEntries is a copy of k without its replicas: and images: entries.
func withoutEntries(k *reach.Kustomization) types.Kustomization {
	c := *k.Kustomization
	c.Replicas, c.Images = nil, nil
	return c
}

// reads tells whether a render of the layout can read p in a role other than a resource's.
func (l *layout) reads(p string) bool {
	for _, r := range l.refs {
		if under(p, r) {
			return true
		}
	}
	return false
}

// kustomization parses a kustomization file, as kustomize reads it (legacy fields moved to
// their current ones).
func (w *walker) kustomization(blob string) (*reach.Kustomization, error) {
	if k, ok := w.kustCache[blob]; ok {
		return k, nil
	}
	data, err := w.blobs.read(blob)
	if err != nil {
		return nil, err
	}
	k, err := reach.Parse(data)
	if err != nil {
		return nil, err
	}
	w.kustCache[blob] = k
	return k, nil
}

// blocker names a kustomization field whose effect on an object can depend on other objects it
// does not name, or on code: then every object must be rendered with all the others. Links
// fields are followed (names are mentioned, copies' sources named); a field pkg/reach does not
// class (Whole: plugins, Helm charts, openapi, anything newer) blocks.
func blocker(k *reach.Kustomization) string {
	if _, named := copySources(k); !named {
		return "replacements or vars from an unnamed source"
	}
	for _, f := range slices.Sorted(maps.Keys(k.Fields)) {
		if k.ClassOf(f) == reach.Whole {
			return f
		}
	}
	return ""
}

// copySource is an object that replacements or vars copy a field from, by kind (empty: any)
// and name.
type copySource struct{ kind, name string }

// copySources are the objects k's replacements and vars copy from; named is false when one is
// not known by name (selected by kind alone, or a replacement read from a file).
func copySources(k *reach.Kustomization) (srcs []copySource, named bool) {
	for _, r := range k.Replacements {
		switch {
		case r.Path != "":
			return nil, false
		case r.Source == nil && r.SourceValue != nil:
			continue
		case r.Source == nil || r.Source.Name == "":
			return nil, false
		}
		srcs = append(srcs, copySource{kind: r.Source.Kind, name: r.Source.Name})
	}
	for _, v := range k.Vars {
		if v.ObjRef.Name == "" {
			return nil, false
		}
		srcs = append(srcs, copySource{kind: v.ObjRef.Kind, name: v.ObjRef.Name})
	}
	return srcs, true
}

// isSource tells whether d can be an object that replacements or vars copy from: a name that
// holds the source's, or that the source's holds (name prefixes and suffixes, generators'
// hashes).
func (l *layout) isSource(d docHead) bool {
	for _, s := range l.sources {
		if (s.kind == "" || s.kind == d.Kind) && d.Metadata.Name != "" &&
			(strings.Contains(s.name, d.Metadata.Name) || strings.Contains(d.Metadata.Name, s.name)) {
			return true
		}
	}
	return false
}

// flatten lists what Flux renders of a directory without a kustomization (as pkg/render does):
// every YAML or JSON file below it that is a manifest (isManifest), and each subdirectory with a
// kustomization as one resource, hidden directories skipped.
func (w *walker) flatten(l *layout, root string) {
	kdirs := map[string]bool{}
	for f := range w.files {
		if !under(f, root) {
			continue
		}
		rel := f
		if root != "." {
			rel = strings.TrimPrefix(f, root+"/")
		}
		parts := strings.Split(rel, "/")
		skip := false
		for i := 1; i < len(parts); i++ {
			if strings.HasPrefix(parts[i-1], ".") {
				skip = true
				break
			}
			d := path.Join(root, strings.Join(parts[:i], "/"))
			if kustomizationIn(w.files, d) != "" {
				kdirs[d] = true
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		switch strings.ToLower(path.Ext(f)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		// Whether it is a manifest is asked only of the files a slice keeps: parsing every
		// version of every file (large CRDs among them) was most of a plain target's walk.
		l.flatFiles = append(l.flatFiles, f)
	}
	for d := range kdirs {
		l.flatDirs = append(l.flatDirs, d)
	}
	sort.Strings(l.flatFiles)
	sort.Strings(l.flatDirs)
}

// isManifest tells a Kubernetes manifest from other YAML, as pkg/render does.
func (w *walker) isManifest(blob string) bool {
	if m, ok := w.manifests[blob]; ok {
		return m
	}
	data, err := w.blobs.peek(blob)
	m := false
	if err == nil {
		nodes, err := kio.FromBytes(data)
		m = err == nil && len(nodes) > 0
		for _, n := range nodes {
			if n.GetKind() == "" || n.GetApiVersion() == "" {
				m = false
			}
		}
	}
	w.manifests[blob] = m
	return m
}

// dirs are the directories of the state's files.
func (w *walker) dirs() map[string]bool {
	out := map[string]bool{}
	for f := range w.files {
		for d := path.Dir(f); d != "." && !out[d]; d = path.Dir(d) {
			out[d] = true
		}
	}
	out["."] = true
	return out
}
