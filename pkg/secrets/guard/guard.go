// Package guard is the secrets guard of `kubectl gitops secrets check` and the pre-commit hook: it
// refuses files that would put secret material into the repository in the clear. A Secret passes
// only when sops encrypted every value under data and stringData; a SealedSecret only when every
// sealed value is well-formed; a kustomize secret generator (secretGenerator:, or a builtin
// SecretGenerator under generators:, in a file or inline) only with sops-encrypted files; and
// no file may hold a private key.
//
// It checks every shape that `kubectl kustomize` turns into a Secret: inline patches
// (patches[].patch, patchesStrategicMerge strings, JSON 6902 patches of a Secret target, the
// builtin patch transformers) and files of any name that a kustomization lists in resources:,
// patches or generators:, read as YAML whatever their extension. CheckRendered checks what a
// render produced, which catches whatever shape this list misses.
//
// Private keys are found whether or not they parse: a PEM or PGP private key header followed by
// base64 (a truncated or damaged key still leaks part of the key), age identities (X25519 and
// post-quantum, truncated ones included), plugin identities, SSH2 and PuTTY keys, the
// sealed-secrets controller's key, and keys base64-encoded in values or in files that are not
// YAML. An ENCRYPTED PRIVATE KEY is refused too: its passphrase can be attacked offline for ever
// once it is in Git history.
//
// Files are bytes in, findings out: the only other files it reads are those kustomizations
// name, through Options.ReadFile, and no finding repeats a value. Hostile input is bounded: a
// file over 8 MiB is not parsed (and refused if it looks like a Secret), aliases are followed
// once, nesting is walked 100 levels deep, and a file lists at most 100 findings.
package guard

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// File is one file to check: its path (slash-separated; repository-relative for staged files)
// and its content.
type File struct {
	Path string
	Data []byte
}

// Options tune a check. The zero value checks files alone, reading the files that their
// kustomizations name from disk.
type Options struct {
	// Allow says whether a file may hold key material anyway (a test-only key), and why. Nil
	// allows nothing. The command wires it to the repository configuration's guard.allow.
	Allow func(path string) (reason string, ok bool)
	// ReadFile reads a file a kustomization names (a generator's input, a resource or patch of
	// any name) when it is not among the checked files; it returns an error satisfying
	// errors.Is(err, fs.ErrNotExist) when there is no such file. Nil reads from disk.
	// StagedChange reads the index, CommitChange the commit.
	ReadFile func(name string) ([]byte, error)
	// Kustomizations are kustomization files that are not checked themselves but may name
	// checked files: a staged env file is checked as an encrypted file when an unchanged
	// kustomization's generator reads it, a staged file of any name as manifests when an
	// unchanged kustomization lists it.
	Kustomizations []File
	// NewAllow says whether the allow-list entry that lets a file through is new: added by the
	// change being checked (to the index, compared with HEAD; by a commit, compared with its
	// parent), and names it. Such a file is checked all the same, and its findings say why: a
	// guard.allow entry added with the plaintext it allows would let both in unreviewed. Nil
	// treats every entry as old. StagedChange and CommitChange set it.
	NewAllow func(path string) (entry string, isNew bool)
}

// Finding is one reason to refuse a file. It names where the problem is, never the value.
type Finding struct {
	// File is the path of the file, as given.
	File string `json:"file"`
	// Doc is the 1-based index of the YAML or JSON document; 0 for the file as a whole.
	Doc int `json:"doc,omitempty"`
	// Path is the key path of the value (data.password, spec.encryptedData.x,
	// secretGenerator[0].literals[1]), or "line N" for a match outside any value.
	Path string `json:"path,omitempty"`
	// Object names the rendered object, for a finding of CheckRendered.
	Object string `json:"object,omitempty"`
	// Reason says what is wrong.
	Reason string `json:"reason"`
}

// Allowed is a file the allow-list let through.
type Allowed struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// AllowChange is a guard.allow entry that the checked change adds, and the checked files that
// only it lets through: those were checked all the same.
type AllowChange struct {
	// Entry is the entry's path glob.
	Entry string `json:"entry"`
	// Reason is the entry's reason.
	Reason string `json:"reason"`
	// Files are the checked files that only this entry lets through.
	Files []string `json:"files,omitempty"`
}

// Report is the outcome of a check.
type Report struct {
	// Findings are sorted by file, then document, in the order found within a document.
	Findings []Finding `json:"findings"`
	// Allowed are the files the allow-list let through, unchecked.
	Allowed []Allowed `json:"allowed,omitempty"`
	// AllowChanges are the guard.allow entries the checked change adds.
	AllowChanges []AllowChange `json:"allowChanges,omitempty"`
	// Files is the number of files checked, allowed ones included.
	Files int `json:"files"`
	// Unsafe are the checked files that no renderer should read (alias bombs): the hooks do
	// not render while the index holds one.
	Unsafe []string `json:"unsafe,omitempty"`
}

