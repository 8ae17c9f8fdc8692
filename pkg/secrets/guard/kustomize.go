package guard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"gopkg.in/yaml.v3"
)

// isKustomization says whether obj is a kustomize Kustomization or Component, and not Flux's
// Kustomization, which shares the kind.
func isKustomization(obj *yaml.Node, file string) bool {
	avs := scalars(obj, "apiVersion")
	for _, av := range avs {
		if strings.HasPrefix(av, "kustomize.config.k8s.io/") {
			return true
		}
	}
	if len(avs) > 0 || !reach.IsFileName(path.Base(cleanPath(file))) {
		return false
	}
	kinds := scalars(obj, "kind")
	return len(kinds) == 0 || hasScalar(obj, "kind", "Kustomization") || hasScalar(obj, "kind", "Component")
}

// isBuiltin says whether obj is the configuration of one of kustomize's builtin plugins
// (apiVersion: builtin), as a kustomization's generators: and transformers: list them.
func isBuiltin(obj *yaml.Node) bool {
	avs := scalars(obj, "apiVersion")
	return len(avs) == 0 || hasScalar(obj, "apiVersion", "builtin")
}

// refKind is what a kustomization reads a file as.
type refKind int

const (
	// refResource is a resources: (or bases:) entry: manifests, whatever the file's name.
	refResource refKind = iota
	// refPatch is a strategic merge or JSON 6902 patch file (patchesStrategicMerge:,
	// patches[].path); kustomize tells them apart by their content.
	refPatch
	// refJSON6902 is a patchesJson6902[].path file.
	refJSON6902
	// refPlugin is a generators: or transformers: configuration file.
	refPlugin
	// refGeneratorInput is a file or env file a secretGenerator reads.
	refGeneratorInput
)

// kustRef is a file a kustomization reads.
type kustRef struct {
	kust   string // the kustomization file
	path   string // the key path of the entry in it: resources[2], secretGenerator[0].envs[1]
	file   string // resolved against the kustomization's directory
	kind   refKind
	target *patchTarget // the patch's target, for patches
	// For refGeneratorInput: the generator ("secretGenerator \"db\""), what the file is ("file"
	// or "env file") and the reference as written.
	label, what, ref string
}

// patchTarget is the target of a patch: only its kind matters to the guard.
type patchTarget struct {
	kind string
}

// secret says whether the target may select a Secret: its kind is a regular expression, as in
// kustomize's selectors. An absent kind is unknown: the render check sees what it selects.
func (t *patchTarget) secret() bool {
	if t == nil || t.kind == "" {
		return false
	}
	re, err := regexp.Compile("^(?:" + t.kind + ")$")
	return err == nil && re.MatchString("Secret")
}

func targetOf(entry *yaml.Node) *patchTarget {
	t := field(entry, "target")
	if t == nil || t.Kind != yaml.MappingNode {
		return nil
	}
	kinds := scalars(t, "kind")
	if len(kinds) == 0 {
		return &patchTarget{}
	}
	return &patchTarget{kind: kinds[0]}
}

// remote says whether a resources: entry is a URL (a remote base), which the repository does
// not hold.
func remote(ref string) bool {
	return strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.HasPrefix(ref, "github.com/") || strings.Contains(ref, "?ref=")
}

// inline says whether a generators:, transformers: or patchesStrategicMerge: entry is the
// configuration itself rather than a file name: kustomize takes an entry that parses as an
// object as inline.
func inline(s string) bool {
	if !strings.ContainsAny(s, ":\n") {
		return false
	}
	docs, err := parseDocuments([]byte(s))
	if err != nil || len(docs) == 0 {
		return false
	}
	root := resolve(docs[0].root)
	return root != nil && (root.Kind == yaml.MappingNode || root.Kind == yaml.SequenceNode)
}

