package helm

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"
)

// Chart is a loaded Helm chart. It is immutable: every render loads a fresh copy from the files it
// was made from, because the SDK's install prunes disabled subcharts from the chart it is given,
// and a chart is rendered many times with different values.
type Chart struct {
	files []*archive.BufferedFile
	meta  chartv2.Metadata
	// defaults replaces the chart's values.yaml when set (Flux's valuesFiles); nil keeps it.
	defaults map[string]any
}

// LoadFiles loads a chart from the files of its directory, keyed by slash-separated paths relative
// to that directory ("Chart.yaml", "templates/deployment.yaml", "charts/sub/Chart.yaml",
// "charts/dep-1.0.0.tgz"). Files the chart's .helmignore excludes are dropped, as `helm package`
// and the SDK's directory loader do, so the caller may pass every file under the directory.
func LoadFiles(files map[string][]byte) (*Chart, error) {
	names := slices.Sorted(maps.Keys(files))
	keep, err := ChartFiles(names, files[ignore.HelmIgnore])
	if err != nil {
		return nil, err
	}
	buffered := make([]*archive.BufferedFile, 0, len(keep))
	for _, n := range keep {
		// The directory loader drops a UTF-8 byte order mark; so do we.
		buffered = append(buffered, &archive.BufferedFile{Name: n, Data: bytes.TrimPrefix(files[n], []byte{0xEF, 0xBB, 0xBF})})
	}
	return newChart(buffered)
}

// LoadArchive loads a chart from a packaged chart (.tgz), as fetched from a repository.
func LoadArchive(data []byte) (*Chart, error) {
	files, err := archive.LoadArchiveFiles(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading chart archive: %w", err)
	}
	return newChart(files)
}

func newChart(files []*archive.BufferedFile) (*Chart, error) {
	ch, err := loadSDK(files)
	if err != nil {
		return nil, err
	}
	return &Chart{files: files, meta: *ch.Metadata}, nil
}

// loadSDK makes a fresh SDK chart from the files, which it leaves untouched (the SDK's loader
// renames the files of subcharts in place).
func loadSDK(files []*archive.BufferedFile) (*chartv2.Chart, error) {
	var base struct {
		APIVersion string `json:"apiVersion"`
	}
	copied := make([]*archive.BufferedFile, 0, len(files))
	for _, f := range files {
		if f.Name == "Chart.yaml" {
			if err := yaml.Unmarshal(f.Data, &base); err != nil {
				return nil, fmt.Errorf("reading Chart.yaml: %w", err)
			}
		}
		c := *f
		copied = append(copied, &c)
	}
	switch base.APIVersion {
	case chartv2.APIVersionV1, chartv2.APIVersionV2, "":
	default:
		return nil, fmt.Errorf("chart apiVersion %q is not supported (only %s and %s are)", base.APIVersion, chartv2.APIVersionV1, chartv2.APIVersionV2)
	}
	ch, err := chartloader.LoadFiles(copied)
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	return ch, nil
}

// Name is the chart's name from Chart.yaml.
func (c *Chart) Name() string { return c.meta.Name }

// Version is the chart's version from Chart.yaml.
func (c *Chart) Version() string { return c.meta.Version }

// AppVersion is the chart's appVersion from Chart.yaml.
func (c *Chart) AppVersion() string { return c.meta.AppVersion }

// File returns the chart file at the slash-separated path relative to the chart's directory, as
// loaded (after .helmignore), and whether it exists.
func (c *Chart) File(name string) ([]byte, bool) {
	name = path.Clean(name)
	for _, f := range c.files {
		if f.Name == name {
			return f.Data, true
		}
	}
	return nil, false
}

// withDefaults returns a copy of c whose default values are vals.
func (c *Chart) withDefaults(vals map[string]any) *Chart {
	cp := *c
	cp.defaults = vals
	return &cp
}

// sdk loads a fresh SDK chart, with the replaced defaults if any.
func (c *Chart) sdk() (*chartv2.Chart, error) {
	ch, err := loadSDK(c.files)
	if err != nil {
		return nil, err
	}
	if c.defaults != nil {
		ch.Values = c.defaults
	}
	return ch, nil
}

// ChartFiles returns the paths among names that belong to the chart, in their order: names are the
// files under a chart's directory (slash-separated, relative to it, directories not listed), and
// helmignore is the content of its .helmignore (nil when it has none). It applies the rules the
// SDK's directory loader applies — a directory the rules exclude excludes everything under it,
// and dot files under templates/ never load — so the caller can record what a render reads.
func ChartFiles(names []string, helmignore []byte) ([]string, error) {
	rules := ignore.Empty()
	if helmignore != nil {
		r, err := ignore.Parse(bytes.NewReader(helmignore))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ignore.HelmIgnore, err)
		}
		rules = r
	}
	rules.AddDefaults()
	var out []string
	for _, n := range names {
		if n == "" || path.IsAbs(n) || !fs.ValidPath(n) {
			return nil, fmt.Errorf("chart file %q: want a slash-separated path inside the chart directory", n)
		}
		if !ignored(rules, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ignored reports whether the rules drop the file n, checking its directories first as the
// directory walk does.
func ignored(rules *ignore.Rules, n string) bool {
	parts := strings.Split(n, "/")
	for i := 1; i < len(parts); i++ {
		if rules.Ignore(strings.Join(parts[:i], "/"), fileInfo{name: parts[i-1], dir: true}) {
			return true
		}
	}
	return rules.Ignore(n, fileInfo{name: parts[len(parts)-1]})
}

// fileInfo is what the ignore rules look at: a name and whether it is a directory.
type fileInfo struct {
	name string
	dir  bool
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Size() int64  { return 0 }
func (f fileInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }
