package guard

import (
	"encoding/base64"
	"encoding/binary"
	"errors"

	"gopkg.in/yaml.v3"
)

// checkSealedSecret checks a SealedSecret: every sealed value well-formed, no plaintext in the
// template.
func (fc *fileCheck) checkSealedSecret(obj *yaml.Node, p string) {
	sp := join(p, "spec")
	specs := values(obj, "spec")
	keys := map[string]bool{}
	for _, spec := range specs {
		for _, ed := range values(spec, "encryptedData") {
			for _, e := range pairs(ed) {
				keys[e.key] = true
			}
			leaves(ed, join(sp, "encryptedData"), func(lp string, n *yaml.Node) {
				if err := checkSealed(n.Value); err != nil {
					fc.add(lp, "malformed sealed value: "+err.Error())
				}
			})
		}
		// Before encryptedData, a SealedSecret sealed the whole Secret into spec.data.
		for _, d := range values(spec, "data") {
			leaves(d, join(sp, "data"), func(lp string, n *yaml.Node) {
				if err := checkSealed(n.Value); err != nil {
					fc.add(lp, "malformed sealed value: "+err.Error())
				}
			})
		}
	}
	for _, spec := range specs {
		for _, tpl := range values(spec, "template") {
			tp := join(sp, "template")
			for _, name := range []string{"data", "stringData"} {
				for _, v := range values(tpl, name) {
					leaves(v, join(tp, name), func(lp string, n *yaml.Node) {
						if isNull(n) || n.Value == "" || isReference(n.Value, keys) {
							return
						}
						fc.add(lp, "plaintext in the SealedSecret's template: spec.template."+name+" is not sealed")
					})
				}
			}
		}
	}
}

// checkSealed checks that v has the shape of kubeseal's hybrid encryption: base64 of a 2-byte
// big-endian length, an RSA-OAEP ciphertext of that length (an RSA modulus of 1024 to 4096
// bits), then AES-GCM ciphertext with its 16-byte tag. Its errors never quote v.
func checkSealed(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return errors.New("not base64")
	}
	if len(b) < 2 {
		return errors.New("too short to hold a sealed session key")
	}
	n := int(binary.BigEndian.Uint16(b))
	switch n {
	case 128, 256, 384, 512:
	default:
		return errors.New("the session key length is not that of an RSA key (128, 256, 384 or 512 bytes): not kubeseal's output")
	}
	if len(b) < 2+n+16 {
		return errors.New("truncated: shorter than the sealed session key and an AES-GCM tag")
	}
	return nil
}
