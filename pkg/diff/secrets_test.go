package diff

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret(data map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}}}
	if data != nil {
		u.Object["data"] = data
	}
	return u
}

// TestMaskLikeKubectl: the masks are those of kubectl diff's Masker (k8s.io/kubectl/pkg/cmd/diff),
// key for key: "***" for a value on one side or the same on both, "*** (before)" and
// "*** (after)" for a changed one.
func TestMaskLikeKubectl(t *testing.T) {
	cases := []struct{ from, to, wantFrom, wantTo map[string]any }{
		{
			from:     map[string]any{"same": "YQ==", "changed": "Yg==", "gone": "Yw=="},
			to:       map[string]any{"same": "YQ==", "changed": "ZA==", "new": "ZQ=="},
			wantFrom: map[string]any{"same": "***", "changed": "*** (before)", "gone": "***"},
			wantTo:   map[string]any{"same": "***", "changed": "*** (after)", "new": "***"},
		},
		{from: map[string]any{"a": "YQ=="}, wantFrom: map[string]any{"a": "***"}},
		{to: map[string]any{"a": "YQ=="}, wantTo: map[string]any{"a": "***"}},
	}
	for _, c := range cases {
		from, to := secret(c.from), secret(c.to)
		maskSecrets(from, to)
		if got := secretData(from); !reflect.DeepEqual(got, nilIfEmpty(c.wantFrom)) {
			t.Errorf("from: got %v, want %v", got, c.wantFrom)
		}
		if got := secretData(to); !reflect.DeepEqual(got, nilIfEmpty(c.wantTo)) {
			t.Errorf("to: got %v, want %v", got, c.wantTo)
		}
	}
	live := secret(map[string]any{"a": "YQ=="})
	live.SetAnnotations(map[string]string{lastApplied: `{"data":{"a":"YQ=="}}`})
	maskSecrets(live, nil)
	if got := live.GetAnnotations()[lastApplied]; got != "***" {
		t.Errorf("last-applied-configuration shown as %q", got)
	}
}

func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func TestMaskFields(t *testing.T) {
	fields := []Field{
		{Path: ".data.changed", Want: "Yg==", Live: "YQ=="},
		{Path: ".data.new", Want: "Yg==", liveAbsent: true},
		{Path: ".data.gone", Live: "YQ==", wantAbsent: true},
		{Path: ".data", Want: map[string]any{"a": "YQ=="}, liveAbsent: true},
		{Path: ".metadata.labels.app", Want: "web", Live: "api"},
	}
	maskFields(fields)
	want := []string{
		".data.changed: *** (before) -> *** (after)",
		".data.new: (absent) -> ***",
		".data.gone: *** -> (absent)",
		".data: (absent) -> map[a:***]",
		".metadata.labels.app: api -> web",
	}
	for i, f := range fields {
		if f.String() != want[i] {
			t.Errorf("got %q, want %q", f.String(), want[i])
		}
	}
}

func TestFoldStringData(t *testing.T) {
	s := secret(map[string]any{"a": "YQ=="})
	s.Object["stringData"] = map[string]any{"b": "b", "a": "override"}
	foldStringData(s)
	want := map[string]any{"a": "b3ZlcnJpZGU=", "b": "Yg=="}
	if !reflect.DeepEqual(s.Object["data"], want) || s.Object["stringData"] != nil {
		t.Errorf("folded %v, want data %v and no stringData", s.Object, want)
	}
}

func TestScrubSecret(t *testing.T) {
	s := secret(map[string]any{"a": "aHVudGVyMg=="}) // hunter2
	s.Object["stringData"] = map[string]any{"b": "correct horse", "n": int64(12345)}
	msg := `Secret "s" is invalid: data[a]: aHVudGVyMg== (hunter2), stringData[b]: correct horse, 12345`
	got := scrubSecret(msg, s)
	want := `Secret "s" is invalid: data[a]: *** (***), stringData[b]: ***, ***`
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
