package plugin

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// fileNameFlag is --filename-template, the name of the file a new object gets, shared by the
// commands that write new objects (apply, capture).
type fileNameFlag struct {
	FilenameTemplate string

	tmpl *template.Template
}

func (n *fileNameFlag) addFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.FilenameTemplate, "filename-template", "", "Go template for the file name of a new object, with .Kind, .Name, .Namespace (default <kind>-<name>.yaml).")
}

// complete parses the template, so that a mistake in it is a usage error before any work.
func (n *fileNameFlag) complete(cmd *cobra.Command) error {
	if n.FilenameTemplate == "" {
		return nil
	}
	t, err := template.New("filename").Option("missingkey=error").Parse(n.FilenameTemplate)
	if err != nil {
		return usageErrorf(cmd, "--filename-template: %v", err)
	}
	n.tmpl = t
	return nil
}

// fileName is the file name of a new object of kind (its Kind, as in its manifest): the
// template's, or <kind>-<name>.yaml. The kind is given in lower case, as in the default.
func (n *fileNameFlag) fileName(kind, name, namespace string) (string, error) {
	kind = strings.ToLower(kind)
	if n.tmpl == nil {
		return kind + "-" + name + ".yaml", nil
	}
	var b strings.Builder
	if err := n.tmpl.Execute(&b, map[string]string{"Kind": kind, "Name": name, "Namespace": namespace}); err != nil {
		return "", fmt.Errorf("--filename-template: %w", err)
	}
	s := b.String()
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\") {
		return "", fmt.Errorf("--filename-template must give a plain file name, got %q", s)
	}
	return s, nil
}
