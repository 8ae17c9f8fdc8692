package target

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/reach"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/reconciler"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"
)

// API groups of the reconcilers' objects.
const (
	fluxKustomizeGroup = "kustomize.toolkit.fluxcd.io"
	fluxSourceGroup    = "source.toolkit.fluxcd.io"
	fluxHelmGroup      = "helm.toolkit.fluxcd.io"
	argoGroup          = "argoproj.io"
)

// Discover lists every target of the repository at repoDir, for the closed loop, sorted by path:
//
//   - the configuration's targets, if it has any;
//   - else the path of every Flux Kustomization (kustomize.toolkit.fluxcd.io) and Argo CD
//     Application (argoproj.io) in the repository's YAML whose path is a directory in it;
//   - else every kustomization directory that no other kustomization includes, and every
//     directory of plain manifests outside all kustomization directories, as Flux would apply
//     it: the highest directory above the manifests with no kustomization below it.
//
// Hidden files and directories are skipped. cfg nil means LoadConfig(repoDir); pass an empty
// Config to ignore the file.
func Discover(repoDir string, cfg *Config) ([]Target, error) {
	s, _, err := Scan(repoDir, cfg)
	if err != nil {
		return nil, err
	}
	return s.Targets, nil
}

// Scan is Discover with what discovery read on the way (the Snapshot), and what it left out and
// why, one line each (a reconciler whose path or source cannot be followed).
func Scan(repoDir string, cfg *Config) (*Snapshot, []string, error) {
	if cfg == nil {
		var err error
		if cfg, err = LoadConfig(repoDir); err != nil {
			return nil, nil, err
		}
		if cfg == nil {
			cfg = &Config{}
		}
	}
	return discoverAll(repoDir, cfg)
}

func discoverAll(repoDir string, cfg *Config) (*Snapshot, []string, error) {
	if len(cfg.Targets) > 0 {
		ts := cfg.targets(repoDir)
		sortTargets(ts)
		return &Snapshot{Targets: ts}, nil, nil
	}
	return discover(repoDir, cfg, openScanMemo(repoDir))
}

// discover finds the targets of the repository without configured targets, with the memo if
// not nil.
func discover(repoDir string, cfg *Config, memo *scanMemo) (*Snapshot, []string, error) {
	var scan *repoScan
	if memo != nil {
		w, err := memo.walk(repoDir)
		if err != nil {
			return nil, nil, err
		}
		if w != nil {
			if ts, includes, ok := w.unchanged(repoDir); ok {
				memo.save()
				s, warnings := found(repoDir, ts, includes, memo.reconcilerFiles(), cfg, memo)
				return s, warnings, nil
			}
			scan = memo.repoScan()
		}
	}
	if scan == nil {
		var err error
		if scan, err = scanRepo(repoDir); err != nil {
			return nil, nil, err
		}
	}
	ts := scan.reconcilerTargets(repoDir)
	var includes map[string][]string
	root := len(ts) == 0
	if root {
		var err error
		if ts, includes, err = scan.rootTargets(repoDir); err != nil {
			return nil, nil, err
		}
	}
	sortTargets(ts)
	memo.setResult(scan, root, ts, includes)
	memo.save()
	s, warnings := found(repoDir, ts, includes, scan.reconcilerFiles(), cfg, memo)
	return s, warnings, nil
}

// found completes the targets discovery found (with what their kustomizations include, by
// path) with the reconcilers of the repository's files and its secrets settings, in a snapshot
// with the stats the memo took.
func found(repoDir string, ts []Target, includes map[string][]string, files []string, cfg *Config, memo *scanMemo) (*Snapshot, []string) {
	ts, warnings := withReconcilers(repoDir, ts, files)
	sortTargets(ts)
	s := &Snapshot{Targets: withSecrets(ts, cfg)}
	for _, t := range ts {
		// Reconcilers' targets replace the directories found: their includes are not read.
		if inc, ok := includes[t.Path]; ok && t.Applied == nil {
			if s.Includes == nil {
				s.Includes = map[string][]string{}
			}
			s.Includes[t.Path] = inc
		}
	}
	if memo != nil && memo.seen != nil && memo.index != "" && len(ts) > 0 {
		s.Stats = &FileStats{Files: memo.seen, Index: memo.index}
	}
	return s, warnings
}

