package workflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apipath "k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/providers"
	sopsprovider "github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sops"
)

// SecretDocument is a Secret of a target as its file holds it: a sops-encrypted Secret, a
// SealedSecret, or a Secret in plain text (Provider "").
type SecretDocument struct {
	Object   *render.Object
	Doc      []byte
	Provider string
}

// ReadSecret reads the document of a rendered Secret or SealedSecret from its file and tells
// which provider encrypted it.
func ReadSecret(root string, o *render.Object) (*SecretDocument, error) {
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
	return &SecretDocument{Object: o, Doc: doc, Provider: secrets.Detect(doc)}, nil
}

// FindSecret finds the encrypted Secret NAME of a render: a sops-encrypted Secret, or a
// SealedSecret (which unseals to a Secret of its name).
func FindSecret(root string, r *render.Result, name, namespace string, nsExplicit bool) (*SecretDocument, error) {
	var found []*render.Object
	for _, o := range r.Objects {
		if IsSecretKind(o) && o.ID.Name == name && (!nsExplicit || o.ID.Namespace == "" || o.ID.Namespace == namespace) {
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
	sd, err := ReadSecret(root, found[0])
	if err != nil {
		return nil, err
	}
	if err := sd.Encrypted(); err != nil {
		return nil, err
	}
	return sd, nil
}

// Encrypted says, when the document is in plain text, that the plugin will not change it.
func (sd *SecretDocument) Encrypted() error {
	if sd.Provider != "" {
		return nil
	}
	return fmt.Errorf("%s in %s is not encrypted: its values are in plain text in the repository, and kubectl gitops writes no plaintext Secret; encrypt the file first (for sops: `sops --encrypt --in-place %s`) and run the command again",
		sd.Object.ID, sd.Object.Origin.File, sd.Object.Origin.File)
}

// IsSecretKind tells a Secret or a SealedSecret.
func IsSecretKind(o *render.Object) bool {
	return (o.ID.Kind == "Secret" && o.ID.Group == "") || (o.ID.Kind == "SealedSecret" && o.ID.Group == "bitnami.com")
}

func isCoreSecret(m map[string]any) bool {
	return m["apiVersion"] == "v1" && m["kind"] == "Secret"
}

// sameCiphertext tells whether a document holds the encrypted parts of a rendered object.
func sameCiphertext(doc []byte, rendered map[string]any) bool {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return false
	}
	spec := func(obj map[string]any) any {
		s, _ := obj["spec"].(map[string]any)
		return s["encryptedData"]
	}
	return sameJSON(m["sops"], rendered["sops"]) && sameJSON(m["data"], rendered["data"]) &&
		sameJSON(m["stringData"], rendered["stringData"]) && sameJSON(spec(m), spec(rendered))
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// DesiredAfter is how the object renders once its document becomes newDoc: the rendered object
// with the document's change (a JSON merge patch from oldDoc to newDoc) applied, so what the
// target's transformers add stays.
func DesiredAfter(o *render.Object, oldDoc, newDoc []byte) (map[string]any, error) {
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

// DecodeDocument reads a document as rendered objects are read: numbers as int64 and float64.
func DecodeDocument(doc []byte) (map[string]any, error) {
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

// sealer is the first stage of the gate: every change of a Secret, whatever command asked for
// it, becomes a change the secrets provider wrote. A new Secret is encrypted whole (or its
// values sealed into the SealedSecret of its name); a change of a sops-encrypted Secret is made
// by sops on the decrypted document, so only changed values get new ciphertext and the MAC
// covers the result; a plaintext Secret in the repository is not changed at all. Plaintext
// values exist only in memory, between the command and the encryptor.
type sealer struct {
	ctx       context.Context
	providers *providers.Set
	root      string // absolute
	r         *render.Result
	// fileName names a new object's file; nil means <kind>-<name>.yaml.
	fileName func(kind, name, namespace string) (string, error)
	// namespace binds a sealed value whose Secret names none.
	namespace string

	existing []string // the providers of the target's Secrets, once known
	kust     *targetKust
}

// targetKust is what a new file takes from the target's kustomization: its indentation, and the
// namespace it puts every object in.
type targetKust struct {
	indent    int
	namespace string
}

func (s *sealer) seal(changes []change.ObjectChange) error {
	for i := range changes {
		ch := &changes[i]
		if ch.Desired == nil {
			continue
		}
		if ch.Object == nil {
			if err := s.nameFile(ch, ""); err != nil {
				return err
			}
		}
		if !isCoreSecret(ch.Desired) {
			continue
		}
		var err error
		switch {
		case ch.Content != nil:
			if secrets.Detect(ch.Content) == "" && len(secretValues(ch.Desired)) > 0 {
				err = fmt.Errorf("%s: the document to write is not encrypted", ch.Object.ID)
			}
		case ch.Object == nil:
			err = s.create(ch)
		default:
			err = s.change(ch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nameFile gives a new object the name of its file, as written kind: the caller's, or
// <kind>-<name>.yaml. The name must be one a file can have: the API server would refuse the
// others anyway, and "../x" must not lead outside the target.
func (s *sealer) nameFile(ch *change.ObjectChange, kind string) error {
	u := unstructured.Unstructured{Object: ch.Desired}
	name := u.GetName()
	if name == "" {
		return fmt.Errorf("a new %s needs metadata.name", strings.ToLower(u.GetKind()))
	}
	if errs := apipath.IsValidPathSegmentName(name); len(errs) > 0 {
		return fmt.Errorf("%s %q: invalid name: %s", strings.ToLower(u.GetKind()), name, strings.Join(errs, "; "))
	}
	if kind == "" {
		if ch.FileName != "" {
			return checkFileName(ch.FileName)
		}
		kind = u.GetKind()
	}
	if s.fileName == nil {
		ch.FileName = strings.ToLower(kind) + "-" + name + ".yaml"
		return nil
	}
	fn, err := s.fileName(kind, name, u.GetNamespace())
	if err != nil {
		return err
	}
	ch.FileName = fn
	return checkFileName(fn)
}

// checkFileName refuses a new file's name that leaves the target's directory.
func checkFileName(fn string) error {
	if fn == "" || path.IsAbs(fn) || strings.Contains(fn, `\`) || path.Clean(fn) != fn || fn == "." ||
		fn == ".." || strings.HasPrefix(fn, "../") {
		return fmt.Errorf("%q is not a file name inside the target's directory", fn)
	}
	return nil
}

// secretValues are the value keys of a Secret: data and stringData.
func secretValues(obj map[string]any) []string {
	var keys []string
	for _, field := range []string{"data", "stringData"} {
		m, _ := obj[field].(map[string]any)
		for k := range m {
			keys = append(keys, field+"."+k)
		}
	}
	return keys
}

// encryptedAlready tells whether a Secret is a whole sops document (a revision restored as it
// was committed): every value sops ciphertext, with its sops block.
func encryptedAlready(obj map[string]any) bool {
	if _, ok := obj["sops"].(map[string]any); !ok {
		return false
	}
	for _, field := range []string{"data", "stringData"} {
		m, _ := obj[field].(map[string]any)
		for _, v := range m {
			if s, ok := v.(string); !ok || !sopsprovider.WellFormed(s) {
				return false
			}
		}
	}
	return true
}

// create encrypts a new Secret for its own file, or, when the target has a SealedSecret of the
// Secret's name, seals its values into that one (apply -f of a Secret the repository holds
// sealed).
func (s *sealer) create(ch *change.ObjectChange) error {
	u := &unstructured.Unstructured{Object: ch.Desired}
	if len(secretValues(ch.Desired)) == 0 || encryptedAlready(ch.Desired) {
		return nil
	}
	if ss := s.sealedNamed(u.GetName(), u.GetNamespace()); ss != nil {
		return s.intoSealed(ch, ss, u)
	}
	existing, err := s.existingProviders()
	if err != nil {
		return err
	}
	provider, err := s.providers.Choose(path.Join(s.r.Path, ch.FileName), existing)
	if err != nil {
		return fmt.Errorf("secret %q: %w", u.GetName(), err)
	}
	if provider == secrets.ProviderSealedSecrets {
		if err := s.nameFile(ch, "SealedSecret"); err != nil {
			return err
		}
	} else if s.providers.Scope() != "" {
		return fmt.Errorf("--scope is a sealed-secrets setting, and secret %q is encrypted with %s", u.GetName(), provider)
	}
	k := s.targetKustomization()
	ns := firstNonEmpty(u.GetNamespace(), k.namespace, s.namespace, s.providers.Namespace())
	p, err := s.providers.Get(provider, ns)
	if err != nil {
		return err
	}
	content, err := p.Encrypt(s.ctx, secrets.EncryptRequest{
		Secret:    u,
		Path:      filepath.Join(s.root, filepath.FromSlash(s.r.Path), filepath.FromSlash(ch.FileName)),
		Indent:    k.indent,
		Namespace: ns,
		Scope:     s.providers.Scope(),
	})
	if err != nil {
		return fmt.Errorf("encrypting secret %q with %s: %w", u.GetName(), provider, err)
	}
	desired, err := DecodeDocument(content)
	if err != nil {
		return err
	}
	ch.Desired, ch.Content = desired, content
	return nil
}

// sealedNamed is the target's SealedSecret that unseals to Secret name in namespace.
func (s *sealer) sealedNamed(name, namespace string) *render.Object {
	for _, o := range s.r.Objects {
		if o.ID.Kind == "SealedSecret" && o.ID.Group == "bitnami.com" && o.ID.Name == name &&
			(namespace == "" || o.ID.Namespace == "" || o.ID.Namespace == namespace) {
			return o
		}
	}
	return nil
}

// intoSealed seals the values of Secret u into the SealedSecret ss: the keys it gives are sealed
// again, the others keep theirs (apply's semantics: what the file says wins, the rest stays).
func (s *sealer) intoSealed(ch *change.ObjectChange, ss *render.Object, u *unstructured.Unstructured) error {
	sd, err := ReadSecret(s.root, ss)
	if err != nil {
		return err
	}
	set, err := plainValues(u.Object)
	if err != nil {
		return err
	}
	p, err := s.providers.Get(secrets.ProviderSealedSecrets, ss.ID.Namespace)
	if err != nil {
		return err
	}
	doc, err := p.Update(s.ctx, sd.Doc, set, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", ss.ID, err)
	}
	desired, err := DesiredAfter(ss, sd.Doc, doc)
	if err != nil {
		return err
	}
	*ch = change.ObjectChange{Target: ch.Target, Object: ss, Desired: desired, Content: doc}
	return nil
}

// plainValues are a plaintext Secret's values by key: data decoded from base64, stringData as
// it is (and winning, as the API server merges it).
func plainValues(obj map[string]any) (map[string][]byte, error) {
	out := map[string][]byte{}
	data, _ := obj["data"].(map[string]any)
	for k, v := range data {
		b, err := decodeDataValue(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	sd, _ := obj["stringData"].(map[string]any)
	for k, v := range sd {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("stringData.%s: must be a string", k)
		}
		out[k] = []byte(str)
	}
	return out, nil
}

// decodeDataValue decodes a data value; the error never quotes it.
func decodeDataValue(key string, v any) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("data.%s: must be a base64 string", key)
	}
	if sopsprovider.WellFormed(str) {
		return nil, fmt.Errorf("data.%s: holds sops ciphertext from another document; give the value itself (base64 under data, or text under stringData)", key)
	}
	b, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		return nil, fmt.Errorf("data.%s: not valid base64 (give text under stringData instead)", key)
	}
	return b, nil
}

// change makes the change of an existing Secret: through sops for a sops-encrypted one; a
// SealedSecret renders as a SealedSecret, so a core Secret here is sops or plain.
func (s *sealer) change(ch *change.ObjectChange) error {
	sd, err := ReadSecret(s.root, ch.Object)
	if err != nil {
		return err
	}
	cur := ch.Object.Obj().Object
	fields := placement.Diff(cur, ch.Desired, nil)
	if len(fields) == 0 {
		return nil
	}
	switch sd.Provider {
	case secrets.ProviderSOPS:
	case "":
		if len(secretValues(cur)) == 0 && len(secretValues(ch.Desired)) == 0 {
			return nil // no values: nothing to hide
		}
		return sd.Encrypted()
	default:
		return fmt.Errorf("%s: unexpected %s document for a Secret", ch.Object.ID, sd.Provider)
	}
	if encryptedAlready(ch.Desired) && !sameJSON(ch.Desired["sops"], cur["sops"]) {
		return nil // a committed revision restored whole: its own ciphertext and MAC
	}
	p, err := s.providers.Get(secrets.ProviderSOPS, ch.Object.ID.Namespace)
	if err != nil {
		return err
	}
	editor, ok := p.(interface {
		Edit(context.Context, []byte, func(map[string]any) error) ([]byte, error)
	})
	if !ok {
		return fmt.Errorf("%s: the sops provider cannot edit documents", ch.Object.ID)
	}
	doc, err := editor.Edit(s.ctx, sd.Doc, func(plain map[string]any) error {
		for _, f := range fields {
			if err := applyField(plain, f); err != nil {
				return fmt.Errorf("%s in %s: %w", ch.Object.ID, ch.Object.Origin.File, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	desired, err := DesiredAfter(ch.Object, sd.Doc, doc)
	if err != nil {
		return err
	}
	ch.Desired, ch.Content = desired, doc
	return nil
}

// applyField makes a field change on the decrypted document of a sops Secret. Values under
// data and stringData are the user's new plaintext (the rendered old value was ciphertext);
// any other field must hold in the file what the target renders, else another layer sets it.
func applyField(obj map[string]any, f placement.FieldChange) error {
	if len(f.Path) == 0 {
		return fmt.Errorf("cannot replace the whole document")
	}
	keys := make([]string, len(f.Path))
	for i, st := range f.Path {
		if st.MergeKey != "" || st.Key == "" {
			return fmt.Errorf("%s: only fields of maps can change in a sops-encrypted Secret", f.Path)
		}
		keys[i] = st.Key
	}
	value := keys[0] == "data" || keys[0] == "stringData"
	if value && len(keys) == 1 {
		// The whole map: each of its values in turn.
		if f.Delete {
			delete(obj, keys[0])
			return nil
		}
		m, ok := f.New.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be a map of values", keys[0])
		}
		for k, v := range m {
			if err := applyField(obj, placement.FieldChange{Path: append(slices.Clone(f.Path), placement.Step{Key: k}), New: v, Added: true}); err != nil {
				return err
			}
		}
		return nil
	}
	if value && len(keys) != 2 {
		return fmt.Errorf("%s: a Secret's %s holds values only", f.Path, keys[0])
	}
	if keys[0] == "sops" {
		return fmt.Errorf("%s: the sops metadata is sops' own", f.Path)
	}
	if !f.Delete {
		switch keys[0] {
		case "data":
			b, err := decodeDataValue(keys[1], f.New)
			if err != nil {
				return err
			}
			// A key the file keeps under stringData stays there (the API server would let it win
			// over data), as text.
			if sd, ok := obj["stringData"].(map[string]any); ok && sd[keys[1]] != nil && utf8.Valid(b) {
				sd[keys[1]] = string(b)
				return nil
			}
		case "stringData":
			str, ok := f.New.(string)
			if !ok {
				return fmt.Errorf("stringData.%s: must be a string", keys[1])
			}
			if d, ok := obj["data"].(map[string]any); ok && d[keys[1]] != nil {
				d[keys[1]] = base64.StdEncoding.EncodeToString([]byte(str))
				return nil
			}
		}
	}
	parent := obj
	for _, k := range keys[:len(keys)-1] {
		next, ok := parent[k].(map[string]any)
		if !ok {
			if f.Delete {
				return nil
			}
			next = map[string]any{}
			parent[k] = next
		}
		parent = next
	}
	last := keys[len(keys)-1]
	if !value {
		have, exists := parent[last]
		if (f.Added && exists) || (!f.Added && (!exists || !sameJSON(have, f.Old))) {
			return fmt.Errorf("%s is set by another layer than the encrypted file (a patch or transformer): change it there", f.Path)
		}
	}
	if f.Delete {
		delete(parent, last)
		return nil
	}
	parent[last] = f.New
	return nil
}

// existingProviders are the providers of the target's Secrets and SealedSecrets.
func (s *sealer) existingProviders() ([]string, error) {
	if s.existing != nil {
		return s.existing, nil
	}
	s.existing = []string{}
	for _, o := range s.r.Objects {
		if !IsSecretKind(o) {
			continue
		}
		doc, err := yaml.Marshal(o.Obj().Object)
		if err != nil {
			return nil, err
		}
		s.existing = append(s.existing, secrets.Detect(doc))
	}
	return s.existing, nil
}

// targetKustomization reads the target's kustomization once.
func (s *sealer) targetKustomization() *targetKust {
	if s.kust != nil {
		return s.kust
	}
	s.kust = &targetKust{indent: 2}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		src, err := os.ReadFile(filepath.Join(s.root, filepath.FromSlash(s.r.Path), n))
		if err != nil {
			continue
		}
		s.kust.indent = secrets.Indent(src)
		var k struct {
			Namespace string `json:"namespace"`
		}
		if yaml.Unmarshal(src, &k) == nil {
			s.kust.namespace = k.Namespace
		}
		break
	}
	return s.kust
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
