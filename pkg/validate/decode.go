package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
)

// strictDecoder decodes built-in kinds into their typed structs and refuses unknown and
// duplicate fields, as the API server's strict field validation does. Its JSON decoder refuses
// numbers out of a field's range (2147483648 for an int32) like values of the wrong type.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, clientgoscheme.Scheme, clientgoscheme.Scheme,
	kjson.SerializerOptions{Strict: true})

// maxDecodeErrors bounds the decoding passes over one object: each pass finds one value of the
// wrong type, which the next pass leaves out.
const maxDecodeErrors = 20

// decodeBuiltin decodes an object of a kind client-go knows into its typed struct, as the API
// server decodes a request. The decoder stops at the first value of the wrong type; each is
// reported with its path and left out for the next pass, so that one run finds them all. typed
// is the object decoded without those values (nil when it could not be decoded); builtin tells
// whether the kind is one client-go knows.
func decodeBuiltin(u *unstructured.Unstructured, def string, unplaced [][]any) (typed runtime.Object, errs field.ErrorList, builtin bool) {
	gvk := u.GroupVersionKind()
	if !clientgoscheme.Scheme.Recognizes(gvk) {
		return nil, nil, false
	}
	content := runtime.DeepCopyJSON(u.Object)
	// Invalid quantities and base64 data stop the decoder without saying where: the schema
	// walk reports them with their paths, and they are left out here.
	for _, p := range unplaced {
		removePath(content, p)
	}
	for range maxDecodeErrors {
		data, err := json.Marshal(content)
		if err != nil {
			return nil, append(errs, field.InternalError(nil, err)), true
		}
		obj, _, err := strictDecoder.Decode(data, &gvk, nil)
		if err == nil {
			return obj, errs, true
		}
		if strict, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range strict.Errors() {
				errs = append(errs, strictError(e))
			}
			return obj, errs, true
		}
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, append(errs, &field.Error{Type: field.ErrorTypeInvalid, Detail: err.Error(), BadValue: field.OmitValueType{}}), true
		}
		path, value, ok := locate(data, te)
		if !ok {
			// A custom decoder's error (an IntOrString, a Time) carries its own offsets.
			return nil, append(errs, field.Invalid(field.NewPath(te.Field), field.OmitValueType{}, typeDetail(te.Type))), true
		}
		errs = append(errs, field.Invalid(toFieldPath(withMapKeys(def, path)), value, typeDetail(te.Type)))
		removePath(content, path)
	}
	return nil, errs, true
}

// decodeMetadata decodes the metadata of a kind client-go does not know strictly, as the API
// server decodes every object's metadata: unknown fields and values of the wrong type.
func decodeMetadata(u *unstructured.Unstructured) field.ErrorList {
	m, ok := u.Object["metadata"]
	if !ok || m == nil {
		return nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	var om metav1.ObjectMeta
	strict, err := sigsjson.UnmarshalStrict(data, &om)
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		path, value, ok := locate(data, te)
		if !ok {
			return field.ErrorList{field.Invalid(field.NewPath("metadata"), field.OmitValueType{}, err.Error())}
		}
		return field.ErrorList{field.Invalid(toFieldPath(append([]any{"metadata"}, withMapKeys(objectMetaDefinition, path)...)), value, typeDetail(te.Type))}
	case err != nil:
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), field.OmitValueType{}, err.Error())}
	}
	var errs field.ErrorList
	for _, e := range strict {
		errs = append(errs, strictError(prefixField(e, "metadata")))
	}
	return errs
}

// prefixField puts a parent in front of a strict decoding error's field:
// `unknown field "lables"` under metadata is `unknown field "metadata.lables"`.
func prefixField(err error, parent string) error {
	msg := err.Error()
	for _, kind := range []string{`unknown field "`, `duplicate field "`} {
		if rest, ok := strings.CutPrefix(msg, kind); ok {
			return errors.New(kind + parent + "." + rest)
		}
	}
	return err
}

// originStrict marks the field errors of strict decoding, whose message is the API server's
// as it is: `strict decoding error: unknown field "spec.foo"`.
const originStrict = "strictDecoding"

// strictError turns one strict decoding error (`unknown field "spec.foo"`) into a field error
// on that field.
func strictError(err error) *field.Error {
	msg := err.Error()
	var f string
	if _, rest, ok := strings.Cut(msg, `field "`); ok {
		f, _, _ = strings.Cut(rest, `"`)
	}
	return &field.Error{Type: field.ErrorTypeInvalid, Field: f, BadValue: field.OmitValueType{}, Detail: "strict decoding error: " + msg, Origin: originStrict}
}

// message is a field error as the API server writes it.
func message(e *field.Error) string {
	switch {
	case e.Origin == originStrict:
		return e.Detail
	case e.Field == "":
		return e.ErrorBody()
	}
	return e.Error()
}

// typeDetail says what a field of Go type t takes.
func typeDetail(t reflect.Type) string {
	if t == nil {
		return "has the wrong type"
	}
	switch t.Kind() {
	case reflect.Int32:
		return fmt.Sprintf("must be an int32 (an integer from %d to %d)", math.MinInt32, math.MaxInt32)
	case reflect.Int64, reflect.Int:
		return fmt.Sprintf("must be an int64 (an integer from %d to %d)", int64(math.MinInt64), int64(math.MaxInt64))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint, reflect.Int8, reflect.Int16:
		return "must be an integer in the range of " + t.Kind().String()
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be a boolean"
	case reflect.Map, reflect.Struct:
		return "must be an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "must be a base64-encoded string"
		}
		return "must be an array"
	}
	return "must be of type " + t.String()
}

// locate finds the value a type error is about in the JSON document data: the value whose
// literal (or opening bracket) ends at the error's offset. It returns the value's path (string
// keys, int indices) and the value for a scalar, or a placeholder naming its JSON type for an
// object or array. ok is false when nothing ends there or the path disagrees with the field the
// error names (a custom decoder's error, whose offset counts from the start of its own value).
func locate(data []byte, te *json.UnmarshalTypeError) (path []any, value any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object  bool
		wantKey bool
		key     string
		index   int
	}
	var stack []*frame
	current := func() []any {
		p := make([]any, 0, len(stack))
		for _, f := range stack {
			if f.object {
				p = append(p, f.key)
			} else {
				p = append(p, f.index)
			}
		}
		return p
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	found := func(v any) ([]any, any, bool) {
		p := current()
		// The error's field has no indices, and no key below a map.
		if d := dotted(p); d != te.Field && !strings.HasPrefix(d, te.Field+".") {
			return nil, nil, false
		}
		return p, v, true
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if key, isKey := tok.(string); isKey {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if dec.InputOffset() == te.Offset {
					return found(field.OmitValueType{})
				}
				stack = append(stack, &frame{object: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		default:
			if dec.InputOffset() == te.Offset {
				return found(scalar(tok))
			}
			valueDone()
		}
	}
}

// scalar is a JSON literal as a field error prints it: integers as int64 when they fit, other
// numbers as their literal.
func scalar(tok json.Token) any {
	if n, ok := tok.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		return n
	}
	return tok
}

// dotted is a path's keys joined by dots, without indices: how a JSON type error names a field.
func dotted(path []any) string {
	var keys []string
	for _, s := range path {
		switch k := s.(type) {
		case string:
			keys = append(keys, k)
		case mapKey:
			keys = append(keys, string(k))
		}
	}
	return strings.Join(keys, ".")
}

// toFieldPath writes a path as the API server does: spec.containers[0].image.
func toFieldPath(path []any) *field.Path {
	var p *field.Path
	for _, s := range path {
		switch s := s.(type) {
		case string:
			if p == nil {
				p = field.NewPath(s)
			} else {
				p = p.Child(s)
			}
		case mapKey:
			p = p.Key(string(s))
		case int:
			p = p.Index(s)
		}
	}
	return p
}

// removePath leaves the value at path out of a JSON object: a key is deleted, an array
// element becomes null so that the indices after it stay.
func removePath(obj map[string]any, path []any) {
	var cur any = obj
	for i, s := range path {
		last := i == len(path)-1
		if k, ok := s.(mapKey); ok {
			s = string(k)
		}
		switch s := s.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return
			}
			if last {
				delete(m, s)
				return
			}
			cur = m[s]
		case int:
			a, ok := cur.([]any)
			if !ok || s >= len(a) {
				return
			}
			if last {
				a[s] = nil
				return
			}
			cur = a[s]
		}
	}
}
