package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const testVersion = "v1.2.3"

// fakeBinary returns the first bytes of an executable for p, enough for binaryPlatform.
func fakeBinary(t *testing.T, p Platform) []byte {
	t.Helper()
	le := binary.LittleEndian
	b := make([]byte, 256)
	switch p {
	case Platform{"linux", "amd64"}, Platform{"linux", "arm64"}:
		copy(b, "\x7fELF\x02\x01\x01")
		le.PutUint16(b[18:], map[string]uint16{"amd64": 62, "arm64": 183}[p.Arch])
	case Platform{"darwin", "amd64"}, Platform{"darwin", "arm64"}:
		le.PutUint32(b, 0xfeedfacf)
		le.PutUint32(b[4:], map[string]uint32{"amd64": 0x01000007, "arm64": 0x0100000c}[p.Arch])
	case Platform{"windows", "amd64"}, Platform{"windows", "arm64"}:
		copy(b, "MZ")
		le.PutUint32(b[0x3c:], 0x80)
		copy(b[0x80:], "PE\x00\x00")
		le.PutUint16(b[0x84:], map[string]uint16{"amd64": 0x8664, "arm64": 0xaa64}[p.Arch])
	default:
		t.Fatalf("no fake binary for %s", p)
	}
	return b
}

type entry struct {
	name string
	mode int64
	data []byte
}

func validEntries(t *testing.T, p Platform) []entry {
	return []entry{
		{name: p.Bin(), mode: 0o755, data: fakeBinary(t, p)},
		{name: LicenseFile, mode: 0o644, data: []byte("Apache License 2.0\n")},
		{name: "kubectl_complete-gitops", mode: 0o755, data: []byte("#!/bin/sh\n")},
	}
}