func withSecrets(ts []Target, cfg *Config) []Target {
	for i := range ts {
		ts[i].Secrets = cfg.Secrets
	}
	return ts
}

func sortTargets(ts []Target) {
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Path != ts[j].Path {
			return ts[i].Path < ts[j].Path
		}
		return ts[i].Name < ts[j].Name
	})
}

// repoScan is what one walk of a repository finds.
type repoScan struct {
	// dirs and files are what the walk saw (regular files only; not below hidden directories),
	// so the kustomizations' references are classified without asking the filesystem again.
	dirs, files  map[string]bool
	kustDirs     map[string]bool // directories with a kustomization file
	manifestDirs map[string]bool // directories holding Kubernetes manifests directly
	chartDirs    map[string]bool // Helm charts: their templates are not manifests
	objects      []reconcilerObject

	// With a memo: its records of the regular kustomization files, by path, read when needed.
	memo        *scanMemo
	kustEntries map[string]*memoEntry
	// outside: the targets depend on what the walk did not see (a symlink, a hidden or missing
	// path), so the memo does not keep them.
	outside bool
}

func newRepoScan() *repoScan {
	return &repoScan{dirs: map[string]bool{}, files: map[string]bool{}, kustDirs: map[string]bool{}, manifestDirs: map[string]bool{}, chartDirs: map[string]bool{}}
}

// outsideWalk notes that the targets depend on the filesystem beyond what the walk saw.
func (s *repoScan) outsideWalk() {
	if s != nil {
		s.outside = true
	}
}

func (s *repoScan) add(rel string, manifests bool, objs []reconcilerObject) {
	if manifests {
		s.manifestDirs[path.Dir(rel)] = true
	}
	for _, o := range objs {
		o.file = rel
		s.objects = append(s.objects, o)
	}
}

func toMemo(objs []reconcilerObject) []memoObject {
	var out []memoObject
	for _, o := range objs {
		out = append(out, memoObject{Source: o.source, Name: o.name, Path: o.path, Namespace: o.namespace})
	}
	return out
}

func fromMemo(objs []memoObject) []reconcilerObject {
	var out []reconcilerObject
	for _, o := range objs {
		out = append(out, reconcilerObject{source: o.Source, name: o.Name, path: o.Path, namespace: o.Namespace})
	}
	return out
}

// reconcilerObject is a Flux Kustomization or an Argo CD Application found in the repository.
type reconcilerObject struct {
	source    string // SourceFlux, SourceArgoCD, or sourceRef for an object reconcilers read
	name      string
	path      string // clean, repository-relative
	namespace string // targetNamespace / destination.namespace
	file      string // the file that holds it
}

// sourceRef marks an object that is not a target itself but one a reconciler reads to tell what
// it applies: a Flux source, an Argo CD ApplicationSet.
const sourceRef = "ref"

// scanRepo walks the repository without a memo.
func scanRepo(repoDir string) (*repoScan, error) {
	s := newRepoScan()
	err := filepath.WalkDir(repoDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			s.dirs[rel] = true
			return nil
		}
		if d.Type().IsRegular() {
			s.files[rel] = true
		}
		// The walk lists every directory once: what a directory is follows from its files.
		switch {
		case reach.IsFileName(d.Name()):
			s.kustDirs[path.Dir(rel)] = true
			return nil
		case d.Name() == "Chart.yaml":
			s.chartDirs[path.Dir(rel)] = true
		}
		if !isYAMLName(d.Name()) || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", rel, err)
		}
		// Decoding every manifest of a large repository costs more than the rest of a command:
		// without a memo to keep the result, once a directory is known to hold manifests, only
		// reconciler objects matter.
		if s.manifestDirs[path.Dir(rel)] && !mayHoldReconciler(data) {
			return nil
		}
		manifests, objs := scanManifests(data)
		s.add(rel, manifests, objs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to scan repository %s: %w", repoDir, err)
	}
	return s, nil
}

