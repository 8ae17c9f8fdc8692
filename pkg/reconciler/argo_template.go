package reconciler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/valyala/fasttemplate"
	"sigs.k8s.io/yaml"
)

// argoTemplater renders the strings of an ApplicationSet's template with a generator's
// parameters, as the ApplicationSet controller does: fasttemplate's {{key}} with the flat
// parameters, or, with goTemplate, Go templates with Sprig's functions.
type argoTemplater struct {
	goTemplate bool
	options    []string // goTemplateOptions: text/template options
}

func newArgoTemplater(goTemplate bool, options []string) (argoTemplater, error) {
	for _, o := range options {
		switch o {
		case "missingkey=default", "missingkey=invalid", "missingkey=zero", "missingkey=error":
		default:
			return argoTemplater{}, fmt.Errorf("goTemplateOptions: %q is not a text/template option (missingkey=default|zero|error)", o)
		}
	}
	return argoTemplater{goTemplate: goTemplate, options: options}, nil
}

// templated tells a string that fasttemplate may change: the controller leaves others as they are.
var templated = regexp.MustCompile(".*{{.*}}.*")

// replace renders one string with params.
func (t argoTemplater) replace(s string, params map[string]any) (string, error) {
	if t.goTemplate {
		tmpl, err := argoBaseTemplate().Clone()
		if err != nil {
			return "", err
		}
		for _, o := range t.options {
			tmpl = tmpl.Option(o)
		}
		if tmpl, err = tmpl.Parse(s); err != nil {
			return "", fmt.Errorf("failed to parse template %s: %w", s, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, params); err != nil {
			return "", fmt.Errorf("failed to execute go template %s: %w", s, err)
		}
		return out.String(), nil
	}
	if !templated.MatchString(s) {
		return s, nil
	}
	ft, err := fasttemplate.NewTemplate(s, "{{", "}}")
	if err != nil {
		return "", fmt.Errorf("invalid template %q: %w", s, err)
	}
	// A tag without a string parameter stays as written.
	return ft.ExecuteFuncString(func(w io.Writer, tag string) (int, error) {
		key := strings.TrimSpace(tag)
		v, ok := params[key].(string)
		if key == "" || !ok {
			return fmt.Fprintf(w, "{{%s}}", tag)
		}
		return io.WriteString(w, v)
	}), nil
}

// render renders every string of v, map keys included, with params; v is not changed.
func (t argoTemplater) render(v any, params map[string]any) (any, error) {
	switch v := v.(type) {
	case string:
		return t.replace(v, params)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			r, err := t.render(e, params)
			if err != nil {
				return nil, err
			}
			key, err := t.replace(k, params)
			if err != nil {
				return nil, err
			}
			out[key] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := t.render(e, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

var argoBase struct {
	once sync.Once
	tmpl *template.Template
}

// argoBaseTemplate holds the functions of the controller's Go templates: Sprig's generic ones
// without those that read the controller's environment, and Argo CD's own.
func argoBaseTemplate() *template.Template {
	argoBase.once.Do(func() {
		funcs := sprig.GenericFuncMap()
		for _, f := range []string{"env", "expandenv", "getHostByName"} {
			delete(funcs, f)
		}
		funcs["normalize"] = sanitizeName
		funcs["slugify"] = func(...any) (string, error) {
			return "", errors.New("slugify is not supported by kubectl-gitops (use normalize)")
		}
		funcs["toYaml"] = func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		}
		funcs["fromYaml"] = func(s string) (map[string]any, error) {
			m := map[string]any{}
			return m, yaml.Unmarshal([]byte(s), &m)
		}
		funcs["fromYamlArray"] = func(s string) ([]any, error) {
			a := []any{}
			return a, yaml.Unmarshal([]byte(s), &a)
		}
		argoBase.tmpl = template.New("base").Funcs(funcs)
	})
	return argoBase.tmpl
}

var invalidDNSNameChars = regexp.MustCompile("[^-a-z0-9.]")

// sanitizeName is Argo CD's normalize: lower case, characters a DNS name cannot hold made '-',
// at most 253 characters, no leading or trailing '-' or '.'.
func sanitizeName(name string) string {
	name = invalidDNSNameChars.ReplaceAllString(strings.ToLower(name), "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}
