package sops

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/getsops/sops/v3/config"
)

// Rule is the .sops.yaml creation rule for a file.
type Rule struct {
	// ConfigPath is the .sops.yaml the rule comes from.
	ConfigPath string
	// Indent is .sops.yaml's stores.yaml.indent; zero when it sets none.
	Indent int
	config.Config
}

// LoadRule finds the .sops.yaml for the file at the absolute path, as sops does (from the
// file's directory upward), and returns its first creation rule that matches the file.
func LoadRule(path string) (*Rule, error) {
	found, err := config.LookupConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("no .sops.yaml in %s or a directory above it: sops needs a creation rule in .sops.yaml naming the keys to encrypt %s with",
			filepath.Dir(path), filepath.Base(path))
	}
	conf, err := config.LoadCreationRuleForFile(found.Path, path, nil)
	if err != nil {
		return nil, fmt.Errorf("finding the creation rule for %s in %s: %w", path, found.Path, err)
	}
	if conf == nil {
		return nil, fmt.Errorf("%s has no creation_rules: add one naming the keys to encrypt %s with", found.Path, path)
	}
	keys := 0
	for _, group := range conf.KeyGroups {
		keys += len(group)
	}
	if keys == 0 {
		return nil, fmt.Errorf("the creation rule in %s that matches %s names no keys", found.Path, path)
	}
	stores, err := config.LoadStoresConfig(found.Path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", found.Path, err)
	}
	return &Rule{ConfigPath: found.Path, Indent: stores.YAML.Indent, Config: *conf}, nil
}

// MatchingRule tells whether a .sops.yaml in the repository at root (in the directory of the
// absolute path or one above it, up to root) has a creation rule with keys for path, and which
// file it is: such a rule says the repository encrypts that file with sops.
func MatchingRule(root, path string) (configPath string, ok bool) {
	found, err := config.LookupConfigFile(path)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(root, filepath.Dir(found.Path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	conf, err := config.LoadCreationRuleForFile(found.Path, path, nil)
	if err != nil || conf == nil {
		return "", false
	}
	for _, group := range conf.KeyGroups {
		if len(group) > 0 {
			return found.Path, true
		}
	}
	return "", false
}
