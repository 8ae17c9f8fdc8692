// Package providers builds the secrets providers one command encrypts with (sops, and
// sealed-secrets bound to a namespace) from the command's flags and the repository's
// configuration, and chooses the provider of a Secret about to be written. The write path asks
// it for every Secret any command writes, so that no command can write one another way.
package providers

import (
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
)

// Options are what the providers are built from: flags first, then the configuration.
type Options struct {
	// RepoDir is the repository's working tree: .sops.yaml rules are looked up from a file's
	// directory up to it, and a configured certificate path is relative to it.
	RepoDir string
	// Flag is --secrets; Config is secrets.provider of .kubectl-gitops.yaml.
	Flag, Config string
	// Cert is --sealed-secrets-cert (a file or URL); ConfigCert the configuration's.
	Cert, ConfigCert string
	// ControllerNamespace and ControllerName locate the sealed-secrets controller (flags,
	// else the configuration).
	ControllerNamespace, ControllerName string
	// RESTConfig reaches the cluster whose controller's certificate seals; nil when none.
	RESTConfig func() *rest.Config
	// Namespace binds a sealed value when neither the Secret nor its target names a
	// namespace (the kubeconfig's, as kubeseal uses).
	Namespace string
	// Scope is --scope, the scope of a new SealedSecret; empty means what the Secret's
	// annotations ask for, else strict.
	Scope secrets.Scope
}

// Set builds each provider once per command.
type Set struct {
	opts   Options
	sops   *sopsprovider.Provider
	sealed map[string]*sealed.Provider // by the namespace a value is bound to by default
}

// New returns the providers of Options.
func New(opts Options) *Set {
	return &Set{opts: opts, sealed: map[string]*sealed.Provider{}}
}

// Get returns the provider by name; namespace is the one a sealed value is bound to when its
// document names none.
func (s *Set) Get(name, namespace string) (secrets.Provider, error) {
	switch name {
	case secrets.ProviderSOPS:
		if s.sops == nil {
			s.sops = sopsprovider.New(sopsprovider.Options{})
		}
		return s.sops, nil
	case secrets.ProviderSealedSecrets:
		if p, ok := s.sealed[namespace]; ok {
			return p, nil
		}
		cert := s.opts.ConfigCert
		if cert != "" && !strings.Contains(cert, "://") && !filepath.IsAbs(cert) {
			cert = filepath.Join(s.opts.RepoDir, filepath.FromSlash(cert))
		}
		var cfg *rest.Config
		if s.opts.RESTConfig != nil {
			cfg = s.opts.RESTConfig()
		}
		p := sealed.New(sealed.Options{
			Cert:                s.opts.Cert,
			ConfigCert:          cert,
			ControllerNamespace: s.opts.ControllerNamespace,
			ControllerName:      s.opts.ControllerName,
			RESTConfig:          cfg,
			DefaultNamespace:    namespace,
		})
		s.sealed[namespace] = p
		return p, nil
	}
	return nil, fmt.Errorf("unknown secrets provider %q", name)
}

// Namespace is the namespace a sealed value is bound to when nothing else names one.
func (s *Set) Namespace() string { return s.opts.Namespace }

// Scope is the sealed-secrets scope a new SealedSecret gets (empty: the default).
func (s *Set) Scope() secrets.Scope { return s.opts.Scope }

// Choose decides the provider of a Secret written to file (repository-relative) in a target
// whose existing secrets use the providers existing (secrets.Detect of each): --secrets, else
// the configuration, else a .sops.yaml rule that matches the file and the target's secrets.
func (s *Set) Choose(file string, existing []string) (string, error) {
	root, err := filepath.Abs(s.opts.RepoDir)
	if err != nil {
		return "", err
	}
	c := secrets.Choice{Flag: s.opts.Flag, Config: s.opts.Config, Existing: existing}
	if rule, ok := sopsprovider.MatchingRule(root, filepath.Join(root, filepath.FromSlash(file))); ok {
		if rel, err := filepath.Rel(root, rule); err == nil {
			rule = filepath.ToSlash(rel)
		}
		c.SopsRule = rule
	}
	return secrets.Choose(c)
}
