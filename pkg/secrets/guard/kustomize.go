package guard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

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
	if len(avs) > 0 || !isKustomizationName(path.Base(cleanPath(file))) {
		return false
	}
	kinds := scalars(obj, "kind")
	return len(kinds) == 0 || hasScalar(obj, "kind", "Kustomization") || hasScalar(obj, "kind", "Component")
}

// generatorRef is a file a secretGenerator reads.
type generatorRef struct {
	path  string // key path in the kustomization: secretGenerator[0].envs[1]
	label string // secretGenerator "name"
	what  string // "file" or "env file"
	ref   string // as written, without its key
	file  string // resolved against the kustomization's directory
}

// checkKustomization refuses secretGenerator literals and the generator's files that are not
// sops-encrypted.
func (fc *fileCheck) checkKustomization(obj *yaml.Node) {
	for _, g := range secretGenerators(obj) {
		for _, lits := range values(g.node, "literals") {
			if lits == nil || lits.Kind != yaml.SequenceNode {
				continue
			}
			for j, l := range lits.Content {
				if l = resolve(l); l == nil || l.Kind != yaml.ScalarNode || l.Value == "" {
					continue
				}
				fc.add(index(join(g.path, "literals"), j), g.label+": literal values are plaintext in the repository; use a sops-encrypted env file")
			}
		}
	}
	for _, r := range generatorRefs(obj, fc.file.Path) {
		if problem := fc.checkRef(r.file); problem != "" {
			fc.add(r.path, fmt.Sprintf("%s: %s %s is not sops-encrypted: %s", r.label, r.what, quoteName(r.ref), problem))
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

// checkContextKustomizations checks the checked files that a kustomization outside the check
// feeds to a secretGenerator: an env file staged alone is still a generator's input.
func (c *checker) checkContextKustomizations() {
	for _, k := range c.opts.Kustomizations {
		if _, checked := c.byPath[cleanPath(k.Path)]; checked {
			continue
		}
		docs, _ := parseDocuments(k.Data)
		for _, d := range docs {
			root := resolve(d.root)
			if root == nil || root.Kind != yaml.MappingNode || !isKustomization(root, k.Path) {
				continue
			}
			for _, r := range generatorRefs(root, k.Path) {
				f, ok := c.byPath[cleanPath(r.file)]
				if !ok || c.allowed[cleanPath(r.file)] {
					continue
				}
				if problem := c.checkRef(r.file); problem != "" {
					c.add(Finding{File: f.Path, Reason: fmt.Sprintf("read by %s in %s (%s), and not sops-encrypted: %s", r.label, k.Path, r.path, problem)})
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

func secretGenerators(obj *yaml.Node) []generator {
	var out []generator
	for _, sg := range values(obj, "secretGenerator") {
		if sg == nil || sg.Kind != yaml.SequenceNode {
			continue
		}
		for i, g := range sg.Content {
			if g = resolve(g); g == nil || g.Kind != yaml.MappingNode {
				continue
			}
			label := "secretGenerator"
			if names := scalars(g, "name"); len(names) > 0 && printableKey(names[0]) {
				label = fmt.Sprintf("secretGenerator %q", names[0])
			}
			out = append(out, generator{node: g, path: index("secretGenerator", i), label: label})
		}
	}
	return out
}

// generatorRefs lists the files and env files the secretGenerators of a kustomization read.
func generatorRefs(obj *yaml.Node, kustFile string) []generatorRef {
	dir := path.Dir(cleanPath(kustFile))
	var out []generatorRef
	add := func(g generator, p, what, ref string) {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			return
		}
		file := ref
		if !path.IsAbs(ref) {
			file = path.Join(dir, ref)
		}
		out = append(out, generatorRef{path: p, label: g.label, what: what, ref: ref, file: file})
	}
	for _, g := range secretGenerators(obj) {
		for _, files := range values(g.node, "files") {
			if files == nil || files.Kind != yaml.SequenceNode {
				continue
			}
			for j, f := range files.Content {
				if f = resolve(f); f != nil && f.Kind == yaml.ScalarNode {
					// "key=path" names the key; the file is after the first "=".
					ref := f.Value
					if _, after, ok := strings.Cut(ref, "="); ok {
						ref = after
					}
					add(g, index(join(g.path, "files"), j), "file", ref)
				}
			}
		}
		for _, envs := range values(g.node, "envs") {
			if envs == nil || envs.Kind != yaml.SequenceNode {
				continue
			}
			for j, e := range envs.Content {
				if e = resolve(e); e != nil && e.Kind == yaml.ScalarNode {
					add(g, index(join(g.path, "envs"), j), "env file", e.Value)
				}
			}
		}
		// The field envs replaced.
		for _, e := range scalars(g.node, "env") {
			add(g, join(g.path, "env"), "env file", e)
		}
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
	sc.Buffer(nil, 16<<20)
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
	sc.Buffer(nil, 16<<20)
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
