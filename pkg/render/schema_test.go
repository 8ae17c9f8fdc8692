package render

import (
	"testing"
)

func TestMayPatch(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"resources:\n  - a.yaml\npatches:\n  - path: p.yaml\n", true},
		{"patchesStrategicMerge:\n- p.yaml\n", true},
		{"patches: [{path: p.yaml}]\n", true},
		{"resources:\n  - a.yaml\npatches: []\n", false},
		{"resources:\n  - a.yaml\n# patches:\n#  - path: p.yaml\n", false},
		{"replicas:\n  - name: web\n    count: 2\n", false},
		{"openapi:\n  path: schema.json\npatches:\n  - path: p.yaml\n", false},
	} {
		if got := mayPatch([]byte(c.src)); got != c.want {
			t.Errorf("mayPatch(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}
