package binenc

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestRoundTripAndDamage(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	big := bytes.Repeat([]byte("x"), 200<<10) // crosses the write buffer
	w.String("format 1")
	w.Uint(1 << 40)
	w.Int(-7)
	w.Bool(true)
	w.Fixed([]byte{1, 2, 3})
	w.Bytes(big)
	w.Strings([]string{"a", "", "c"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, share := range []bool{false, true} {
		r, err := NewReader(good, share)
		if err != nil {
			t.Fatal(err)
		}
		if s, u, i, b, f, bb, ss := r.String(), r.Uint(), r.Int(), r.Bool(), r.Fixed(3), r.Bytes(), r.Strings(); s != "format 1" || u != 1<<40 || i != -7 || !b ||
			!bytes.Equal(f, []byte{1, 2, 3}) || !bytes.Equal(bb, big) || !slices.Equal(ss, []string{"a", "", "c"}) {
			t.Errorf("read back %q %d %d %v %v %d bytes %q", s, u, i, b, f, len(bb), ss)
		}
		if r.Err() != nil {
			t.Errorf("a whole read: %v", r.Err())
		}
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for _, bad := range [][]byte{flipped, good[:len(good)/2], good[:3], nil} {
		if _, err := NewReader(bad, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a damaged file of %d bytes read: %v", len(bad), err)
		}
	}
	r, _ := NewReader(good, false)
	_ = r.String()
	if r.Err() == nil {
		t.Error("a partial read is not an error")
	}
	r, _ = NewReader(good, false)
	for range 20 {
		r.Bytes()
	}
	if !r.Failed() || r.Err() == nil {
		t.Error("reading past the end is not an error")
	}
}