func writeArchive(t *testing.T, dir, name string, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	if strings.HasSuffix(name, ".zip") {
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
			h.SetMode(os.FileMode(e.mode))
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, e := range entries {
			if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// validDist writes a good archive for every supported platform, plus checksums.txt.
func validDist(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range SupportedPlatforms() {
		writeArchive(t, dir, ArchiveName(testVersion, p), validEntries(t, p))
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte("ignored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testOptions() Options {
	o := DefaultOptions()
	o.Version = testVersion
	return o
}

func TestGenerateValidArchives(t *testing.T) {
	dir := validDist(t)
	out, err := Generate(testOptions(), dir, SupportedPlatforms())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	got := string(out)
	for _, want := range []string{
		"apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\nmetadata:\n  name: gitops\n",
		"  version: \"v1.2.3\"\n",
		"  homepage: \"https://github.com/kubectl-gitops/kubectl-gitops\"\n",
		"  shortDescription: \"Make kubectl changes as commits to the GitOps repository\"\n",
		"  description: |\n    kubectl gitops writes",
		"      matchLabels:\n        os: linux\n        arch: amd64\n" +
			"    uri: \"https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.3/kubectl-gitops_v1.2.3_linux_amd64.tar.gz\"\n",
		"    files:\n    - from: \"kubectl-gitops\"\n      to: \".\"\n    - from: \"LICENSE\"\n      to: \".\"\n    bin: \"kubectl-gitops\"\n",
		"    files:\n    - from: \"kubectl-gitops.exe\"\n      to: \".\"\n    - from: \"LICENSE\"\n      to: \".\"\n    bin: \"kubectl-gitops.exe\"\n",
		"/download/v1.2.3/kubectl-gitops_v1.2.3_windows_arm64.zip\"\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("manifest lacks %q; got:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "  - selector:\n"); n != 6 {
		t.Errorf("manifest has %d platforms, want 6", n)
	}
	// Platforms are sorted, so the manifest is the same whatever order the directory lists.
	osArch := regexp.MustCompile(`os: (\w+)\n        arch: (\w+)`).FindAllStringSubmatch(got, -1)
	var order []string
	for _, m := range osArch {
		order = append(order, m[1]+"/"+m[2])
	}
	if !slices.IsSorted(order) {
		t.Errorf("platforms not sorted: %v", order)
	}
	if strings.Contains(got, "\t") {
		t.Error("manifest contains a tab, which YAML does not allow for indentation")
	}
}

func TestSHA256LowercaseAndMatches(t *testing.T) {
	dir := validDist(t)
	archives, err := ScanDist(dir, testVersion, SupportedPlatforms())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(testOptions(), dir, SupportedPlatforms())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range archives {
		data, err := os.ReadFile(filepath.Join(dir, a.File))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		if a.SHA256 != want {
			t.Errorf("%s: sha256 %s, want %s", a.File, a.SHA256, want)
		}
		if a.SHA256 != strings.ToLower(a.SHA256) || len(a.SHA256) != 64 {
			t.Errorf("%s: sha256 %q is not 64 lowercase hex digits", a.File, a.SHA256)
		}
		if !strings.Contains(string(out), "/"+a.File+"\"\n    sha256: \""+want+"\"\n") {
			t.Errorf("manifest does not give %s the sha256 %s", a.File, want)
		}
	}
}

func TestRejectsArchiveWithoutLicense(t *testing.T) {
	for _, p := range []Platform{{"linux", "amd64"}, {"windows", "amd64"}} {
		dir := validDist(t)
		name := ArchiveName(testVersion, p)
		writeArchive(t, dir, name, []entry{{name: p.Bin(), mode: 0o755, data: fakeBinary(t, p)}})
		_, err := Generate(testOptions(), dir, SupportedPlatforms())
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "missing LICENSE") {
			t.Errorf("%s: got error %v, want one naming the archive and the missing LICENSE", p, err)
		}
	}
}

func TestRejectsLicenseOnlyInSubdirectory(t *testing.T) {
	dir := validDist(t)
	p := Platform{"darwin", "arm64"}
	name := ArchiveName(testVersion, p)
	writeArchive(t, dir, name, []entry{
		{name: "kubectl-gitops", mode: 0o755, data: fakeBinary(t, p)},
		{name: "docs/LICENSE", mode: 0o644, data: []byte("x")},
	})
	if _, err := Generate(testOptions(), dir, SupportedPlatforms()); err == nil || !strings.Contains(err.Error(), "missing LICENSE") {
		t.Errorf("got %v, want missing LICENSE", err)
	}
}

func TestRejectsArchiveWithoutBinary(t *testing.T) {
	dir := validDist(t)
	p := Platform{"windows", "arm64"}
	name := ArchiveName(testVersion, p)
	// A binary without .exe is not the Windows binary.
	writeArchive(t, dir, name, []entry{
		{name: "kubectl-gitops", mode: 0o755, data: fakeBinary(t, p)},
		{name: LicenseFile, mode: 0o644, data: []byte("x")},
	})
	_, err := Generate(testOptions(), dir, SupportedPlatforms())
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "missing kubectl-gitops.exe") {
		t.Errorf("got %v, want an error naming %s and the missing kubectl-gitops.exe", err, name)
	}
}

func TestRejectsWrongPlatformNaming(t *testing.T) {
	p := Platform{"linux", "amd64"}
	for _, name := range []string{
		"kubectl-gitops_v1.2.3_linux_x86_64.tar.gz",      // arch not in Go's spelling
		"kubectl-gitops_v1.2.3_Linux_amd64.tar.gz",       // os capitalised
		"kubectl-gitops_v1.2.3_linux-amd64.tar.gz",       // separator
		"kubectl-gitops_v1.2.3_freebsd_amd64.tar.gz",     // unsupported os
		"kubectl-gitops_v1.2.3_linux_amd64_v2.tar.gz",    // extra part
		"kubectl-gitops_v1.2.3_windows_amd64.tar.gz",     // windows must be zip
		"kubectl-gitops_v1.2.3_linux_amd64.zip",          // linux must be tar.gz
		"kubectl-gitops_v9.9.9_linux_amd64.tar.gz",       // other version
		"kubectl-gitops_1.2.3_linux_amd64.tar.gz",        // version without v
		"kubectl-gitops_v1.2.3_linux_amd64_extra.tar.gz", // extra part
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseArchiveName(name, testVersion); err == nil {
				t.Errorf("ParseArchiveName(%q) accepted a wrong name", name)
			}
			dir := validDist(t)
			writeArchive(t, dir, name, validEntries(t, p))
			_, err := Generate(testOptions(), dir, SupportedPlatforms())
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("Generate: got %v, want an error naming %s", err, name)
			}
		})
	}
}

