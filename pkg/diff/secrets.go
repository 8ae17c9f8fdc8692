package diff

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The masks kubectl diff writes in place of Secret values, so output reads the same.
const (
	maskDefault = "***"
	maskBefore  = "*** (before)"
	maskAfter   = "*** (after)"
)

// lastApplied is kubectl apply's annotation: on a Secret it holds the data in clear.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// foldStringData moves a Secret manifest's stringData into data, as the API server does on
// write: stringData is never stored, so it is compared where it lands.
func foldStringData(u *unstructured.Unstructured) {
	if !isSecret(u) {
		return
	}
	sd, ok := u.Object["stringData"].(map[string]any)
	if !ok {
		delete(u.Object, "stringData")
		return
	}
	data, _ := u.Object["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	u.Object["data"] = data
	delete(u.Object, "stringData")
}

// maskSecrets masks the data values of a Secret's two sides as kubectl diff's Masker does:
// "***" everywhere, "*** (before)" and "*** (after)" where a key's value changed, so that the
// diff shows which keys changed and never what they hold. Either side may be nil.
func maskSecrets(from, to *unstructured.Unstructured) {
	maskValues(secretData(from), secretData(to))
	for _, u := range []*unstructured.Unstructured{from, to} {
		if u == nil {
			continue
		}
		if a := u.GetAnnotations(); a[lastApplied] != "" {
			a[lastApplied] = maskDefault
			u.SetAnnotations(a)
		}
	}
}

// MaskSecret masks, in place, the values of two sides of one object (either may be nil) as
// maskSecrets masks a Secret's, for a diff of rendered objects: a Secret's data, with its
// stringData folded in first as the API server stores it, and a SealedSecret's encryptedData
// (ciphertext, but masked too, so that a review shows which keys changed and not kilobytes of
// it). Other kinds are left as they are.
func MaskSecret(from, to *unstructured.Unstructured) {
	u := from
	if u == nil {
		u = to
	}
	switch {
	case u == nil:
	case isSecret(u):
		for _, side := range []*unstructured.Unstructured{from, to} {
			if side != nil {
				foldStringData(side)
			}
		}
		maskSecrets(from, to)
	case u.GroupVersionKind().Group == "bitnami.com" && u.GetKind() == "SealedSecret":
		sealed := func(u *unstructured.Unstructured) map[string]any {
			if u == nil {
				return nil
			}
			m, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "encryptedData")
			data, _ := m.(map[string]any)
			return data
		}
		maskValues(sealed(from), sealed(to))
	}
}

// maskValues masks the values of two sides of a map of secret values, in place.
func maskValues(fromData, toData map[string]any) {
	for k, fv := range fromData {
		if tv, ok := toData[k]; ok {
			if fv != tv {
				fromData[k], toData[k] = maskBefore, maskAfter
				continue
			}
			toData[k] = maskDefault
		}
		fromData[k] = maskDefault
	}
	for k := range toData {
		if _, ok := fromData[k]; !ok {
			toData[k] = maskDefault
		}
	}
}

func secretData(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	data, _ := u.Object["data"].(map[string]any)
	return data
}

// maskFields masks the values of a Secret's differing data fields.
func maskFields(fields []Field) {
	for i, f := range fields {
		if !strings.HasPrefix(f.Path, ".data") && !strings.HasPrefix(f.Path, ".stringData") &&
			!strings.HasPrefix(f.Path, ".metadata.annotations."+lastApplied) {
			continue
		}
		switch {
		case f.Path == ".data" || f.Path == ".stringData":
			fields[i].Want, fields[i].Live = maskMap(f.Want), maskMap(f.Live)
		case !f.wantAbsent && !f.liveAbsent:
			fields[i].Want, fields[i].Live = maskAfter, maskBefore
		case !f.wantAbsent:
			fields[i].Want = maskDefault
		default:
			fields[i].Live = maskDefault
		}
	}
}

func maskMap(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return nil
		}
		return maskDefault
	}
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = maskDefault
	}
	return out
}

// scrubSecret replaces the values of a Secret manifest (as written and base64-decoded) in a
// message with the mask: an error about the object must not print what it holds.
func scrubSecret(msg string, u *unstructured.Unstructured) string {
	var values []string
	for _, field := range []string{"data", "stringData"} {
		m, _ := u.Object[field].(map[string]any)
		for _, v := range m {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			values = append(values, s)
			if field == "data" {
				if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
					values = append(values, string(dec))
				}
			}
		}
	}
	// Longest first, so that a value containing another is masked whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		if len(v) >= minScrubbed {
			msg = strings.ReplaceAll(msg, v, maskDefault)
		}
	}
	return msg
}

// minScrubbed is the shortest value scrubbed from messages: shorter ones would mask unrelated
// words and tell little.
const minScrubbed = 3
