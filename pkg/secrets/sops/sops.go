// Package sops encrypts Secrets with sops (github.com/getsops/sops/v3): the keys come from the
// .sops.yaml creation rule that matches the file, the document is written by sops' own YAML
// store, and re-encryption after an edit touches only the values that changed. sops and the
// cloud SDKs it pulls in stay inside this package.
package sops

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	yamlstore "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
)

// DefaultEncryptedRegex is the encrypted_regex of a creation rule that chooses no part to
// encrypt: a Secret's values, and nothing of its metadata.
const DefaultEncryptedRegex = "^(data|stringData)$"

// Options configures a Provider.
type Options struct {
	// KeyServices encrypt and decrypt data keys. Empty means sops' local key service, which
	// finds the user's keys as sops does: age identities from $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE
	// or the default key file, PGP through gpg, the KMS kinds through their SDKs' credentials.
	KeyServices []keyservice.KeyServiceClient
}

// Provider is the sops secrets.Provider.
type Provider struct {
	keyServices []keyservice.KeyServiceClient
}

var _ secrets.Provider = (*Provider)(nil)

// New returns a sops Provider.
func New(opts Options) *Provider {
	svcs := opts.KeyServices
	if len(svcs) == 0 {
		svcs = []keyservice.KeyServiceClient{keyservice.NewLocalClient()}
	}
	return &Provider{keyServices: svcs}
}

// Name returns secrets.ProviderSOPS.
func (p *Provider) Name() string { return secrets.ProviderSOPS }

// Encrypt encrypts a Secret for the file at req.Path with the keys of the first .sops.yaml
// creation rule that matches it, in req.Indent unless .sops.yaml's stores.yaml.indent says
// otherwise (sops itself will use that one when people edit the file).
func (p *Provider) Encrypt(ctx context.Context, req secrets.EncryptRequest) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(req.Path) {
		return nil, fmt.Errorf("encrypting with sops: the path to write, %q, must be absolute: .sops.yaml's rules are matched against it", req.Path)
	}
	secret, err := secrets.NormalizeSecret(req.Secret)
	if err != nil {
		return nil, err
	}
	rule, err := LoadRule(req.Path)
	if err != nil {
		return nil, err
	}
	indent := rule.Indent
	if indent == 0 {
		indent = req.Indent
	}
	store := newStore(indent)

	plain, err := sigsyaml.Marshal(secret.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding Secret %s: %w", secret.GetName(), err)
	}
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s into sops: %w", secret.GetName(), err)
	}
	tree := sops.Tree{Branches: branches, Metadata: rule.metadata(), FilePath: req.Path}
	dataKey, errs := tree.GenerateDataKeyWithKeyServices(p.keyServices)
	if len(errs) > 0 {
		return nil, fmt.Errorf("encrypting the data key of Secret %s to the recipients of %s: %w", secret.GetName(), rule.ConfigPath, errors.Join(errs...))
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: dataKey}); err != nil {
		return nil, fmt.Errorf("encrypting Secret %s: %w", secret.GetName(), err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s: %w", secret.GetName(), err)
	}
	return out, nil
}

// Inspect decrypts doc in memory and returns its values, checking sops' MAC.
func (p *Provider) Inspect(ctx context.Context, doc []byte) (*secrets.Inspection, error) {
	d, err := p.decrypt(ctx, doc)
	if err != nil {
		return nil, err
	}
	in := &secrets.Inspection{Provider: secrets.ProviderSOPS, Values: map[string][]byte{}}
	top := d.tree.Branches[0]
	if meta, ok := get(top, "metadata").(sops.TreeBranch); ok {
		in.Name, _ = get(meta, "name").(string)
		in.Namespace, _ = get(meta, "namespace").(string)
	}
	typ, _ := get(top, "type").(string)
	in.Type = corev1.SecretType(typ)
	for _, field := range []string{"data", "stringData"} {
		branch, _ := get(top, field).(sops.TreeBranch)
		for _, item := range branch {
			key, ok := item.Key.(string)
			if !ok {
				continue // a comment
			}
			value, err := leafBytes(field, item.Value)
			if err != nil {
				return nil, fmt.Errorf("reading %s.%s: %w", field, key, err)
			}
			in.Values[key] = value
		}
	}
	for k := range in.Values {
		in.Keys = append(in.Keys, k)
	}
	slices.Sort(in.Keys)
	return in, nil
}

