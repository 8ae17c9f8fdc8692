package guard

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// fileCheck checks the documents of one file.
type fileCheck struct {
	*checker
	file         File
	doc          *document
	keysInValues []keyMatch
	sopsChecked  map[*yaml.Node]bool
	// prefix is the path of the string that holds what is checked (an inline patch), "" for
	// the document itself.
	prefix string
	// via says which kustomization reads the file, when it is not among the checked files.
	via string
	// object names the rendered object being checked (CheckRendered).
	object string
}

func (fc *fileCheck) add(p, reason string) {
	fc.checker.add(Finding{File: fc.file.Path, Doc: fc.doc.index, Path: under(fc.prefix, p), Object: fc.object, Reason: withVia(reason, fc.via)})
}

// nested checks what a string at path p of the document holds.
func (fc *fileCheck) nested(p string) *fileCheck {
	sub := &fileCheck{checker: fc.checker, file: fc.file, doc: fc.doc, via: fc.via, prefix: p}
	sub.prefix = under(fc.prefix, p)
	return sub
}

// checkDocument checks the objects of a document, and every value of it for private keys.
func (fc *fileCheck) checkDocument() {
	root := resolve(fc.doc.root)
	if root == nil {
		return
	}
	switch root.Kind {
	case yaml.MappingNode:
		fc.checkObject(root, "", nil, "")
		if isKustomization(root, fc.file.Path) {
			fc.checkKustomization(root)
		}
	case yaml.SequenceNode:
		// Not a Kubernetes shape, but plaintext in a list of Secrets is plaintext all the same.
		for i, item := range root.Content {
			if item = resolve(item); item != nil && item.Kind == yaml.MappingNode {
				fc.checkObject(item, index("", i), nil, "")
			}
		}
	}
	fc.scanValues()
}

// checkObject checks one object, at path p of its document. sops is the metadata of the
// enclosing document: sops encrypts a List as one tree, with one sops block at its top. implied
// is the kind of an object that names none: the items of a typed list (SecretList) leave it out.
func (fc *fileCheck) checkObject(obj *yaml.Node, p string, sops []sopsBlock, implied string) {
	if own := values(obj, "sops"); len(own) > 0 {
		sops = nil
		for _, n := range own {
			sops = append(sops, sopsBlock{node: n, path: join(p, "sops")})
		}
	}
	kinds := scalars(obj, "kind")
	if len(kinds) == 0 && implied != "" {
		kinds = []string{implied}
	}
	for _, kind := range kinds {
		switch {
		case kind == "Secret" && coreGroup(obj):
			fc.checkSecret(obj, p, sops)
		case strings.HasPrefix(kind, "ENC["):
			// sops encrypted the kind too (no encrypted_regex): it may be a Secret, and a
			// value it left in the clear under data or stringData is refused as one would be.
			fc.checkSecret(obj, p, sops)
		case kind == "SealedSecret" && sealedGroup(obj):
			fc.checkSealedSecret(obj, p)
		case isBuiltin(obj):
			fc.checkBuiltin(obj, p, kind)
		}
	}
	for _, kind := range kinds {
		// kind: List, and the typed lists kubectl prints (SecretList).
		if !strings.HasSuffix(kind, "List") {
			continue
		}
		itemKind := strings.TrimSuffix(kind, "List")
		for _, items := range values(obj, "items") {
			if items == nil || items.Kind != yaml.SequenceNode {
				continue
			}
			for i, item := range items.Content {
				if item = resolve(item); item != nil && item.Kind == yaml.MappingNode {
					fc.checkObject(item, index(join(p, "items"), i), sops, itemKind)
				}
			}
		}
	}
}

// coreGroup says whether an object is in the core API group: apiVersion v1, or none (a
// kustomize patch leaves it out).
func coreGroup(obj *yaml.Node) bool {
	av := scalars(obj, "apiVersion")
	if len(av) == 0 {
		return true
	}
	for _, v := range av {
		if !strings.Contains(v, "/") {
			return true
		}
	}
	return false
}

func sealedGroup(obj *yaml.Node) bool {
	av := scalars(obj, "apiVersion")
	if len(av) == 0 {
		return true
	}
	for _, v := range av {
		if strings.HasPrefix(v, "bitnami.com/") {
			return true
		}
	}
	return false
}
