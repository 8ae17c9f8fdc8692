package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
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

// addFlags registers the sealed-secrets flags, and with create the provider and scope flags.
// The certificate flag is --cert as kubeseal names it, except where kubectl's own --cert (the
// TLS certificate of `create secret tls`) takes the name; --sealed-secrets-cert works everywhere.
func (s *secretFlags) addFlags(cmd *cobra.Command, create, certFlag bool) {
	fl := cmd.Flags()
	if create {
		fl.StringVar(&s.Provider, "secrets", "", "Encrypt with sops or sealed-secrets, instead of what the repository's configuration or the target's existing secrets use.")
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

// secretEnv builds the providers of one target's Secrets.
type secretEnv struct {
	flags  *secretFlags
	target *target.Target
	f      cmdutil.Factory

	sops   *sopsprovider.Provider
	sealed map[string]*sealed.Provider // by default namespace
}

func newSecretEnv(flags *secretFlags, t *target.Target, f cmdutil.Factory) *secretEnv {
	return &secretEnv{flags: flags, target: t, f: f, sealed: map[string]*sealed.Provider{}}
}

// provider returns the provider by name; namespace is the one a sealed value is bound to when
// its document names none.
func (e *secretEnv) provider(name, namespace string) (secrets.Provider, error) {
	switch name {
	case secrets.ProviderSOPS:
		if e.sops == nil {
			e.sops = sopsprovider.New(sopsprovider.Options{})
		}
		return e.sops, nil
	case secrets.ProviderSealedSecrets:
		return e.sealedProvider(namespace), nil
	}
	return nil, fmt.Errorf("unknown secrets provider %q", name)
}

func (e *secretEnv) sealedProvider(namespace string) *sealed.Provider {
	if p, ok := e.sealed[namespace]; ok {
		return p
	}
	cfg := e.target.Secrets.SealedSecrets
	configCert := cfg.Cert
	if configCert != "" && !strings.Contains(configCert, "://") && !filepath.IsAbs(configCert) {
		configCert = filepath.Join(e.target.RepoDir, filepath.FromSlash(configCert))
	}
	p := sealed.New(sealed.Options{
		Cert:                e.flags.Cert,
		ConfigCert:          configCert,
		ControllerNamespace: firstNonEmpty(e.flags.ControllerNamespace, cfg.ControllerNamespace),
		ControllerName:      firstNonEmpty(e.flags.ControllerName, cfg.ControllerName),
		RESTConfig:          e.restConfig(),
		DefaultNamespace:    namespace,
	})
	e.sealed[namespace] = p
	return p
}

// restConfig reaches the cluster the kubeconfig names, or nil when there is none: the
// certificate may come from elsewhere.
func (e *secretEnv) restConfig() *rest.Config {
	if e.f == nil {
		return nil
	}
	c, err := e.f.ToRESTConfig()
	if err != nil {
		return nil
	}
	return c
}

// choose decides the provider of a new Secret: --secrets, else the configuration, else what the
// target's existing secrets use.
func (e *secretEnv) choose(r *render.Result) (string, error) {
	var existing []string
	for _, o := range r.Objects {
		if !isSecretKind(o) {
			continue
		}
		doc, err := yaml.Marshal(o.Obj().Object)
		if err != nil {
			return "", err
		}
		existing = append(existing, secrets.Detect(doc))
	}
	return secrets.Choose(e.target.Secrets.Provider, existing, e.flags.Provider)
}

// isSecretKind tells a Secret or a SealedSecret.
func isSecretKind(o *render.Object) bool {
	return (o.ID.Kind == "Secret" && o.ID.Group == "") || (o.ID.Kind == "SealedSecret" && o.ID.Group == "bitnami.com")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// encryptedSecret is a Secret of a target as written in its file.
type encryptedSecret struct {
	obj      *render.Object
	doc      []byte
	provider string
}

// findSecret finds the encrypted Secret NAME of a render: a sops-encrypted Secret, or a
// SealedSecret (which unseals to a Secret of its name).
func findSecret(root string, r *render.Result, name, namespace string, nsExplicit bool) (*encryptedSecret, error) {
	var found []*render.Object
	for _, o := range r.Objects {
		if isSecretKind(o) && o.ID.Name == name && (!nsExplicit || o.ID.Namespace == "" || o.ID.Namespace == namespace) {
			found = append(found, o)
		}
	}
	switch {
	case len(found) == 0:
		in := ""
		if nsExplicit {
			in = " in namespace " + namespace
		}
		return nil, fmt.Errorf("secret %q not found%s in target path %s: create it with `kubectl gitops create secret`", name, in, r.Path)
	case len(found) > 1:
		var where []string
		for _, o := range found {
			where = append(where, o.ID.String())
		}
		return nil, fmt.Errorf("secret %q is defined more than once in target path %s (%s): pass -n NAMESPACE to choose", name, r.Path, strings.Join(where, ", "))
	}
	return readSecret(root, found[0])
}

// readSecret reads the document of a rendered Secret or SealedSecret from its file and tells
// which provider encrypted it.
func readSecret(root string, o *render.Object) (*encryptedSecret, error) {
	if o.Origin.Generated != "" {
		return nil, fmt.Errorf("%s is made by a generator in %s: change the generator's encrypted source there", o.ID, o.Origin.Generated)
	}
	if o.Origin.File == "" || o.Origin.Doc < 0 {
		return nil, fmt.Errorf("%s does not come from a file of the repository", o.ID)
	}
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(o.Origin.File)))
	if err != nil {
		return nil, err
	}
	doc, err := placement.Document(src, o.Origin.Doc)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", o.ID, o.Origin.File, err)
	}
	// The render may come from another tree than the working tree (a push retried on the
	// remote's new head): the file must hold what was rendered.
	if !sameCiphertext(doc, o.Obj().Object) {
		return nil, fmt.Errorf("%s in %s is not what the target renders (it changed meanwhile?): run the command again", o.ID, o.Origin.File)
	}
	p := secrets.Detect(doc)
	if p == "" {
		return nil, fmt.Errorf("%s in %s is not encrypted: its values are in plain text in the repository; encrypt it with sops or sealed-secrets before changing it here", o.ID, o.Origin.File)
	}
	return &encryptedSecret{obj: o, doc: doc, provider: p}, nil
}

