package review

import (
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Env reads the environment; os.Getenv in a command, a map in tests.
type Env func(string) string

// Token finds the API token for the remote's forge, where the forge's own tools keep it: for
// GitHub GH_TOKEN, GITHUB_TOKEN (GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN first for another
// host) and gh's hosts.yml; for GitLab GITLAB_TOKEN and glab's config.yml; for Gitea and
// Forgejo GITEA_TOKEN. It returns the token and where it came from (a variable's name or a
// file), never for printing the token itself; "" when there is none.
func Token(r Remote, env Env) (token, source string) {
	var vars []string
	switch r.Provider {
	case GitHub:
		if !strings.EqualFold(r.Host, "github.com") {
			vars = append(vars, "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")
		}
		vars = append(vars, "GH_TOKEN", "GITHUB_TOKEN")
	case GitLab:
		vars = []string{"GITLAB_TOKEN"}
	case Gitea, Forgejo:
		vars = []string{"GITEA_TOKEN"}
	default:
		return "", ""
	}
	for _, v := range vars {
		if t := strings.TrimSpace(env(v)); t != "" {
			return t, v
		}
	}
	switch r.Provider {
	case GitHub:
		return ghToken(r.Host, env)
	case GitLab:
		return glabToken(r.Host, env)
	}
	return "", ""
}

// configDir is a tool's configuration directory: its own variable, else
// $XDG_CONFIG_HOME/NAME, else ~/.config/NAME.
func configDir(env Env, own, name string) string {
	if d := env(own); d != "" {
		return d
	}
	if d := env("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, name)
	}
	home := env("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", name)
}

// ghToken reads gh's hosts.yml: HOST: {oauth_token, user, users: {USER: {oauth_token}}}.
// (gh keeps the token in the system keyring by default; this finds one stored in the file.)
func ghToken(host string, env Env) (string, string) {
	dir := configDir(env, "GH_CONFIG_DIR", "gh")
	if dir == "" {
		return "", ""
	}
	file := filepath.Join(dir, "hosts.yml")
	b, err := os.ReadFile(file)
	if err != nil {
		return "", ""
	}
	var hosts map[string]struct {
		OAuthToken string `yaml:"oauth_token"`
		User       string `yaml:"user"`
		Users      map[string]struct {
			OAuthToken string `yaml:"oauth_token"`
		} `yaml:"users"`
	}
	if yaml.Unmarshal(b, &hosts) != nil {
		return "", ""
	}
	for h, e := range hosts {
		if !strings.EqualFold(h, host) {
			continue
		}
		if e.OAuthToken != "" {
			return e.OAuthToken, file
		}
		if u, ok := e.Users[e.User]; ok && u.OAuthToken != "" {
			return u.OAuthToken, file
		}
	}
	return "", ""
}

// glabToken reads glab's config.yml: hosts: {HOST: {token}}.
func glabToken(host string, env Env) (string, string) {
	dir := configDir(env, "GLAB_CONFIG_DIR", "glab-cli")
	if dir == "" {
		return "", ""
	}
	file := filepath.Join(dir, "config.yml")
	b, err := os.ReadFile(file)
	if err != nil {
		return "", ""
	}
	var cfg struct {
		Hosts map[string]struct {
			Token string `yaml:"token"`
		} `yaml:"hosts"`
	}
	if yaml.Unmarshal(b, &cfg) != nil {
		return "", ""
	}
	for h, e := range cfg.Hosts {
		// A token kept in the keyring reads as null here.
		if strings.EqualFold(h, host) && e.Token != "" {
			return e.Token, file
		}
	}
	return "", ""
}