// kustRefs lists the files a kustomization reads that the guard looks at.
func kustRefs(obj *yaml.Node, kustFile string) []kustRef {
	dir := path.Dir(cleanPath(kustFile))
	var out []kustRef
	add := func(r kustRef, ref string) {
		ref = strings.TrimSpace(ref)
		if ref == "" || remote(ref) {
			return
		}
		r.kust, r.file = kustFile, path.Join(dir, ref)
		if path.IsAbs(ref) {
			r.file = ref
		}
		out = append(out, r)
	}
	for _, name := range []string{"resources", "bases"} {
		eachScalar(obj, name, func(p, s string) { add(kustRef{path: p, kind: refResource}, s) })
	}
	eachScalar(obj, "patchesStrategicMerge", func(p, s string) {
		if !inline(s) {
			add(kustRef{path: p, kind: refPatch}, s)
		}
	})
	for _, name := range []string{"generators", "transformers"} {
		eachScalar(obj, name, func(p, s string) {
			if !inline(s) {
				add(kustRef{path: p, kind: refPlugin}, s)
			}
		})
	}
	for _, name := range []string{"patches", "patchesJson6902"} {
		kind := refPatch
		if name == "patchesJson6902" {
			kind = refJSON6902
		}
		eachMapping(obj, name, func(p string, entry *yaml.Node) {
			for _, f := range scalars(entry, "path") {
				add(kustRef{path: join(p, "path"), kind: kind, target: targetOf(entry)}, f)
			}
		})
	}
	for _, g := range secretGenerators(obj) {
		for _, r := range generatorInputs(g) {
			add(r, r.ref)
		}
	}
	for _, g := range inlineGenerators(obj) {
		for _, r := range generatorInputs(g) {
			add(r, r.ref)
		}
	}
	return out
}

// eachScalar calls fn for each scalar of the list named key.
func eachScalar(obj *yaml.Node, key string, fn func(p, s string)) {
	for _, list := range values(obj, key) {
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for i, e := range list.Content {
			if e = resolve(e); e != nil && e.Kind == yaml.ScalarNode {
				fn(index(key, i), e.Value)
			}
		}
	}
}

// eachMapping calls fn for each mapping of the list named key.
func eachMapping(obj *yaml.Node, key string, fn func(p string, m *yaml.Node)) {
	for _, list := range values(obj, key) {
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for i, e := range list.Content {
			if e = resolve(e); e != nil && e.Kind == yaml.MappingNode {
				fn(index(key, i), e)
			}
		}
	}
}

// checkKustomization checks what a kustomization holds itself: secretGenerator literals,
// inline patches, inline generator and transformer configurations; and whether the files its
// secretGenerators read are sops-encrypted.
func (fc *fileCheck) checkKustomization(obj *yaml.Node) {
	for _, g := range secretGenerators(obj) {
		fc.checkLiterals(g)
	}
	eachScalar(obj, "patchesStrategicMerge", func(p, s string) {
		if inline(s) {
			fc.checkInlinePatch(p, s, nil, false)
		}
	})
	for _, name := range []string{"patches", "patchesJson6902"} {
		json6902 := name == "patchesJson6902"
		eachMapping(obj, name, func(p string, entry *yaml.Node) {
			for _, s := range scalars(entry, "patch") {
				fc.checkInlinePatch(join(p, "patch"), s, targetOf(entry), json6902)
			}
		})
	}
	for _, name := range []string{"generators", "transformers"} {
		eachScalar(obj, name, func(p, s string) {
			if inline(s) {
				fc.checkInlineObjects(p, s)
			}
		})
	}
	for _, r := range kustRefs(obj, fc.file.Path) {
		if r.kind != refGeneratorInput {
			continue
		}
		if problem := fc.checkRef(r.file); problem != "" {
			fc.add(r.path, fmt.Sprintf("%s: %s %s is not sops-encrypted: %s", r.label, r.what, quoteName(r.ref), problem))
		}
	}
}

// checkLiterals refuses the literal values of a secret generator.
func (fc *fileCheck) checkLiterals(g generator) {
	for _, lits := range values(g.node, "literals") {
		if lits == nil || lits.Kind != yaml.SequenceNode {
			continue
		}
		for j, l := range lits.Content {
			if l = resolve(l); l == nil || l.Kind != yaml.ScalarNode || l.Value == "" {
				continue
			}
			fc.add(index(under(g.path, "literals"), j), g.label+": literal values are plaintext in the repository; use a sops-encrypted env file")
		}
	}
}

