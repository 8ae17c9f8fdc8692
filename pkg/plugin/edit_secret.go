package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/editsession"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// sealedPlaceholder stands for a sealed value in the editor: only the controller can read it.
const sealedPlaceholder = "<sealed: unchanged>"

// secretEditName tells whether an edit names a Secret, and which: secrets are edited one at a
// time, by name, in their own flow.
func secretEditName(sel workflow.Selection) (string, bool, error) {
	isSecret := func(resource string) bool {
		_, err := secretArg(resource + "/x")
		return err == nil
	}
	named := 0
	for _, ref := range sel.Refs {
		if isSecret(ref.Resource) {
			named++
		}
	}
	typeOnly := sel.TypeOnly != "" && isSecret(sel.TypeOnly)
	if named == 0 && !typeOnly {
		return "", false, nil
	}
	if typeOnly || named != 1 || len(sel.Refs) != 1 {
		return "", false, fmt.Errorf("edit Secrets one at a time and on their own, as secret/NAME: their values are decrypted for the editor")
	}
	return sel.Refs[0].Name, true, nil
}

// runSecret edits the values of one encrypted Secret. sops: the values are decrypted in memory
// and shown decoded; the changed ones are encrypted again. sealed-secrets: the keys are shown
// with a placeholder; a key given a value is sealed again, a key removed is deleted. The text
// lives only in the session's private directory.
func (o *EditOptions) runSecret(ctx context.Context, f cmdutil.Factory, t *target.Target, targets []target.Target, r *render.Result, name string) error {
	root, err := filepath.Abs(t.RepoDir)
	if err != nil {
		return err
	}
	es, err := workflow.FindSecret(root, r, name, o.selection.Namespace, o.selection.NamespaceExplicit)
	if err != nil {
		return err
	}
	p, err := o.providers(t).Get(es.Provider, es.Object.ID.Namespace)
	if err != nil {
		return err
	}
	in, err := p.Inspect(ctx, es.Doc)
	if err != nil {
		return fmt.Errorf("reading %s: %w", es.Object.ID, err)
	}
	shown := secretShown{Name: es.Object.ID.Name, Namespace: es.Object.ID.Namespace, Type: string(in.Type)}
	text, err := shown.text(in)
	if err != nil {
		return err
	}
	header := []string{
		"Please edit the values below. Lines beginning with a '#' will be ignored,",
		"and an empty file will abort the edit.",
		fmt.Sprintf("Saving commits to %s, target %s (path %s): %s, encrypted with %s.", t.RepoDir, t.Name, t.Path, es.Object.Origin.File, es.Provider),
	}
	if in.Values != nil {
		header = append(header,
			"The values are decrypted for this file only, in a private directory removed when the edit ends;",
			"saving encrypts again only the values you change. Binary values are under data:, base64.",
			"Add a key to add a value; delete a key's line to remove it.")
	} else {
		header = append(header,
			"The values are sealed: only the controller can read them. Replace a "+sealedPlaceholder+" with a",
			"new value to seal that key again; add a key to add a value; delete a key's line to remove it.")
	}
	session := &editsession.Session{
		Editor:             editsession.EnvEditor("KUBE_EDITOR", "EDITOR"),
		Header:             header,
		FileName:           "secret.yaml",
		WindowsLineEndings: o.WindowsLineEndings,
	}
	var result *workflow.Result
	var resName string
	err = session.Run(ctx, text, func(edited []byte) error {
		set, del, what, err := shown.edits(in, edited)
		if err != nil {
			return &editsession.RetryError{Err: err}
		}
		if len(set) == 0 && len(del) == 0 {
			return editsession.ErrCancelled
		}
		u := secretUpdate{name: es.Object.ID.Name, namespace: es.Object.ID.Namespace, nsExplicit: es.Object.ID.Namespace != "", set: set, del: del}
		res, n, err := o.updateSecret(ctx, o.IOStreams, t, targets, u, "edit secret", what)
		var refused *change.RefusedError
		var invalid *workflow.InvalidError
		if errors.As(err, &refused) || errors.As(err, &invalid) {
			return &editsession.RetryError{Err: err}
		}
		var nc *workflow.NoChangeError
		if errors.As(err, &nc) {
			return editsession.ErrCancelled
		}
		result, resName = res, n
		return err
	})
	if errors.Is(err, editsession.ErrCancelled) {
		fmt.Fprintln(o.ErrOut, err.Error())
		return nil
	}
	if err != nil {
		return interruptedExit(err)
	}
	if o.OutputPatch {
		for _, obj := range result.Objects {
			fmt.Fprintf(o.Out, "Patch for %s: %s\n", obj.Object, strings.Join(obj.Changes, "; "))
		}
	}
	return o.finish(ctx, o.IOStreams, "edited", result, []string{resName})
}

// secretShown is the part of the Secret the editor shows besides its values; it cannot change.
type secretShown struct {
	Name      string
	Namespace string
	Type      string
}

