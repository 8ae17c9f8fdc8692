package render

import (
	"crypto/sha256"
	"io"
	"maps"
	"slices"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
)

// The cache file (internal/binenc): the format line, then the entry's fields. Object JSON and
// input contents are slices of the file's bytes once read, not copies.

func encodeEntry(out io.Writer, e *cacheEntry) error {
	w := binenc.NewWriter(out)
	w.String(cacheFormat)
	w.String(e.Root)
	w.String(e.Path)
	w.Uint(uint64(len(e.Inputs)))
	for _, in := range e.Inputs {
		w.String(in.Path)
		in.Key.Write(w)
		w.Bool(in.Vouched)
		w.Fixed(in.Sum[:])
		w.Bytes(in.Content)
	}
	w.Uint(uint64(len(e.Dirs)))
	for _, d := range e.Dirs {
		w.String(d.Path)
		w.Fixed(d.Sum[:])
	}
	if err := writeObjects(w, e.Objects); err != nil {
		return err
	}
	w.Bool(e.Partial != nil)
	if p := e.Partial; p != nil {
		w.Uint(uint64(len(p.drop)))
		for _, dir := range slices.Sorted(maps.Keys(p.drop)) {
			w.String(dir)
			w.Strings(p.drop[dir])
		}
		w.Uint(uint64(len(p.Inputs)))
		for _, f := range p.Inputs {
			w.String(f)
			sum := p.sums[f]
			w.Fixed(sum[:])
		}
		if err := writeObjects(w, p.Objects); err != nil {
			return err
		}
	}
	return w.Close()
}

func writeObjects(w *binenc.Writer, objs []*Object) error {
	w.Uint(uint64(len(objs)))
	for _, o := range objs {
		js, err := o.json()
		if err != nil {
			return err
		}
		w.String(o.ID.Group)
		w.String(o.ID.Kind)
		w.String(o.ID.Namespace)
		w.String(o.ID.Name)
		w.String(o.Origin.File)
		w.Int(int64(o.Origin.Doc))
		w.String(o.Origin.Generated)
		w.String(o.Origin.Name)
		w.String(o.Origin.Namespace)
		w.String(o.Origin.Layer)
		w.Bytes(js)
	}
	return nil
}

func sumOf(r *binenc.Reader) (s [sha256.Size]byte) {
	copy(s[:], r.Fixed(sha256.Size))
	return s
}

func decodeEntry(b []byte) (*cacheEntry, error) {
	r, err := binenc.NewReader(b, false)
	if err != nil {
		return nil, err
	}
	if r.String() != cacheFormat {
		return nil, binenc.ErrCorrupt
	}
	e := &cacheEntry{Root: r.String(), Path: r.String()}
	e.Inputs = make([]inputStamp, r.Count())
	for i := range e.Inputs {
		in := &e.Inputs[i]
		in.Path, in.Key, in.Vouched = r.String(), fsstat.ReadKey(r), r.Bool()
		in.Sum = sumOf(r)
		in.Content = r.Bytes()
	}
	e.Dirs = make([]dirStamp, r.Count())
	for i := range e.Dirs {
		e.Dirs[i] = dirStamp{Path: r.String(), Sum: sumOf(r)}
	}
	e.Objects = readObjects(r)
	if r.Bool() {
		// Partial renders are made of directories rendered as kustomize renders them, whose
		// key is their path.
		p := &Result{Path: e.Path, Key: e.Path, drop: map[string][]string{}, sums: map[string][sha256.Size]byte{}}
		for range r.Count() {
			dir := r.String()
			p.drop[dir] = r.Strings()
		}
		p.Inputs = make([]string, r.Count())
		for i := range p.Inputs {
			p.Inputs[i] = r.String()
			p.sums[p.Inputs[i]] = sumOf(r)
		}
		p.Objects = readObjects(r)
		e.Partial = p
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

func readObjects(r *binenc.Reader) []*Object {
	out := make([]*Object, r.Count())
	for i := range out {
		id := ObjectID{Group: r.String(), Kind: r.String(), Namespace: r.String(), Name: r.String()}
		org := Origin{File: r.String(), Doc: int(r.Int()), Generated: r.String(), Name: r.String(), Namespace: r.String(), Layer: r.String()}
		out[i] = lazyObject(id, org, r.Bytes())
	}
	return out
}