// checkInlineObjects checks the objects of an inline generators: or transformers: entry.
func (fc *fileCheck) checkInlineObjects(p, s string) {
	docs, err := parseDocuments([]byte(s))
	if err != nil && len(docs) == 0 {
		return
	}
	for _, d := range docs {
		root := resolve(d.root)
		if root == nil || root.Kind != yaml.MappingNode {
			continue
		}
		fc.nested(docPath(p, d, len(docs))).checkObject(root, "", nil, "")
	}
}

// checkInlinePatch checks a patch written in a kustomization (or a builtin patch transformer)
// as a string: a strategic merge patch that is a Secret with plaintext values, or a JSON 6902
// patch that adds plaintext values to a Secret target. kustomize reads a patch as JSON 6902
// when it is a list, whatever the field that holds it.
func (fc *fileCheck) checkInlinePatch(p, s string, target *patchTarget, json6902 bool) {
	docs, err := parseDocuments([]byte(s))
	if err != nil && len(docs) == 0 {
		if secretLike.MatchString(s) {
			fc.add(p, "inline patch does not parse and looks like a Secret: cannot tell whether its values are encrypted")
		}
		return
	}
	for _, d := range docs {
		root := resolve(d.root)
		if root == nil {
			continue
		}
		sub := fc.nested(docPath(p, d, len(docs)))
		switch {
		case root.Kind == yaml.SequenceNode && (json6902 || target != nil):
			if target.secret() {
				sub.checkJSONPatch(root)
			}
		case root.Kind == yaml.MappingNode:
			implied := ""
			if target.secret() {
				implied = "Secret"
			}
			sub.checkObject(root, "", nil, implied)
			sub.scanDecoded(root)
		}
	}
}

// docPath is the path of a document of an inline string: the string's own path, with the
// document's number when it holds several.
func docPath(p string, d *document, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s#%d", p, d.index)
	}
	return p
}

var jsonPointerSecretRE = regexp.MustCompile(`^/(data|stringData)(/.*)?$`)

// checkJSONPatch checks the operations of a JSON 6902 patch of a Secret: add and replace must
// not put plaintext under data or stringData.
func (fc *fileCheck) checkJSONPatch(ops *yaml.Node) {
	for i, op := range ops.Content {
		if op = resolve(op); op == nil || op.Kind != yaml.MappingNode {
			continue
		}
		if !hasScalar(op, "op", "add") && !hasScalar(op, "op", "replace") {
			continue
		}
		matched := false
		for _, ptr := range scalars(op, "path") {
			matched = matched || jsonPointerSecretRE.MatchString(ptr)
		}
		if !matched {
			continue
		}
		for _, v := range values(op, "value") {
			leaves(v, join(index("", i), "value"), func(lp string, n *yaml.Node) {
				switch {
				case isNull(n) || n.Value == "" || isReference(n.Value, nil):
				case strings.HasPrefix(n.Value, "ENC["):
					if err := checkENC(n.Value); err != nil {
						fc.add(lp, "malformed sops value: "+err.Error())
					}
				default:
					fc.add(lp, "value is not encrypted: the JSON patch writes it into a Secret's data or stringData")
				}
			})
		}
	}
}

// scanDecoded reports private keys base64-encoded in the values of an inline object: the text
// of the string that holds it was scanned as a whole, which finds only keys in the clear.
func (fc *fileCheck) scanDecoded(root *yaml.Node) {
	leaves(root, "", func(p string, n *yaml.Node) {
		for _, h := range decodedKeys(n.Value) {
			fc.add(p, h.kind+", base64-encoded")
		}
	})
}

