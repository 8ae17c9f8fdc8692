package guard

import (
	"encoding/base64"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rendered is one object of a render: what the reconciler applies for a target.
type Rendered struct {
	// ID names the object in findings, as the caller names objects ("Secret shop/db").
	ID string
	// Origin is the repository-relative file the object comes from; for a generated object,
	// the kustomization whose generator made it. Findings name it, and guard.allow applies
	// to it.
	Origin string
	// Object is the object's content, as unstructured.Unstructured.Object holds it.
	Object map[string]any
}

// CheckRendered checks the objects a target renders, whatever file shape produced them (a
// generator, an inline patch, a manifest of any name): the gate of every write runs it on the
// renders of the targets a change affects, and the pre-commit hook on those of the staged
// targets.
//
// A rendered Secret passes when each value under data and stringData is empty, a reference
// (${VAR}, substituted by Flux), a sops value (ENC[...]) with the sops metadata the render
// keeps (kustomize keeps a manifest's sops block), or, under data, the base64 of a sops value
// or of a sops-encrypted file: what a secretGenerator makes from encrypted env files and files,
// which the reconciler decrypts. A SealedSecret passes when its values have kubeseal's shape and
// its template holds no plaintext. Other objects are not looked at: the file check finds private
// keys in the files that generate them.
//
// Of opts, only Allow is used: it lets an object through by its origin. Findings carry the
// object's ID in Object, the origin in File, Doc 0.
func CheckRendered(objs []Rendered, opts Options) Report {
	c := newChecker(opts)
	rep := Report{Files: len(objs)}
	for _, o := range objs {
		kind, _ := o.Object["kind"].(string)
		apiVersion, _ := o.Object["apiVersion"].(string)
		secret := kind == "Secret" && (apiVersion == "v1" || apiVersion == "")
		sealed := kind == "SealedSecret" && strings.HasPrefix(apiVersion, "bitnami.com/")
		if !secret && !sealed {
			continue
		}
		if _, ok := c.allow(o.Origin); ok {
			continue
		}
		var root yaml.Node
		if err := root.Encode(o.Object); err != nil {
			c.add(Finding{File: o.Origin, Object: o.ID, Reason: "cannot be read to check: " + err.Error()})
			continue
		}
		fc := &fileCheck{checker: c, file: File{Path: o.Origin}, doc: &document{root: &root}, object: o.ID}
		if secret {
			fc.checkRenderedSecret(&root)
		} else {
			fc.checkSealedSecret(&root, "")
		}
	}
	rep.Findings = c.result()
	rep.Allowed = c.allowedOut
	return rep
}

// checkRenderedSecret checks the values of a rendered Secret.
func (fc *fileCheck) checkRenderedSecret(obj *yaml.Node) {
	var sops []sopsBlock
	for _, n := range values(obj, "sops") {
		sops = append(sops, sopsBlock{node: n, path: "sops"})
	}
	generated := generatedSopsMetadata(obj)
	encrypted := 0
	for _, name := range []string{"data", "stringData"} {
		for _, m := range values(obj, name) {
			for _, e := range pairs(m) {
				if name == "data" && generated && strings.HasPrefix(e.key, "sops_") {
					// The metadata of an encrypted env file, made into keys by a generator.
					continue
				}
				leaves(e.value, join(name, e.name), func(lp string, n *yaml.Node) {
					switch problem := renderedValue(n, name == "data", generated); problem {
					case "":
					case encryptedValue:
						encrypted++
					default:
						fc.add(lp, problem)
					}
				})
			}
		}
	}
	if encrypted > 0 && len(sops) == 0 {
		fc.add("sops", "sops metadata missing: the values look encrypted, but without it nothing can decrypt them")
	}
	for _, s := range sops {
		fc.checkSopsBlock(s)
	}
	fc.checkSecretMetadata(obj, "")
}

// encryptedValue is what renderedValue says of a sops value in the clear, which needs the
// Secret's sops metadata.
const encryptedValue = "\x00encrypted"

// renderedValue says what is wrong with a value of a rendered Secret; "" when nothing is.
// generated tells whether the Secret's data carries an encrypted env file's sops metadata.
func renderedValue(n *yaml.Node, data, generated bool) string {
	v := n.Value
	switch {
	case n == tooDeep:
		return fmt.Sprintf("nested more than %d levels deep: the guard cannot check it (a Secret's values are strings)", maxDepth)
	case isNull(n) || v == "" || isReference(v, nil):
		return ""
	case strings.HasPrefix(v, "ENC["):
		if err := checkENC(v); err != nil {
			return "malformed sops value: " + err.Error()
		}
		return encryptedValue
	}
	if data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "value is neither base64 nor a sops value"
		}
		switch {
		case len(b) == 0:
			return ""
		case generated && checkENC(string(b)) == nil:
			return ""
		case len(b) <= maxParse && checkEncryptedFile(b) == "":
			return ""
		}
	}
	return "rendered value is not encrypted: a file, patch or generator of this target holds it in the clear"
}

// generatedSopsMetadata says whether a Secret's data holds the metadata of a sops-encrypted
// env file (sops_mac, sops_version, ...), as a secretGenerator makes from one.
func generatedSopsMetadata(obj *yaml.Node) bool {
	meta := map[string]string{}
	for _, m := range values(obj, "data") {
		for _, e := range pairs(m) {
			rest, ok := strings.CutPrefix(e.key, "sops_")
			v := resolve(e.value)
			if !ok || v == nil || v.Kind != yaml.ScalarNode {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(v.Value)
			if err != nil {
				return false
			}
			meta[rest] = string(b)
		}
	}
	return len(meta) > 0 && len(checkSopsMetadata(meta)) == 0
}