// Update sets and deletes keys. As `sops edit` does, it decrypts and encrypts again with the
// same data key and the same cipher, whose stash gives every value that did not change its
// old IV back, hence its old ciphertext: only the changed values, mac and lastmodified differ.
// A key that exists under stringData is set there, any other under data.
func (p *Provider) Update(ctx context.Context, doc []byte, set map[string][]byte, del []string) ([]byte, error) {
	d, err := p.decrypt(ctx, doc)
	if err != nil {
		return nil, err
	}
	top := &d.tree.Branches[0]
	changed := false
	for _, key := range del {
		for _, field := range []string{"data", "stringData"} {
			branch, ok := get(*top, field).(sops.TreeBranch)
			if !ok {
				continue
			}
			if i := index(branch, key); i >= 0 {
				*top = put(*top, field, slices.Delete(branch, i, i+1))
				changed = true
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		field, value := "data", any(base64.StdEncoding.EncodeToString(set[key]))
		if branch, ok := get(*top, "stringData").(sops.TreeBranch); ok && index(branch, key) >= 0 {
			field, value = "stringData", string(set[key])
		}
		branch, _ := get(*top, field).(sops.TreeBranch)
		if i := index(branch, key); i >= 0 {
			if old, err := leafBytes(field, branch[i].Value); err == nil && string(old) == string(set[key]) {
				continue
			}
			branch[i].Value = value
		} else {
			branch = insertSorted(branch, sops.TreeItem{Key: key, Value: value})
		}
		*top = put(*top, field, branch)
		changed = true
	}
	if !changed {
		return doc, nil
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &d.tree, Cipher: d.cipher, DataKey: d.dataKey}); err != nil {
		return nil, fmt.Errorf("encrypting the Secret again: %w", err)
	}
	out, err := d.store.EmitEncryptedFile(d.tree)
	if err != nil {
		return nil, fmt.Errorf("writing the Secret: %w", err)
	}
	return out, nil
}

// Edit changes an encrypted document as `sops edit` does: it is decrypted in memory, edit
// changes its plain form (the object as a map, data values base64-encoded as in the file), and
// it is encrypted again with the same data key and cipher, so every value that did not change
// keeps its ciphertext and the document its key order and comments; the MAC covers the new
// values. Metadata (labels, annotations) must change this way too: sops' MAC covers the
// unencrypted values, and a file edited around sops no longer decrypts.
func (p *Provider) Edit(ctx context.Context, doc []byte, edit func(obj map[string]any) error) ([]byte, error) {
	d, err := p.decrypt(ctx, doc)
	if err != nil {
		return nil, err
	}
	plain, err := d.store.EmitPlainFile(d.tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("reading the decrypted document: %w", err)
	}
	var obj map[string]any
	if err := sigsyaml.Unmarshal(plain, &obj); err != nil {
		return nil, fmt.Errorf("reading the decrypted document: %w", err)
	}
	if err := edit(obj); err != nil {
		return nil, err
	}
	edited, err := sigsyaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	branches, err := d.store.LoadPlainFile(edited)
	if err != nil || len(branches) != 1 {
		return nil, fmt.Errorf("reading the edited document into sops: %v", err)
	}
	merged := mergeBranch(d.tree.Branches[0], branches[0])
	if sameJSON(branchValue(merged), branchValue(d.tree.Branches[0])) {
		return doc, nil
	}
	d.tree.Branches[0] = merged
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &d.tree, Cipher: d.cipher, DataKey: d.dataKey}); err != nil {
		return nil, fmt.Errorf("encrypting the Secret again: %w", err)
	}
	out, err := d.store.EmitEncryptedFile(d.tree)
	if err != nil {
		return nil, fmt.Errorf("writing the Secret: %w", err)
	}
	return out, nil
}

// mergeBranch is next in the shape of old: old's keys (and comments) in their order, with
// next's values where they differ, without the keys next lacks, then next's new keys. An
// unchanged value is old's own, so its type (and hence its ciphertext) stays.
func mergeBranch(old, next sops.TreeBranch) sops.TreeBranch {
	out := make(sops.TreeBranch, 0, len(next))
	seen := map[string]bool{}
	for _, item := range old {
		key, ok := item.Key.(string)
		if !ok {
			out = append(out, item) // a comment
			continue
		}
		i := index(next, key)
		if i < 0 {
			continue
		}
		seen[key] = true
		nv := next[i].Value
		ob, oldIsBranch := item.Value.(sops.TreeBranch)
		nb, newIsBranch := nv.(sops.TreeBranch)
		switch {
		case oldIsBranch && newIsBranch:
			item.Value = mergeBranch(ob, nb)
		case !sameJSON(branchValue(item.Value), branchValue(nv)):
			item.Value = nv
		}
		out = append(out, item)
	}
	for _, item := range next {
		if key, ok := item.Key.(string); ok && !seen[key] {
			out = append(out, item)
		}
	}
	return out
}

