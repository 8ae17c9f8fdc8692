package plugin

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var secretsRotateLong = templates.LongDesc(`
	Encrypt a target's Secrets again for the keys that should read them now, as one commit.

	sops: the data key of each Secret is encrypted to the recipients that the matching .sops.yaml
	creation rule names now (as sops updatekeys does); the values keep their ciphertext. Run it
	after adding or removing a recipient in .sops.yaml, with a key that can decrypt the Secrets.

	sealed-secrets: the controller, which alone can decrypt them, seals every value again with its
	newest key (its /v1/rotate, reached through the API server). Run it after the controller
	renewed its key.

	Without NAME, every encrypted Secret of the target is rotated.`)

var secretsRotateExample = templates.Examples(`
	# After adding a recipient to .sops.yaml: let it read every Secret of the staging target
	kubectl gitops secrets rotate --target staging

	# Re-seal two SealedSecrets with the controller's newest key
	kubectl gitops secrets rotate db api-token -n shop`)

// SecretsRotateOptions are the options of `secrets rotate`.
type SecretsRotateOptions struct {
	changeFlags
	names      []string
	namespace  string
	nsExplicit bool
	genericiooptions.IOStreams
}

// NewCmdSecretsRotate builds `kubectl gitops secrets rotate`.
func NewCmdSecretsRotate(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SecretsRotateOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "rotate [NAME...]",
		DisableFlagsInUseLine: true,
		Short:                 "Encrypt the target's secrets again for the current keys",
		Long:                  secretsRotateLong,
		Example:               secretsRotateExample,
	}
	o.changeFlags.addFlags(cmd)
	return writeCommand(f, cmd, o)
}

// Complete reads the names and the namespace.
func (o *SecretsRotateOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	for _, a := range args {
		name, err := secretArg(a)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		o.names = append(o.names, name)
	}
	var err error
	o.namespace, o.nsExplicit, err = namespaceFlag(f, cmd)
	return err
}

// Validate checks the flag values.
func (o *SecretsRotateOptions) Validate(cmd *cobra.Command) error { return o.changeFlags.validate(cmd) }

// Run encrypts the Secrets again for the current keys.
func (o *SecretsRotateOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	sel := workflow.Selection{Namespace: o.namespace, NamespaceExplicit: o.nsExplicit}
	if len(o.names) > 0 {
		sel.Refs = []workflow.ObjectRef{{Resource: "secret", Name: o.names[0]}}
	}
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, sel)
	if err != nil {
		return err
	}
	root, err := filepath.Abs(t.RepoDir)
	if err != nil {
		return err
	}
	req := o.request(o.IOStreams, t, targets)
	var names, rotated []string
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		names, rotated = names[:0], rotated[:0]
		var found []*workflow.SecretDocument
		if len(o.names) > 0 {
			for _, n := range o.names {
				es, err := workflow.FindSecret(root, r, n, o.namespace, o.nsExplicit)
				if err != nil {
					return nil, err
				}
				found = append(found, es)
			}
		} else {
			for _, obj := range r.Objects {
				if !workflow.IsSecretKind(obj) || obj.Origin.File == "" || (o.nsExplicit && obj.ID.Namespace != "" && obj.ID.Namespace != o.namespace) {
					continue
				}
				es, err := workflow.ReadSecret(root, obj)
				if err != nil {
					return nil, err
				}
				if err := es.Encrypted(); err != nil {
					return nil, err
				}
				found = append(found, es)
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("target path %s has no encrypted secrets to rotate", r.Path)
			}
		}
		var out []change.ObjectChange
		for _, es := range found {
			p, err := req.Secrets.Get(es.Provider, es.Object.ID.Namespace)
			if err != nil {
				return nil, err
			}
			doc, err := rotate(ctx, p, es, filepath.Join(root, filepath.FromSlash(es.Object.Origin.File)))
			if err != nil {
				return nil, fmt.Errorf("rotating %s: %w", es.Object.ID, err)
			}
			if bytes.Equal(doc, es.Doc) {
				out = append(out, change.ObjectChange{Object: es.Object, Desired: es.Object.Obj().Object})
				continue
			}
			desired, err := workflow.DesiredAfter(es.Object, es.Doc, doc)
			if err != nil {
				return nil, err
			}
			rotated = append(rotated, secretName(es.Object.ID.Namespace, es.Object.ID.Name))
			names = append(names, resourceName(es.Object))
			out = append(out, change.ObjectChange{Object: es.Object, Desired: desired, Content: doc})
		}
		return out, nil
	}
	req.Subject = func([]*render.Object) string {
		if len(rotated) == 1 {
			return "rotate the keys of secret " + rotated[0]
		}
		return fmt.Sprintf("rotate the keys of %d secrets: %s", len(rotated), strings.Join(rotated, ", "))
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	if noChange(o.ErrOut, err) {
		return o.settle(ctx, o.IOStreams)
	}
	if err != nil {
		return err
	}
	return o.finish(ctx, o.IOStreams, "rotated", res, names)
}

// rotate encrypts one document again for the current keys: sops to the recipients its
// .sops.yaml rule names now, sealed-secrets through the controller.
func rotate(ctx context.Context, p secrets.Provider, es *workflow.SecretDocument, path string) ([]byte, error) {
	switch p := p.(type) {
	case *sopsprovider.Provider:
		doc, _, err := p.UpdateKeys(ctx, es.Doc, path)
		return doc, err
	case *sealed.Provider:
		return p.Rotate(ctx, es.Doc)
	}
	return nil, fmt.Errorf("%s cannot rotate", p.Name())
}
