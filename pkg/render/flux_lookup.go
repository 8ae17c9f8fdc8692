package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"
)

// maxLookupFile bounds the files searched for a substituteFrom object: settings are small.
const maxLookupFile = 1 << 20

// fromRepository finds the ConfigMap or Secret namespace/name that a postBuild.substituteFrom
// names among the repository's files, as the Kustomization that applies this one would apply
// it: nearest first, in the directory of the Kustomization's file and below, then in each
// directory above. It returns its data (a Secret's decoded), nil when no file defines it. The
// file that does is read through the overlay and recorded as an input; a sops-encrypted Secret
// is an error (its values are not decrypted here).
func (f *fluxRender) fromRepository(kind, namespace, name string) (map[string]string, error) {
	if f.file == "" {
		return nil, nil
	}
	searched := map[string]bool{}
	for dir := path.Dir(f.file); ; dir = path.Dir(dir) {
		if data, err := f.searchDir(dir, searched, kind, namespace, name); data != nil || err != nil {
			return data, err
		}
		if dir == "." {
			return nil, nil
		}
	}
}

// searchDir searches dir and below, skipping what searched holds (and adding what it reads).
func (f *fluxRender) searchDir(dir string, searched map[string]bool, kind, namespace, name string) (map[string]string, error) {
	if searched[dir] {
		return nil, nil
	}
	searched[dir] = true
	entries, err := os.ReadDir(filepath.Join(f.root, filepath.FromSlash(dir)))
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			if data, err := f.searchDir(p, searched, kind, namespace, name); data != nil || err != nil {
				return data, err
			}
			continue
		}
		if !isManifestName(p) {
			continue
		}
		full := filepath.Join(f.root, filepath.FromSlash(p))
		b, overlaid := f.fsys.lookup(full)
		if !overlaid {
			if fi, err := e.Info(); err != nil || fi.Size() > maxLookupFile {
				continue
			}
			if b, err = os.ReadFile(full); err != nil {
				continue
			}
		}
		if !bytes.Contains(b, []byte(name)) || !bytes.Contains(b, []byte(kind)) {
			continue
		}
		objs, err := reconciler.DecodeObjects(p, b)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if o.Kind() != kind || o.Name() != name || (o.Namespace() != "" && o.Namespace() != namespace) || o.Obj.GetAPIVersion() != "v1" {
				continue
			}
			if _, err := f.fsys.ReadFile(full); err != nil { // an input of the render
				return nil, err
			}
			return objectData(o.Obj, p)
		}
	}
	return nil, nil
}

// objectData is a ConfigMap's data, or a Secret's data decoded and stringData, as the
// controller reads them for substitution.
func objectData(u *unstructured.Unstructured, file string) (map[string]string, error) {
	if _, ok := u.Object["sops"]; ok {
		return nil, fmt.Errorf("%s %s in %s is encrypted with sops, whose values the render does not decrypt; connect to the cluster", u.GetKind(), u.GetName(), file)
	}
	data := map[string]string{}
	m, _, _ := unstructured.NestedStringMap(u.Object, "data")
	for k, v := range m {
		if u.GetKind() == "Secret" {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s in %s: data.%s is not base64", u.GetKind(), u.GetName(), file, k)
			}
			v = string(b)
		}
		data[k] = v
	}
	if u.GetKind() == "Secret" {
		sd, _, _ := unstructured.NestedStringMap(u.Object, "stringData")
		for k, v := range sd {
			data[k] = v
		}
	}
	return data, nil
}
