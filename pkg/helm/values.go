package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/chart/common"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/strvals"
)

// ValuesFile is a values file the caller resolved: the path as the reconciler's spec names it
// (used in errors) and its content, or Missing when it does not exist.
type ValuesFile struct {
	Path    string
	Data    []byte
	Missing bool
}

// ValuesFile returns the chart's file at name as a values file for FluxInput.ValuesFiles, which
// for a chart from a Helm or OCI repository are paths inside the chart, looked up as
// source-controller does: "values.yaml" is the chart's defaults (empty when it has none), any
// other name one of the chart's plain files (not Chart.yaml, templates or subcharts).
func (c *Chart) ValuesFile(name string) ValuesFile {
	name = path.Clean(name)
	if name == "values.yaml" {
		data, _ := c.File(name)
		return ValuesFile{Path: name, Data: data}
	}
	if sdk, err := c.sdk(); err == nil {
		for _, f := range sdk.Files {
			if f.Name == name {
				return ValuesFile{Path: name, Data: f.Data}
			}
		}
	}
	return ValuesFile{Path: name, Missing: true}
}

// ValuesReference is one entry of a HelmRelease's spec.valuesFrom with the ConfigMap or Secret it
// names resolved by the caller: Data is the value under ValuesKey (a Secret's decoded bytes), or
// Missing is set when the object or the key does not exist.
type ValuesReference struct {
	// Kind is ConfigMap or Secret; a Secret's data never appears in an error.
	Kind string
	Name string
	// ValuesKey is the key read; empty means values.yaml, as in the API.
	ValuesKey string
	// TargetPath, when set, puts the whole value at this path with Helm's --set syntax (a quoted
	// value as a string) instead of reading it as a values document.
	TargetPath string
	Optional   bool
	Data       []byte
	Missing    bool
}

// FluxInput is what a HelmRelease contributes to the values of its release.
type FluxInput struct {
	// ValuesFiles are spec.chart.spec.valuesFiles in order (for a chart from a GitRepository or
	// Bucket, paths in the source; else paths in the chart, see Chart.ValuesFile).
	ValuesFiles              []ValuesFile
	IgnoreMissingValuesFiles bool
	// ValuesFrom is spec.valuesFrom in order.
	ValuesFrom []ValuesReference
	// Values is spec.values.
	Values map[string]any
}

// FluxValues merges a HelmRelease's values as Flux does. When ValuesFiles are given,
// source-controller packages the chart with their merge as its values.yaml — replacing the
// chart's defaults, which take part only where "values.yaml" is listed — so the chart returned
// carries those defaults. The map returned is what helm-controller hands the SDK as the release's
// values: the valuesFrom documents merged in order, a targetPath entry setting its one path, and
// spec.values merged last (fluxcd/pkg/chartutil's ChartValuesFromReferences, whose order this
// follows step by step, including that a targetPath entry first merges spec.values in). Neither
// the chart nor the inputs are modified.
func FluxValues(ch *Chart, in FluxInput) (*Chart, map[string]any, error) {
	if len(in.ValuesFiles) > 0 {
		defaults := map[string]any{}
		for _, f := range in.ValuesFiles {
			if f.Missing {
				if in.IgnoreMissingValuesFiles {
					continue
				}
				return nil, nil, fmt.Errorf("values file %q (spec.chart.spec.valuesFiles) does not exist; set spec.chart.spec.ignoreMissingValuesFiles or fix the path", f.Path)
			}
			v := map[string]any{}
			if err := yaml.Unmarshal(f.Data, &v); err != nil {
				return nil, nil, fmt.Errorf("reading values file %q (spec.chart.spec.valuesFiles): %w", f.Path, err)
			}
			defaults = chartloader.MergeMaps(defaults, v)
		}
		ch = ch.withDefaults(defaults)
	}

	// Copied so that the aliasing below (a targetPath write lands in a map spec.values shares
	// with the result, as in helm-controller) never reaches the caller's map.
	specValues, err := deepCopy(in.Values)
	if err != nil {
		return nil, nil, fmt.Errorf("reading spec.values: %w", err)
	}
	result := map[string]any{}
	for i, ref := range in.ValuesFrom {
		key := ref.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		what := fmt.Sprintf("spec.valuesFrom[%d] (%s %s, key %s)", i, ref.Kind, ref.Name, key)
		if ref.Kind != "ConfigMap" && ref.Kind != "Secret" {
			return nil, nil, fmt.Errorf("%s: kind %q is not supported (ConfigMap or Secret)", what, ref.Kind)
		}
		if ref.Missing {
			if ref.Optional {
				continue
			}
			return nil, nil, fmt.Errorf("%s: not found; create it or mark the reference optional", what)
		}
		if ref.TargetPath != "" {
			result = chartloader.MergeMaps(result, specValues)
			if err := replacePathValue(result, ref.TargetPath, string(ref.Data)); err != nil {
				return nil, nil, fmt.Errorf("%s: setting targetPath %s: %w", what, ref.TargetPath, hideSecret(ref.Kind, err))
			}
			continue
		}
		v, err := common.ReadValues(ref.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading values: %w", what, hideSecret(ref.Kind, err))
		}
		result = chartloader.MergeMaps(result, v)
	}
	return ch, chartloader.MergeMaps(result, specValues), nil
}

