package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// --filename-template names a new object's file from its lower-cased kind, name and namespace;
// without it the name is <kind>-<name>.yaml. A name with a directory in it, an empty one, or a
// key the template does not have is refused; a template that does not parse is a usage error.
func TestFileNameFlag(t *testing.T) {
	cases := []struct {
		tmpl, kind, name, ns string
		want, err            string
	}{
		{"", "ConfigMap", "settings", "shop", "configmap-settings.yaml", ""},
		{"", "SealedSecret", "db", "shop", "sealedsecret-db.yaml", ""},
		{"{{.Namespace}}-{{.Name}}.yaml", "ConfigMap", "settings", "shop", "shop-settings.yaml", ""},
		{"{{.Name}}.{{.Kind}}.yaml", "Deployment", "web", "", "web.deployment.yaml", ""},
		{"{{.Namespace}}/{{.Name}}.yaml", "ConfigMap", "settings", "shop", "", `--filename-template must give a plain file name, got "shop/settings.yaml"`},
		{`{{.Namespace}}\{{.Name}}.yaml`, "ConfigMap", "settings", "shop", "", `--filename-template must give a plain file name, got "shop\\settings.yaml"`},
		{"{{.Namespace}}", "Namespace", "shop", "", "", `--filename-template must give a plain file name, got ""`},
		{"..", "ConfigMap", "settings", "shop", "", `--filename-template must give a plain file name, got ".."`},
		{"{{.Labels}}.yaml", "ConfigMap", "settings", "shop", "", `map has no entry for key "Labels"`},
	}
	for _, tc := range cases {
		t.Run(tc.tmpl, func(t *testing.T) {
			n := fileNameFlag{FilenameTemplate: tc.tmpl}
			if err := n.complete(&cobra.Command{Use: "capture"}); err != nil {
				t.Fatal(err)
			}
			got, err := n.fileName(tc.kind, tc.name, tc.ns)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want the error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	n := fileNameFlag{FilenameTemplate: "{{.Name"}
	var ue *usageError
	if err := n.complete(&cobra.Command{Use: "capture"}); !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "--filename-template: ") {
		t.Errorf("a template that does not parse gave %v, want a usage error about --filename-template", err)
	}
}
