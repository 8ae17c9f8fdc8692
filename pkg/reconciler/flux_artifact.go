package reconciler

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An ExternalArtifact made by an ArtifactGenerator (source-watcher, Flux 2.7) is a tree that the
// generator's copy rules assemble from its sources. When those sources are one Git repository,
// the tree is a view of that repository: externalArtifact follows the rules back to repository
// paths, as source-watcher's builder applies them (cp-like: a trailing slash on the destination
// copies into a directory, "dir/" copies the directory itself, "dir/**" its contents, other
// globs as io/fs.Glob matches them, excludes as doublestar matches them, later rules
// overwriting earlier ones).

// externalArtifact follows the ExternalArtifact ns/name that ks applies back to the generator
// that makes it and to the repository paths of its tree.
func externalArtifact(repo fs.FS, ks Object, objs []Object, ns, name string) (url, ref string, tree map[string]string, err error) {
	gen, art, err := artifactSpec(repo, ks, objs, ns, name)
	if err != nil {
		return "", "", nil, err
	}
	genName := "ArtifactGenerator " + objectName(gen)
	// Each alias's Git source; a rule naming another kind of source cannot be followed.
	aliases := map[string]Object{}
	sources, _, _ := unstructured.NestedSlice(gen.Obj.Object, "spec", "sources")
	for _, s := range sources {
		m, _ := s.(map[string]any)
		u := &unstructured.Unstructured{Object: m}
		alias, kind, sname := str(u, "alias"), str(u, "kind"), str(u, "name")
		sns := str(u, "namespace")
		if sns == "" {
			sns = gen.Namespace()
		}
		if kind != "GitRepository" {
			aliases[alias] = Object{Obj: &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{"name": sname, "namespace": sns}}}}
			continue
		}
		src, ok := find(objs, gen, FluxSourceGroup, kind, sns, sname)
		switch {
		case !ok && gen.File == "":
			return "", "", nil, fmt.Errorf("its ExternalArtifact %s/%s is made by %s, whose source %q (GitRepository %s/%s) is not among the objects read; name the target in .kubectl-gitops.yaml", ns, name, genName, alias, sns, sname)
		case !ok:
			// As for a Kustomization (FluxKustomizationApplied): a GitRepository the files
			// lack is the repository they are in, URL and branch unknown.
			src = Object{Obj: &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{"name": sname, "namespace": sns}}}}
		}
		aliases[alias] = src
	}
	for i, op := range art.copy {
		alias, _, err := copySource(op.from)
		if err != nil {
			return "", "", nil, fmt.Errorf("%s, artifact %s, copy[%d]: %v", genName, name, i, err)
		}
		src, ok := aliases[alias]
		if !ok {
			return "", "", nil, fmt.Errorf("%s, artifact %s, copy[%d]: no source has the alias %q", genName, name, i, alias)
		}
		if src.Kind() != "GitRepository" {
			return "", "", nil, fmt.Errorf("its ExternalArtifact %s/%s is made by %s from %s %s (alias %q), not from Git; name the target in .kubectl-gitops.yaml", ns, name, genName, src.Kind(), objectName(src), alias)
		}
		u, r := "", "" // the repository the files are in
		if src.Obj.Object["spec"] != nil {
			u, r = gitSource(src)
		}
		if i > 0 && (u != url || r != ref) {
			return "", "", nil, fmt.Errorf("its ExternalArtifact %s/%s is made by %s from two Git repositories (%s %s and %s %s); name the target in .kubectl-gitops.yaml", ns, name, genName, url, ref, u, r)
		}
		url, ref = u, r
	}
	if len(art.copy) == 0 {
		return "", "", nil, fmt.Errorf("%s, artifact %s, copies nothing", genName, name)
	}
	if repo == nil {
		return "", "", nil, fmt.Errorf("its ExternalArtifact %s/%s is assembled by %s from %s: the repository's files are needed to follow its copy rules", ns, name, genName, url)
	}
	b := &treeBuilder{repo: repo, files: map[string]string{}}
	for i, op := range art.copy {
		if err := b.apply(op); err != nil {
			return "", "", nil, fmt.Errorf("%s, artifact %s, copy[%d] (from %q to %q): %v", genName, name, i, op.from, op.to, err)
		}
	}
	return url, ref, b.tree(), nil
}

