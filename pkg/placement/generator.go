package placement

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamledit"
)

// generatorSource is where a configMapGenerator entry of some kustomization of the target takes
// one key from: a literal of the entry, a file of its files: (the whole file is the value), or a
// KEY=VALUE line of an env file of its envs:.
type generatorSource struct {
	kust  string // the kustomization holding the entry, repository-relative
	entry int    // the entry's index in configMapGenerator
	// Exactly one of these says where the key is.
	literal int    // index in literals, or -1
	file    string // a files: file, repository-relative
	envFile string // an envs: file, repository-relative
}

// generatorEntry is one configMapGenerator entry that makes the object, in a kustomization of
// the target.
type generatorEntry struct {
	kust     string
	index    int
	literals []string
	files    []string // as written: "path" or "key=path"
	envs     []string
}

// generatorFile writes changes to the keys of a ConfigMap a configMapGenerator makes where the
// keys come from: a KEY=VALUE line of an env file (only that line changes), a file of files:
// (its new content), or a literal. It applies when every change is a data or binaryData key,
// and no file it writes is read by another target. Secrets are not written this way: a
// secretGenerator's input written in plain text would put the value in the clear.
func generatorFile(in Input) (*Candidate, error) {
	o := in.Object
	if o.Origin.Generated == "" || o.ID.Kind != "ConfigMap" || o.ID.Group != "" {
		return nil, nil
	}
	for _, c := range in.Changes {
		if len(c.Path) != 2 || c.Path[1].MergeKey != "" || (c.Path[0].Key != "data" && c.Path[0].Key != "binaryData") {
			return nil, nil
		}
	}
	kust := in.kustomizationFile()
	if kust == "" {
		return nil, nil
	}
	entries, err := in.generatorEntries(kust, o.Origin.Name)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	files := map[string][]byte{}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return in.read(p)
	}
	var layers []string
	for _, c := range in.Changes {
		key := c.Path[1].Key
		value, ok := newValue(c)
		if !ok {
			return nil, nil
		}
		src, found, err := in.findKey(entries, key)
		if err != nil {
			return nil, err
		}
		var file string
		switch {
		case !found && c.Added:
			file, err = addKey(in, entries[0], key, value, read, files)
		case !found:
			return nil, nil
		case src.envFile != "":
			file = src.envFile
			err = editEnvLine(src.envFile, key, value, c.Delete, read, files)
		case src.file != "":
			if c.Delete {
				return nil, nil
			}
			file = src.file
			files[file] = []byte(value)
		default:
			file = src.kust
			err = editLiteral(src, key, value, c.Delete, read, files)
		}
		if err != nil {
			return nil, err
		}
		if file == "" {
			return nil, nil
		}
		layers = append(layers, file)
	}
	for f := range files {
		if in.Shared(f) {
			return nil, nil
		}
	}
	return &Candidate{Layer: strings.Join(dedupe(layers), ", ") + " (configMapGenerator " + o.Origin.Name + ")", Files: files}, nil
}

// newValue is the key's new content as the generator's input holds it: binaryData decoded.
func newValue(c FieldChange) (string, bool) {
	if c.Delete {
		return "", true
	}
	s, ok := c.New.(string)
	if !ok {
		return "", false
	}
	if c.Path[0].Key == "binaryData" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return s, true
}

