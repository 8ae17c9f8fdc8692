package change

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Rendering a large target whole. kustomize's build time grows with the square of the resources
// one kustomization gathers (each resource added is compared with every one before it, and the
// final sort adds them again), so one run over 20,000 manifests takes many minutes. When the tree
// allows the reduction the closed loop relies on — every kustomization from the target down to
// its longest resources: list uses only transformers that act on each object alone and renames
// nothing — the target renders in slices of that list, each a partial render (Options.Drop), and
// render.Combine joins them in kustomize's order: the same objects, in time that grows linearly.
//
// Objects the target's transformers must find in every slice (replicas: entries and
// strategic-merge patches without a target fail without their object) come from entries kept in
// every slice, as do objects from outside the list; each slice must render them alike. Anything
// uncertain (an object whose file is unknown, a kept entry's object in one slice only, an ID in
// two slices) renders the target whole instead.

// defaultSliceFiles is about how many files one slice reads; a list reading fewer than two
// slices' worth renders whole.
const defaultSliceFiles = 400

// renderSliced renders target t in slices; ok is false when it cannot, and the caller renders
// the target whole.
func (e *Engine) renderSliced(t string) (*render.Result, bool) {
	if e.opts.Whole {
		return nil, false
	}
	tree, err := e.parseTree(t, nil)
	if err != nil || tree.root.keys["sortOptions"] {
		return nil, false
	}
	list, chain := longestList(tree.root)
	if list == nil {
		return nil, false
	}
	weight := 0
	raws := map[string]bool{}
	for _, en := range list.entries {
		if raws[en.raw] {
			return nil, false // the same entry twice: kustomize's to judge
		}
		raws[en.raw] = true
		weight += len(en.reads)
	}
	sliceFiles := e.opts.SliceFiles
	if sliceFiles == 0 {
		sliceFiles = defaultSliceFiles
	}
	if weight < 2*sliceFiles {
		return nil, false
	}
	var names []string
	for _, n := range chain {
		// As for a reduction that deletes: nothing above the list may rename objects.
		if err := (&scope{deletes: true}).checkChain(n); err != nil {
			return nil, false
		}
		if len(n.kust().PatchesStrategicMerge) > 0 || len(n.kust().PatchesJson6902) > 0 {
			return nil, false
		}
		targets, ok := e.chainTargets(n)
		if !ok {
			return nil, false
		}
		names = append(names, targets...)
	}

	// Entries that may hold an object a replicas: entry or an untargeted patch names go in every
	// slice; the rest are dealt out in order.
	shared := map[*entry]bool{}
	sharedWeight := 0
	for _, en := range list.entries {
		if len(names) > 0 && e.mayHoldNamed(en, names) {
			shared[en] = true
			sharedWeight += len(en.reads)
		}
	}
	if 2*sharedWeight > weight {
		return nil, false
	}
	var slices [][]*entry
	var cur []*entry
	curWeight := 0
	for _, en := range list.entries {
		if shared[en] {
			continue
		}
		cur = append(cur, en)
		if curWeight += len(en.reads); curWeight >= sliceFiles {
			slices, cur, curWeight = append(slices, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		slices = append(slices, cur)
	}
	if len(slices) < 2 {
		return nil, false
	}

	// Which entry of the list each file belongs to.
	owner := map[string]*entry{}
	for _, en := range list.entries {
		for _, r := range en.reads {
			owner[r] = en
		}
	}
	ownerOf := func(o *render.Object) (*entry, bool) {
		from := o.Origin.File
		if from == "" {
			from = o.Origin.Generated
		}
		if from == "" {
			return nil, false
		}
		for p := from; p != "." && p != "/" && p != ""; p = path.Dir(p) {
			if en, ok := owner[p]; ok {
				return en, true
			}
		}
		return nil, true // from outside the list: in every slice
	}

	parts := make([]*render.Result, len(slices))
	errs := make([]error, len(slices))
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(slices)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				in := map[*entry]bool{}
				for _, en := range slices[i] {
					in[en] = true
				}
				var drop []string
				for _, en := range list.entries {
					if !in[en] && !shared[en] {
						drop = append(drop, en.raw)
					}
				}
				parts[i], errs[i] = render.Render(e.root, e.dir(t), render.Options{Drop: map[string][]string{list.dir: drop}})
			}
		}()
	}
	for i := range slices {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, false
		}
	}

	// Every slice holds the objects of the shared entries and of the rest of the tree; they
	// come from the first slice, and must render alike in all.
	common := map[render.ObjectID]*render.Object{}
	sliceOf := map[*entry]int{}
	for i, s := range slices {
		for _, en := range s {
			sliceOf[en] = i
		}
	}
	sound := true
	counts := make([]int, len(parts))
	keep := func(i int, o *render.Object) bool {
		en, ok := ownerOf(o)
		if !ok {
			sound = false
			return false
		}
		if en != nil && !shared[en] {
			if sliceOf[en] != i {
				sound = false
			}
			return true
		}
		counts[i]++
		if i == 0 {
			common[o.ID] = o
			return true
		}
		if c := common[o.ID]; c == nil || !c.SameAs(o) {
			sound = false
		}
		return false
	}
	whole, err := render.Combine(t, parts, keep)
	if err != nil || !sound {
		return nil, false
	}
	for _, c := range counts {
		if c != len(common) {
			return nil, false
		}
	}
	if refersAcross(whole, ownerOf) {
		return nil, false
	}
	e.stats.Sliced++
	return whole, true
}