// Failed tells whether the report refuses the change.
func (r *Report) Failed() bool { return len(r.Findings) > 0 }

// Check checks files and reports every finding. It does not stop at the first.
func Check(files []File, opts Options) Report {
	c := newChecker(opts)
	for i := range files {
		c.byPath[cleanPath(files[i].Path)] = &files[i]
	}
	c.collectRefs(files)
	rep := Report{Files: len(files)}
	for _, f := range files {
		if _, ok := c.allow(f.Path); ok {
			continue
		}
		c.checkFile(f, isStructuredName(f.Path) || c.asYAML[cleanPath(f.Path)])
	}
	c.checkRefs()
	rep.Findings = c.result()
	rep.Allowed = c.allowedOut
	rep.AllowChanges = c.allowChanges
	for _, p := range c.unsafe {
		rep.Unsafe = append(rep.Unsafe, p)
	}
	sort.Strings(rep.Unsafe)
	return rep
}

// Format writes one line per finding: "file:doc: path: reason", "file: path: reason" for
// findings about a file as a whole, "file: object: path: reason" for a rendered object.
func Format(w io.Writer, findings []Finding) error {
	for _, f := range findings {
		loc := f.File
		if f.Doc > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Doc)
		}
		line := loc + ": "
		if f.Object != "" {
			line += f.Object + ": "
		}
		if f.Path != "" {
			line += f.Path + ": "
		}
		if _, err := fmt.Fprintln(w, line+f.Reason); err != nil {
			return err
		}
	}
	return nil
}

// FormatAllowed writes one line per allowed file: "file: allowed: reason".
func FormatAllowed(w io.Writer, allowed []Allowed) error {
	for _, a := range allowed {
		if _, err := fmt.Fprintf(w, "%s: allowed: %s\n", a.File, a.Reason); err != nil {
			return err
		}
	}
	return nil
}

// FormatAllowChanges writes one line per guard.allow entry the change adds, with the files it
// newly lets through.
func FormatAllowChanges(w io.Writer, changes []AllowChange) error {
	for _, a := range changes {
		files := "no checked file"
		if len(a.Files) > 0 {
			files = strings.Join(a.Files, ", ")
		}
		if _, err := fmt.Fprintf(w, "%s: guard.allow entry %q (%s) is added in this commit; it newly allows: %s\n", target.ConfigFile, a.Entry, a.Reason, files); err != nil {
			return err
		}
	}
	return nil
}

type checker struct {
	opts       Options
	byPath     map[string]*File
	allowed    map[string]bool
	allowedOut []Allowed
	findings   []Finding
	seen       map[Finding]bool
	// perFile counts the findings of each file, dropped the ones over maxFindingsPerFile.
	perFile map[string]int
	dropped map[string]int
	// refs are the files kustomizations read; asYAML the checked files they read as YAML.
	refs    []kustRef
	asYAML  map[string]bool
	refDone map[string]bool
	// newAllow are the files checked although allowed, by the new entry that allows them.
	newAllow     map[string]string
	allowChanges []AllowChange
	// unsafe are the files found to be alias bombs, by cleaned path.
	unsafe map[string]string
}

func newChecker(opts Options) *checker {
	return &checker{
		opts:     opts,
		byPath:   map[string]*File{},
		allowed:  map[string]bool{},
		seen:     map[Finding]bool{},
		perFile:  map[string]int{},
		dropped:  map[string]int{},
		asYAML:   map[string]bool{},
		refDone:  map[string]bool{},
		newAllow: map[string]string{},
		unsafe:   map[string]string{},
	}
}

// maxFindingsPerFile bounds the findings listed for one file: a file of a hundred thousand
// keys is refused as surely with the first hundred, and its report stays readable.
const maxFindingsPerFile = 100

// allow says whether the allow-list lets a file through, unchecked. A file that only a new
// entry lets through is checked.
func (c *checker) allow(p string) (string, bool) {
	if c.opts.Allow == nil {
		return "", false
	}
	reason, ok := c.opts.Allow(p)
	if !ok {
		return "", false
	}
	name := cleanPath(p)
	if c.opts.NewAllow != nil {
		if entry, isNew := c.opts.NewAllow(p); isNew {
			if _, done := c.newAllow[name]; !done {
				c.newAllow[name] = entry
				c.recordAllowChange(entry, reason, p)
			}
			return "", false
		}
	}
	if !c.allowed[name] {
		c.allowed[name] = true
		c.allowedOut = append(c.allowedOut, Allowed{File: p, Reason: reason})
	}
	return reason, true
}