// generatorEntries are the configMapGenerator entries named name of the kustomization kust and
// of the local kustomizations it includes (resources:, components:), the outer ones first: an
// outer entry (behavior: merge or replace) overrides the keys of an inner one.
func (in Input) generatorEntries(kust, name string) ([]generatorEntry, error) {
	var out []generatorEntry
	seen := map[string]bool{}
	var visit func(kust string) error
	visit = func(kust string) error {
		if seen[kust] {
			return nil
		}
		seen[kust] = true
		src, err := in.read(kust)
		if err != nil {
			return err
		}
		f, err := yamledit.Parse(src)
		if err != nil {
			return fmt.Errorf("%s: %w", kust, err)
		}
		dir := path.Dir(kust)
		if list, ok := f.Get(0, mustPath("configMapGenerator")); ok && list.Kind == yaml.SequenceNode {
			for i, it := range list.Content {
				if scalarField(it, "name") != name {
					continue
				}
				e := generatorEntry{kust: kust, index: i, literals: scalars(it, "literals"), files: scalars(it, "files"), envs: scalars(it, "envs")}
				if env := scalarField(it, "env"); env != "" {
					e.envs = append(e.envs, env)
				}
				out = append(out, e)
			}
		}
		for _, key := range []string{"resources", "components"} {
			for _, r := range scalars(f.Doc(0), key) {
				if reach.IsRemote(r) {
					continue
				}
				sub := path.Clean(path.Join(dir, r))
				for _, n := range konfig.RecognizedKustomizationFileNames() {
					if p := path.Join(sub, n); in.exists(p) {
						if err := visit(p); err != nil {
							return err
						}
						break
					}
				}
			}
		}
		return nil
	}
	return out, visit(kust)
}

// scalars is the list of scalars under key of mapping m.
func scalars(m *yaml.Node, key string) []string {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key || m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		var out []string
		for _, it := range m.Content[i+1].Content {
			if it.Kind == yaml.ScalarNode {
				out = append(out, it.Value)
			}
		}
		return out
	}
	return nil
}

// findKey finds the entry, outermost first, that gives the key its value, and where in it.
// Within an entry kustomize takes literals, then files, then env files, and a later one wins.
func (in Input) findKey(entries []generatorEntry, key string) (generatorSource, bool, error) {
	for _, e := range entries {
		dir := path.Dir(e.kust)
		src := generatorSource{kust: e.kust, entry: e.index, literal: -1}
		found := false
		for i, l := range e.literals {
			if k, _, ok := strings.Cut(l, "="); ok && k == key {
				src.literal, found = i, true
			}
		}
		for _, fsrc := range e.files {
			k, p := path.Base(fsrc), fsrc
			if before, after, ok := strings.Cut(fsrc, "="); ok {
				k, p = before, after
			}
			if k == key {
				src = generatorSource{kust: e.kust, entry: e.index, literal: -1, file: path.Clean(path.Join(dir, p))}
				found = true
			}
		}
		for _, env := range e.envs {
			p := path.Clean(path.Join(dir, env))
			b, err := in.read(p)
			if err != nil {
				return src, false, err
			}
			for _, l := range envLines(b) {
				if l.key == key {
					src = generatorSource{kust: e.kust, entry: e.index, literal: -1, envFile: p}
					found = true
				}
			}
		}
		if found {
			return src, true, nil
		}
	}
	return generatorSource{}, false, nil
}

// envLine is a KEY=VALUE line of an env file: its key, and where the line and its value are.
type envLine struct {
	key                  string
	start, lineEnd       int // the line, with its line break
	valueStart, valueEnd int // the value; both at the key's end for a line without `=`
	hasEquals            bool
}

// envLines reads an env file as kustomize does (a BOM and leading blanks trimmed, `#` comments
// and empty lines skipped, the value everything after the first `=`, without the line break).
func envLines(b []byte) []envLine {
	var out []envLine
	for off := 0; off < len(b); {
		end := bytes.IndexByte(b[off:], '\n')
		next := len(b)
		if end >= 0 {
			next = off + end + 1
		}
		content := bytes.TrimSuffix(bytes.TrimSuffix(b[off:next], []byte("\n")), []byte("\r"))
		trimmed := content
		if off == 0 {
			trimmed = bytes.TrimPrefix(trimmed, []byte("\xef\xbb\xbf"))
		}
		trimmed = bytes.TrimLeftFunc(trimmed, unicode.IsSpace)
		if len(trimmed) > 0 && trimmed[0] != '#' {
			keyStart := off + len(content) - len(trimmed)
			l := envLine{start: off, lineEnd: next, valueEnd: off + len(content)}
			if k, _, ok := bytes.Cut(trimmed, []byte("=")); ok {
				l.key, l.hasEquals, l.valueStart = string(k), true, keyStart+len(k)+1
			} else {
				l.key, l.valueStart = string(trimmed), l.valueEnd
			}
			out = append(out, l)
		}
		off = next
	}
	return out
}