// mayHoldReconciler: every Flux Kustomization and Argo CD Application names its API group.
func mayHoldReconciler(data []byte) bool {
	return bytes.Contains(data, []byte(".toolkit.fluxcd.io")) || bytes.Contains(data, []byte(".extensions.fluxcd.io")) ||
		bytes.Contains(data, []byte(argoGroup))
}

// scanManifests reports whether data holds a Kubernetes object, and the Flux Kustomizations
// and Argo CD Applications among its documents. Files that are not YAML count as neither.
func scanManifests(data []byte) (manifests bool, objs []reconcilerObject) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if !errors.Is(err, io.EOF) {
				var te *yaml.TypeError
				if errors.As(err, &te) {
					continue
				}
			}
			return manifests, objs
		}
		apiVersion, _ := doc["apiVersion"].(string)
		kind, _ := doc["kind"].(string)
		if apiVersion == "" || kind == "" {
			continue
		}
		manifests = true
		group, _, _ := strings.Cut(apiVersion, "/")
		if !strings.Contains(apiVersion, "/") {
			group = ""
		}
		name := str(doc, "metadata", "name")
		switch {
		case group == fluxKustomizeGroup && kind == "Kustomization":
			if p, err := cleanRepoPath(str(doc, "spec", "path")); err == nil {
				objs = append(objs, reconcilerObject{source: SourceFlux, name: name, path: p, namespace: str(doc, "spec", "targetNamespace")})
			}
		case group == argoGroup && kind == "ApplicationSet",
			group == fluxSourceGroup, group == "source.extensions.fluxcd.io",
			group == reconciler.FluxHelmGroup && kind == "HelmRelease":
			objs = append(objs, reconcilerObject{source: sourceRef, name: name})
		case group == argoGroup && kind == "Application":
			ns := str(doc, "spec", "destination", "namespace")
			spec, _ := doc["spec"].(map[string]any)
			srcs := []any{spec["source"]}
			if more, ok := spec["sources"].([]any); ok {
				srcs = append(srcs, more...)
			}
			for _, src := range srcs {
				m, ok := src.(map[string]any)
				if ok && m["chart"] != nil {
					// A chart of a Helm repository: the Application's file is a reconciler's
					// (its values are here), with no path of this repository.
					objs = append(objs, reconcilerObject{source: sourceRef, name: name})
				}
				if !ok || m["chart"] != nil {
					continue
				}
				if raw, ok := m["path"].(string); ok {
					if p, err := cleanRepoPath(raw); err == nil {
						objs = append(objs, reconcilerObject{source: SourceArgoCD, name: name, path: p, namespace: ns})
					}
				}
			}
		}
	}
}