// copyOp is one copy rule of an artifact.
type copyOp struct {
	from, to, strategy string
	exclude            []string
}

type artifact struct {
	name string
	copy []copyOp
}

// artifactSpec finds the ArtifactGenerator that makes the ExternalArtifact ns/name and the
// artifact's copy rules: through the ExternalArtifact's own sourceRef when it was read (from a
// cluster), else among the generators of that namespace (with spec.pathPattern, the artifact
// whose expanded name is name).
func artifactSpec(repo fs.FS, ks Object, objs []Object, ns, name string) (Object, artifact, error) {
	var gens []Object
	if ea, ok := find(objs, ks, FluxSourceGroup, "ExternalArtifact", ns, name); ok && str(ea.Obj, "spec", "sourceRef", "kind") == "ArtifactGenerator" {
		gns := str(ea.Obj, "spec", "sourceRef", "namespace")
		if gns == "" {
			gns = ns
		}
		if g, ok := find(objs, ks, FluxSourceExtensionGroup, "ArtifactGenerator", gns, str(ea.Obj, "spec", "sourceRef", "name")); ok {
			gens = append(gens, g)
		}
	}
	if len(gens) == 0 {
		// Generators of the namespace, the nearest definitions first (see find).
		seen := map[string]bool{}
		for _, o := range objs {
			if o.Obj == nil || o.Kind() != "ArtifactGenerator" || group(o.Obj) != FluxSourceExtensionGroup || o.Namespace() != ns || seen[o.Name()] {
				continue
			}
			seen[o.Name()] = true
			if g, ok := find(objs, ks, FluxSourceExtensionGroup, "ArtifactGenerator", ns, o.Name()); ok {
				gens = append(gens, g)
			}
		}
	}
	var errs []error
	for _, g := range gens {
		art, ok, err := generatorArtifact(repo, g, name)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			return g, art, nil
		}
	}
	if len(errs) > 0 {
		return Object{}, artifact{}, errors.Join(errs...)
	}
	return Object{}, artifact{}, fmt.Errorf("its source ExternalArtifact %s/%s is made by no ArtifactGenerator among the objects read (%s); connect to the cluster, or name the target in .kubectl-gitops.yaml", ns, name, where(ks))
}

// generatorArtifact is the artifact name of generator g, if it makes one by that name. With
// spec.pathPattern, each artifact is a template, expanded for each directory of repo that the
// pattern matches.
func generatorArtifact(repo fs.FS, g Object, name string) (artifact, bool, error) {
	arts, _, _ := unstructured.NestedSlice(g.Obj.Object, "spec", "artifacts")
	pattern := str(g.Obj, "spec", "pathPattern")
	var captures []map[string]string
	if pattern == "" {
		captures = []map[string]string{nil}
	}
	for _, a := range arts {
		m, _ := a.(map[string]any)
		u := &unstructured.Unstructured{Object: m}
		tmpl := str(u, "name")
		if pattern != "" && captures == nil {
			var err error
			if captures, err = patternCaptures(repo, pattern); err != nil {
				return artifact{}, false, fmt.Errorf("ArtifactGenerator %s: spec.pathPattern %q: %v", objectName(g), pattern, err)
			}
		}
		for _, c := range captures {
			if expand(tmpl, c, true) != name {
				continue
			}
			out := artifact{name: name}
			ops, _, _ := unstructured.NestedSlice(m, "copy")
			for _, o := range ops {
				om, _ := o.(map[string]any)
				ou := &unstructured.Unstructured{Object: om}
				ex, _, _ := unstructured.NestedStringSlice(om, "exclude")
				out.copy = append(out.copy, copyOp{from: expand(str(ou, "from"), c, false), to: expand(str(ou, "to"), c, false), strategy: str(ou, "strategy"), exclude: ex})
			}
			return out, true, nil
		}
	}
	return artifact{}, false, nil
}