// checkBuiltin checks the configuration of a builtin generator or transformer, wherever it is:
// a SecretGenerator's literals, and the inline patches of the patch transformers.
func (fc *fileCheck) checkBuiltin(obj *yaml.Node, p, kind string) {
	switch kind {
	case "SecretGenerator":
		fc.checkLiterals(generator{node: obj, path: p, label: generatorLabel(obj, "SecretGenerator")})
	case "PatchTransformer":
		for _, s := range scalars(obj, "patch") {
			fc.checkInlinePatch(join(p, "patch"), s, targetOf(obj), false)
		}
	case "PatchStrategicMergeTransformer":
		for _, s := range scalars(obj, "patches") {
			fc.checkInlinePatch(join(p, "patches"), s, nil, false)
		}
	case "PatchJson6902Transformer":
		for _, s := range scalars(obj, "jsonOp") {
			fc.checkInlinePatch(join(p, "jsonOp"), s, targetOf(obj), true)
		}
	}
}

// checkRef checks a file a generator reads; "" when it is encrypted, allowed or absent.
func (c *checker) checkRef(file string) string {
	if _, ok := c.allow(file); ok {
		return ""
	}
	data, err := c.readRef(file)
	if errors.Is(err, fs.ErrNotExist) {
		// Not in the repository (or not staged): nothing of it can leak through a commit.
		return ""
	}
	if err != nil {
		return "cannot read it to check"
	}
	return checkEncryptedFile(data)
}

// collectRefs lists the files the kustomizations among the checked files and the context
// kustomizations read, and marks the checked files of any name that they read as manifests,
// patches or plugin configurations: those are parsed as YAML whatever their extension.
func (c *checker) collectRefs(files []File) {
	var kusts []File
	for _, f := range files {
		if reach.IsFileName(path.Base(cleanPath(f.Path))) {
			kusts = append(kusts, f)
		}
	}
	for _, k := range c.opts.Kustomizations {
		if _, checked := c.byPath[cleanPath(k.Path)]; !checked {
			kusts = append(kusts, k)
		}
	}
	for _, k := range kusts {
		if len(k.Data) > maxParse {
			continue
		}
		docs, _ := parseDocuments(k.Data)
		for _, d := range docs {
			root := resolve(d.root)
			if root == nil || root.Kind != yaml.MappingNode || !isKustomization(root, k.Path) {
				continue
			}
			for _, r := range kustRefs(root, k.Path) {
				c.refs = append(c.refs, r)
				if r.kind != refGeneratorInput {
					c.asYAML[cleanPath(r.file)] = true
				}
			}
		}
	}
}

// checkRefs checks the files kustomizations read as what they read them as, where the
// kustomization or the file is among the checked files: a file of any name listed in
// resources: holds manifests, a patch is checked against its target, a generators: file is a
// generator's configuration whose files are read from the kustomization's directory, and the
// files a secret generator reads must be sops-encrypted. A checked kustomization's unchanged
// files are checked too: the change is what deploys them.
func (c *checker) checkRefs() {
	for _, r := range c.refs {
		_, kustChecked := c.byPath[cleanPath(r.kust)]
		_, fileChecked := c.byPath[cleanPath(r.file)]
		if !kustChecked && !fileChecked {
			continue
		}
		if _, ok := c.allow(r.file); ok {
			continue
		}
		if r.kind != refGeneratorInput {
			c.checkRefFile(r, fileChecked)
			continue
		}
		if kustChecked {
			// Reported with the kustomization.
			continue
		}
		if problem := c.checkRef(r.file); problem != "" {
			c.add(Finding{File: c.byPath[cleanPath(r.file)].Path, Reason: fmt.Sprintf("read by %s in %s (%s), and not sops-encrypted: %s", r.label, r.kust, r.path, problem)})
		}
	}
}