// branchValue is a tree value as plain maps and lists, for comparing.
func branchValue(v any) any {
	switch v := v.(type) {
	case sops.TreeBranch:
		m := map[string]any{}
		for _, item := range v {
			if k, ok := item.Key.(string); ok {
				m[k] = branchValue(item.Value)
			}
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = branchValue(x)
		}
		return out
	}
	return v
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// UpdateKeys does what `sops updatekeys` does: the data key is encrypted again to the
// recipients that the .sops.yaml rule for path names now, and the values stay as they are. It
// returns doc unchanged and false when the recipients already match.
func (p *Provider) UpdateKeys(ctx context.Context, doc []byte, path string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if !filepath.IsAbs(path) {
		return nil, false, fmt.Errorf("updating sops keys: the path %q must be absolute: .sops.yaml's rules are matched against it", path)
	}
	rule, err := LoadRule(path)
	if err != nil {
		return nil, false, err
	}
	store := newStore(secrets.Indent(doc))
	tree, err := loadEncrypted(store, doc)
	if err != nil {
		return nil, false, err
	}
	threshold := min(tree.Metadata.ShamirThreshold, len(rule.KeyGroups))
	keysChange := threshold != tree.Metadata.ShamirThreshold
	for _, diff := range common.DiffKeyGroups(tree.Metadata.KeyGroups, rule.KeyGroups) {
		keysChange = keysChange || len(diff.Added) > 0 || len(diff.Removed) > 0
	}
	if !keysChange {
		return doc, false, nil
	}
	dataKey, err := tree.Metadata.GetDataKeyWithKeyServices(p.keyServices, sops.DefaultDecryptionOrder)
	if err != nil {
		return nil, false, fmt.Errorf("decrypting the sops data key: %w", err)
	}
	tree.Metadata.KeyGroups = rule.KeyGroups
	tree.Metadata.ShamirThreshold = threshold
	if errs := tree.Metadata.UpdateMasterKeysWithKeyServices(dataKey, p.keyServices); len(errs) > 0 {
		return nil, false, fmt.Errorf("encrypting the data key to the recipients of %s: %w", rule.ConfigPath, errors.Join(errs...))
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		return nil, false, fmt.Errorf("writing the document: %w", err)
	}
	return out, true, nil
}

// encValue is sops' encrypted value format; the IV is 32 bytes and the GCM tag 16.
var encValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:([A-Za-z0-9+/]*={0,2}),iv:([A-Za-z0-9+/]{43}=),tag:([A-Za-z0-9+/]{22}==),type:(str|int|float|bool|bytes|time|comment)\]$`)

// WellFormed tells whether s is a value in sops' encrypted format.
func WellFormed(s string) bool {
	m := encValue.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(m[1])
	return err == nil
}

// Encrypted tells whether doc carries complete sops metadata (a key, an encrypted mac,
// lastmodified, version) and, for a Secret, has every value under data and stringData
// encrypted or empty. It does not decrypt.
func (p *Provider) Encrypted(doc []byte) bool {
	var top map[string]any
	if err := sigsyaml.Unmarshal(doc, &top); err != nil {
		return false
	}
	meta, ok := top["sops"].(map[string]any)
	if !ok {
		return false
	}
	if mac, _ := meta["mac"].(string); !WellFormed(mac) {
		return false
	}
	if meta["lastmodified"] == nil || meta["version"] == nil || !hasKey(meta) {
		return false
	}
	if top["kind"] != "Secret" {
		return true
	}
	for _, field := range []string{"data", "stringData"} {
		values, ok := top[field].(map[string]any)
		if !ok && top[field] != nil {
			return false
		}
		for _, v := range values {
			if s, ok := v.(string); !ok || (s != "" && !WellFormed(s)) {
				return false
			}
		}
	}
	return true
}

// hasKey tells whether sops metadata names at least one master key with its encrypted data key.
func hasKey(meta map[string]any) bool {
	kinds := []string{"age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"}
	groups := []any{meta}
	if kg, ok := meta["key_groups"].([]any); ok {
		groups = append(groups, kg...)
	}
	for _, g := range groups {
		group, _ := g.(map[string]any)
		for _, kind := range kinds {
			list, _ := group[kind].([]any)
			for _, k := range list {
				if key, ok := k.(map[string]any); ok && key["enc"] != nil && key["enc"] != "" {
					return true
				}
			}
		}
	}
	return false
}

// decrypted is a document decrypted in memory, ready to be encrypted again.
type decrypted struct {
	store   *yamlstore.Store
	tree    sops.Tree
	cipher  sops.Cipher
	dataKey []byte
}

func (p *Provider) decrypt(ctx context.Context, doc []byte) (*decrypted, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := &decrypted{store: newStore(secrets.Indent(doc)), cipher: aes.NewCipher()}
	var err error
	if d.tree, err = loadEncrypted(d.store, doc); err != nil {
		return nil, err
	}
	if len(d.tree.Branches) != 1 {
		return nil, fmt.Errorf("the sops document holds %d YAML documents; a Secret file holds one", len(d.tree.Branches))
	}
	d.dataKey, err = common.DecryptTree(common.DecryptTreeOpts{
		Tree:            &d.tree,
		KeyServices:     p.keyServices,
		DecryptionOrder: sops.DefaultDecryptionOrder,
		Cipher:          d.cipher,
	})
	if err != nil {
		return nil, fmt.Errorf("decrypting with sops: %w", err)
	}
	return d, nil
}

func loadEncrypted(store *yamlstore.Store, doc []byte) (sops.Tree, error) {
	tree, err := store.LoadEncryptedFile(doc)
	if errors.Is(err, sops.MetadataNotFound) {
		return tree, fmt.Errorf("not a sops document: it has no sops metadata")
	}
	if err != nil {
		return tree, fmt.Errorf("reading the sops document: %w", err)
	}
	return tree, nil
}

func newStore(indent int) *yamlstore.Store {
	if indent <= 0 {
		indent = 2
	}
	return yamlstore.NewStore(&config.YAMLStoreConfig{Indent: indent})
}

// leafBytes returns a Secret value: data values are base64, stringData values are text.
func leafBytes(field string, v any) ([]byte, error) {
	var s string
	switch v := v.(type) {
	case nil:
	case string:
		s = v
	default:
		s = fmt.Sprint(v)
	}
	if field == "stringData" {
		return []byte(s), nil
	}
	return base64.StdEncoding.DecodeString(s)
}

func get(branch sops.TreeBranch, key string) any {
	if i := index(branch, key); i >= 0 {
		return branch[i].Value
	}
	return nil
}

func index(branch sops.TreeBranch, key string) int {
	return slices.IndexFunc(branch, func(item sops.TreeItem) bool { return item.Key == key })
}

// put sets key to value in branch, inserting it where insertSorted would.
func put(branch sops.TreeBranch, key string, value any) sops.TreeBranch {
	if i := index(branch, key); i >= 0 {
		branch[i].Value = value
		return branch
	}
	return insertSorted(branch, sops.TreeItem{Key: key, Value: value})
}

// insertSorted inserts item before the first key that sorts after it when the branch's keys
// are sorted, as kubectl writes them; else it appends.
func insertSorted(branch sops.TreeBranch, item sops.TreeItem) sops.TreeBranch {
	var keys []string
	for _, it := range branch {
		if k, ok := it.Key.(string); ok {
			keys = append(keys, k)
		}
	}
	if !slices.IsSorted(keys) {
		return append(branch, item)
	}
	key := item.Key.(string)
	i := slices.IndexFunc(branch, func(it sops.TreeItem) bool {
		k, ok := it.Key.(string)
		return ok && k > key
	})
	if i < 0 {
		return append(branch, item)
	}
	return slices.Insert(branch, i, item)
}

// metadata is the sops metadata of a new document encrypted under the rule.
func (r *Rule) metadata() sops.Metadata {
	m := sops.Metadata{
		KeyGroups:               r.KeyGroups,
		ShamirThreshold:         r.ShamirThreshold,
		UnencryptedSuffix:       r.UnencryptedSuffix,
		EncryptedSuffix:         r.EncryptedSuffix,
		UnencryptedRegex:        r.UnencryptedRegex,
		EncryptedRegex:          r.EncryptedRegex,
		UnencryptedCommentRegex: r.UnencryptedCommentRegex,
		EncryptedCommentRegex:   r.EncryptedCommentRegex,
		MACOnlyEncrypted:        r.MACOnlyEncrypted,
		Version:                 version.Version,
	}
	if m.UnencryptedSuffix == "" && m.EncryptedSuffix == "" && m.UnencryptedRegex == "" && m.EncryptedRegex == "" &&
		m.UnencryptedCommentRegex == "" && m.EncryptedCommentRegex == "" {
		m.EncryptedRegex = DefaultEncryptedRegex
	}
	return m
}
