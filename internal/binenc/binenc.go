// Package binenc is the binary form of the memos kubectl-gitops keeps in .git/kubectl-gitops:
// varints, length-prefixed strings and bytes, written through a small buffer, and a CRC-32C of
// everything before it at the end, so a damaged or cut-off file reads as corrupt, never as
// another memo.
package binenc

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// ErrCorrupt is what reading a damaged file gives.
var ErrCorrupt = errors.New("corrupt file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Writer writes to an io.Writer; Close writes the checksum.
type Writer struct {
	out io.Writer
	b   []byte
	crc uint32
	err error
}

func NewWriter(out io.Writer) *Writer { return &Writer{out: out, b: make([]byte, 0, 80<<10)} }

func (w *Writer) Uint(x uint64) { w.b = binary.AppendUvarint(w.b, x); w.spill() }
func (w *Writer) Int(x int64)   { w.b = binary.AppendVarint(w.b, x); w.spill() }
func (w *Writer) Byte(x byte)   { w.b = append(w.b, x); w.spill() }

func (w *Writer) Bool(v bool) {
	if v {
		w.Byte(1)
	} else {
		w.Byte(0)
	}
}

// Fixed writes b as it is: the reader knows its length (a hash).
func (w *Writer) Fixed(b []byte) { w.b = append(w.b, b...); w.spill() }

func (w *Writer) String(s string) { w.Uint(uint64(len(s))); w.b = append(w.b, s...); w.spill() }
func (w *Writer) Bytes(b []byte)  { w.Uint(uint64(len(b))); w.b = append(w.b, b...); w.spill() }

func (w *Writer) Strings(ss []string) {
	w.Uint(uint64(len(ss)))
	for _, s := range ss {
		w.String(s)
	}
}

func (w *Writer) spill() {
	if len(w.b) >= 64<<10 {
		w.flush()
	}
}

func (w *Writer) flush() {
	w.crc = crc32.Update(w.crc, castagnoli, w.b)
	if w.err == nil {
		_, w.err = w.out.Write(w.b)
	}
	w.b = w.b[:0]
}

// Close writes what is buffered and the checksum; it returns the first write error.
func (w *Writer) Close() error {
	w.flush()
	w.b = binary.LittleEndian.AppendUint32(w.b, w.crc)
	w.flush()
	return w.err
}

// Reader reads a file Writer wrote. Bytes are slices of the file's bytes, not copies; strings
// are substrings of one copy of the file when shareStrings is set (no allocation each), else
// copies.
type Reader struct {
	b   []byte
	s   string
	off int
	err error
}

// NewReader checks b's checksum.
func NewReader(b []byte, shareStrings bool) (*Reader, error) {
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, ErrCorrupt
	}
	r := &Reader{b: b[:len(b)-4]}
	if shareStrings {
		r.s = string(r.b)
	}
	return r, nil
}

// Err is ErrCorrupt when a read went past the end or the file holds more than was read.
func (r *Reader) Err() error {
	if r.err == nil && r.off != len(r.b) {
		return ErrCorrupt
	}
	return r.err
}

// Failed reports whether a read so far went wrong (reading on gives zero values).
func (r *Reader) Failed() bool { return r.err != nil }

func (r *Reader) fail() { r.err, r.off = ErrCorrupt, len(r.b) }

func (r *Reader) Uint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

func (r *Reader) Int() int64 {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

func (r *Reader) Byte() byte {
	if r.off >= len(r.b) {
		r.fail()
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *Reader) Bool() bool { return r.Byte() == 1 }

// Count reads a length, which cannot exceed what is left to read.
func (r *Reader) Count() int {
	n := r.Uint()
	if n > uint64(len(r.b)-r.off) {
		r.fail()
		return 0
	}
	return int(n)
}

// Fixed reads n bytes written by Writer.Fixed.
func (r *Reader) Fixed(n int) []byte {
	if n > len(r.b)-r.off {
		r.fail()
		return make([]byte, n)
	}
	r.off += n
	return r.b[r.off-n : r.off : r.off]
}

func (r *Reader) Bytes() []byte {
	n := r.Count()
	r.off += n
	return r.b[r.off-n : r.off : r.off]
}

func (r *Reader) String() string {
	n := r.Count()
	r.off += n
	if r.s != "" {
		return r.s[r.off-n : r.off]
	}
	return string(r.b[r.off-n : r.off])
}

func (r *Reader) Strings() []string {
	n := r.Count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.String()
	}
	return ss
}