// checkRefFile checks a file a kustomization reads as what it reads it as. A checked file was
// checked as a file already, as YAML whatever its name: what is left are the checks that need
// the kustomization (a patch's target, the directory a generator reads from). An unchanged file
// gets its object checks, unless its name made it YAML when it was committed.
func (c *checker) checkRefFile(r kustRef, checked bool) {
	name := cleanPath(r.file)
	var file File
	via := ""
	if checked {
		file = *c.byPath[name]
	} else {
		if r.kind == refResource && isStructuredName(r.file) {
			return
		}
		data, err := c.readRef(r.file)
		if err != nil {
			// A directory (a base), or a file the repository does not hold.
			return
		}
		file = File{Path: r.file, Data: data}
		via = fmt.Sprintf("read by %s %s", r.kust, r.path)
	}
	seen := name + "\x00" + r.kust + "\x00" + r.path
	if c.refDone[seen] {
		return
	}
	c.refDone[seen] = true
	if len(file.Data) > maxParse {
		if !checked {
			c.tooLarge(file, via)
		}
		return
	}
	docs, err := parseDocuments(file.Data)
	if err != nil && !checked {
		c.unparseable(file, err, via)
	}
	implied := ""
	if r.target.secret() {
		implied = "Secret"
	}
	for _, d := range docs {
		root := resolve(d.root)
		if root == nil {
			continue
		}
		fc := &fileCheck{checker: c, file: file, doc: d, via: via}
		switch {
		case r.kind == refResource:
			if !checked {
				fc.checkObject(root, "", nil, "")
			}
		case r.kind == refPatch || r.kind == refJSON6902:
			switch {
			case root.Kind == yaml.SequenceNode:
				if implied != "" {
					fc.checkJSONPatch(root)
				}
			case root.Kind == yaml.MappingNode && (!checked || implied != "" && len(scalars(root, "kind")) == 0):
				fc.checkObject(root, "", nil, implied)
			}
		case r.kind == refPlugin && root.Kind == yaml.MappingNode && isBuiltin(root):
			if !checked {
				fc.checkObject(root, "", nil, "")
			}
			if hasScalar(root, "kind", "SecretGenerator") {
				g := generator{node: root, label: generatorLabel(root, "SecretGenerator")}
				for _, in := range generatorInputs(g) {
					in.file = path.Join(path.Dir(cleanPath(r.kust)), in.ref)
					if problem := c.checkRef(in.file); problem != "" {
						fc.add(in.path, fmt.Sprintf("%s: %s %s is not sops-encrypted: %s", in.label, in.what, quoteName(in.ref), problem))
					}
				}
			}
		}
	}
}

type generator struct {
	node  *yaml.Node
	path  string
	label string
}

func generatorLabel(g *yaml.Node, what string) string {
	names := scalars(g, "name")
	if len(names) == 0 {
		for _, md := range values(g, "metadata") {
			names = append(names, scalars(md, "name")...)
		}
	}
	if len(names) > 0 && printableKey(names[0]) {
		return fmt.Sprintf("%s %q", what, names[0])
	}
	return what
}

func secretGenerators(obj *yaml.Node) []generator {
	var out []generator
	eachMapping(obj, "secretGenerator", func(p string, g *yaml.Node) {
		out = append(out, generator{node: g, path: p, label: generatorLabel(g, "secretGenerator")})
	})
	return out
}

// inlineGenerators are the SecretGenerator configurations written inline in a kustomization's
// generators:.
func inlineGenerators(obj *yaml.Node) []generator {
	var out []generator
	eachScalar(obj, "generators", func(p, s string) {
		if !inline(s) {
			return
		}
		docs, _ := parseDocuments([]byte(s))
		for _, d := range docs {
			root := resolve(d.root)
			if root != nil && root.Kind == yaml.MappingNode && isBuiltin(root) && hasScalar(root, "kind", "SecretGenerator") {
				out = append(out, generator{node: root, path: docPath(p, d, len(docs)), label: generatorLabel(root, "SecretGenerator")})
			}
		}
	})
	return out
}

// generatorInputs lists the files and env files a secret generator reads, as written.
func generatorInputs(g generator) []kustRef {
	var out []kustRef
	add := func(p, what, ref string) {
		if ref = strings.TrimSpace(ref); ref != "" {
			out = append(out, kustRef{path: p, kind: refGeneratorInput, label: g.label, what: what, ref: ref})
		}
	}
	eachScalar(g.node, "files", func(p, f string) {
		// "key=path" names the key; the file is after the first "=".
		if _, after, ok := strings.Cut(f, "="); ok {
			f = after
		}
		add(under(g.path, p), "file", f)
	})
	eachScalar(g.node, "envs", func(p, e string) { add(under(g.path, p), "env file", e) })
	// The field envs replaced.
	for _, e := range scalars(g.node, "env") {
		add(under(g.path, "env"), "env file", e)
	}
	return out
}

