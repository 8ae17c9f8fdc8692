package render

import (
	"crypto/sha256"
	"maps"
	"path/filepath"
	"slices"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// Partial is the partial render kept with r (from the cache, or by Merge): the last render of
// the target's resources: entries a closed loop reduced it to; nil when there is none.
func (r *Result) Partial() *Result { return r.partial }

// Stands reports whether partial render p is what a render with drop and overlay would give now:
// it left out the same entries and every file it read has the same content, from overlay, else
// as full (a render loaded from the cache and checked then) knows it, else on disk. A render
// depends only on what it reads; a partial render depending on a directory's listing never
// stands for another.
func (p *Result) Stands(root string, drop map[string][]string, overlay map[string][]byte, full *Result) bool {
	if p == nil || p.drop == nil || len(p.Dirs) > 0 || !sameDrop(p.drop, drop) {
		return false
	}
	for f, sum := range p.sums {
		if b, ok := overlay[f]; ok {
			if b == nil || sha256.Sum256(b) != sum {
				return false
			}
			continue
		}
		if s, ok := full.stamps[f]; ok {
			if s.Sum != sum {
				return false
			}
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(f))
		st, err := fsstat.Lstat(full)
		if err != nil {
			return false
		}
		if b, err := readInput(full, st); err != nil || sha256.Sum256(b) != sum {
			return false
		}
	}
	return true
}

// InputSum is the SHA-256 of input p's content, as the cache checked it when it loaded r:
// false for a render not from the cache, or an input whose content changed since it was made.
func (r *Result) InputSum(p string) ([sha256.Size]byte, bool) {
	s, ok := r.stamps[p]
	return s.Sum, ok
}

func sameDrop(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y)))
	})
}