var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand fills the placeholders of s; names of artifacts take the captures lowercased.
func expand(s string, c map[string]string, lower bool) string {
	if c == nil {
		return s
	}
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := c[m[1:len(m)-1]]
		if !ok {
			return m
		}
		if lower {
			return strings.ToLower(v)
		}
		return v
	})
}

// patternCaptures matches a pathPattern ("@alias/apps/{app}/envs/{env}") against the
// directories of repo: one set of captures for each directory it matches.
func patternCaptures(repo fs.FS, pattern string) ([]map[string]string, error) {
	if repo == nil {
		return nil, errors.New("the repository's files are needed to match it")
	}
	_, p, err := copySource(pattern)
	if err != nil {
		return nil, err
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	type partial struct {
		dir string
		c   map[string]string
	}
	cur := []partial{{dir: ".", c: map[string]string{}}}
	for _, seg := range segs {
		var re *regexp.Regexp
		if placeholder.MatchString(seg) {
			var b strings.Builder
			b.WriteString("^")
			last := 0
			for _, m := range placeholder.FindAllStringSubmatchIndex(seg, -1) {
				b.WriteString(regexp.QuoteMeta(seg[last:m[0]]))
				fmt.Fprintf(&b, "(?P<%s>[^/]+)", seg[m[2]:m[3]])
				last = m[1]
			}
			b.WriteString(regexp.QuoteMeta(seg[last:]) + "$")
			var err error
			if re, err = regexp.Compile(b.String()); err != nil {
				return nil, err
			}
		}
		var next []partial
		for _, pt := range cur {
			if re == nil {
				d := path.Join(pt.dir, seg)
				if fi, err := fs.Stat(repo, d); err == nil && fi.IsDir() {
					next = append(next, partial{dir: d, c: pt.c})
				}
				continue
			}
			entries, err := fs.ReadDir(repo, pt.dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				m := re.FindStringSubmatch(e.Name())
				if !e.IsDir() || m == nil {
					continue
				}
				c := make(map[string]string, len(pt.c)+len(m))
				for k, v := range pt.c {
					c[k] = v
				}
				for i, n := range re.SubexpNames() {
					if n != "" {
						c[n] = m[i]
					}
				}
				next = append(next, partial{dir: path.Join(pt.dir, e.Name()), c: c})
			}
		}
		cur = next
	}
	out := make([]map[string]string, len(cur))
	for i, pt := range cur {
		out[i] = pt.c
	}
	return out, nil
}

// copySource splits "@alias/pattern".
func copySource(from string) (alias, pattern string, err error) {
	rest, ok := strings.CutPrefix(from, "@")
	if !ok {
		return "", "", fmt.Errorf("source %q must start with '@'", from)
	}
	alias, pattern, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("source %q must be '@alias/pattern'", from)
	}
	return alias, pattern, nil
}

// treeBuilder applies copy rules to a tree of artifact files, each the repository file it is a
// copy of; dirs are the directories copied whole, each a candidate for one entry of
// Applied.Artifact.
type treeBuilder struct {
	repo  fs.FS
	files map[string]string // artifact path -> repository path
	dirs  []dirCopy
}

// dirCopy is a directory of the repository copied to the artifact with everything in it but
// what the rule's excludes leave out.
type dirCopy struct {
	to, from string
	excluded []string // repository paths below from, files or directories
}