func quoteName(s string) string {
	if printableKey(s) {
		return fmt.Sprintf("%q", s)
	}
	return "(unprintable name)"
}

// checkEncryptedFile says why data is not a sops-encrypted file, or "". sops writes YAML and
// JSON (and binary files, as JSON) with a top-level sops mapping, dotenv files with sops_ keys,
// and INI files with a [sops] section. Every value must be encrypted: the whole file becomes
// the Secret's value.
func checkEncryptedFile(data []byte) string {
	if len(data) > maxParse {
		return "it is too large to check"
	}
	if docs, err := parseDocuments(data); err == nil && len(docs) > 0 && hasSopsMapping(docs) {
		return checkEncryptedDocs(docs)
	}
	if meta, vals, ok := parseINI(data); ok {
		return checkFlat(meta, vals)
	}
	if meta, vals, ok := parseDotenv(data); ok && len(meta) > 0 {
		return checkFlat(meta, vals)
	}
	return "it has no sops metadata"
}

func hasSopsMapping(docs []*document) bool {
	for _, d := range docs {
		if root := resolve(d.root); root != nil && root.Kind == yaml.MappingNode && field(root, "sops") != nil {
			return true
		}
	}
	return false
}

func checkEncryptedDocs(docs []*document) string {
	for _, d := range docs {
		root := resolve(d.root)
		if root == nil {
			continue
		}
		where := ""
		if len(docs) > 1 {
			where = fmt.Sprintf("document %d: ", d.index)
		}
		sops := field(root, "sops")
		if root.Kind != yaml.MappingNode || sops == nil || sops.Kind != yaml.MappingNode {
			return where + "it has no sops metadata"
		}
		meta := map[string]string{}
		flattenSops(sops, "", meta, 0)
		if pr := checkSopsMetadata(meta); len(pr) > 0 {
			return where + pr[0].reason
		}
		problem := ""
		for _, e := range pairs(root) {
			if e.key == "sops" || problem != "" {
				continue
			}
			leaves(e.value, join("", e.name), func(p string, n *yaml.Node) {
				if problem != "" || isNull(n) || n.Value == "" {
					return
				}
				if err := checkENC(n.Value); err != nil {
					problem = fmt.Sprintf("%sthe value at %s is not a sops-encrypted value (%v)", where, p, err)
				}
			})
		}
		if problem != "" {
			return problem
		}
	}
	return ""
}

// flatValue is one value of a dotenv or INI file.
type flatValue struct {
	key, value string
}

// checkFlat checks the metadata and values of a dotenv or INI file.
func checkFlat(meta map[string]string, vals []flatValue) string {
	if pr := checkSopsMetadata(meta); len(pr) > 0 {
		return pr[0].reason
	}
	for _, v := range vals {
		if v.value == "" {
			continue
		}
		if err := checkENC(v.value); err != nil {
			return fmt.Sprintf("the value of %s is not a sops-encrypted value (%v)", quoteName(v.key), err)
		}
	}
	return ""
}

// parseDotenv reads KEY=VALUE lines as sops' dotenv store does; ok is false when a line is
// neither a comment nor an assignment.
func parseDotenv(data []byte) (meta map[string]string, vals []flatValue, ok bool) {
	meta = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxParse+1)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			return nil, nil, false
		}
		k = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "export "))
		if rest, isMeta := strings.CutPrefix(k, "sops_"); isMeta {
			meta[rest] = v
			continue
		}
		vals = append(vals, flatValue{key: k, value: v})
	}
	return meta, vals, sc.Err() == nil
}

// parseINI reads an INI file with a [sops] section; ok is false when it has none.
func parseINI(data []byte) (meta map[string]string, vals []flatValue, ok bool) {
	meta = map[string]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxParse+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			if section == "sops" {
				ok = true
			}
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if section == "sops" {
			meta[k] = v
		} else {
			vals = append(vals, flatValue{key: k, value: v})
		}
	}
	return meta, vals, ok
}
