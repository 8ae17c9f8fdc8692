package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/providers"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// secretFlags are the flags of the commands that encrypt Secrets: which provider (create only)
// and where sealed-secrets' certificate and controller are.
type secretFlags struct {
	Provider            string
	Scope               string
	Cert                string
	ControllerNamespace string
	ControllerName      string
}

// addFlags registers the secrets flags: --secrets and where sealed-secrets' certificate and
// controller are, with --scope where a new SealedSecret is made. The certificate flag is
// --cert as kubeseal names it, except where kubectl's own --cert (the TLS certificate of
// `create secret tls`) takes the name; --sealed-secrets-cert works everywhere.
func (s *secretFlags) addFlags(cmd *cobra.Command, scope, certFlag bool) {
	fl := cmd.Flags()
	fl.StringVar(&s.Provider, "secrets", "", "Encrypt a Secret this command writes with sops or sealed-secrets, instead of what the repository says (secrets.provider in .kubectl-gitops.yaml, a .sops.yaml creation rule, the target's existing secrets).")
	if scope {
		fl.StringVar(&s.Scope, "scope", "", "The sealed-secrets scope: strict (the default), namespace-wide or cluster-wide.")
	}
	const certUsage = "The sealed-secrets certificate: a file or an http(s) URL (default: $SEALED_SECRETS_CERT, the configuration's secrets.sealedSecrets.cert, else the controller through the API server)."
	if certFlag {
		fl.StringVar(&s.Cert, "cert", "", certUsage)
	}
	fl.StringVar(&s.Cert, "sealed-secrets-cert", "", certUsage)
	fl.StringVar(&s.ControllerNamespace, "controller-namespace", "", "Namespace of the sealed-secrets controller (default: the configuration's, else kube-system).")
	fl.StringVar(&s.ControllerName, "controller-name", "", "Name of the sealed-secrets controller's Service (default: the configuration's, else sealed-secrets-controller).")
}

func (s *secretFlags) validate(cmd *cobra.Command) error {
	switch s.Provider {
	case "", secrets.ProviderSOPS, secrets.ProviderSealedSecrets:
	default:
		return usageErrorf(cmd, "--secrets must be %s or %s, not %q", secrets.ProviderSOPS, secrets.ProviderSealedSecrets, s.Provider)
	}
	if _, err := secrets.ParseScope(s.Scope); err != nil {
		return usageErrorf(cmd, "--scope: %v", err)
	}
	return nil
}

// providers are the secrets providers of target t, as the flags and the repository's
// configuration say; the cluster (for the sealed-secrets certificate) is reached only when one
// is needed.
func (c *changeFlags) providers(t *target.Target) *providers.Set {
	return c.providersIn(t, "")
}

// providersIn is providers binding sealed values to namespace when nothing else names one.
func (c *changeFlags) providersIn(t *target.Target, namespace string) *providers.Set {
	cfg := t.Secrets.SealedSecrets
	var restConfig func() *rest.Config
	if c.factory != nil {
		f := c.factory
		restConfig = func() *rest.Config {
			rc, err := f.ToRESTConfig()
			if err != nil {
				return nil
			}
			return rc
		}
	}
	return providers.New(providers.Options{
		RepoDir:             t.RepoDir,
		Flag:                c.Provider,
		Config:              t.Secrets.Provider,
		Cert:                c.Cert,
		ConfigCert:          cfg.Cert,
		ControllerNamespace: firstNonEmpty(c.ControllerNamespace, cfg.ControllerNamespace),
		ControllerName:      firstNonEmpty(c.ControllerName, cfg.ControllerName),
		RESTConfig:          restConfig,
		Scope:               secrets.Scope(c.Scope),
		Namespace:           namespace,
	})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// secretName names a Secret for messages: shop/db, or db without a namespace.
func secretName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
