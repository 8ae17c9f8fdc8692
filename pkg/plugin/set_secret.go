package plugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	kubectlutil "k8s.io/kubectl/pkg/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var setSecretLong = templates.LongDesc(`
	Set or remove values of an encrypted Secret in the GitOps repository, for scripts.

	KEY=VALUE sets a value (KEY=- reads it from stdin, --from-file KEY=PATH from a file); KEY-
	removes the key. Only the values that change are encrypted again: a sops Secret keeps the
	ciphertext of every other value, a SealedSecret is re-sealed for the changed keys only (with
	its own scope). The values go straight to the encryptor and are never printed; --dry-run
	shows the change with the values masked.`)

var setSecretExample = templates.Examples(`
	# Set one value of the sops-encrypted Secret db
	kubectl gitops set secret db password='n3w-pa55'

	# From stdin, so the value stays out of the shell's history
	vault read -field=token secret/ci | kubectl gitops set secret ci-token token=-

	# A value from a file, and remove another key
	kubectl gitops set secret web-tls --from-file=tls.key=path/to/new.key old-key-`)

// SetSecretOptions are the options of `set secret`.
type SetSecretOptions struct {
	changeFlags
	FromFiles []string

	update secretUpdate
	genericiooptions.IOStreams
}

// secretUpdate is a change of one encrypted Secret's values.
type secretUpdate struct {
	name       string
	namespace  string
	nsExplicit bool
	set        map[string][]byte
	del        []string
}

// NewCmdSetSecret builds `kubectl gitops set secret`.
func NewCmdSetSecret(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SetSecretOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "secret NAME KEY_1=VAL_1 ... KEY_N=VAL_N | KEY-",
		DisableFlagsInUseLine: true,
		Short:                 "Set or remove values of an encrypted secret, in Git",
		Long:                  setSecretLong,
		Example:               setSecretExample,
	}
	o.changeFlags.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.FromFiles, "from-file", nil, "Set a key from a file: KEY=PATH, or PATH for a key named after the file.")
	return writeCommand(f, cmd, o)
}

// Complete reads the name and the KEY=VALUE, KEY=-, KEY- and --from-file changes.
func (o *SetSecretOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf(cmd, "NAME is required")
	}
	name, err := secretArg(args[0])
	if err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	u := secretUpdate{name: name, set: map[string][]byte{}}
	if u.namespace, u.nsExplicit, err = namespaceFlag(f, cmd); err != nil {
		return err
	}
	stdinUsed := false
	for i, a := range args[1:] {
		key, value, isSet := strings.Cut(a, "=")
		if !isSet {
			if !strings.HasSuffix(a, "-") || len(a) == 1 {
				// Not quoted: a value typed without its KEY= must not reach the terminal.
				return usageErrorf(cmd, "argument %d after the name is neither KEY=VALUE, KEY=- (the value from stdin) nor KEY- (remove the key); it is not shown, as it may be a value", i+1)
			}
			key = strings.TrimSuffix(a, "-")
		}
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return usageErrorf(cmd, "%q is not a valid key name for a Secret: %s", key, strings.Join(errs, "; "))
		}
		if _, dup := u.set[key]; dup || slices.Contains(u.del, key) {
			return usageErrorf(cmd, "key %q is given more than once", key)
		}
		if !isSet {
			u.del = append(u.del, key)
			continue
		}
		if value == "-" {
			if stdinUsed {
				return usageErrorf(cmd, "only one value can be read from stdin (KEY=-)")
			}
			stdinUsed = true
			b, err := io.ReadAll(o.In)
			if err != nil {
				return fmt.Errorf("reading the value of %s from stdin: %w", key, err)
			}
			u.set[key] = b
			continue
		}
		u.set[key] = []byte(value)
	}
	for _, src := range o.FromFiles {
		key, file, err := kubectlutil.ParseFileSource(src)
		if err != nil {
			return usageErrorf(cmd, "--from-file: %v", err)
		}
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return usageErrorf(cmd, "--from-file %s: %q is not a valid key name for a Secret: %s", src, key, strings.Join(errs, "; "))
		}
		if _, dup := u.set[key]; dup || slices.Contains(u.del, key) {
			return usageErrorf(cmd, "key %q is given more than once", key)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--from-file: %w", err)
		}
		u.set[key] = b
	}
	if len(u.set) == 0 && len(u.del) == 0 {
		return usageErrorf(cmd, "at least one change is required: KEY=VALUE, KEY=-, --from-file KEY=PATH or KEY-")
	}
	o.update = u
	return nil
}

// Validate checks the flag values.
func (o *SetSecretOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// secretArg reads a Secret's name given as NAME or secret/NAME.
func secretArg(a string) (string, error) {
	if typ, name, ok := strings.Cut(a, "/"); ok {
		switch strings.ToLower(typ) {
		case "secret", "secrets", "sealedsecret", "sealedsecrets", "sealedsecret.bitnami.com", "sealedsecrets.bitnami.com":
			a = name
		default:
			return "", fmt.Errorf("%q is not a secret: give NAME or secret/NAME", a)
		}
	}
	if a == "" {
		return "", fmt.Errorf("the secret's name is empty")
	}
	return a, nil
}

// namespaceFlag returns -n and whether the user gave it.
func namespaceFlag(f cmdutil.Factory, cmd *cobra.Command) (string, bool, error) {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, err
	}
	fl := cmd.Flags().Lookup("namespace")
	return ns, fl != nil && fl.Changed, nil
}

// Run sets and removes the values.
func (o *SetSecretOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	u := o.update
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, secretSelection(u))
	if err != nil {
		return err
	}
	var keys []string
	for k := range u.set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	what := []string{}
	if len(keys) > 0 {
		what = append(what, strings.Join(keys, ", ")+" set")
	}
	if len(u.del) > 0 {
		what = append(what, strings.Join(u.del, ", ")+" removed")
	}
	return o.runSecretUpdate(ctx, o.IOStreams, t, targets, u, "set secret", strings.Join(what, "; "), "updated")
}

// secretSelection is the selection that finds a target through the live Secret's labels when
// neither flags nor the configuration name one.
func secretSelection(u secretUpdate) workflow.Selection {
	return workflow.Selection{Refs: []workflow.ObjectRef{{Resource: "secret", Name: u.name}}, Namespace: u.namespace, NamespaceExplicit: u.nsExplicit}
}

// runSecretUpdate sets and removes values of one encrypted Secret and commits the document the
// provider rewrote (or shows the masked diff).
func (c *changeFlags) runSecretUpdate(ctx context.Context, streams genericiooptions.IOStreams, t *target.Target, targets []target.Target, u secretUpdate, action, what, verb string) error {
	res, name, err := c.updateSecret(ctx, streams, t, targets, u, action, what)
	if noChange(streams.ErrOut, err) {
		return c.settle(ctx, streams)
	}
	if err != nil {
		return err
	}
	return c.finish(ctx, streams, verb, res, []string{name})
}

func (c *changeFlags) updateSecret(ctx context.Context, streams genericiooptions.IOStreams, t *target.Target, targets []target.Target, u secretUpdate, action, what string) (*workflow.Result, string, error) {
	root, err := filepath.Abs(t.RepoDir)
	if err != nil {
		return nil, "", err
	}
	var name, subject string
	req := c.request(streams, t, targets)
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		es, err := workflow.FindSecret(root, r, u.name, u.namespace, u.nsExplicit)
		if err != nil {
			return nil, err
		}
		name = resourceName(es.Object)
		subject = fmt.Sprintf("%s %s", action, secretName(es.Object.ID.Namespace, es.Object.ID.Name))
		if what != "" {
			subject += ": " + what
		}
		p, err := req.Secrets.Get(es.Provider, es.Object.ID.Namespace)
		if err != nil {
			return nil, err
		}
		doc, err := p.Update(ctx, es.Doc, u.set, u.del)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", es.Object.ID, err)
		}
		if bytes.Equal(doc, es.Doc) {
			return []change.ObjectChange{{Object: es.Object, Desired: es.Object.Obj().Object}}, nil
		}
		desired, err := workflow.DesiredAfter(es.Object, es.Doc, doc)
		if err != nil {
			return nil, err
		}
		return []change.ObjectChange{{Object: es.Object, Desired: desired, Content: doc}}, nil
	}
	req.Subject = func([]*render.Object) string { return subject }
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	return res, name, err
}
