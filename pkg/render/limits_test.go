package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bomb is a billion-laughs document: nine levels of nine aliases each.
func bomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString("  " + name + ": &" + name + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
		prev = name
	}
	return b.String()
}

func TestExpandedNodes(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want int64
	}{
		{"a: 1\n", 4},                        // document, mapping, key, value
		{"a: &x [1, 2]\nb: *x\nc: *x\n", 14}, // the sequence (3 nodes) three times, three keys, the mapping, the document
	} {
		got, err := expandedNodes([]byte(tc.doc), 1<<40)
		if err != nil || got != tc.want {
			t.Errorf("expandedNodes(%q) = %d, %v; want %d", tc.doc, got, err, tc.want)
		}
	}
	if n, _ := expandedNodes([]byte(bomb()), MaxExpandedNodes); n <= MaxExpandedNodes {
		t.Errorf("the bomb counts %d nodes, want more than %d", n, MaxExpandedNodes)
	}
}

// A render that reads an alias bomb ends at once with an error naming the file, instead of
// expanding it (kustomize would, for minutes and gigabytes); so does a file too large to read.
func TestRenderRefusesHostileFiles(t *testing.T) {
	for name, content := range map[string]string{
		"bomb.yaml": bomb(),
		"huge.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge}\ndata: {x: \"" + strings.Repeat("x", MaxInputBytes) + "\"}\n",
	} {
		dir := t.TempDir()
		files := map[string]string{
			"app/kustomization.yaml": "resources:\n  - " + name + "\n",
			"app/" + name:            content,
		}
		for p, c := range files {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Render(dir, "app", Options{})
		var in *InputError
		if !errors.As(err, &in) && (err == nil || !strings.Contains(err.Error(), "app/"+name+": ")) {
			t.Errorf("%s: render error %v, want one naming app/%s", name, err, name)
		}
	}
}
