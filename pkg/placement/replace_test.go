package placement

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// The multi-document file a SealedSecret often shares with other objects: comments, a leading
// `---`, a blank line before a separator.
const multiDoc = `# shop's objects
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  color: blue

---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db # sealed for shop
  namespace: shop
spec:
  encryptedData:
    password: AgBold
    username: AgBuser
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
`

// The encryptor's bytes, in another key order than the file's document and without its comment.
const newDoc = `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  namespace: shop
  name: db
spec:
  encryptedData:
    token: AgBtoken
    password: AgBnew
    username: AgBuser
`

func replaceInput(t *testing.T, src string, doc int) Input {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "apps", "objects.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Input{
		Root:   root,
		Target: "apps",
		Object: &render.Object{ID: render.ObjectID{Group: "bitnami.com", Kind: "SealedSecret", Namespace: "shop", Name: "db"}, Origin: render.Origin{File: "apps/objects.yaml", Doc: doc}},
		Shared: func(string) bool { return false },
	}
}

// ReplaceDocument writes the given bytes as the document, byte for byte, and leaves every other
// byte of the file as it was.
func TestReplaceDocumentSplicesTheBytesAsGiven(t *testing.T) {
	cands, err := ReplaceDocument(replaceInput(t, multiDoc, 1), []byte(newDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := multiDoc[:len("# shop's objects\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: blue\n\n---\n")] +
		newDoc + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n"
	if got := string(cands[0].Files["apps/objects.yaml"]); got != want {
		t.Errorf("file after ReplaceDocument:\n%s\nwant:\n%s", got, want)
	}
	doc, err := Document(cands[0].Files["apps/objects.yaml"], 1)
	if err != nil || string(doc) != newDoc {
		t.Errorf("Document(1) = %q, %v; want the new document", doc, err)
	}
}

func TestReplaceDocumentFirstAndLast(t *testing.T) {
	src := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n"
	for doc, want := range map[int]string{
		0: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nsops: {}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n",
		1: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\nsops: {}\n",
	} {
		name := string(rune('a' + doc))
		cands, err := ReplaceDocument(replaceInput(t, src, doc), []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: "+name+"\nsops: {}"))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(cands[0].Files["apps/objects.yaml"]); got != want {
			t.Errorf("doc %d: got\n%s\nwant\n%s", doc, got, want)
		}
	}
}

func TestDocumentSpansCountAsYAML(t *testing.T) {
	for _, tc := range []struct {
		src  string
		docs []string
	}{
		{"a: 1\n", []string{"a: 1\n"}},
		{"# c\n---\na: 1\n---\nb: 2\n", []string{"a: 1\n", "b: 2\n"}},
		{"a: 1\n---\n# only a comment\n---\nb: 2\n", []string{"a: 1\n", "# only a comment\n", "b: 2\n"}},
		{"a: 1\n--- # next\nb: 2\n", []string{"a: 1\n", "b: 2\n"}},
	} {
		for i, want := range tc.docs {
			got, err := Document([]byte(tc.src), i)
			if err != nil || string(got) != want {
				t.Errorf("Document(%q, %d) = %q, %v; want %q", tc.src, i, got, err, want)
			}
		}
	}
	if _, err := Document([]byte("--- a: 1\n--- b: 2\n"), 0); err == nil {
		t.Error("content on a separator line: want an error")
	}
}
