package guard

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The annotation `kubectl apply` writes: the whole object as last applied, values included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// The label the sealed-secrets controller puts on its key pairs.
const sealingKeyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"

// sopsBlock is a sops metadata mapping and where it is.
type sopsBlock struct {
	node *yaml.Node
	path string
}

// checkSecret checks a v1 Secret: sops metadata, every value encrypted, and nothing that copies
// the values or holds the sealed-secrets controller's key.
func (fc *fileCheck) checkSecret(obj *yaml.Node, p string, sops []sopsBlock) {
	encrypted := 0
	for _, name := range []string{"data", "stringData"} {
		for _, v := range values(obj, name) {
			leaves(v, join(p, name), func(lp string, n *yaml.Node) {
				switch {
				case n == tooDeep:
					fc.add(lp, fmt.Sprintf("nested more than %d levels deep: the guard cannot check it (a Secret's values are strings)", maxDepth))
				case isNull(n) || n.Value == "":
				case strings.HasPrefix(n.Value, "ENC["):
					if err := checkENC(n.Value); err != nil {
						fc.add(lp, "malformed sops value: "+err.Error())
						return
					}
					encrypted++
				case isReference(n.Value, nil):
				case len(sops) == 0:
					fc.add(lp, "value is not encrypted: the Secret has no sops metadata")
				default:
					fc.add(lp, "value is not encrypted: sops left it in the clear (check encrypted_regex, unencrypted_suffix and the other rules of .sops.yaml)")
				}
			})
		}
	}
	if len(sops) == 0 && encrypted > 0 {
		fc.add(join(p, "sops"), "sops metadata missing: the values look encrypted, but without it nothing can decrypt them")
	}
	for _, s := range sops {
		fc.checkSopsBlock(s)
	}
	fc.checkSecretMetadata(obj, p)
}

// checkSecretMetadata refuses what a Secret's metadata must not carry: a copy of its values,
// and the sealed-secrets controller's label on its key pair.
func (fc *fileCheck) checkSecretMetadata(obj *yaml.Node, p string) {
	for _, md := range values(obj, "metadata") {
		mp := join(p, "metadata")
		for _, ann := range values(md, "annotations") {
			for _, e := range pairs(ann) {
				if e.key == lastAppliedAnnotation {
					fc.add(join(join(mp, "annotations"), e.name), "last-applied-configuration annotation copies the Secret's values in a form sops does not protect; remove it")
				}
			}
		}
		for _, labels := range values(md, "labels") {
			for _, e := range pairs(labels) {
				if e.key == sealingKeyLabel {
					fc.add(join(join(mp, "labels"), e.name), "sealed-secrets controller key: whoever reads it can unseal every SealedSecret; keep it out of the repository")
				}
			}
		}
	}
}

// checkSopsBlock reports what a sops metadata block lacks, once per block.
func (fc *fileCheck) checkSopsBlock(s sopsBlock) {
	if fc.sopsChecked == nil {
		fc.sopsChecked = map[*yaml.Node]bool{}
	}
	if fc.sopsChecked[s.node] {
		return
	}
	fc.sopsChecked[s.node] = true
	if s.node == nil || s.node.Kind != yaml.MappingNode {
		fc.add(s.path, "sops metadata is not a mapping")
		return
	}
	meta := map[string]string{}
	flattenSops(s.node, "", meta, 0)
	for _, pr := range checkSopsMetadata(meta) {
		p := s.path
		if pr.field != "" {
			p = join(p, pr.field)
		}
		fc.add(p, pr.reason)
	}
}

// flattenSops flattens sops metadata the way sops' dotenv and INI stores do:
// age__list_0__map_enc.
func flattenSops(n *yaml.Node, prefix string, out map[string]string, depth int) {
	n = resolve(n)
	// Real metadata has a few dozen entries; the bound stops alias bombs.
	if n == nil || depth > maxDepth || len(out) > 10000 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, e := range pairs(n) {
			k := e.key
			if prefix != "" {
				k = prefix + "__map_" + k
			}
			flattenSops(e.value, k, out, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			flattenSops(c, prefix+"__list_"+strconv.Itoa(i), out, depth+1)
		}
	case yaml.ScalarNode:
		if !isNull(n) {
			out[prefix] = n.Value
		}
	}
}

