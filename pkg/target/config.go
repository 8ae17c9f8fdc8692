package target

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigFile is the name of the repository configuration file, at the repository root.
const ConfigFile = ".kubectl-gitops.yaml"

// The configuration's apiVersion and kind.
const (
	ConfigAPIVersion = "gitops.kubectl.io/v1alpha1"
	ConfigKind       = "Config"
)

// Secrets providers.
const (
	ProviderSOPS          = "sops"
	ProviderSealedSecrets = "sealed-secrets"
)

// Config is the repository configuration, .kubectl-gitops.yaml at the repository root. Every
// field is optional except apiVersion and kind; unknown fields are errors. See
// testdata/config_example.yaml for a complete, commented example.
type Config struct {
	// APIVersion must be gitops.kubectl.io/v1alpha1.
	APIVersion string `yaml:"apiVersion"`
	// Kind must be Config.
	Kind string `yaml:"kind"`
	// Targets are the paths of this repository that reconcilers render, one per cluster and
	// path. When set, they are the repository's only targets: nothing is discovered.
	Targets []TargetConfig `yaml:"targets,omitempty"`
	// Secrets is how Secrets are encrypted, for every target that does not say otherwise.
	Secrets SecretsConfig `yaml:"secrets,omitempty"`
	// Commit shapes the commits the tool makes.
	Commit CommitConfig `yaml:"commit,omitempty"`
	// Guard configures the pre-commit secrets guard.
	Guard GuardConfig `yaml:"guard,omitempty"`
	// Review names the forge that hosts the repository's pull requests (--pr), when the
	// remote's URL does not tell.
	Review ReviewConfig `yaml:"review,omitempty"`

	// File is the file the configuration was read from.
	File string `yaml:"-"`
	// lines holds the line of every key, by its place ("targets[0].path").
	lines map[string]int
}

// TargetConfig is one target in the configuration.
type TargetConfig struct {
	// Name identifies the target (--target NAME, commit trailers); unique in the file.
	Name string `yaml:"name"`
	// Context is the kubeconfig context of the cluster the target is applied to; a command run
	// against that context picks this target.
	Context string `yaml:"context,omitempty"`
	// Path is the repository-relative directory that is rendered, slash-separated.
	Path string `yaml:"path"`
	// Branch is the branch the cluster's reconciler follows.
	Branch string `yaml:"branch,omitempty"`
	// Namespace is the default namespace for objects without one.
	Namespace string `yaml:"namespace,omitempty"`
	// Secrets overrides the file's secrets settings field by field.
	Secrets SecretsConfig `yaml:"secrets,omitempty"`
}

// SecretsConfig says how Secrets are encrypted.
type SecretsConfig struct {
	// Provider is ProviderSOPS or ProviderSealedSecrets; empty means decided by the
	// repository's existing secrets.
	Provider string `yaml:"provider,omitempty"`
	// SealedSecrets locates the sealed-secrets controller's certificate.
	SealedSecrets SealedSecretsConfig `yaml:"sealedSecrets,omitempty"`
}

// SealedSecretsConfig locates the sealed-secrets controller's public certificate.
type SealedSecretsConfig struct {
	// Cert is the certificate: a repository-relative file, or an http(s) URL.
	Cert string `yaml:"cert,omitempty"`
	// ControllerNamespace and ControllerName name the controller to fetch the certificate
	// from when Cert is empty (kubeseal's defaults: kube-system, sealed-secrets-controller).
	ControllerNamespace string `yaml:"controllerNamespace,omitempty"`
	ControllerName      string `yaml:"controllerName,omitempty"`
}

// CommitConfig shapes the commits the tool makes.
type CommitConfig struct {
	// MessagePrefix is put before every subject ("deploy: ").
	MessagePrefix string `yaml:"messagePrefix,omitempty"`
	// Signoff adds a Signed-off-by trailer.
	Signoff bool `yaml:"signoff,omitempty"`
	// Push pushes every commit, as --push does.
	Push bool `yaml:"push,omitempty"`
}

// GuardConfig configures the pre-commit secrets guard.
type GuardConfig struct {
	// Allow lists files the guard lets through although they hold key material, such as a
	// test-only age identity. Each entry needs a reason.
	Allow []GuardAllow `yaml:"allow,omitempty"`
}

// GuardAllow lets files matching Path through the secrets guard.
type GuardAllow struct {
	// Path is a repository-relative, slash-separated glob: path.Match syntax per segment, and
	// "**" for any number of segments ("test/keys/*.agekey", "**/testdata/*.pem").
	Path string `yaml:"path"`
	// Reason says why the file is safe to commit.
	Reason string `yaml:"reason"`
}

