package placement

import "testing"

// An Argo CD kustomize.images entry is rewritten only when it renders the old image, in its own
// form: "name:tag" stays so while the name is kept, "name=newName:tag" keeps its name=.
func TestArgoImage(t *testing.T) {
	for _, tc := range []struct {
		entry, old, img, want string
		ok                    bool
	}{
		{"reg/web:1.5.0", "reg/web:1.5.0", "reg/web:1.6.0", "reg/web:1.6.0", true},
		{"reg/web:1.5.0", "reg/web:1.5.0", "reg/web-ng:1.6.0", "reg/web=reg/web-ng:1.6.0", true},
		{"reg/web=reg/web-ng:2.1.0", "reg/web-ng:2.1.0", "reg/web-ng:2.2.0", "reg/web=reg/web-ng:2.2.0", true},
		{"reg/web=reg/web-ng:2.1.0", "reg/web-ng:2.1.0", "reg/web@sha256:ab", "reg/web=reg/web@sha256:ab", true},
		{"reg/web:1.5.0", "reg/worker:1.5.0", "reg/worker:1.6.0", "", false},
		{"reg/web:1.5.0", "reg/web:1.4.0", "reg/web:1.6.0", "", false},
		{"localhost:5000/web", "localhost:5000/web:3", "localhost:5000/web:4", "localhost:5000/web:4", true},
	} {
		got, ok := argoImage(tc.entry, tc.old, tc.img)
		if got != tc.want || ok != tc.ok {
			t.Errorf("argoImage(%q, %q, %q) = %q, %v; want %q, %v", tc.entry, tc.old, tc.img, got, ok, tc.want, tc.ok)
		}
	}
}
