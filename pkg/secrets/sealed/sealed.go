// Package sealed encrypts Secrets as Bitnami SealedSecrets
// (github.com/bitnami-labs/sealed-secrets): sealing with the controller's certificate, in the
// strict, namespace-wide or cluster-wide scope, re-sealing only the keys that change, and
// rotation through the controller.
package sealed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
)

// Options configures a Provider. The command fills it from its flags and the configuration.
type Options struct {
	// Cert is --cert: a certificate file, or an http(s) or file:// URL.
	Cert string
	// ConfigCert is the configuration's secrets.sealedSecrets.cert, resolved to an absolute
	// path or a URL.
	ConfigCert string
	// ControllerNamespace and ControllerName name the controller's Service; empty means
	// kube-system and sealed-secrets-controller.
	ControllerNamespace string
	ControllerName      string
	// ControllerURL is the controller's own HTTP address (http://host:port). When set, the
	// certificate and rotation are asked of it directly instead of through the API server.
	ControllerURL string
	// RESTConfig reaches the API server, whose service proxy leads to the controller.
	RESTConfig *rest.Config
	// DefaultNamespace is the namespace of a Secret or SealedSecret that names none, as the
	// target renders it.
	DefaultNamespace string
	// LookupEnv reads $SEALED_SECRETS_CERT; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Provider is the sealed-secrets secrets.Provider.
type Provider struct {
	opts Options

	mu        sync.Mutex
	pub       *rsa.PublicKey
	pubSource string
}

var _ secrets.Provider = (*Provider)(nil)

// New returns a sealed-secrets Provider. Nothing is fetched until a key is needed.
func New(opts Options) *Provider {
	return &Provider{opts: opts}
}

// Name returns secrets.ProviderSealedSecrets.
func (p *Provider) Name() string { return secrets.ProviderSealedSecrets }

func (p *Provider) lookupEnv(name string) (string, bool) {
	if p.opts.LookupEnv != nil {
		return p.opts.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// Encrypt seals a Secret into a SealedSecret whose template carries the Secret's metadata
// (last-applied annotation and managedFields stripped) and type.
func (p *Provider) Encrypt(ctx context.Context, req secrets.EncryptRequest) ([]byte, error) {
	u, err := secrets.NormalizeSecret(req.Secret)
	if err != nil {
		return nil, err
	}
	secret, err := secrets.TypedSecret(u)
	if err != nil {
		return nil, err
	}
	if secret.Namespace == "" {
		secret.Namespace = req.Namespace
	}
	if secret.Namespace == "" {
		secret.Namespace = p.opts.DefaultNamespace
	}
	scope := req.Scope
	if scope == "" {
		scope = fromSS(ssv1alpha1.SecretScope(secret))
	}
	if _, err := secrets.ParseScope(string(scope)); err != nil {
		return nil, err
	}
	if scope == secrets.ScopeClusterWide && u.GetNamespace() == "" {
		secret.Namespace = "" // the Secret itself named none: let it be applied anywhere
	}
	if secret.Namespace == "" && scope != secrets.ScopeClusterWide {
		return nil, fmt.Errorf("sealing Secret %s: a %s SealedSecret is bound to a namespace, and none is known: give the Secret one, or seal it cluster-wide", secret.Name, scope)
	}
	secret.Annotations = ssv1alpha1.UpdateScopeAnnotations(secret.Annotations, toSS(scope))
	if len(secret.Data) == 0 && len(secret.StringData) == 0 {
		return nil, fmt.Errorf("sealing Secret %s: it has no data", secret.Name)
	}
	pub, _, err := p.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := ssv1alpha1.NewSealedSecret(scheme.Codecs, pub, secret)
	if err != nil {
		return nil, fmt.Errorf("sealing Secret %s: %w", secret.Name, err)
	}
	ss.APIVersion = ssv1alpha1.SchemeGroupVersion.String()
	ss.Kind = "SealedSecret"
	return render(ss, req.Indent)
}

// Inspect reads a SealedSecret's name, type, scope and key names: its values cannot be read
// without the controller's private key.
func (p *Provider) Inspect(_ context.Context, doc []byte) (*secrets.Inspection, error) {
	ss, err := decode(doc)
	if err != nil {
		return nil, err
	}
	in := &secrets.Inspection{
		Provider:  secrets.ProviderSealedSecrets,
		Name:      ss.Name,
		Namespace: ss.Namespace,
		Type:      ss.Spec.Template.Type,
		Scope:     scopeOf(ss),
	}
	if in.Name == "" {
		in.Name = ss.Spec.Template.Name
	}
	if in.Namespace == "" {
		in.Namespace = ss.Spec.Template.Namespace
	}
	if in.Type == "" {
		in.Type = corev1.SecretTypeOpaque
	}
	for k := range ss.Spec.EncryptedData {
		in.Keys = append(in.Keys, k)
	}
	slices.Sort(in.Keys)
	return in, nil
}

// Update seals the keys of set for the SealedSecret's own name, namespace and scope (read from
// its annotations, which kubeseal's merge ignores) and deletes the keys of del. The other
// keys keep their ciphertext and the document its lines.
func (p *Provider) Update(ctx context.Context, doc []byte, set map[string][]byte, del []string) ([]byte, error) {
	ss, err := decode(doc)
	if err != nil {
		return nil, err
	}
	newValues := map[string]string{}
	if len(set) > 0 {
		label, err := p.label(ss)
		if err != nil {
			return nil, err
		}
		pub, _, err := p.PublicKey(ctx)
		if err != nil {
			return nil, err
		}
		for key, value := range set {
			sealed, err := crypto.HybridEncrypt(rand.Reader, pub, value, label)
			if err != nil {
				return nil, fmt.Errorf("sealing %s: %w", key, err)
			}
			newValues[key] = base64.StdEncoding.EncodeToString(sealed)
		}
	}
	var gone []string
	for _, key := range del {
		_, exists := ss.Spec.EncryptedData[key]
		if _, setToo := set[key]; exists && !setToo {
			gone = append(gone, key)
		}
	}
	if len(newValues) == 0 && len(gone) == 0 {
		return doc, nil
	}
	return editEncryptedData(doc, newValues, gone)
}

// label is the RSA-OAEP label that binds a value to the SealedSecret's scope.
func (p *Provider) label(ss *ssv1alpha1.SealedSecret) ([]byte, error) {
	scope := scopeOf(ss)
	ns := ss.Namespace
	if ns == "" {
		ns = p.opts.DefaultNamespace
	}
	if ns == "" && scope != secrets.ScopeClusterWide {
		return nil, fmt.Errorf("SealedSecret %s names no namespace, and its %s scope binds its values to one: give it one", ss.Name, scope)
	}
	if ss.Name == "" && scope == secrets.ScopeStrict {
		return nil, fmt.Errorf("the SealedSecret has no name, and its strict scope binds its values to one")
	}
	return ssv1alpha1.EncryptionLabel(ns, ss.Name, toSS(scope)), nil
}

// Encrypted tells whether doc is a SealedSecret whose every encryptedData value is well-formed
// and whose template holds no plaintext data.
func (p *Provider) Encrypted(doc []byte) bool {
	var top map[string]any
	if err := sigsyaml.Unmarshal(doc, &top); err != nil || top["kind"] != "SealedSecret" {
		return false
	}
	spec, _ := top["spec"].(map[string]any)
	if template, ok := spec["template"].(map[string]any); ok {
		if data, ok := template["data"].(map[string]any); ok && len(data) > 0 {
			return false
		}
	}
	values, ok := spec["encryptedData"].(map[string]any)
	if !ok {
		return false
	}
	for _, v := range values {
		if s, ok := v.(string); !ok || !WellFormed(s) {
			return false
		}
	}
	return true
}

// WellFormed tells whether s has the shape of a sealed value: base64 of a two-byte length of
// an RSA ciphertext (1024 to 4096-bit keys), that ciphertext, then AES-GCM output with its
// 16-byte tag.
func WellFormed(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 2 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b))
	return (n == 128 || n == 256 || n == 384 || n == 512) && len(b) >= 2+n+16
}

func decode(doc []byte) (*ssv1alpha1.SealedSecret, error) {
	var ss ssv1alpha1.SealedSecret
	if err := sigsyaml.Unmarshal(doc, &ss); err != nil {
		return nil, fmt.Errorf("reading the SealedSecret: %w", err)
	}
	if ss.Kind != "SealedSecret" {
		return nil, fmt.Errorf("not a SealedSecret: kind %q", ss.Kind)
	}
	return &ss, nil
}

// scopeOf reads the scope the controller unseals with: the SealedSecret's own annotations,
// else its template's.
func scopeOf(ss *ssv1alpha1.SealedSecret) secrets.Scope {
	if scope := ssv1alpha1.SecretScope(ss); scope != ssv1alpha1.StrictScope {
		return fromSS(scope)
	}
	return fromSS(ss.Scope())
}

func toSS(s secrets.Scope) ssv1alpha1.SealingScope {
	switch s {
	case secrets.ScopeNamespaceWide:
		return ssv1alpha1.NamespaceWideScope
	case secrets.ScopeClusterWide:
		return ssv1alpha1.ClusterWideScope
	}
	return ssv1alpha1.StrictScope
}

func fromSS(s ssv1alpha1.SealingScope) secrets.Scope {
	return secrets.Scope(s.String())
}

// render writes a SealedSecret as YAML with sorted keys (as kubeseal and kubectl do) in the
// given indentation, without the empty fields the Go types carry.
func render(ss *ssv1alpha1.SealedSecret, indent int) ([]byte, error) {
	raw, err := json.Marshal(ss)
	if err != nil {
		return nil, fmt.Errorf("encoding SealedSecret %s: %w", ss.Name, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	prune(obj)
	if indent <= 0 {
		indent = 2
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indent)
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("encoding SealedSecret %s: %w", ss.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// prune drops nulls and empty maps (creationTimestamp: null, template: {metadata: {}}).
func prune(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			prune(sub)
			if len(sub) == 0 && k != "encryptedData" {
				delete(m, k)
			}
			continue
		}
		if v == nil {
			delete(m, k)
		}
	}
}