func (b *treeBuilder) apply(op copyOp) error {
	_, pattern, err := copySource(op.from)
	if err != nil {
		return err
	}
	dest, ok := strings.CutPrefix(op.to, "@artifact/")
	if !ok {
		return errors.New("the destination must start with '@artifact/'")
	}
	dest = cleanRel(dest)
	intoDir := strings.HasSuffix(op.to, "/")
	for _, p := range op.exclude {
		if _, err := doublestar.Match(p, "."); err != nil {
			return fmt.Errorf("invalid exclude pattern %q", p)
		}
	}
	extract := op.strategy == "Extract"
	if !strings.ContainsAny(pattern, "*?[]") {
		src := cleanRel(pattern)
		fi, err := fs.Stat(b.repo, src)
		if err != nil {
			return fmt.Errorf("source %q does not exist in the repository", src)
		}
		if fi.IsDir() {
			if extract {
				return fmt.Errorf("the Extract strategy does not take a directory (%s)", src)
			}
			_, err := b.copyDir(src, joinRel(dest, path.Base(src)), op.exclude, src)
			return err
		}
		if excluded(src, ".", op.exclude) {
			return nil
		}
		if extract {
			return extractError(src)
		}
		to := dest
		if intoDir || b.isDir(dest) {
			to = joinRel(dest, path.Base(src))
		}
		return b.copyFile(op, src, to)
	}
	var matches []string
	if extract {
		matches, err = doublestar.Glob(b.repo, pattern)
	} else {
		matches, err = fs.Glob(b.repo, pattern)
	}
	if err != nil {
		return fmt.Errorf("invalid glob pattern %q: %v", pattern, err)
	}
	if len(matches) == 0 {
		return fmt.Errorf("no file matches %q in the repository", pattern)
	}
	base := selectionRoot(pattern)
	// "dir/**" (which io/fs.Glob matches as "dir/*") copies what is in dir: the whole of dir.
	contents, isContents := strings.CutSuffix(pattern, "/**")
	whole := dirCopy{to: dest, from: cleanRel(contents)}
	var kept []string
	for _, m := range matches {
		switch {
		case m == "." || m == "..":
		case excluded(m, base, op.exclude):
			whole.excluded = append(whole.excluded, m)
		default:
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		return fmt.Errorf("every file matching %q is excluded", pattern)
	}
	for _, m := range kept {
		if extract {
			if isTarball(m) {
				return extractError(m)
			}
			continue // the builder skips what is not a tarball
		}
		to := joinRel(dest, m)
		if isContents {
			if rel, ok := strings.CutPrefix(m, contents+"/"); ok {
				to = joinRel(dest, rel)
			}
		}
		fi, err := fs.Stat(b.repo, m)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			ex, err := b.copyDir(m, to, op.exclude, base)
			if err != nil {
				return err
			}
			whole.excluded = append(whole.excluded, ex...)
		} else if err := b.copyFile(op, m, to); err != nil {
			return err
		}
	}
	if isContents && !extract && op.strategy != "Merge" {
		b.dirs = append(b.dirs, whole)
	}
	return nil
}

// extractError: a tarball's files are in no repository file a change could land in.
func extractError(src string) error {
	return fmt.Errorf("the Extract strategy unpacks the tarball %s, whose files are in no repository file; name the target in .kubectl-gitops.yaml", src)
}

