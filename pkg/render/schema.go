package render

import (
	"bytes"
	"path/filepath"
	"sync"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// warmSchema starts parsing the OpenAPI definitions on another core, once per process: a render
// calls it on reading a kustomization with patches, so the parse overlaps the reading of the
// resources the patches apply to. A render without patches never needs it.
var warmSchema = sync.OnceFunc(func() { go openapi.Schema() })

// isKustomizationFile reports whether path is named as a kustomization is.
func isKustomizationFile(path string) bool {
	base := filepath.Base(path)
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if base == n {
			return true
		}
	}
	return false
}

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
