package validate

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// isSecretKind tells whether every value of u may be secret: a Secret, or a SealedSecret (whose
// template may hold plaintext next to the sealed values).
func isSecretKind(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return (gvk.Group == "" && gvk.Kind == "Secret") || (gvk.Group == "bitnami.com" && gvk.Kind == "SealedSecret")
}

// sensitiveField matches the fields of other kinds that may hold a secret value: data,
// stringData and binaryData at the top (a ConfigMap's, a Secret-like custom kind's), the value
// of an environment variable, and an annotation's value (the last applied configuration of an
// object holds all of it; a problem with an annotation's key is on metadata.annotations).
var sensitiveField = regexp.MustCompile(`^(data|stringData|binaryData)([.\[]|$)|\.env\[\d+\]\.value$|^metadata\.annotations[.\[]`)

// redact leaves out of errs the values they may not show: all of them for a Secret or
// SealedSecret, those of fields that may hold one for other kinds. Values that a message's
// detail quotes are masked too.
func redact(u *unstructured.Unstructured, errs field.ErrorList) field.ErrorList {
	secret := isSecretKind(u)
	out := make(field.ErrorList, 0, len(errs))
	for _, e := range errs {
		c := *e
		if secret || sensitiveField.MatchString(c.Field) {
			c.BadValue = field.OmitValueType{}
		}
		if secret {
			c.Detail = scrubSecret(c.Detail, u)
		}
		out = append(out, &c)
	}
	return out
}

// secretValues are the values a Secret or SealedSecret manifest holds, as written and
// base64-decoded.
func secretValues(u *unstructured.Unstructured) []string {
	var fields [][]string
	switch u.GetKind() {
	case "Secret":
		fields = [][]string{{"data"}, {"stringData"}}
	case "SealedSecret":
		fields = [][]string{{"spec", "encryptedData"}, {"spec", "template", "data"}, {"spec", "template", "stringData"}}
	}
	var values []string
	for _, f := range fields {
		m, _, _ := unstructured.NestedFieldNoCopy(u.Object, f...)
		mm, _ := m.(map[string]any)
		for _, v := range mm {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			values = append(values, s)
			if dec, err := base64.StdEncoding.DecodeString(s); err == nil && f[len(f)-1] == "data" {
				values = append(values, string(dec))
			}
		}
	}
	return values
}

// scrubSecret masks the values of a Secret or SealedSecret manifest in a message (the API
// server's answer, a validator's detail); other kinds' messages are left alone.
func scrubSecret(msg string, u *unstructured.Unstructured) string {
	if !isSecretKind(u) {
		return msg
	}
	values := secretValues(u)
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		if len(v) >= minScrubbed {
			msg = strings.ReplaceAll(msg, v, secretMask)
		}
	}
	return msg
}

// secretMask stands for a Secret value in a message, as kubectl diff masks them.
const secretMask = "***"

// minScrubbed is the shortest value masked in messages: shorter ones would mask unrelated words.
const minScrubbed = 3
