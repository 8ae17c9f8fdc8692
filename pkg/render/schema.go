package render

import (
	"bytes"
	"path/filepath"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/openapi/kubernetesapi"
)

// Kustomize merges a strategic-merge patch along Kubernetes' OpenAPI definitions, which kyaml
// parses from the document built into it (Kubernetes v1.21.2) the first time a patch is applied:
// about a tenth of a second of CPU, two thirds of it in the document's API paths. kyaml reads the
// paths only to tell namespaced kinds from cluster-wide ones, and for the built-in document it
// answers that from a table computed from those same paths instead (kyaml's tests keep the two
// equal; schema_test.go checks it here). So the render hands kyaml the document without its
// paths: the definitions, which decide how every patch merges, are the same bytes, and a render
// equals `kubectl kustomize`'s.
func init() {
	version := kubernetesapi.DefaultOpenAPI
	asset, ok := kubernetesapi.OpenAPIMustAsset[version]
	if !ok {
		return
	}
	kubernetesapi.OpenAPIMustAsset[version] = func(name string) []byte {
		return withoutPaths(asset(name))
	}
}

// documentPaths is the field number of paths in gnostic's openapi_v2.Document, the message the
// built-in document is encoded as.
const documentPaths protowire.Number = 8

// withoutPaths removes the top-level paths field from an encoded openapi_v2.Document; anything
// it cannot read is returned as it is.
func withoutPaths(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for rest := doc; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return doc
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return doc
		}
		if num != documentPaths {
			out = append(out, rest[:n+m]...)
		}
		rest = rest[n+m:]
	}
	return out
}

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
