package render

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"slices"
)

// The cache file: the format line, the entry's fields as length-prefixed strings, varints and
// raw bytes, then a CRC-32C of everything before it. Object JSON and input contents are slices
// of the file's bytes once read, not copies.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("render cache: corrupt entry")

// entryWriter writes an entry through a small buffer (an entry of a large target is megabytes)
// and checksums what it writes.
type entryWriter struct {
	out io.Writer
	b   []byte
	crc uint32
	err error
}

func (w *entryWriter) uint(x uint64) { w.b = binary.AppendUvarint(w.b, x); w.spill() }
func (w *entryWriter) int(x int64)   { w.b = binary.AppendVarint(w.b, x); w.spill() }
func (w *entryWriter) str(s string)  { w.uint(uint64(len(s))); w.b = append(w.b, s...); w.spill() }
func (w *entryWriter) bytes(b []byte) {
	w.uint(uint64(len(b)))
	w.b = append(w.b, b...)
	w.spill()
}

func (w *entryWriter) spill() {
	if len(w.b) >= 64<<10 {
		w.flush()
	}
}

func (w *entryWriter) flush() {
	w.crc = crc32.Update(w.crc, castagnoli, w.b)
	if w.err == nil {
		_, w.err = w.out.Write(w.b)
	}
	w.b = w.b[:0]
}

func encodeEntry(out io.Writer, e *cacheEntry) error {
	w := &entryWriter{out: out, b: make([]byte, 0, 80<<10)}
	w.str(cacheFormat)
	w.str(e.Root)
	w.str(e.Path)
	w.uint(uint64(len(e.Inputs)))
	for _, in := range e.Inputs {
		w.str(in.Path)
		w.int(in.Size)
		w.int(in.ModTime)
		w.uint(in.Ino)
		w.b = append(w.b, in.Sum[:]...)
		w.spill()
		w.bytes(in.Content)
	}
	w.uint(uint64(len(e.Dirs)))
	for _, d := range e.Dirs {
		w.str(d.Path)
		w.b = append(w.b, d.Sum[:]...)
		w.spill()
	}
	if err := w.objects(e.Objects); err != nil {
		return err
	}
	if p := e.Partial; p == nil {
		w.uint(0)
	} else {
		w.uint(1)
		w.uint(uint64(len(p.drop)))
		for _, dir := range slices.Sorted(maps.Keys(p.drop)) {
			w.str(dir)
			w.uint(uint64(len(p.drop[dir])))
			for _, en := range p.drop[dir] {
				w.str(en)
			}
		}
		w.uint(uint64(len(p.Inputs)))
		for _, f := range p.Inputs {
			w.str(f)
			sum := p.sums[f]
			w.b = append(w.b, sum[:]...)
			w.spill()
		}
		if err := w.objects(p.Objects); err != nil {
			return err
		}
	}
	w.flush()
	w.b = binary.LittleEndian.AppendUint32(w.b, w.crc)
	w.flush()
	return w.err
}

func (w *entryWriter) objects(objs []*Object) error {
	w.uint(uint64(len(objs)))
	for _, o := range objs {
		js, err := o.json()
		if err != nil {
			return err
		}
		w.str(o.ID.Group)
		w.str(o.ID.Kind)
		w.str(o.ID.Namespace)
		w.str(o.ID.Name)
		w.str(o.Origin.File)
		w.int(int64(o.Origin.Doc))
		w.str(o.Origin.Generated)
		w.str(o.Origin.Name)
		w.str(o.Origin.Namespace)
		w.bytes(js)
	}
	return nil
}

type entryReader struct {
	b   []byte
	err error
}

func (r *entryReader) uint() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *entryReader) int() int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *entryReader) bytes() []byte {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *entryReader) str() string { return string(r.bytes()) }

func (r *entryReader) sum() (s [sha256.Size]byte) {
	if len(r.b) < len(s) {
		r.fail()
		return s
	}
	copy(s[:], r.b)
	r.b = r.b[len(s):]
	return s
}

// count reads a length, bounded by the bytes left (each item takes at least one).
func (r *entryReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *entryReader) objects() []*Object {
	out := make([]*Object, r.count())
	for i := range out {
		id := ObjectID{Group: r.str(), Kind: r.str(), Namespace: r.str(), Name: r.str()}
		org := Origin{File: r.str(), Doc: int(r.int()), Generated: r.str(), Name: r.str(), Namespace: r.str()}
		out[i] = lazyObject(id, org, r.bytes())
	}
	return out
}

func (r *entryReader) fail() {
	r.err = errCorrupt
	r.b = nil
}

func decodeEntry(b []byte) (*cacheEntry, error) {
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errCorrupt
	}
	r := &entryReader{b: b[:len(b)-4]}
	if r.str() != cacheFormat {
		return nil, errCorrupt
	}
	e := &cacheEntry{Root: r.str(), Path: r.str()}
	e.Inputs = make([]inputStamp, r.count())
	for i := range e.Inputs {
		in := &e.Inputs[i]
		in.Path, in.Size, in.ModTime, in.Ino = r.str(), r.int(), r.int(), r.uint()
		in.Sum = r.sum()
		in.Content = r.bytes()
	}
	e.Dirs = make([]dirStamp, r.count())
	for i := range e.Dirs {
		e.Dirs[i] = dirStamp{Path: r.str(), Sum: r.sum()}
	}
	e.Objects = r.objects()
	if r.uint() == 1 {
		p := &Result{Path: e.Path, drop: map[string][]string{}, sums: map[string][sha256.Size]byte{}}
		for range r.count() {
			dir := r.str()
			entries := make([]string, r.count())
			for i := range entries {
				entries[i] = r.str()
			}
			p.drop[dir] = entries
		}
		p.Inputs = make([]string, r.count())
		for i := range p.Inputs {
			p.Inputs[i] = r.str()
			p.sums[p.Inputs[i]] = r.sum()
		}
		p.Objects = r.objects()
		e.Partial = p
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}
