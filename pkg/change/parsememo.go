package change

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"io"
	"os"
	"path/filepath"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
)

// parseMemo keeps the kustomizations parsed between the trees one command parses and, when
// the engine has a cache directory, the JSON form of their files between commands.
type parseMemo struct {
	nodes map[string]*kustNode // by file and content
	json  *yamlJSONMemo
	// cacheDir holds the memos kept between commands ("" keeps none); the JSON memo is opened
	// only when a kustomization is parsed anew.
	cacheDir   string
	jsonOpened bool
	// stored are the nodes of the tree memos read so far, by directory; sums tell the content
	// a file has now, as the render cache vouches for it (one per render loaded).
	stored      map[string]*kustNode
	sums        []func(file string) ([32]byte, bool)
	treesLoaded map[string]bool
	// ls and disk are the directory listings and kustomization files read so far: the trees
	// one command parses read the same ones (a refresh's, then the closed loop's).
	ls   *lister
	disk map[string][]byte
}

// yamlJSONMemo keeps, between commands, the JSON that sigs.k8s.io/yaml makes of each
// kustomization file a tree reads (most of the cost of parsing a tree of hundreds of them),
// keyed by the file's content: a command converts again only the files changed since. It lives
// in the cache directory beside the renders; what it holds is what the conversion returns for
// the same bytes with the same library, so it cannot be stale.
type yamlJSONMemo struct {
	file   string
	old    map[string][]byte // JSON by the SHA-256 of the YAML
	now    map[string][]byte // what this command used
	misses int
}

type yamlJSONMemoFile struct {
	Format string
	JSON   map[string][]byte
}

// yamlJSONFormat names the memo's format and, through binenc.Format, the build whose
// sigs.k8s.io/yaml made the JSON.
var yamlJSONFormat = binenc.Format("kubectl-gitops kustomization json 2")

// openYAMLJSONMemo reads the memo in the cache directory dir; nil (no memo) when dir is "".
func openYAMLJSONMemo(dir string) *yamlJSONMemo {
	if dir == "" {
		return nil
	}
	m := &yamlJSONMemo{file: filepath.Join(dir, "kustomization-json.gob"), old: map[string][]byte{}, now: map[string][]byte{}}
	if b, err := os.ReadFile(m.file); err == nil {
		var f yamlJSONMemoFile
		if gob.NewDecoder(bytes.NewReader(b)).Decode(&f) == nil && f.Format == yamlJSONFormat && f.JSON != nil {
			m.old = f.JSON
		}
	}
	return m
}

// yamlToJSON is sigsyaml.YAMLToJSON through the memo (m may be nil).
func (m *yamlJSONMemo) yamlToJSON(content []byte) ([]byte, error) {
	if m == nil {
		return sigsyaml.YAMLToJSON(content)
	}
	h := sha256.Sum256(content)
	k := string(h[:])
	if js, ok := m.now[k]; ok {
		return js, nil
	}
	if js, ok := m.old[k]; ok {
		m.now[k] = js
		return js, nil
	}
	js, err := sigsyaml.YAMLToJSON(content)
	if err != nil {
		return nil, err
	}
	m.now[k] = js
	m.misses++
	return js, nil
}

// save writes what this command used when enough of it was converted anew to pay for the
// write: a file or two edited since costs less to convert again than to store.
func (m *yamlJSONMemo) save() {
	if m == nil || m.misses <= 8 && m.misses*20 <= len(m.now) {
		return
	}
	if len(m.now) < len(m.old)/2 {
		return // a command that parsed few files (the others came from a tree memo) keeps the memo whole
	}
	m.misses = 0
	var buf bytes.Buffer
	if gob.NewEncoder(&buf).Encode(yamlJSONMemoFile{Format: yamlJSONFormat, JSON: m.now}) != nil {
		return
	}
	_ = binenc.WriteFile(m.file, func(out io.Writer) error { _, err := out.Write(buf.Bytes()); return err })
}
