package placement

import "testing"

// Change strings show maps and lists as YAML flow collections, never in Go's map syntax, and a
// text of several lines by the lines that changed.
func TestFieldChangeString(t *testing.T) {
	env := Path{{Key: "env"}, {MergeKey: "name", Value: "A"}}
	conf := Path{{Key: "data"}, {Key: "app.properties"}}
	cases := []struct {
		c    FieldChange
		want string
	}{
		{FieldChange{Path: env, New: map[string]any{"name": "A", "value": "8"}, Added: true}, `env[name=A]: (unset) → {name: A, value: "8"}`},
		{FieldChange{Path: env, Old: map[string]any{"name": "A", "value": "x"}, Delete: true}, `env[name=A]: {name: A, value: x} → (removed)`},
		{FieldChange{Path: Path{{Key: "args"}}, Old: []any{"--port", "8080"}, New: []any{"--port", "9090", int64(1)}}, `args: [--port, "8080"] → [--port, "9090", 1]`},
		{FieldChange{Path: Path{{Key: "spec"}}, Old: map[string]any{"a": map[string]any{"b": []any{"c"}}}, New: map[string]any{}}, `spec: {a: {b: [c]}} → {}`},
		{FieldChange{Path: conf, Old: "a=1\nb=2\nc=3\n", New: "a=1\nb=20\nc=3\n"}, `data["app.properties"]: line 2: b=2 → b=20`},
		{FieldChange{Path: conf, Old: "a=1\nb=2\n", New: "a=1\nb=2\nc=3\n"}, `data["app.properties"]: line 3: (unset) → c=3`},
		{FieldChange{Path: conf, New: "a=1\nb=2\n", Added: true}, `data["app.properties"]: (unset) → "a=1\nb=2\n"`},
		{FieldChange{Path: Path{{Key: "replicas"}}, Old: int64(2), New: int64(3)}, `replicas: 2 → 3`},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
