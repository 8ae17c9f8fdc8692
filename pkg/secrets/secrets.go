// Package secrets encrypts the Secrets the tool writes: the Provider interface that sops
// (pkg/secrets/sops) and sealed-secrets (pkg/secrets/sealed) implement, which provider a target
// uses, and the clean-up every Secret gets before it is encrypted. It imports no provider, so
// that sops' cloud SDKs stay inside pkg/secrets/sops.
package secrets

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Provider names, as in .kubectl-gitops.yaml's secrets.provider and the --secrets flag.
const (
	ProviderSOPS          = "sops"
	ProviderSealedSecrets = "sealed-secrets"
)

// Provider encrypts Secrets for a target's repository and works on what it encrypted.
// Plaintext only ever lives in memory: in a request, in an Inspection, in Update's arguments.
type Provider interface {
	// Name is ProviderSOPS or ProviderSealedSecrets.
	Name() string
	// Encrypt turns a plaintext Secret into the YAML document to write: for sops the Secret
	// with encrypted values and a sops block, for sealed-secrets a SealedSecret.
	Encrypt(ctx context.Context, req EncryptRequest) ([]byte, error)
	// Inspect reads a document this provider wrote: sops decrypts the values (in memory),
	// sealed-secrets only knows the key names.
	Inspect(ctx context.Context, doc []byte) (*Inspection, error)
	// Update sets and deletes keys of an encrypted document. Only the values that change are
	// encrypted again; every other ciphertext stays byte-identical. Setting a key to the value
	// it has already, or deleting a key that is absent, changes nothing.
	Update(ctx context.Context, doc []byte, set map[string][]byte, del []string) ([]byte, error)
	// Encrypted tells whether doc is properly encrypted by this provider.
	Encrypted(doc []byte) bool
}

// EncryptRequest is a Secret to encrypt and where it goes.
type EncryptRequest struct {
	// Secret is a *corev1.Secret or an unstructured Secret. It is not modified.
	Secret runtime.Object
	// Path is the absolute path of the file the document will be written to: sops' creation
	// rules in .sops.yaml are matched against it.
	Path string
	// Indent is the repository's YAML indentation; zero means two spaces.
	Indent int
	// Namespace is used when the Secret names none: a strict or namespace-wide SealedSecret is
	// bound to its namespace.
	Namespace string
	// Scope is the sealed-secrets scope; empty means the scope the Secret's annotations ask
	// for, else strict. sops ignores it.
	Scope Scope
}

// Scope is where a SealedSecret may be unsealed.
type Scope string

// The sealed-secrets scopes, named as kubeseal's --scope names them.
const (
	// ScopeStrict binds the SealedSecret to its name and namespace.
	ScopeStrict Scope = "strict"
	// ScopeNamespaceWide lets it be renamed within its namespace.
	ScopeNamespaceWide Scope = "namespace-wide"
	// ScopeClusterWide lets it be unsealed under any name in any namespace.
	ScopeClusterWide Scope = "cluster-wide"
)

// ParseScope checks a scope given by a user; empty is allowed and means "not given".
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case "", ScopeStrict, ScopeNamespaceWide, ScopeClusterWide:
		return sc, nil
	}
	return "", fmt.Errorf("unknown sealed-secrets scope %q: want %s, %s or %s", s, ScopeStrict, ScopeNamespaceWide, ScopeClusterWide)
}

// Inspection is what a provider can tell about an encrypted Secret.
type Inspection struct {
	// Provider is the provider's name.
	Provider string
	// Name, Namespace and Type are the Secret's (for a SealedSecret, the Secret it unseals to).
	Name      string
	Namespace string
	Type      corev1.SecretType
	// Keys are the Secret's keys, sorted.
	Keys []string
	// Values holds each key's decoded value: sops only, nil for sealed-secrets. Keep it in
	// memory; never write it anywhere.
	Values map[string][]byte
	// Scope is the SealedSecret's scope; empty for sops.
	Scope Scope
}

// sensitiveAnnotations hold a copy of the whole object, plaintext values included.
var sensitiveAnnotations = []string{
	corev1.LastAppliedConfigAnnotation,
	"kubecfg.ksonnet.io/last-applied-configuration",
}

// StripSensitiveMetadata removes what would leak the plaintext or has no place in Git: the
// last-applied-configuration annotation (sops leaves metadata in the clear, and the annotation
// holds the whole Secret) and managedFields.
func StripSensitiveMetadata(secret metav1.Object) {
	if annotations := secret.GetAnnotations(); annotations != nil {
		for _, a := range sensitiveAnnotations {
			delete(annotations, a)
		}
		if len(annotations) == 0 {
			annotations = nil
		}
		secret.SetAnnotations(annotations)
	}
	secret.SetManagedFields(nil)
}

// NormalizeSecret returns a copy of obj (a *corev1.Secret or an unstructured Secret) as an
// unstructured v1 Secret ready to encrypt: sensitive metadata stripped, and the null
// creationTimestamp that typed objects carry removed.
func NormalizeSecret(obj runtime.Object) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, fmt.Errorf("no Secret to encrypt")
	}
	var u *unstructured.Unstructured
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		u = o.DeepCopy()
	default:
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("converting %T to a Secret: %w", obj, err)
		}
		u = &unstructured.Unstructured{Object: content}
	}
	if u.GetAPIVersion() == "" && u.GetKind() == "" {
		u.SetAPIVersion("v1")
		u.SetKind("Secret")
	}
	if u.GetAPIVersion() != "v1" || u.GetKind() != "Secret" {
		return nil, fmt.Errorf("only v1 Secrets are encrypted, not %s %s", u.GetAPIVersion(), u.GetKind())
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("the Secret has no name")
	}
	StripSensitiveMetadata(u)
	if meta, ok := u.Object["metadata"].(map[string]any); ok {
		if ts, found := meta["creationTimestamp"]; found && ts == nil {
			delete(meta, "creationTimestamp")
		}
	}
	return u, nil
}

// TypedSecret converts a normalized Secret to its typed form.
func TypedSecret(u *unstructured.Unstructured) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, secret); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", u.GetName(), err)
	}
	return secret, nil
}

// Indent returns the indentation of a YAML document's nested mappings, two when it has none:
// documents the tool rewrites keep the indentation they had.
func Indent(doc []byte) int {
	parent := false
	for line := range strings.Lines(string(doc)) {
		trimmed := strings.TrimLeft(line, " ")
		content := strings.TrimSpace(trimmed)
		if content == "" || strings.HasPrefix(content, "#") || content == "---" {
			continue
		}
		n := len(line) - len(trimmed)
		if parent && n > 0 && !strings.HasPrefix(content, "- ") && content != "-" {
			return n
		}
		parent = n == 0 && strings.HasSuffix(content, ":") && !strings.HasPrefix(content, "-")
	}
	return 2
}
