package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrNoProvider is returned by Choose when nothing says how to encrypt a target's Secrets.
var ErrNoProvider = errors.New("no secrets provider for this target")

// Choice is what can decide the provider of a Secret about to be written.
type Choice struct {
	// Flag is --secrets, which overrides everything (SPEC §5).
	Flag string
	// Config is secrets.provider in .kubectl-gitops.yaml (the target's, else the file's).
	Config string
	// SopsRule is the .sops.yaml whose creation rule matches the file to be written, if any.
	SopsRule string
	// Existing are the providers of the target's existing secrets (Detect of each; empty
	// entries are plain or unknown documents and are ignored).
	Existing []string
}

// Choose decides the provider: the flag, else the configuration, else what the repository
// says: a .sops.yaml creation rule matching the file selects sops, and the target's existing
// secrets select theirs. A .sops.yaml rule and SealedSecrets in the target disagree, as do
// existing secrets of both kinds: the error names both and the ways to decide.
func Choose(c Choice) (string, error) {
	for _, p := range []struct{ what, name string }{{"--secrets", c.Flag}, {"secrets.provider in .kubectl-gitops.yaml", c.Config}} {
		if p.name != "" && !known(p.name) {
			return "", fmt.Errorf("%s: unknown secrets provider %q: want %s or %s", p.what, p.name, ProviderSOPS, ProviderSealedSecrets)
		}
	}
	if c.Flag != "" {
		return c.Flag, nil
	}
	if c.Config != "" {
		return c.Config, nil
	}
	var used []string
	for _, e := range c.Existing {
		if e != "" && !slices.Contains(used, e) {
			used = append(used, e)
		}
	}
	slices.Sort(used)
	const ways = "set secrets.provider in .kubectl-gitops.yaml, or pass --secrets " + ProviderSOPS + "|" + ProviderSealedSecrets
	for _, u := range used {
		if !known(u) {
			return "", fmt.Errorf("the target's existing secrets use an unknown provider %q; %s", u, ways)
		}
	}
	if c.SopsRule != "" {
		if slices.Contains(used, ProviderSealedSecrets) {
			return "", fmt.Errorf("%w: the creation rule of %s says sops, and the target's existing secrets are SealedSecrets; %s", ErrNoProvider, c.SopsRule, ways)
		}
		return ProviderSOPS, nil
	}
	switch len(used) {
	case 0:
		return "", fmt.Errorf("%w: no .sops.yaml creation rule matches the file, and the target's existing secrets use none; add a .sops.yaml rule, %s", ErrNoProvider, ways)
	case 1:
		return used[0], nil
	default:
		return "", fmt.Errorf("%w: the target's existing secrets use %s; %s", ErrNoProvider, strings.Join(used, " and "), ways)
	}
}

func known(name string) bool {
	return name == ProviderSOPS || name == ProviderSealedSecrets
}

// Detect tells which provider encrypted a YAML or JSON document: ProviderSOPS when it has a
// top-level sops map, ProviderSealedSecrets for a bitnami.com SealedSecret, else "". Of a
// multi-document file, the first document that is not empty counts.
func Detect(doc []byte) string {
	top, ok := firstMapping(doc)
	if !ok {
		return ""
	}
	if sops, ok := top["sops"].(map[string]any); ok && len(sops) > 0 {
		return ProviderSOPS
	}
	apiVersion, _ := top["apiVersion"].(string)
	if top["kind"] == "SealedSecret" && strings.HasPrefix(apiVersion, "bitnami.com/") {
		return ProviderSealedSecrets
	}
	return ""
}

// firstMapping decodes the first non-empty document of doc as a mapping.
func firstMapping(doc []byte) (map[string]any, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	for {
		var top map[string]any
		err := dec.Decode(&top)
		if err != nil { // io.EOF included
			return nil, false
		}
		if top != nil {
			return top, true
		}
	}
}
