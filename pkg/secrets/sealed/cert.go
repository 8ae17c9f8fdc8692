package sealed

import (
	"context"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/bitnami-labs/sealed-secrets/pkg/kubeseal"
	"k8s.io/client-go/rest"
)

// The controller's defaults, as kubeseal and the Helm chart have them.
const (
	DefaultControllerNamespace = "kube-system"
	DefaultControllerName      = "sealed-secrets-controller"
)

// CertEnv names a certificate file or URL, as for kubeseal.
const CertEnv = "SEALED_SECRETS_CERT"

// PublicKey returns the sealing key, fetched on first use and kept: from --cert, else
// $SEALED_SECRETS_CERT, else the configuration's certificate, else the controller (its
// ControllerURL, or its Service through the API server's proxy). source says which.
func (p *Provider) PublicKey(ctx context.Context) (key *rsa.PublicKey, source string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub != nil {
		return p.pub, p.pubSource, nil
	}
	certURL, source := p.certLocation()
	if certURL == "" && p.opts.RESTConfig == nil {
		return nil, "", fmt.Errorf("no sealed-secrets certificate: pass --cert FILE|URL, set $%s, set secrets.sealedSecrets.cert in .kubectl-gitops.yaml, or use a kubeconfig that reaches the cluster running the controller", CertEnv)
	}
	if certURL == "" {
		source = fmt.Sprintf("the controller %s/%s through the API server", p.namespace(), p.name())
	}
	r, err := kubeseal.OpenCert(ctx, restClientConfig{p.opts.RESTConfig}, p.namespace(), p.name(), certURL)
	if err != nil {
		return nil, "", fmt.Errorf("fetching the sealed-secrets certificate from %s: %w", source, err)
	}
	defer r.Close()
	if p.pub, err = kubeseal.ParseKey(r); err != nil {
		return nil, "", fmt.Errorf("reading the sealed-secrets certificate from %s: %w", source, err)
	}
	p.pubSource = source
	return p.pub, source, nil
}

// certLocation returns the file or URL the certificate comes from and a description of it,
// or "" when it comes from the controller's Service.
func (p *Provider) certLocation() (string, string) {
	if p.opts.Cert != "" {
		return p.opts.Cert, "--cert " + p.opts.Cert
	}
	if v, ok := p.lookupEnv(CertEnv); ok && v != "" {
		return v, "$" + CertEnv + " (" + v + ")"
	}
	if p.opts.ConfigCert != "" {
		return p.opts.ConfigCert, "secrets.sealedSecrets.cert (" + p.opts.ConfigCert + ")"
	}
	if p.opts.ControllerURL != "" {
		u := strings.TrimSuffix(p.opts.ControllerURL, "/") + "/v1/cert.pem"
		return u, u
	}
	return "", ""
}

func (p *Provider) namespace() string {
	if p.opts.ControllerNamespace != "" {
		return p.opts.ControllerNamespace
	}
	return DefaultControllerNamespace
}

func (p *Provider) name() string {
	if p.opts.ControllerName != "" {
		return p.opts.ControllerName
	}
	return DefaultControllerName
}

// restClientConfig gives kubeseal the client configuration it asks for.
type restClientConfig struct{ config *rest.Config }

func (c restClientConfig) ClientConfig() (*rest.Config, error) {
	if c.config == nil {
		return nil, fmt.Errorf("no cluster to reach the sealed-secrets controller: no kubeconfig")
	}
	return rest.CopyConfig(c.config), nil
}

func (c restClientConfig) Namespace() (string, bool, error) { return "", false, nil }