// longestList finds the kustomization with the most resources: entries, and the chain of
// kustomizations from the root down to it.
func longestList(root *kustNode) (*kustNode, []*kustNode) {
	var best *kustNode
	var bestChain []*kustNode
	var walk func(n *kustNode, chain []*kustNode)
	walk = func(n *kustNode, chain []*kustNode) {
		chain = append(chain[:len(chain):len(chain)], n)
		if best == nil || len(n.entries) > len(best.entries) {
			best, bestChain = n, chain
		}
		for _, en := range n.entries {
			if en.node != nil {
				walk(en.node, chain)
			}
		}
	}
	walk(root, nil)
	return best, bestChain
}

// chainTargets are the names of the objects a kustomization's replicas: entries and
// strategic-merge patches without a target must find.
func (e *Engine) chainTargets(n *kustNode) ([]string, bool) {
	var names []string
	for _, r := range n.kust().Replicas {
		names = append(names, r.Name)
	}
	s := &scope{root: e.root}
	for _, p := range n.kust().Patches {
		if p.Target != nil {
			continue
		}
		heads, err := s.patchHeads(n.dir, p, true)
		if err != nil {
			return nil, false
		}
		for _, h := range heads {
			names = append(names, h.Metadata.Name)
		}
	}
	return names, true
}

// mayHoldNamed reports whether an entry can render an object with one of the names: a file it
// reads holds the name, or a kustomization in it changes names (prefix, suffix).
func (e *Engine) mayHoldNamed(en *entry, names []string) bool {
	nodeDirs := map[string]bool{}
	if en.node != nil {
		var walk func(n *kustNode)
		walk = func(n *kustNode) {
			nodeDirs[n.dir] = true
			for _, c := range n.entries {
				if c.node != nil {
					walk(c.node)
				}
			}
		}
		walk(en.node)
		var renames func(n *kustNode) bool
		renames = func(n *kustNode) bool {
			if n.keys["namePrefix"] || n.keys["nameSuffix"] {
				return true
			}
			for _, c := range n.entries {
				if c.node != nil && renames(c.node) {
					return true
				}
			}
			return false
		}
		if renames(en.node) {
			return true
		}
	}
	for _, r := range en.reads {
		fi, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(r)))
		if err != nil {
			return true
		}
		if fi.IsDir() {
			if !nodeDirs[r] {
				return true // a directory read whole (a component, a generator's files)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(r)))
		if err != nil {
			return true
		}
		for _, name := range names {
			if bytes.Contains(b, []byte(name)) {
				return true
			}
		}
	}
	return false
}

// refersAcross reports whether an object may refer by name to an object of another entry that
// its own entry renamed (a generator's hash, a prefix, a namespace): kustomize fixes such
// references once, over the whole target, and a slice without the renamed object would keep the
// old name. Any string in an object equal to such an object's name in its file counts.
func refersAcross(r *render.Result, ownerOf func(*render.Object) (*entry, bool)) bool {
	renamed := map[string][]*entry{}
	for _, o := range r.Objects {
		en, _ := ownerOf(o)
		if o.Origin.Name != o.ID.Name || o.Origin.Namespace != o.ID.Namespace {
			renamed[o.Origin.Name] = append(renamed[o.Origin.Name], en)
		}
		// A generated object's origin has the hashed name already: the generator's name is
		// the name without the hash.
		if o.Origin.Generated != "" {
			if m := hashSuffix.FindStringIndex(o.ID.Name); m != nil {
				name := o.ID.Name[:m[0]]
				renamed[name] = append(renamed[name], en)
			}
		}
	}
	if len(renamed) == 0 {
		return false
	}
	for _, o := range r.Objects {
		en, _ := ownerOf(o)
		b, err := o.JSON()
		if err != nil {
			return true
		}
		found := false
		jsonStrings(b, func(s []byte) bool {
			for _, other := range renamed[string(s)] {
				if other != nil && other != en {
					found = true
					return true
				}
			}
			return false
		})
		if found {
			return true
		}
	}
	return false
}

// hashSuffix is the content hash kustomize appends to a generated object's name.
var hashSuffix = regexp.MustCompile(`-[a-z0-9]{10}$`)

// jsonStrings calls fn with each string of a JSON document (keys too), as written (escapes
// left in), until fn returns true.
func jsonStrings(b []byte, fn func([]byte) bool) {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				j++
			}
			j++
		}
		if j > len(b) {
			return
		}
		if fn(b[i+1 : j]) {
			return
		}
		i = j
	}
}
