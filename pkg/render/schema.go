package render

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// warmSchema starts parsing the OpenAPI definitions on another core, once per process: a render
// calls it on reading a kustomization with patches, so the parse overlaps the reading of the
// resources the patches apply to. A render without patches never needs it.
var warmSchema = sync.OnceFunc(func() { go openapi.Schema() })

// schemaMarker, a file among the cache's entries, says the last render stored merged patches
// by the built-in schema (patchesNeedSchema of all it read): the next Load for a render starts
// parsing the schema before it reads the entry (warmMarkedSchema), milliseconds earlier than
// the entry's inputs can tell. Only when the parse starts depends on it.
const schemaMarker = "render-schema-used"

// warmMarkedSchema starts parsing kyaml's built-in OpenAPI schema on another core when the
// last render the cache stored needed it. A cache without the marker (a repository whose
// renders merge no patches) costs one stat.
func (c Cache) warmMarkedSchema() {
	if c.Dir == "" {
		return
	}
	if _, err := os.Lstat(filepath.Join(c.Dir, schemaMarker)); err == nil {
		warmSchema()
	}
}

// markSchema leaves the marker in the cache when a render that read inputs needs the schema,
// and removes it otherwise.
func (c Cache) markSchema(inputs []inputStamp) error {
	marker := filepath.Join(c.Dir, schemaMarker)
	_, err := os.Lstat(marker)
	switch need := patchesNeedSchema(inputs, nil); {
	case need && errors.Is(err, fs.ErrNotExist):
		return os.WriteFile(marker, nil, 0o666)
	case !need && err == nil:
		return os.Remove(marker)
	}
	return nil
}

// patchesNeedSchema reports whether a render of the files a cached render read, inputs (with
// their contents as they are now but for those in changed), merges patches by the built-in
// schema: a kustomization among them may hold patches, and none may choose its own schema
// (kyaml adds a schema set later to the one parsed, so parsing the built-in one early must be
// harmless). When a kustomization changed since, the render's own reading decides (see
// warmSchema).
func patchesNeedSchema(inputs []inputStamp, changed map[string][]byte) bool {
	patches := false
	for _, in := range inputs {
		if !reach.IsFileName(filepath.Base(in.Path)) {
			continue
		}
		if _, ok := changed[in.Path]; ok || mayChooseSchema(in.Content) {
			return false
		}
		patches = patches || mayPatch(in.Content)
	}
	return patches
}

// mayChooseSchema reports whether a kustomization's text may set its own OpenAPI schema: it
// mentions openapi anywhere (a top-level openapi: key, or one in flow or JSON style).
func mayChooseSchema(src []byte) bool { return bytes.Contains(src, []byte("openapi")) }

// mayPatch reports whether a kustomization's text may hold patches: a top-level patches or
// patchesStrategicMerge key with something other than an empty list. A kustomization choosing its
// own OpenAPI schema (openapi:) is left to kustomize, which sets that schema before parsing.
func mayPatch(src []byte) bool {
	found := false
	for line := range bytes.Lines(src) {
		switch {
		case bytes.HasPrefix(line, []byte("openapi:")):
			return false
		case bytes.HasPrefix(line, []byte("patches:")), bytes.HasPrefix(line, []byte("patchesStrategicMerge:")):
			_, v, _ := bytes.Cut(line, []byte(":"))
			if v = bytes.TrimSpace(v); !bytes.Equal(v, []byte("[]")) && !bytes.Equal(v, []byte("null")) {
				found = true
			}
		}
	}
	return found
}
