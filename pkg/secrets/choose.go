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

// Choose decides a target's provider. The --secrets flag overrides (SPEC §5); else the
// configuration's secrets.provider; else what the target's existing secrets use (the result of
// Detect on each, empty entries ignored). With none of the three, or existing secrets that
// disagree, the error names the ways to decide.
func Choose(configProvider string, existing []string, flag string) (string, error) {
	for _, p := range []struct{ what, name string }{{"--secrets", flag}, {"secrets.provider in .kubectl-gitops.yaml", configProvider}} {
		if p.name != "" && !known(p.name) {
			return "", fmt.Errorf("%s: unknown secrets provider %q: want %s or %s", p.what, p.name, ProviderSOPS, ProviderSealedSecrets)
		}
	}
	if flag != "" {
		return flag, nil
	}
	if configProvider != "" {
		return configProvider, nil
	}
	var used []string
	for _, e := range existing {
		if e != "" && !slices.Contains(used, e) {
			used = append(used, e)
		}
	}
	slices.Sort(used)
	const ways = "set secrets.provider in .kubectl-gitops.yaml, or pass --secrets " + ProviderSOPS + "|" + ProviderSealedSecrets
	switch len(used) {
	case 0:
		return "", fmt.Errorf("%w: the target's existing secrets use none; %s", ErrNoProvider, ways)
	case 1:
		if !known(used[0]) {
			return "", fmt.Errorf("the target's existing secrets use an unknown provider %q; %s", used[0], ways)
		}
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