// str reads a string at keys in nested maps.
func str(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

// reconcilerTargets are the paths of the Flux Kustomizations and Argo CD Applications that
// exist in the repository, one target per path. A target is named after its object when that
// name is unambiguous, else after its path.
func (s *repoScan) reconcilerTargets(repoDir string) []Target {
	byPath := map[string][]reconcilerObject{}
	var paths []string
	nameCount := map[string]int{}
	for _, o := range s.objects {
		if o.source == sourceRef {
			continue
		}
		if !s.dirs[o.path] {
			s.outsideWalk()
			if !isDir(filepath.Join(repoDir, filepath.FromSlash(o.path))) {
				continue
			}
		}
		if _, ok := byPath[o.path]; !ok {
			paths = append(paths, o.path)
		}
		byPath[o.path] = append(byPath[o.path], o)
		nameCount[o.name]++
	}
	var ts []Target
	for _, p := range paths {
		objs := byPath[p]
		t := Target{Name: objs[0].name, RepoDir: repoDir, Path: p, Source: objs[0].source, Namespace: objs[0].namespace}
		for _, o := range objs {
			if o.name != t.Name || nameCount[o.name] != len(objs) {
				t.Name = p
			}
			if o.source != t.Source {
				t.Source = SourceDiscovered
			}
			if o.namespace != t.Namespace {
				t.Namespace = ""
			}
		}
		if t.Name == "" {
			t.Name = p
		}
		ts = append(ts, t)
	}
	return ts
}

// rootTargets are the kustomization directories no other kustomization includes, and the
// highest directories of plain manifests outside every kustomization directory.
func (s *repoScan) rootTargets(repoDir string) ([]Target, map[string][]string, error) {
	included := map[string]bool{}
	graph := map[string][]include{}
	for dir := range s.kustDirs {
		refs, err := directIncludesWith(repoDir, dir, s)
		if err != nil {
			// A kustomization kustomize cannot read renders nothing: it blocks no other
			// target, and is a target of its own only when nothing includes it (then it is
			// left out of every change with a warning, as a target that does not render).
			refs = nil
		}
		graph[dir] = refs
		for _, r := range refs {
			included[r.path] = true
		}
	}
	var ts []Target
	includes := map[string][]string{}
	for dir := range s.kustDirs {
		if !included[dir] && !isComponent(repoDir, dir, s) {
			inc, err := includedDirs(dir, func(d string) ([]include, error) {
				if refs, ok := graph[d]; ok {
					return refs, nil
				}
				s.outsideWalk()
				return directIncludes(repoDir, d)
			})
			if err != nil {
				return nil, nil, err
			}
			ts = append(ts, Target{Name: dir, RepoDir: repoDir, Path: dir, Source: SourceDiscovered})
			if inc != nil {
				includes[dir] = inc
			}
		}
	}

	// A directory is "kustomized" when it or a directory above it is a kustomization (kustomize
	// renders it), and "kustFree" when no kustomization or chart is at or below it (Flux's
	// generated kustomization for it would be nothing but its manifests).
	under := func(dir string, set map[string]bool) bool {
		for d := dir; ; d = path.Dir(d) {
			if set[d] {
				return true
			}
			if d == "." {
				return false
			}
		}
	}
	notFree := map[string]bool{}
	for _, set := range []map[string]bool{s.kustDirs, s.chartDirs} {
		for dir := range set {
			for d := dir; ; d = path.Dir(d) {
				notFree[d] = true
				if d == "." {
					break
				}
			}
		}
	}
	roots := map[string]bool{}
	for dir := range s.manifestDirs {
		if under(dir, s.kustDirs) || under(dir, s.chartDirs) {
			continue
		}
		root := dir
		for !notFree[root] && root != "." && !notFree[path.Dir(root)] {
			root = path.Dir(root)
		}
		roots[root] = true
	}
	for dir := range roots {
		nested := false
		for d := dir; d != "." && !nested; {
			d = path.Dir(d)
			nested = roots[d]
		}
		if !nested {
			ts = append(ts, Target{Name: dir, RepoDir: repoDir, Path: dir, Source: SourceDiscovered})
		}
	}
	return ts, includes, nil
}

// isComponent tells whether dir's kustomization is a kustomize Component, which only a
// kustomization's components: renders: never a target of its own.
func isComponent(repoDir, dir string, s *repoScan) bool {
	name := s.kustomizationName(repoDir, dir)
	if name == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(dir), name))
	if err != nil {
		return false
	}
	var head struct {
		Kind string `json:"kind"`
	}
	return sigsyaml.Unmarshal(b, &head) == nil && head.Kind == types.ComponentKind
}

// IncludedDirs lists what the kustomization in kustDir reads, following every kustomization it
// includes: the directories and files named by resources, bases, components, crds, patches
// (path), patchesStrategicMerge, patchesJson6902, replacements, configurations, generators,
// transformers, validators, openapi, helmCharts values files and the configMapGenerator and
// secretGenerator files and envs, and the kustomization files of the included directories.
// Paths are slash-separated and relative to repoDir (kustDir too), sorted; kustDir and its own
// kustomization file are not listed. Remote resources and paths outside the repository are
// skipped.
func IncludedDirs(repoDir, kustDir string) ([]string, error) {
	start, err := cleanRepoPath(kustDir)
	if err != nil {
		return nil, err
	}
	return includedDirs(start, func(dir string) ([]include, error) { return directIncludes(repoDir, dir) })
}