// ReviewConfig names the forge that hosts the repository's pull or merge requests.
type ReviewConfig struct {
	// Provider is one of ReviewProviders.
	Provider string `yaml:"provider,omitempty"`
	// URL is the forge's web address (https://git.example.com[/prefix]), when the remote's
	// host and scheme are not it (an ssh remote, a forge under a path).
	URL string `yaml:"url,omitempty"`
}

// ReviewProviders are the forges review.provider names (forgejo speaks Gitea's API).
var ReviewProviders = []string{"github", "gitlab", "gitea", "forgejo", "bitbucket"}

// Merge returns s with the fields that o sets replaced by o's.
func (s SecretsConfig) Merge(o SecretsConfig) SecretsConfig {
	if o.Provider != "" {
		s.Provider = o.Provider
	}
	if o.SealedSecrets.Cert != "" {
		s.SealedSecrets.Cert = o.SealedSecrets.Cert
	}
	if o.SealedSecrets.ControllerNamespace != "" {
		s.SealedSecrets.ControllerNamespace = o.SealedSecrets.ControllerNamespace
	}
	if o.SealedSecrets.ControllerName != "" {
		s.SealedSecrets.ControllerName = o.SealedSecrets.ControllerName
	}
	return s
}

// Allowed reports whether the repository-relative file p matches an allow entry, and why.
func (g GuardConfig) Allowed(p string) (reason string, ok bool) {
	p = strings.TrimPrefix(path.Clean(filepath.ToSlash(p)), "./")
	for _, a := range g.Allow {
		if matchGlob(strings.Split(a.Path, "/"), strings.Split(p, "/")) {
			return a.Reason, true
		}
	}
	return "", false
}

func matchGlob(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchGlob(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pattern[0], name[0])
	return err == nil && ok && matchGlob(pattern[1:], name[1:])
}

// ConfigError is a mistake in the configuration file, at a line.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// LoadConfig reads and validates repoDir's configuration file. It returns nil and no error when
// the repository has none.
func LoadConfig(repoDir string) (*Config, error) {
	file := filepath.Join(repoDir, ConfigFile)
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the repository configuration: %w", err)
	}
	cfg, err := ParseConfig(data, file)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(repoDir); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig parses a configuration strictly: unknown fields and values of the wrong type are