// sopsKeyKinds are the top-level metadata entries that hold an encrypted data key.
var sopsKeyKinds = []string{"age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "key_groups"}

type sopsProblem struct {
	field  string // the metadata entry; "" for the block
	reason string
}

// checkSopsMetadata checks flattened sops metadata: a MAC in sops' ENC form, lastmodified,
// version, and at least one encrypted data key.
func checkSopsMetadata(meta map[string]string) []sopsProblem {
	var out []sopsProblem
	switch mac, ok := meta["mac"]; {
	case !ok || mac == "":
		out = append(out, sopsProblem{"mac", "sops metadata has no mac: the file was not written by sops, or was edited by hand"})
	default:
		if err := checkENC(mac); err != nil {
			out = append(out, sopsProblem{"mac", "sops mac is not a sops-encrypted value: " + err.Error()})
		}
	}
	switch lm, ok := meta["lastmodified"]; {
	case !ok || lm == "":
		out = append(out, sopsProblem{"lastmodified", "sops metadata has no lastmodified"})
	default:
		if _, err := time.Parse(time.RFC3339, lm); err != nil {
			out = append(out, sopsProblem{"lastmodified", "sops lastmodified is not an RFC 3339 time"})
		}
	}
	if meta["version"] == "" {
		out = append(out, sopsProblem{"version", "sops metadata has no version"})
	}
	if !hasSopsKey(meta) {
		out = append(out, sopsProblem{"", "sops metadata has no key entry (age, pgp, kms, gcp_kms, azure_kv, hc_vault): nothing can decrypt the values"})
	}
	return out
}

func hasSopsKey(meta map[string]string) bool {
	for k, v := range meta {
		if !strings.HasSuffix(k, "__map_enc") || strings.TrimSpace(v) == "" {
			continue
		}
		head, _, _ := strings.Cut(k, "__")
		for _, kind := range sopsKeyKinds {
			if head == kind {
				return true
			}
		}
	}
	return false
}

var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:([^,\]]*)\]$`)

// sops' value types (aes.Cipher).
var sopsTypes = map[string]bool{"str": true, "int": true, "float": true, "bytes": true, "bool": true, "time": true, "comment": true}

// checkENC checks that v is a value sops encrypted: AES256-GCM with base64 data, a 32-byte IV
// and a 16-byte tag. Its errors never quote v.
func checkENC(v string) error {
	m := encRE.FindStringSubmatch(v)
	if m == nil {
		return errors.New("not of the form ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]")
	}
	b64 := base64.StdEncoding.Strict()
	data, err := b64.DecodeString(m[1])
	if err != nil {
		return errors.New("data is not base64")
	}
	if len(data) == 0 {
		return errors.New("data is empty")
	}
	iv, err := b64.DecodeString(m[2])
	if err != nil {
		return errors.New("iv is not base64")
	}
	if len(iv) != 32 {
		return fmt.Errorf("iv is %d bytes, sops writes 32", len(iv))
	}
	tag, err := b64.DecodeString(m[3])
	if err != nil {
		return errors.New("tag is not base64")
	}
	if len(tag) != 16 {
		return fmt.Errorf("tag is %d bytes, AES-GCM's is 16", len(tag))
	}
	if !sopsTypes[m[4]] {
		return errors.New("unknown type")
	}
	return nil
}

var (
	varRefRE     = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	actionRE     = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	tplLiteralRE = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
)

// isReference says whether a value holds no literal text: a Flux substitution variable
// (${DB_PASSWORD}), or template actions alone whose quoted strings are all names in allowed
// (the keys of a SealedSecret that its template indexes).
func isReference(v string, allowed map[string]bool) bool {
	v = strings.TrimSpace(v)
	if varRefRE.MatchString(v) {
		return true
	}
	actions := actionRE.FindAllString(v, -1)
	if len(actions) == 0 || strings.TrimSpace(actionRE.ReplaceAllString(v, "")) != "" {
		return false
	}
	for _, a := range actions {
		for _, lit := range tplLiteralRE.FindAllString(a, -1) {
			s := lit[1 : len(lit)-1]
			if lit[0] == '"' {
				u, err := strconv.Unquote(lit)
				if err != nil {
					return false
				}
				s = u
			}
			if !allowed[s] {
				return false
			}
		}
	}
	return true
}