// includedDirs is IncludedDirs with the direct includes of each kustomization from direct.
func includedDirs(start string, direct func(dir string) ([]include, error)) ([]string, error) {
	seen := map[string]bool{start: true}
	var out []string
	queue := []string{start}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		refs, err := direct(dir)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if seen[r.path] {
				continue
			}
			seen[r.path] = true
			out = append(out, r.path)
			if r.real != "" {
				out = append(out, r.real)
			}
			if r.kustFile != "" {
				out = append(out, path.Join(r.path, r.kustFile))
				queue = append(queue, r.path)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// include is one path a kustomization reads.
type include struct {
	path     string // clean, repository-relative
	kustFile string // the kustomization file's name, when path is a kustomization directory
	// real is where path leads when a symbolic link is on its way (inside the repository):
	// an edit of a file there reaches the kustomization too.
	real string
}

// linkedPath is the repository-relative path the file full (p in the repository) leads to when
// a symbolic link is on its way, or "".
func linkedPath(repoDir, full, p string) string {
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return ""
	}
	top, err := filepath.EvalSymlinks(repoDir)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(top, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	if rel = filepath.ToSlash(rel); rel == p {
		return ""
	}
	return rel
}

// directIncludes lists the paths the kustomization in dir reads itself.
func directIncludes(repoDir, dir string) ([]include, error) {
	return directIncludesWith(repoDir, dir, nil)
}

// kustomizationName is the name of dir's kustomization file as the walk saw it, or asks the
// filesystem for a directory the walk did not see.
func (s *repoScan) kustomizationName(repoDir, dir string) string {
	if s == nil || !s.dirs[dir] {
		s.outsideWalk()
		return kustomizationFile(filepath.Join(repoDir, filepath.FromSlash(dir)))
	}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if s.files[path.Join(dir, n)] {
			return n
		}
	}
	if s.kustDirs[dir] {
		s.outside = true
		return kustomizationFile(filepath.Join(repoDir, filepath.FromSlash(dir))) // a symlink
	}
	return ""
}

// directIncludesWith is directIncludes with what the walk saw, and the memo's record of the
// kustomization file.
func directIncludesWith(repoDir, dir string, walked *repoScan) ([]include, error) {
	abs := filepath.Join(repoDir, filepath.FromSlash(dir))
	name := walked.kustomizationName(repoDir, dir)
	if name == "" {
		return nil, fmt.Errorf("%s has no kustomization file (%s)", dir, strings.Join(konfig.RecognizedKustomizationFileNames(), ", "))
	}
	file := filepath.Join(abs, name)
	rel := path.Join(dir, name)
	var refs []string
	var err error
	if e := walked.kustEntry(rel); e != nil {
		refs, err = walked.memo.kustRefs(e, file, rel)
	} else {
		walked.outsideWalk()
		refs, err = readKustRefs(file, rel)
	}
	if err != nil {
		return nil, err
	}

	var out []include
	for _, ref := range refs {
		if ref == "" || reach.IsRemote(ref) {
			continue
		}
		p, err := cleanRepoPath(path.Join(dir, filepath.ToSlash(ref)))
		if err != nil {
			continue
		}
		inc := include{path: p}
		switch {
		case walked != nil && walked.dirs[p]:
			inc.kustFile = walked.kustomizationName(repoDir, p)
		case walked != nil && walked.files[p]:
		default:
			walked.outsideWalk()
			full := filepath.Join(repoDir, filepath.FromSlash(p))
			fi, err := os.Stat(full)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				inc.kustFile = kustomizationFile(full)
			}
			inc.real = linkedPath(repoDir, full, p)
		}
		out = append(out, inc)
	}
	return out, nil
}

func (s *repoScan) kustEntry(rel string) *memoEntry {
	if s == nil {
		return nil
	}
	return s.kustEntries[rel]
}

// readKustRefs reads the references of the kustomization file (rel in the repository).
func readKustRefs(file, rel string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read kustomization: %w", err)
	}
	k, err := reach.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", rel, err)
	}
	refs := k.Refs()
	paths := make([]string, len(refs))
	for i, r := range refs {
		paths[i] = r.Path
	}
	return paths, nil
}

// kustomizationFile is the name of the kustomization file in dir, or "".
func kustomizationFile(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	names := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if names[n] {
			return n
		}
	}
	return ""
}

func isYAMLName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