// replacePathValue sets value at path with Helm's --set parser, a quoted value as a string, the
// way helm-controller's targetPath does.
func replacePathValue(vals map[string]any, p, value string) error {
	quoted := len(value) >= 2 && (strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'") ||
		strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`))
	if quoted {
		return strvals.ParseIntoString(p+"="+strings.Trim(value, `'"`), vals)
	}
	return strvals.ParseInto(p+"="+value, vals)
}

// hideSecret keeps a Secret's data out of an error: parser errors quote the text they stopped at.
func hideSecret(kind string, err error) error {
	if kind == "Secret" {
		return fmt.Errorf("the Secret's value is not valid here (details withheld: they would quote it)")
	}
	return err
}

// deepCopy copies spec.values through JSON, which is also how helm-controller reads them: numbers
// become float64 as in the controller (a template printing 1000000 prints 1e+06 there too).
func deepCopy(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

// ArgoParameter is one of an Application's spec.source.helm.parameters.
type ArgoParameter struct {
	Name  string
	Value string
	// ForceString passes the parameter with --set-string.
	ForceString bool
}

// ArgoFileParameter is one of spec.source.helm.fileParameters, its file read by the caller.
type ArgoFileParameter struct {
	Name string
	Path string
	Data []byte
}

// ArgoInput is what an Application's Helm source contributes to the values.
type ArgoInput struct {
	// ValueFiles are spec.source.helm.valueFiles in order, resolved by the caller (relative to
	// the source path, or $ref/… in another source).
	ValueFiles              []ValuesFile
	IgnoreMissingValueFiles bool
	// Values is spec.source.helm.values.
	Values string
	// ValuesObject is spec.source.helm.valuesObject; when set, Values is not used at all.
	ValuesObject   map[string]any
	Parameters     []ArgoParameter
	FileParameters []ArgoFileParameter
}

// argoScheme is the URL scheme under which ArgoValues hands its in-memory files to the SDK's
// values merge, which reads files through getters.
const argoScheme = "file"

// ArgoValues merges an Application's Helm values as Argo CD's repo-server does: it runs `helm
// template` with each value file as --values in order, then values or valuesObject (valuesObject
// wins whole, it does not merge with values) as one more --values, the parameters as --set or
// --set-string and the file parameters as --set-file. The merge is the SDK's own (the one `helm
// template` runs), fed with the caller's bytes. Argo CD keeps parameters in a map, so a name given
// twice counts once, with its last value, and they apply in name order here (in Argo CD, in map
// order); like Argo CD, a comma in a value is escaped unless the value is a {list}.
func ArgoValues(in ArgoInput) (map[string]any, error) {
	files := map[string][]byte{}
	var opts values.Options
	addFile := func(name string, data []byte) string {
		// The name reads well in the SDK's errors; escaped only where it would not parse as a URL.
		u := argoScheme + ":" + name
		if _, err := url.Parse(u); err != nil {
			u = argoScheme + ":" + url.PathEscape(name)
		}
		files[u] = data
		return u
	}
	for _, f := range in.ValueFiles {
		if f.Missing {
			if in.IgnoreMissingValueFiles {
				continue
			}
			return nil, fmt.Errorf("values file %q (spec.source.helm.valueFiles) does not exist; set ignoreMissingValueFiles or fix the path", f.Path)
		}
		opts.ValueFiles = append(opts.ValueFiles, addFile(f.Path, f.Data))
	}
	extra := []byte(in.Values)
	if in.ValuesObject != nil {
		b, err := yaml.Marshal(in.ValuesObject)
		if err != nil {
			return nil, fmt.Errorf("reading spec.source.helm.valuesObject: %w", err)
		}
		extra = b
	}
	if len(extra) > 0 {
		opts.ValueFiles = append(opts.ValueFiles, addFile("spec.source.helm.values", extra))
	}
	set, setString := map[string]string{}, map[string]string{}
	for _, p := range in.Parameters {
		if p.ForceString {
			setString[p.Name] = p.Value
		} else {
			set[p.Name] = p.Value
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		opts.Values = append(opts.Values, k+"="+escapeCommas(set[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(setString)) {
		opts.StringValues = append(opts.StringValues, k+"="+escapeCommas(setString[k]))
	}
	setFile := map[string]string{}
	for i, p := range in.FileParameters {
		setFile[p.Name] = addFile("fileParameters/"+strconv.Itoa(i)+"/"+path.Base(p.Path), p.Data)
	}
	for _, k := range slices.Sorted(maps.Keys(setFile)) {
		opts.FileValues = append(opts.FileValues, k+"="+setFile[k])
	}
	get := memGetter(files)
	merged, err := opts.MergeValues(getter.Providers{{Schemes: []string{argoScheme}, New: func(...getter.Option) (getter.Getter, error) { return get, nil }}})
	if err != nil {
		return nil, fmt.Errorf("merging the Application's helm values: %w", err)
	}
	return merged, nil
}

// escapeCommas escapes the commas of a --set value that are not escaped yet, unless the value is
// a {list}, as Argo CD does before passing parameters to helm.
func escapeCommas(v string) string {
	if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
		return v
	}
	var b strings.Builder
	prev := rune(0)
	for _, r := range v {
		if r == ',' && prev != '\\' {
			b.WriteString(`\,`)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// memGetter serves the caller's bytes to the SDK's values merge.
type memGetter map[string][]byte

func (m memGetter) Get(u string, _ ...getter.Option) (*bytes.Buffer, error) {
	data, ok := m[u]
	if !ok {
		return nil, fmt.Errorf("%s: no such values file", u)
	}
	return bytes.NewBuffer(data), nil
}
