package yamledit

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ScalarNode returns a scalar node for a string, integer, boolean, float or
// nil, tagged so that Set writes it as that type: ScalarNode("5") is the
// string "5" (written quoted), ScalarNode(5) the integer. Other types panic.
func ScalarNode(v any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	if v == nil {
		n.Tag, n.Value = "!!null", "null"
		return n
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		n.Tag, n.Value = "!!str", rv.String()
	case reflect.Bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.Tag, n.Value = "!!int", strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n.Tag, n.Value = "!!int", strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		n.Tag, n.Value = "!!float", formatFloat(rv.Float(), rv.Type().Bits())
	case reflect.Pointer:
		if rv.IsNil() {
			n.Tag, n.Value = "!!null", "null"
			return n
		}
		return ScalarNode(rv.Elem().Interface())
	default:
		panic(fmt.Sprintf("yamledit.ScalarNode: unsupported type %T", v))
	}
	return n
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	// 5 would read back as an integer.
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