// text is the editor's text: the Secret with its values under stringData (data for values
// that are not text), or, sealed, its keys with the placeholder.
func (s secretShown) text(in *secrets.Inspection) ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	pair := func(m *yaml.Node, k string, v *yaml.Node) { m.Content = append(m.Content, str(k), v) }
	meta := &yaml.Node{Kind: yaml.MappingNode}
	pair(meta, "name", str(s.Name))
	if s.Namespace != "" {
		pair(meta, "namespace", str(s.Namespace))
	}
	top := &yaml.Node{Kind: yaml.MappingNode}
	pair(top, "apiVersion", str("v1"))
	pair(top, "kind", str("Secret"))
	pair(top, "metadata", meta)
	if s.Type != "" {
		pair(top, "type", str(s.Type))
	}
	stringData := &yaml.Node{Kind: yaml.MappingNode}
	data := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range in.Keys {
		if in.Values == nil {
			v := str(sealedPlaceholder)
			v.Style = yaml.DoubleQuotedStyle
			pair(stringData, k, v)
			continue
		}
		v := in.Values[k]
		if !utf8.Valid(v) {
			pair(data, k, str(base64.StdEncoding.EncodeToString(v)))
			continue
		}
		n := str(string(v))
		if strings.Contains(n.Value, "\n") {
			n.Style = yaml.LiteralStyle
		}
		pair(stringData, k, n)
	}
	pair(top, "stringData", stringData)
	if len(data.Content) > 0 {
		pair(top, "data", data)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// backquoted is how yaml.v3 quotes a value in an error; errors here never show one.
var backquoted = regexp.MustCompile("`[^`]*`")

// edits compares the edited text with the Secret: the keys to set (with their new values) and
// the keys to remove, and a summary naming the keys. Errors never quote a value.
func (s secretShown) edits(in *secrets.Inspection, edited []byte) (map[string][]byte, []string, string, error) {
	var doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Type       string    `yaml:"type"`
		StringData yaml.Node `yaml:"stringData"`
		Data       yaml.Node `yaml:"data"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(edited))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, "", fmt.Errorf("the edited Secret is not valid: %s; only the values under stringData and data can change here",
			backquoted.ReplaceAllString(err.Error(), "`…`"))
	}
	if doc.APIVersion != "v1" || doc.Kind != "Secret" || doc.Metadata.Name != s.Name || doc.Metadata.Namespace != s.Namespace || doc.Type != s.Type {
		return nil, nil, "", fmt.Errorf("only the values under stringData and data can change here: apiVersion, kind, metadata and type must stay as shown")
	}
	values := map[string][]byte{}
	for _, field := range []struct {
		name string
		node *yaml.Node
	}{{"stringData", &doc.StringData}, {"data", &doc.Data}} {
		n := field.node
		if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, nil, "", fmt.Errorf("%s must be a mapping of keys to values (line %d)", field.name, n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
				return nil, nil, "", fmt.Errorf("%s: line %d: each key must map to one text value", field.name, k.Line)
			}
			if _, dup := values[k.Value]; dup {
				return nil, nil, "", fmt.Errorf("key %q is given more than once (line %d)", k.Value, k.Line)
			}
			value := []byte(v.Value)
			if v.Tag == "!!null" {
				value = nil
			}
			if field.name == "data" {
				b, err := base64.StdEncoding.DecodeString(v.Value)
				if err != nil {
					return nil, nil, "", fmt.Errorf("data.%s (line %d) is not valid base64", k.Value, v.Line)
				}
				value = b
			}
			values[k.Value] = value
		}
	}
	set := map[string][]byte{}
	var del, setKeys []string
	for k, v := range values {
		if in.Values == nil {
			if slices.Contains(in.Keys, k) && string(v) == sealedPlaceholder {
				continue
			}
		} else if old, ok := in.Values[k]; ok && bytes.Equal(old, v) {
			continue
		}
		set[k] = v
		setKeys = append(setKeys, k)
	}
	for _, k := range in.Keys {
		if _, ok := values[k]; !ok {
			del = append(del, k)
		}
	}
	slices.Sort(setKeys)
	var what []string
	if len(setKeys) > 0 {
		what = append(what, strings.Join(setKeys, ", ")+" set")
	}
	if len(del) > 0 {
		what = append(what, strings.Join(del, ", ")+" removed")
	}
	return set, del, strings.Join(what, "; "), nil
}

// secretEdit routes an edit that names a Secret to runSecret; it reports whether it did.
func (o *EditOptions) secretEdit(ctx context.Context, f cmdutil.Factory, cmd *cobra.Command, t *target.Target, targets []target.Target, r *render.Result) (bool, error) {
	name, ok, err := secretEditName(o.selection)
	if err != nil {
		return true, usageErrorf(cmd, "%v", err)
	}
	if !ok {
		return false, nil
	}
	return true, o.runSecret(ctx, f, t, targets, r, name)
}
