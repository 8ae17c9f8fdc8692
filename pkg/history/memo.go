package history

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
)

// A walk's memo keeps in the repository's cache directory what no later walk needs to learn
// again: the heads of each file version the walk parsed (by blob), whether a file version can
// define the followed object (by blob and the object: it spares reading the version again), and
// the object's form in each state the walk rendered (by the state's files and the object; see
// stateKey and renderInto for which renders). All of it is keyed by content, and the memo is
// this build's only (binenc.Format), so it never changes a walk's answer: `rollout history`,
// then `--revision`, then `rollout undo --to-revision` walk the same commits, and a walk after a
// pull renders only the new states. A memo that does not read is not used. A Secret's forms are
// never kept: a rendered Secret holds its data.

var memoFormat = binenc.Format("kubectl-gitops history memo 4")

// Past maxMemoStates or maxMemoHeads, a memo keeps only the forms the last walk used or added.
const (
	maxMemoStates = 5000   // forms: a few KB each
	maxMemoHeads  = 100000 // and as many possible answers, about 100 bytes each
)

type memo struct {
	file string

	// heads is the walk's headCache, and possible possiblyIn's answers by match.key and blob;
	// loaded, how many the file held.
	heads    map[string]fileHeads
	possible map[string]bool
	loaded   int

	mu     sync.Mutex // states and the keys used, which slices' renders add to
	states map[[sha256.Size]byte]memoState
	added  bool
	used   map[[sha256.Size]byte]bool
}

// memoState is the followed object's form in a state, as JSON (nil: the state does not hold
// it), and the files its render read; or that the state does not render (failed), which a
// render that reads only the state says the same of every time.
type memoState struct {
	obj    []byte
	inputs []string
	failed bool
}

// loadMemo reads the memo in dir; "" keeps nothing.
func loadMemo(dir string) *memo {
	m := &memo{heads: map[string]fileHeads{}, possible: map[string]bool{}, states: map[[sha256.Size]byte]memoState{}, used: map[[sha256.Size]byte]bool{}}
	if dir == "" {
		return m
	}
	m.file = filepath.Join(dir, "history.memo")
	b, _, err := binenc.ReadFile(m.file)
	if err != nil {
		return m
	}
	r, err := binenc.NewReader(b, true)
	if err != nil || r.String() != memoFormat {
		return m
	}
	n := r.Count()
	heads := make(map[string]fileHeads, n)
	for range n {
		blob := r.String()
		h := fileHeads{ok: r.Bool()}
		for range r.Count() {
			var d docHead
			d.APIVersion, d.Kind, d.Metadata.Name, d.Metadata.Namespace = r.String(), r.String(), r.String(), r.String()
			h.docs = append(h.docs, d)
		}
		heads[blob] = h
	}
	n = r.Count()
	possible := make(map[string]bool, n)
	for range n {
		possible[r.String()] = r.Bool()
	}
	states := map[[sha256.Size]byte]memoState{}
	for range r.Count() {
		var key [sha256.Size]byte
		copy(key[:], r.Fixed(sha256.Size))
		var s memoState
		switch r.Byte() {
		case stateHolds:
			s.obj = r.Bytes()
		case stateFails:
			s.failed = true
		}
		s.inputs = r.Strings()
		states[key] = s
	}
	if r.Err() != nil {
		return m
	}
	m.heads, m.possible, m.loaded, m.states = heads, possible, len(heads)+len(possible), states
	return m
}

// stateKey is the key of the followed object's form in a state rendered how ("slice" or
// "whole"): the target, what the walk knows of the object, and every file of the state, of which
// such a render is a function. ok is false when the form must not be kept.
func (w *walker) stateKey(how string, files map[string]string) (key [sha256.Size]byte, ok bool) {
	if w.memo.file == "" || w.x.id.Group == "" && w.x.id.Kind == "Secret" || !w.x.known && w.x.hint == "" {
		return key, false
	}
	h := sha256.New()
	// match.key leaves out the namespace, which possiblyIn's answers do not depend on and the
	// form does.
	for _, s := range []string{how, w.root, w.x.key(), w.x.id.Namespace, w.x.generated} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write([]byte(files[f]))
		h.Write([]byte{0})
	}
	h.Sum(key[:0])
	return key, true
}

// A kept state holds the object, lacks it, or does not render.
const (
	stateLacks byte = iota
	stateHolds
	stateFails
)

// recall fills p with the form the memo has for key; ok is false when it has none, failed true
// when the state does not render (p is then left as it was).
func (m *memo) recall(key [sha256.Size]byte, p *pending) (failed, ok bool) {
	m.mu.Lock()
	s, ok := m.states[key]
	if ok {
		m.used[key] = true
	}
	m.mu.Unlock()
	if !ok || s.failed {
		return s.failed, ok
	}
	if s.obj != nil {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(s.obj); err != nil {
			return false, false
		}
		p.obj = u
	}
	p.inputs = make(map[string]bool, len(s.inputs))
	for _, in := range s.inputs {
		p.inputs[in] = true
	}
	return false, true
}

// keep adds the form a render made; a nil inputs says the render failed.
func (m *memo) keep(key [sha256.Size]byte, obj *unstructured.Unstructured, inputs map[string]bool) {
	s := memoState{inputs: slices.Sorted(maps.Keys(inputs)), failed: inputs == nil}
	if obj != nil {
		js, err := json.Marshal(obj.Object)
		if err != nil {
			return
		}
		s.obj = js
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[key], m.used[key], m.added = s, true, true
}

// save writes the memo when the walk added to it.
func (m *memo) save() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file == "" || !m.added && len(m.heads)+len(m.possible) == m.loaded {
		return
	}
	heads, possible, states := m.heads, m.possible, m.states
	if len(heads) > maxMemoHeads || len(possible) > maxMemoHeads || len(states) > maxMemoStates {
		heads, possible = nil, nil
		states = map[[sha256.Size]byte]memoState{}
		for key := range m.used {
			states[key] = m.states[key]
		}
	}
	_ = binenc.WriteFile(m.file, func(out io.Writer) error {
		bw := binenc.NewWriter(out)
		bw.String(memoFormat)
		bw.Uint(uint64(len(heads)))
		for blob, h := range heads {
			bw.String(blob)
			bw.Bool(h.ok)
			bw.Uint(uint64(len(h.docs)))
			for _, d := range h.docs {
				bw.String(d.APIVersion)
				bw.String(d.Kind)
				bw.String(d.Metadata.Name)
				bw.String(d.Metadata.Namespace)
			}
		}
		bw.Uint(uint64(len(possible)))
		for key, p := range possible {
			bw.String(key)
			bw.Bool(p)
		}
		bw.Uint(uint64(len(states)))
		for key, s := range states {
			bw.Fixed(key[:])
			switch {
			case s.failed:
				bw.Byte(stateFails)
			case s.obj != nil:
				bw.Byte(stateHolds)
				bw.Bytes(s.obj)
			default:
				bw.Byte(stateLacks)
			}
			bw.Strings(s.inputs)
		}
		return bw.Close()
	})
}