// editEnvLine changes the value of key's (last) line in an env file, or removes the line.
func editEnvLine(file, key, value string, remove bool, read func(string) ([]byte, error), files map[string][]byte) error {
	if strings.ContainsAny(value, "\r\n") || !utf8.ValidString(value) {
		return fmt.Errorf("%s: %s: a value of an env file is one line", file, key)
	}
	b, err := read(file)
	if err != nil {
		return err
	}
	var at *envLine
	for _, l := range envLines(b) {
		if l.key == key {
			at = &l
		}
	}
	if at == nil {
		return fmt.Errorf("%s: no line for %s", file, key)
	}
	var out []byte
	switch {
	case remove:
		out = append(append([]byte{}, b[:at.start]...), b[at.lineEnd:]...)
	case at.hasEquals:
		out = append(append(append([]byte{}, b[:at.valueStart]...), value...), b[at.valueEnd:]...)
	default:
		out = append(append(append([]byte{}, b[:at.valueEnd]...), "="+value...), b[at.valueEnd:]...)
	}
	files[file] = out
	return nil
}

// editLiteral changes a KEY=VALUE literal of a generator entry (keeping quotes around the
// value), or removes it.
func editLiteral(src generatorSource, key, value string, remove bool, read func(string) ([]byte, error), files map[string][]byte) error {
	b, err := read(src.kust)
	if err != nil {
		return err
	}
	f, err := yamledit.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", src.kust, err)
	}
	p := mustPath(fmt.Sprintf("configMapGenerator[%d].literals[%d]", src.entry, src.literal))
	if remove {
		err = f.Delete(0, p)
	} else {
		old, _ := f.Get(0, p)
		_, ov, _ := strings.Cut(old.Value, "=")
		if len(ov) >= 2 && ov[0] == ov[len(ov)-1] && (ov[0] == '"' || ov[0] == '\'') && !strings.ContainsRune(value, rune(ov[0])) {
			value = string(ov[0]) + value + string(ov[0])
		}
		err = f.Set(0, p, yamledit.ScalarNode(key+"="+value))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", src.kust, err)
	}
	files[src.kust] = f.Bytes()
	return nil
}

// addKey adds a key to the outermost entry that makes the object: a line at the end of its
// last env file, else a literal. It returns the file written ("" when the entry has neither).
func addKey(in Input, e generatorEntry, key, value string, read func(string) ([]byte, error), files map[string][]byte) (string, error) {
	if len(e.envs) > 0 {
		file := path.Clean(path.Join(path.Dir(e.kust), e.envs[len(e.envs)-1]))
		if strings.ContainsAny(value, "\r\n") || !utf8.ValidString(value) {
			return "", nil
		}
		b, err := read(file)
		if err != nil {
			return "", err
		}
		eol := "\n"
		if bytes.Contains(b, []byte("\r\n")) {
			eol = "\r\n"
		}
		out := append([]byte{}, b...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, eol...)
		}
		files[file] = append(out, key+"="+value+eol...)
		return file, nil
	}
	if len(e.literals) == 0 {
		return "", nil
	}
	b, err := read(e.kust)
	if err != nil {
		return "", err
	}
	f, err := yamledit.Parse(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", e.kust, err)
	}
	if err := f.Set(0, mustPath(fmt.Sprintf("configMapGenerator[%d].literals[%d]", e.index, len(e.literals))), yamledit.ScalarNode(key+"="+value)); err != nil {
		return "", fmt.Errorf("%s: %w", e.kust, err)
	}
	files[e.kust] = f.Bytes()
	return e.kust, nil
}