func (c *checker) recordAllowChange(entry, reason, file string) {
	for i := range c.allowChanges {
		if c.allowChanges[i].Entry == entry {
			c.allowChanges[i].Files = append(c.allowChanges[i].Files, file)
			return
		}
	}
	c.allowChanges = append(c.allowChanges, AllowChange{Entry: entry, Reason: reason, Files: []string{file}})
}

func (c *checker) add(f Finding) {
	if entry, ok := c.newAllow[cleanPath(f.File)]; ok {
		f.Reason += fmt.Sprintf("; only guard.allow entry %q, added in the same commit, lets this file through: commit that entry alone first, then this file", entry)
	}
	if c.seen[f] {
		return
	}
	c.seen[f] = true
	if c.perFile[f.File] >= maxFindingsPerFile {
		c.dropped[f.File]++
		return
	}
	c.perFile[f.File]++
	c.findings = append(c.findings, f)
}

// result is the findings sorted by file, then document, with a line for those not listed.
func (c *checker) result() []Finding {
	for file, n := range c.dropped {
		c.findings = append(c.findings, Finding{File: file, Doc: 1 << 30, Reason: fmt.Sprintf("%d more %s not listed", n, plural(n, "finding", "findings"))})
	}
	sort.SliceStable(c.findings, func(i, j int) bool {
		a, b := c.findings[i], c.findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Doc < b.Doc
	})
	for i := range c.findings {
		if c.findings[i].Doc == 1<<30 {
			c.findings[i].Doc = 0
		}
	}
	return c.findings
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// maxParse is the largest file the guard parses as YAML or JSON. No Kubernetes object comes
// near it (the API server takes requests of 3 MiB at most), and parsing stays within a second
// or two; a larger file gets the text scans only, and is refused if it looks like a Secret.
const maxParse = 8 << 20

// checkFile checks one file: its documents when it is YAML or JSON (structured), and its text
// for private keys whatever it is.
func (c *checker) checkFile(f File, structured bool) {
	var docs []*document
	switch {
	case !structured:
	case len(f.Data) > maxParse:
		c.tooLarge(f, "")
	default:
		var err error
		docs, err = parseDocuments(f.Data)
		if err != nil {
			c.unparseable(f, err, "")
		}
	}
	var inValues []keyMatch
	for _, d := range docs {
		if aliasBomb(d.root) {
			c.add(Finding{File: f.Path, Doc: d.index, Reason: fmt.Sprintf("its YAML aliases expand to more than %d values (an alias bomb): a render would exhaust memory; write the values out", maxExpanded)})
			c.unsafe[cleanPath(f.Path)] = f.Path
		}
		fc := &fileCheck{checker: c, file: f, doc: d}
		fc.checkDocument()
		inValues = append(inValues, fc.keysInValues...)
	}
	c.rawKeys(f, docs, inValues)
	if len(docs) == 0 {
		c.rawEncodedKeys(f)
	}
}

// unparseable reports a YAML file that does not parse but reads like a Secret: the guard cannot
// prove its values are encrypted. A chart template ({{ }}) is left to whatever renders it.
func (c *checker) unparseable(f File, err error, via string) {
	if !secretLike.Match(f.Data) || bytes.Contains(f.Data, []byte("{{")) {
		return
	}
	reason := "does not parse as YAML or JSON and looks like a Secret: cannot tell whether its values are encrypted"
	if l := errorLine(err); l > 0 {
		reason = fmt.Sprintf("does not parse as YAML or JSON (line %d) and looks like a Secret: cannot tell whether its values are encrypted", l)
	}
	c.add(Finding{File: f.Path, Reason: withVia(reason, via)})
}

// tooLarge reports a file too large to parse that reads like a Secret.
func (c *checker) tooLarge(f File, via string) {
	if !secretLike.Match(f.Data) {
		return
	}
	reason := fmt.Sprintf("is %.1f MiB, more than the %d MiB the guard parses, and looks like a Secret: no Kubernetes object is this large; split the file", float64(len(f.Data))/(1<<20), maxParse>>20)
	c.add(Finding{File: f.Path, Reason: withVia(reason, via)})
}

func withVia(reason, via string) string {
	if via == "" {
		return reason
	}
	return reason + " (" + via + ")"
}

// readRef reads a file a kustomization refers to: from the checked files, else through
// Options.ReadFile, else from disk.
func (c *checker) readRef(name string) ([]byte, error) {
	if f, ok := c.byPath[cleanPath(name)]; ok {
		return f.Data, nil
	}
	if c.opts.ReadFile != nil {
		return c.opts.ReadFile(name)
	}
	return os.ReadFile(filepath.FromSlash(name))
}

func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean(filepath.ToSlash(p)), "./")
}

func isStructuredName(p string) bool {
	base := path.Base(filepath.ToSlash(p))
	if reach.IsFileName(base) {
		return true
	}
	switch strings.ToLower(path.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
