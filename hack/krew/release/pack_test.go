package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func stage(t *testing.T, p Platform) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range validEntries(t, p) {
		if err := os.WriteFile(filepath.Join(dir, e.name), e.data, os.FileMode(e.mode)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPackIsReproducibleAndPassesCheck(t *testing.T) {
	mtime := time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
	for _, p := range []Platform{{"linux", "arm64"}, {"windows", "amd64"}} {
		dir := stage(t, p)
		files := []string{LicenseFile, "kubectl_complete-gitops", p.Bin()} // unsorted on purpose
		out := t.TempDir()
		a := filepath.Join(out, ArchiveName(testVersion, p))
		if err := Pack(a, dir, files, mtime); err != nil {
			t.Fatalf("%s: Pack: %v", p, err)
		}
		first, _ := os.ReadFile(a)
		// Other mtimes and listing order on disk must not change the bytes.
		for _, n := range files {
			if err := os.Chtimes(filepath.Join(dir, n), time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		b := filepath.Join(t.TempDir(), ArchiveName(testVersion, p))
		if err := Pack(b, dir, []string{p.Bin(), "kubectl_complete-gitops", LicenseFile}, mtime); err != nil {
			t.Fatal(err)
		}
		second, _ := os.ReadFile(b)
		if !bytes.Equal(first, second) {
			t.Errorf("%s: two packs of the same files differ", p)
		}
		if _, err := CheckArchive(a, p); err != nil {
			t.Errorf("%s: CheckArchive on a packed archive: %v", p, err)
		}
	}
}

func TestPackTarHeaders(t *testing.T) {
	p := Platform{"linux", "amd64"}
	dir := stage(t, p)
	a := filepath.Join(t.TempDir(), "x.tar.gz")
	mtime := time.Unix(1767225600, 0)
	if err := Pack(a, dir, []string{p.Bin(), LicenseFile, "kubectl_complete-gitops"}, mtime); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q / time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		want := int64(0o644)
		if h.Name != LicenseFile {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
	if want := []string{LicenseFile, p.Bin(), "kubectl_complete-gitops"}; !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
}

func TestPackRejects(t *testing.T) {
	dir := stage(t, Platform{"linux", "amd64"})
	out := t.TempDir()
	for name, c := range map[string]struct {
		out   string
		files []string
	}{
		"bad extension": {"x.tgz", []string{LicenseFile}},
		"missing file":  {"x.tar.gz", []string{"nope"}},
		"path":          {"x.tar.gz", []string{"../LICENSE"}},
		"twice":         {"x.zip", []string{LicenseFile, LicenseFile}},
		"none":          {"x.zip", nil},
	} {
		if err := Pack(filepath.Join(out, c.out), dir, c.files, time.Unix(0, 0)); err == nil {
			t.Errorf("%s: Pack succeeded", name)
		}
		if _, err := os.Stat(filepath.Join(out, c.out)); err == nil {
			t.Errorf("%s: a failed Pack left %s behind", name, c.out)
		}
	}
}