func isTarball(p string) bool { return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz") }

func (b *treeBuilder) copyFile(op copyOp, src, to string) error {
	if _, exists := b.files[to]; exists && op.strategy == "Merge" {
		// The builder merges the YAML of both files into one: a file of no repository.
		return fmt.Errorf("the Merge strategy merges %s into the artifact's %s (from %s): the merged file is in no repository file; name the target in .kubectl-gitops.yaml", src, to, b.files[to])
	}
	b.files[to] = src
	return nil
}

// copyDir copies the directory src to to, less what the excludes match; it returns what they
// left out.
func (b *treeBuilder) copyDir(src, to string, exclude []string, base string) ([]string, error) {
	d := dirCopy{to: to, from: src}
	err := fs.WalkDir(b.repo, src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		if excluded(p, base, exclude) {
			d.excluded = append(d.excluded, p)
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !e.IsDir() {
			b.files[joinRel(to, relTo(src, p))] = p
		}
		return nil
	})
	b.dirs = append(b.dirs, d)
	return d.excluded, err
}

// isDir reports whether the tree has a directory at p.
func (b *treeBuilder) isDir(p string) bool {
	if p == "." {
		return true
	}
	for f := range b.files {
		if strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

// tree is the artifact as Applied.Artifact maps it: each directory copied whole as one entry
// (so that a file a change adds there is in the artifact too), with an entry mapping to "" for
// each file or directory an exclude left out of it, and every other file as its own entry.
func (b *treeBuilder) tree() map[string]string {
	out := map[string]string{}
	count := map[string]int{}
	var dirs []dirCopy
	for _, d := range b.dirs {
		if b.whole(d) {
			dirs = append(dirs, d)
			count[d.to]++
		}
	}
	maps := func(to, from string) bool {
		r, ok := ArtifactLookup(out, to)
		return ok && r == from
	}
	// Shorter directories first, so that a nested copy that its parent's entry maps already
	// adds nothing; two directories copied to the same place merge, and neither stands for it.
	sort.SliceStable(dirs, func(i, j int) bool { return depth(dirs[i].to) < depth(dirs[j].to) })
	for _, d := range dirs {
		if count[d.to] != 1 || maps(d.to, d.from) {
			continue
		}
		out[d.to] = d.from
		for _, ex := range d.excluded {
			at := joinRel(d.to, relTo(d.from, ex))
			if _, replaced := b.files[at]; !replaced {
				out[at] = ""
			}
		}
	}
	for _, to := range sortedKeys(b.files) {
		if from := b.files[to]; !maps(to, from) {
			out[to] = from
		}
	}
	return out
}

// whole reports whether every repository file below d.from that its excludes keep is in the
// tree at its place below d.to (or replaced there by a later rule, which the tree keeps as an
// entry of its own).
func (b *treeBuilder) whole(d dirCopy) bool {
	skip := make(map[string]bool, len(d.excluded))
	for _, ex := range d.excluded {
		skip[ex] = true
	}
	ok := true
	_ = fs.WalkDir(b.repo, d.from, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !ok {
			return fs.SkipAll
		}
		if skip[p] {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		if _, in := b.files[joinRel(d.to, relTo(d.from, p))]; !in {
			ok = false
		}
		return nil
	})
	return ok
}

func depth(p string) int {
	if p == "." {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// excluded matches a path against exclude patterns, relative to the source's root and to the
// rule's selection root; a pattern without a slash matches file names at any depth.
func excluded(p, base string, patterns []string) bool {
	match := func(q string) bool {
		for _, pat := range patterns {
			if doublestar.MatchUnvalidated(pat, q) || (!strings.Contains(pat, "/") && doublestar.MatchUnvalidated(pat, path.Base(q))) {
				return true
			}
		}
		return false
	}
	if len(patterns) == 0 {
		return false
	}
	if match(p) {
		return true
	}
	if base == "." || base == "" {
		return false
	}
	rel, ok := strings.CutPrefix(p, base+"/")
	return ok && match(rel)
}

// selectionRoot is the literal part of a glob before its first segment with a wildcard.
func selectionRoot(pattern string) string {
	var parts []string
	for _, s := range strings.Split(path.Clean(pattern), "/") {
		if strings.ContainsAny(s, "*?[]") {
			break
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "."
	}
	return path.Join(parts...)
}

// cleanRel cleans a relative slash path; the root is ".".
func cleanRel(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "."
	}
	return c
}

func joinRel(a, b string) string { return cleanRel(path.Join(a, b)) }

// relTo is p relative to its ancestor dir ("." for dir itself).
func relTo(dir, p string) string {
	if dir == "." {
		return p
	}
	if p == dir {
		return "."
	}
	return strings.TrimPrefix(p, dir+"/")
}

// ArtifactLookup maps an artifact path to the repository path it is copied from through
// tree (an Applied.Artifact): by the entry that is p or its nearest ancestor. ok is false for a
// path the artifact does not have (no entry, or an entry mapping to "": left out by an
// exclude), and for a directory made only of entries below it (ArtifactDir tells those).
func ArtifactLookup(tree map[string]string, p string) (repo string, ok bool) {
	p = cleanRel(p)
	best, found := "", false
	for k := range tree {
		if (k == "." || p == k || strings.HasPrefix(p, k+"/")) && (!found || len(k) > len(best)) {
			best, found = k, true
		}
	}
	if !found || tree[best] == "" {
		return "", false
	}
	return joinRel(tree[best], relTo(best, p)), true
}

// ArtifactDir reports whether p is a directory of the artifact because entries below it are
// in the artifact (its listing is then theirs, with the listing of the repository directory p
// maps to, if any).
func ArtifactDir(tree map[string]string, p string) bool {
	p = cleanRel(p)
	for k, v := range tree {
		if v != "" && k != "." && (p == "." || strings.HasPrefix(k, p+"/")) {
			return true
		}
	}
	return false
}
