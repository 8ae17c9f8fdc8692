// Package release packs the release archives for hack/dist.sh (Pack) and turns
// them into the krew plugin manifest, krew/gitops.yaml (Generate). It checks
// every archive before it lists it: the name must say a supported platform, and
// the archive must hold LICENSE and the plugin binary built for that platform.
package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

const (
	// PluginName is the name krew installs the plugin under (`kubectl gitops`).
	PluginName = "gitops"
	// BinaryName is the plugin executable inside each archive (plus ".exe" on Windows).
	BinaryName = "kubectl-gitops"
	// LicenseFile must be at the top of every archive.
	LicenseFile = "LICENSE"

	apiVersion = "krew.googlecontainertools.github.com/v1alpha2"
	// semverPattern is Semantic Versioning 2.0 with the leading "v" krew requires.
	semverPattern = `^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
		`(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?` +
		`(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`
)

// Platform is one os/arch pair, spelled as Go (and krew) spell them.
type Platform struct {
	OS   string
	Arch string
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Bin is the name of the plugin binary for the platform.
func (p Platform) Bin() string {
	if p.OS == "windows" {
		return BinaryName + ".exe"
	}
	return BinaryName
}

// Ext is the archive extension hack/dist.sh uses for the platform.
func (p Platform) Ext() string {
	if p.OS == "windows" {
		return ".zip"
	}
	return ".tar.gz"
}

// ArchiveName is the file name hack/dist.sh gives the platform's archive.
func ArchiveName(version string, p Platform) string {
	return fmt.Sprintf("%s_%s_%s_%s%s", BinaryName, version, p.OS, p.Arch, p.Ext())
}

// SupportedPlatforms are the platforms a release is built for.
func SupportedPlatforms() []Platform {
	var out []Platform
	for _, goos := range []string{"darwin", "linux", "windows"} {
		for _, arch := range []string{"amd64", "arm64"} {
			out = append(out, Platform{OS: goos, Arch: arch})
		}
	}
	return out
}

// ParsePlatforms reads a list such as "linux/amd64,darwin/arm64".
func ParsePlatforms(s string) ([]Platform, error) {
	var out []Platform
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		goos, arch, ok := strings.Cut(f, "/")
		p := Platform{OS: goos, Arch: arch}
		if !ok || !slices.Contains(SupportedPlatforms(), p) {
			return nil, fmt.Errorf("unsupported platform %q (supported: %v)", f, SupportedPlatforms())
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no platforms given")
	}
	return out, nil
}

// ValidVersion reports whether v is a "v"-prefixed semantic version, as krew requires.
func ValidVersion(v string) bool {
	return regexp.MustCompile(semverPattern).MatchString(v)
}

// Archive is one checked release archive.
type Archive struct {
	Platform
	File   string // base name, e.g. kubectl-gitops_v1.2.3_linux_amd64.tar.gz
	SHA256 string // lowercase hex of the archive's bytes
}

// ParseArchiveName returns the platform an archive's file name says, and an
// error when the name does not follow hack/dist.sh's naming for version.
func ParseArchiveName(name, version string) (Platform, error) {
	var ext string
	switch {
	case strings.HasSuffix(name, ".tar.gz"):
		ext = ".tar.gz"
	case strings.HasSuffix(name, ".zip"):
		ext = ".zip"
	default:
		return Platform{}, fmt.Errorf("archive %s: not a .tar.gz or .zip", name)
	}
	rest, ok := strings.CutPrefix(strings.TrimSuffix(name, ext), BinaryName+"_")
	parts := strings.Split(rest, "_")
	if !ok || len(parts) != 3 {
		return Platform{}, fmt.Errorf("archive %s: name must be %s_<version>_<os>_<arch>%s", name, BinaryName, ext)
	}
	if parts[0] != version {
		return Platform{}, fmt.Errorf("archive %s: is for version %q, not %q", name, parts[0], version)
	}
	p := Platform{OS: parts[1], Arch: parts[2]}
	if !slices.Contains(SupportedPlatforms(), p) {
		return Platform{}, fmt.Errorf("archive %s: unsupported platform %s (supported: %v)", name, p, SupportedPlatforms())
	}
	if p.Ext() != ext {
		return Platform{}, fmt.Errorf("archive %s: %s archives must be %s, not %s", name, p, p.Ext(), ext)
	}
	return p, nil
}

// ScanDist finds and checks the archives for version in dir. Files that are not
// named kubectl-gitops_*.tar.gz or kubectl-gitops_*.zip (checksums.txt, ...) are
// ignored; a badly named archive, a missing platform of required, or an archive
// without LICENSE or the right binary is an error.
func ScanDist(dir, version string, required []Platform) ([]Archive, error) {
	if !ValidVersion(version) {
		return nil, fmt.Errorf("version %q is not a v-prefixed semantic version (e.g. v1.2.3)", version)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading dist directory: %w", err)
	}
	var out []Archive
	var errs []error
	seen := map[Platform]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, BinaryName+"_") ||
			!(strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip")) {
			continue
		}
		p, err := ParseArchiveName(name, version)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("archive %s: a second archive for %s", name, p))
			continue
		}
		seen[p] = true
		sum, err := CheckArchive(filepath.Join(dir, name), p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Archive{Platform: p, File: name, SHA256: sum})
	}
	for _, p := range required {
		if !seen[p] {
			errs = append(errs, fmt.Errorf("archive %s for %s is missing from %s", ArchiveName(version, p), p, dir))
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no %s_%s_*.tar.gz/.zip archives in %s", BinaryName, version, dir))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Archive) int { return strings.Compare(a.Platform.String(), b.Platform.String()) })
	return out, nil
}

// archiveFile is what CheckArchive learns about one regular file in an archive.
type archiveFile struct {
	exec bool   // tar: some execute bit set (zip does not record it reliably)
	head []byte // first bytes, enough to tell the binary's format
}

// CheckArchive checks that the archive at file holds LICENSE and the plugin
// binary for p at its top level, and returns the archive's lowercase sha256.
func CheckArchive(file string, p Platform) (string, error) {
	name := filepath.Base(file)
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", name, err)
	}
	var files map[string]archiveFile
	if strings.HasSuffix(name, ".zip") {
		files, err = listZip(data)
	} else {
		files, err = listTarGz(data)
	}
	if err != nil {
		return "", fmt.Errorf("archive %s: unreadable: %w", name, err)
	}
	var missing []string
	for _, want := range []string{p.Bin(), LicenseFile} {
		if _, ok := files[want]; !ok {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("archive %s: missing %s at the top level of the archive", name, strings.Join(missing, " and "))
	}
	bin := files[p.Bin()]
	if !strings.HasSuffix(name, ".zip") && !bin.exec {
		return "", fmt.Errorf("archive %s: %s is not executable", name, p.Bin())
	}
	if got, ok := binaryPlatform(bin.head); !ok {
		return "", fmt.Errorf("archive %s: %s is not an executable for %s (unknown format)", name, p.Bin(), p)
	} else if got != p {
		return "", fmt.Errorf("archive %s: %s is built for %s, not %s", name, p.Bin(), got, p)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

const headSize = 4096

func cleanEntryName(name string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("unsafe entry name %q", name)
	}
	return clean, nil
}

func listTarGz(data []byte) (map[string]archiveFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string]archiveFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		name, err := cleanEntryName(h.Name)
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		head := make([]byte, headSize)
		n, err := io.ReadFull(tr, head)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, err
		}
		files[name] = archiveFile{exec: h.Mode&0o111 != 0, head: head[:n]}
	}
}

func listZip(data []byte) (map[string]archiveFile, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	files := map[string]archiveFile{}
	for _, f := range zr.File {
		name, err := cleanEntryName(f.Name)
		if err != nil {
			return nil, err
		}
		if !f.Mode().IsRegular() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		head := make([]byte, headSize)
		n, err := io.ReadFull(rc, head)
		_ = rc.Close()
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, err
		}
		files[name] = archiveFile{exec: f.Mode()&0o111 != 0, head: head[:n]}
	}
	return files, nil
}

// binaryPlatform tells the os/arch of an ELF, Mach-O or PE executable from its first bytes.
func binaryPlatform(head []byte) (Platform, bool) {
	le := binary.LittleEndian
	switch {
	case len(head) >= 20 && bytes.HasPrefix(head, []byte("\x7fELF")) && head[5] == 1: // little-endian ELF
		switch le.Uint16(head[18:]) {
		case 62:
			return Platform{"linux", "amd64"}, true
		case 183:
			return Platform{"linux", "arm64"}, true
		}
	case len(head) >= 8 && le.Uint32(head) == 0xfeedfacf: // 64-bit Mach-O
		switch le.Uint32(head[4:]) {
		case 0x01000007:
			return Platform{"darwin", "amd64"}, true
		case 0x0100000c:
			return Platform{"darwin", "arm64"}, true
		}
	case len(head) >= 0x40 && bytes.HasPrefix(head, []byte("MZ")):
		off := int(le.Uint32(head[0x3c:]))
		if off+6 > len(head) || !bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return Platform{}, false
		}
		switch le.Uint16(head[off+4:]) {
		case 0x8664:
			return Platform{"windows", "amd64"}, true
		case 0xaa64:
			return Platform{"windows", "arm64"}, true
		}
	}
	return Platform{}, false
}

// Options say what goes into the manifest besides the archives.
type Options struct {
	Version          string
	URLTemplate      string // text/template over .Version .File .OS .Arch
	Homepage         string
	ShortDescription string
	Description      string
}

// DefaultOptions are the plugin's krew texts.
func DefaultOptions() Options {
	return Options{
		URLTemplate:      "https://github.com/kubectl-gitops/kubectl-gitops/releases/download/{{.Version}}/{{.File}}",
		Homepage:         "https://github.com/kubectl-gitops/kubectl-gitops",
		ShortDescription: "Make kubectl changes as commits to the GitOps repository",
		Description: "kubectl gitops writes what kubectl would change in the cluster into the Git\n" +
			"repository that Flux or Argo CD reconciles the cluster from: one small,\n" +
			"reviewable commit in the right file and layer, with every Secret encrypted\n" +
			"before it is written.",
	}
}

const manifestTemplate = `apiVersion: {{ .APIVersion }}
kind: Plugin
metadata:
  name: {{ .Name }}
spec:
  version: {{ q .Version }}
  homepage: {{ q .Homepage }}
  shortDescription: {{ q .ShortDescription }}
  description: {{ literal .Description }}
  platforms:
{{- range .Platforms }}
  - selector:
      matchLabels:
        os: {{ .OS }}
        arch: {{ .Arch }}
    uri: {{ q .URI }}
    sha256: {{ q .SHA256 }}
    files:
    - from: {{ q .Bin }}
      to: "."
    - from: {{ q .License }}
      to: "."
    bin: {{ q .Bin }}
{{- end }}
`

// Render writes the krew manifest for the checked archives.
func Render(w io.Writer, o Options, archives []Archive) error {
	if !ValidVersion(o.Version) {
		return fmt.Errorf("version %q is not a v-prefixed semantic version (e.g. v1.2.3)", o.Version)
	}
	if o.ShortDescription == "" || strings.ContainsAny(o.ShortDescription, "\r\n") {
		return errors.New("shortDescription must be one non-empty line")
	}
	if len(archives) == 0 {
		return errors.New("no archives")
	}
	urlTmpl, err := template.New("url").Option("missingkey=error").Parse(o.URLTemplate)
	if err != nil {
		return fmt.Errorf("url template: %w", err)
	}
	type platform struct{ OS, Arch, URI, SHA256, Bin, License string }
	var platforms []platform
	for _, a := range archives {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a.SHA256) {
			return fmt.Errorf("archive %s: sha256 %q is not 64 lowercase hex digits", a.File, a.SHA256)
		}
		var uri strings.Builder
		if err := urlTmpl.Execute(&uri, map[string]string{
			"Version": o.Version, "File": a.File, "OS": a.OS, "Arch": a.Arch,
		}); err != nil {
			return fmt.Errorf("url template: %w", err)
		}
		if !strings.Contains(uri.String(), a.File) {
			return fmt.Errorf("url %q for %s does not name the archive", uri.String(), a.File)
		}
		platforms = append(platforms, platform{a.OS, a.Arch, uri.String(), a.SHA256, a.Bin(), LicenseFile})
	}
	t := template.Must(template.New("manifest").Funcs(template.FuncMap{
		"q":       strconv.Quote, // a Go-quoted string is a valid YAML double-quoted scalar
		"literal": yamlBlock,
	}).Parse(manifestTemplate))
	return t.Execute(w, map[string]any{
		"APIVersion":       apiVersion,
		"Name":             PluginName,
		"Version":          o.Version,
		"Homepage":         o.Homepage,
		"ShortDescription": o.ShortDescription,
		"Description":      o.Description,
		"Platforms":        platforms,
	})
}

// yamlBlock renders s as a literal block scalar indented under "  description:",
// or quoted when a block cannot hold it as is.
func yamlBlock(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" || strings.HasPrefix(s, " ") || strings.ContainsAny(s, "\r\t") {
		return strconv.Quote(s)
	}
	var b strings.Builder
	b.WriteString("|")
	for line := range strings.SplitSeq(s, "\n") {
		b.WriteString("\n")
		if line = strings.TrimRight(line, " "); line != "" {
			b.WriteString("    " + line)
		}
	}
	return b.String()
}

// Generate checks the archives of o.Version in distDir and returns the manifest.
func Generate(o Options, distDir string, required []Platform) ([]byte, error) {
	archives, err := ScanDist(distDir, o.Version, required)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := Render(&buf, o, archives); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