// errors that name file and line. It checks everything that does not need the repository;
// Validate checks the rest.
func ParseConfig(data []byte, file string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: file, Msg: "is empty; it needs at least apiVersion: " + ConfigAPIVersion + " and kind: " + ConfigKind}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{File: file, Line: extra.Line, Msg: "holds more than one YAML document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	cfg := &Config{File: file, lines: map[string]int{"": root.Line}}
	if err := checkNode(root, reflect.TypeOf(cfg).Elem(), "", cfg); err != nil {
		return nil, err
	}
	if err := root.Decode(cfg); err != nil {
		return nil, yamlError(file, err)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlError turns yaml.v3's "yaml: line 3: ..." into "file:3: ...".
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &ConfigError{File: file, Line: line, Msg: msg}
}

// checkNode walks n against the Go type t: mappings must name fields of the struct, sequences
// hold elements, scalars are of the field's kind. It records every key's line in cfg.
func checkNode(n *yaml.Node, t reflect.Type, where string, cfg *Config) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	fail := func(format string, args ...any) error {
		name := where
		if name == "" {
			name = "the file"
		}
		return &ConfigError{File: cfg.File, Line: n.Line, Msg: name + " " + fmt.Sprintf(format, args...)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("must be a mapping, not %s", describeNode(n))
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			in := ""
			if where != "" {
				in = " in " + where
			}
			f, ok := fields[k.Value]
			if !ok {
				return &ConfigError{File: cfg.File, Line: k.Line, Msg: fmt.Sprintf("unknown field %q%s", k.Value, in)}
			}
			if first, dup := seen[k.Value]; dup {
				return &ConfigError{File: cfg.File, Line: k.Line, Msg: fmt.Sprintf("field %q is given twice%s (first at line %d)", k.Value, in, first)}
			}
			seen[k.Value] = k.Line
			at := k.Value
			if where != "" {
				at = where + "." + k.Value
			}
			cfg.lines[at] = k.Line
			if err := checkNode(v, f.Type, at, cfg); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("must be a list, not %s", describeNode(n))
		}
		for i, c := range n.Content {
			at := fmt.Sprintf("%s[%d]", where, i)
			cfg.lines[at] = c.Line
			if err := checkNode(c, t.Elem(), at, cfg); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fail("must be a string, not %s", describeNode(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return fail("must be true or false, not %s", describeNode(n))
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = f
	}
	return fields
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// line is the line of the key at where, or of its nearest recorded parent.
func (c *Config) line(where string) int {
	for {
		if l, ok := c.lines[where]; ok {
			return l
		}
		i := strings.LastIndexAny(where, ".[")
		if i < 0 {
			return c.lines[""]
		}
		where = where[:i]
	}
}

func (c *Config) errorf(where, format string, args ...any) error {
	return &ConfigError{File: c.File, Line: c.line(where), Msg: fmt.Sprintf(format, args...)}
}

// check validates what needs no repository.
func (c *Config) check() error {
	if c.APIVersion != ConfigAPIVersion {
		return c.errorf("apiVersion", "apiVersion is %q, want %s", c.APIVersion, ConfigAPIVersion)
	}
	if c.Kind != ConfigKind {
		return c.errorf("kind", "kind is %q, want %s", c.Kind, ConfigKind)
	}
	if err := c.checkSecrets(c.Secrets, "secrets"); err != nil {
		return err
	}
	names := map[string]int{}
	for i, t := range c.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		if t.Name == "" {
			return c.errorf(at, "%s has no name", at)
		}
		if j, dup := names[t.Name]; dup {
			return c.errorf(at+".name", "target name %q is used twice (first at line %d); names must be unique", t.Name, c.line(fmt.Sprintf("targets[%d].name", j)))
		}
		names[t.Name] = i
		if t.Path == "" {
			return c.errorf(at, "target %q has no path (the repository-relative directory to render, \".\" for the root)", t.Name)
		}
		if _, err := cleanRepoPath(t.Path); err != nil {
			return c.errorf(at+".path", "target %q: %v", t.Name, err)
		}
		if err := c.checkSecrets(t.Secrets, at+".secrets"); err != nil {
			return err
		}
	}
	if p := c.Review.Provider; p != "" && !slices.Contains(ReviewProviders, p) {
		return c.errorf("review.provider", "unknown review provider %q: want one of %s", p, strings.Join(ReviewProviders, ", "))
	}
	if u := c.Review.URL; u != "" {
		pu, err := url.Parse(u)
		switch {
		case err == nil && pu.User != nil:
			// Not quoted: it would print the password.
			return c.errorf("review.url", "review.url holds credentials: give the forge's web address alone (tokens come from the environment)")
		case err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "":
			return c.errorf("review.url", "review.url %q is not the forge's web address (http[s]://HOST[/PATH])", u)
		}
		if c.Review.Provider == "" {
			return c.errorf("review", "review.url needs review.provider: one of %s", strings.Join(ReviewProviders, ", "))
		}
	}
	for i, a := range c.Guard.Allow {
		at := fmt.Sprintf("guard.allow[%d]", i)
		if a.Path == "" {
			return c.errorf(at, "%s has no path", at)
		}
		for _, seg := range strings.Split(a.Path, "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return c.errorf(at+".path", "%s: bad glob %q: %v", at, a.Path, err)
			}
		}
		if strings.TrimSpace(a.Reason) == "" {
			return c.errorf(at, "%s (%s) has no reason; say why this file is safe to commit", at, a.Path)
		}
	}
	return nil
}

func (c *Config) checkSecrets(s SecretsConfig, at string) error {
	switch s.Provider {
	case "", ProviderSOPS, ProviderSealedSecrets:
		return nil
	}
	return c.errorf(at+".provider", "unknown secrets provider %q: want %s or %s", s.Provider, ProviderSOPS, ProviderSealedSecrets)
}

// Validate checks the configuration against the repository at repoDir: every target's path
// must be a directory in it.
func (c *Config) Validate(repoDir string) error {
	if err := c.check(); err != nil {
		return err
	}
	for i, t := range c.Targets {
		p, _ := cleanRepoPath(t.Path)
		fi, err := os.Stat(filepath.Join(repoDir, filepath.FromSlash(p)))
		if err != nil || !fi.IsDir() {
			return c.errorf(fmt.Sprintf("targets[%d].path", i), "target %q: path %q is not a directory in %s", t.Name, t.Path, repoDir)
		}
	}
	return nil
}

// targets turns the configured targets into Targets of repoDir.
func (c *Config) targets(repoDir string) []Target {
	var out []Target
	for _, tc := range c.Targets {
		out = append(out, c.target(repoDir, tc))
	}
	return out
}

func (c *Config) target(repoDir string, tc TargetConfig) Target {
	p, _ := cleanRepoPath(tc.Path)
	return Target{
		Name:      tc.Name,
		RepoDir:   repoDir,
		Path:      p,
		Branch:    tc.Branch,
		Context:   tc.Context,
		Namespace: tc.Namespace,
		Source:    SourceConfig,
		Secrets:   c.Secrets.Merge(tc.Secrets),
	}
}

// cleanRepoPath turns a repository-relative path ("./apps/staging/", "/apps") into its clean,
// slash-separated form ("apps/staging", "." for the root). Paths that leave the repository are
// errors.
func cleanRepoPath(p string) (string, error) {
	c := path.Clean(strings.TrimLeft(strings.TrimSpace(filepath.ToSlash(p)), "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leaves the repository", p)
	}
	return c, nil
}