func TestRejectsBinaryForAnotherPlatform(t *testing.T) {
	dir := validDist(t)
	p := Platform{"linux", "arm64"}
	name := ArchiveName(testVersion, p)
	writeArchive(t, dir, name, []entry{
		{name: "kubectl-gitops", mode: 0o755, data: fakeBinary(t, Platform{"linux", "amd64"})},
		{name: LicenseFile, mode: 0o644, data: []byte("x")},
	})
	_, err := Generate(testOptions(), dir, SupportedPlatforms())
	if err == nil || !strings.Contains(err.Error(), "built for linux/amd64, not linux/arm64") {
		t.Errorf("got %v, want a platform mismatch", err)
	}
}

func TestRejectsNonExecutableBinary(t *testing.T) {
	dir := validDist(t)
	p := Platform{"linux", "amd64"}
	entries := validEntries(t, p)
	entries[0].mode = 0o644
	writeArchive(t, dir, ArchiveName(testVersion, p), entries)
	if _, err := Generate(testOptions(), dir, SupportedPlatforms()); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Errorf("got %v, want not executable", err)
	}
}

func TestRejectsMissingPlatformAndBadVersion(t *testing.T) {
	dir := validDist(t)
	gone := ArchiveName(testVersion, Platform{"darwin", "amd64"})
	if err := os.Remove(filepath.Join(dir, gone)); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(testOptions(), dir, SupportedPlatforms()); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("got %v, want an error naming the missing %s", err, gone)
	}
	// Only the platforms asked for must be there.
	if _, err := Generate(testOptions(), dir, []Platform{{"linux", "amd64"}}); err != nil {
		t.Errorf("with only linux/amd64 required: %v", err)
	}
	o := testOptions()
	for _, v := range []string{"1.2.3", "v1.2", "v0.0.0-abc_def", "v01.2.3", "main"} {
		o.Version = v
		if _, err := Generate(o, dir, nil); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	if _, err := Generate(testOptions(), t.TempDir(), nil); err == nil {
		t.Error("empty dist accepted")
	}
}

func TestValidVersion(t *testing.T) {
	for _, v := range []string{"v0.0.0-dev", "v1.2.3", "v1.2.3-4-gabc1234", "v1.2.3-4-gabc1234-dirty", "v0.0.0-g0123abc", "v1.0.0-rc.1+build.5"} {
		if !ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = false", v)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/amd64, windows/arm64,linux/amd64")
	if err != nil || !slices.Equal(got, []Platform{{"linux", "amd64"}, {"windows", "arm64"}}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "linux", "linux/386", "plan9/amd64"} {
		if _, err := ParsePlatforms(bad); err == nil {
			t.Errorf("ParsePlatforms(%q) accepted", bad)
		}
	}
}

// The test binary itself is a real executable: its format must read as the platform it runs on.
func TestBinaryPlatformOfRealExecutable(t *testing.T) {
	self := Platform{runtime.GOOS, runtime.GOARCH}
	if !slices.Contains(SupportedPlatforms(), self) {
		t.Skipf("%s is not a release platform", self)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := binaryPlatform(data[:headSize]); !ok || got != self {
		t.Errorf("binaryPlatform(test binary) = %v, %v; want %s", got, ok, self)
	}
}