// sameCiphertext tells whether a document holds the encrypted parts of a rendered object.
func sameCiphertext(doc []byte, rendered map[string]any) bool {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return false
	}
	same := func(a, b any) bool {
		x, err1 := json.Marshal(a)
		y, err2 := json.Marshal(b)
		return err1 == nil && err2 == nil && bytes.Equal(x, y)
	}
	spec := func(obj map[string]any) any {
		s, _ := obj["spec"].(map[string]any)
		return s["encryptedData"]
	}
	return same(m["sops"], rendered["sops"]) && same(m["data"], rendered["data"]) &&
		same(m["stringData"], rendered["stringData"]) && same(spec(m), spec(rendered))
}

// desiredAfter is how the object renders once its document becomes newDoc: the rendered object
// with the document's change (a JSON merge patch from oldDoc to newDoc) applied, so what the
// target's transformers add stays.
func desiredAfter(o *render.Object, oldDoc, newDoc []byte) (map[string]any, error) {
	oldJS, err := yaml.YAMLToJSON(oldDoc)
	if err != nil {
		return nil, err
	}
	newJS, err := yaml.YAMLToJSON(newDoc)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.CreateMergePatch(oldJS, newJS)
	if err != nil {
		return nil, err
	}
	cur, err := json.Marshal(o.Obj().Object)
	if err != nil {
		return nil, err
	}
	out, err := jsonpatch.MergePatch(cur, patch)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(out); err != nil {
		return nil, err
	}
	return u.Object, nil
}

// decodeDocument reads a document as rendered objects are read: numbers as int64 and float64.
func decodeDocument(doc []byte) (map[string]any, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	return u.Object, nil
}

// secretName names a Secret for messages: shop/db, or db without a namespace.
func secretName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
