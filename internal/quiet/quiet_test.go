package quiet

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/klog/v2"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// With the libraries quieted, a kustomize build of a kustomization with deprecated fields, a
// klog error and the standard logger leave stderr as it was; a line written to os.Stderr by
// anything else still reaches it, in order.
func TestLibrariesKeepsStderrForTheCommand(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	defer func() { os.Stderr = saved }()

	stop := Libraries(f)
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/k/kustomization.yaml", []byte("commonLabels: {app: web}\npatchesStrategicMerge: []\nresources: [cm.yaml]\n")); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("/k/cm.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "before")
	if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/k"); err != nil {
		t.Fatal(err)
	}
	klog.ErrorS(errors.New("connection refused"), "unable to reach the cluster")
	log.Print("a library's log line")
	fmt.Fprintln(os.Stderr, "after")
	stop()

	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if want := "before\nafter\n"; string(got) != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
}
