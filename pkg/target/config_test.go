package target

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigExample(t *testing.T) {
	data, err := os.ReadFile("testdata/config_example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data, ConfigFile)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := []TargetConfig{
		{Name: "staging", Context: "kind-staging", Path: "overlays/staging", Branch: "main", Namespace: "shop"},
		{Name: "production", Context: "prod-eu-1", Path: "overlays/production", Branch: "main", Namespace: "shop",
			Secrets: SecretsConfig{Provider: ProviderSealedSecrets, SealedSecrets: SealedSecretsConfig{Cert: "certs/production.pem"}}},
	}
	if !reflect.DeepEqual(cfg.Targets, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", cfg.Targets, want)
	}
	if cfg.Secrets.Provider != ProviderSOPS || cfg.Secrets.SealedSecrets.ControllerName != "sealed-secrets-controller" {
		t.Errorf("secrets: %+v", cfg.Secrets)
	}
	if cfg.Commit != (CommitConfig{MessagePrefix: "deploy: ", Signoff: true}) {
		t.Errorf("commit: %+v", cfg.Commit)
	}
	if len(cfg.Guard.Allow) != 2 {
		t.Errorf("guard: %+v", cfg.Guard)
	}
	if cfg.Review != (ReviewConfig{Provider: "gitea", URL: "https://git.example.com"}) {
		t.Errorf("review: %+v", cfg.Review)
	}

	repo := t.TempDir()
	if err := cfg.Validate(repo); err == nil || !strings.Contains(err.Error(), `path "overlays/staging" is not a directory`) {
		t.Errorf("Validate on an empty repository: %v", err)
	}
	for _, d := range []string{"overlays/staging", "overlays/production"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(repo); err != nil {
		t.Errorf("Validate: %v", err)
	}

	ts := cfg.targets(repo)
	prod := ts[1]
	wantSecrets := SecretsConfig{Provider: ProviderSealedSecrets, SealedSecrets: SealedSecretsConfig{
		Cert: "certs/production.pem", ControllerNamespace: "kube-system", ControllerName: "sealed-secrets-controller"}}
	if prod.Secrets != wantSecrets || prod.Source != SourceConfig || prod.Context != "prod-eu-1" {
		t.Errorf("production target: %+v", prod)
	}
	if ts[0].Secrets.Provider != ProviderSOPS {
		t.Errorf("staging inherits the file's provider: %+v", ts[0].Secrets)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    path: overlays/staging
  - name: production
    pathh: overlays/production
`, `.kubectl-gitops.yaml:7: unknown field "pathh" in targets[1]`},
		{"unknown top-level field", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
target: []
`, `.kubectl-gitops.yaml:3: unknown field "target"`},
		{"unknown nested field", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
secrets:
  provider: sops
  sealedSecrets:
    certificate: x.pem
`, `.kubectl-gitops.yaml:6: unknown field "certificate" in secrets.sealedSecrets`},
		{"duplicate names", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
- name: staging
  path: a
- name: staging
  path: b
`, `.kubectl-gitops.yaml:6: target name "staging" is used twice (first at line 4); names must be unique`},
		{"bad provider", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
secrets:
  provider: vault
`, `.kubectl-gitops.yaml:4: unknown secrets provider "vault": want sops or sealed-secrets`},
		{"bad target provider", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
- name: a
  path: a
  secrets: {provider: kms}
`, `.kubectl-gitops.yaml:6: unknown secrets provider "kms"`},
		{"wrong apiVersion", `apiVersion: v1
kind: Config
`, `.kubectl-gitops.yaml:1: apiVersion is "v1", want gitops.kubectl.io/v1alpha1`},
		{"wrong kind", `apiVersion: gitops.kubectl.io/v1alpha1
kind: ConfigMap
`, `.kubectl-gitops.yaml:2: kind is "ConfigMap", want Config`},
		{"not a list", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  name: a
`, `.kubectl-gitops.yaml:4: targets must be a list, not a mapping`},
		{"not a bool", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
commit:
  push: "yes"
`, `.kubectl-gitops.yaml:4: commit.push must be true or false, not "yes"`},
		{"no path", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
- name: a
  context: c
`, `.kubectl-gitops.yaml:4: target "a" has no path`},
		{"path leaves the repository", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
- name: a
  path: ../other
`, `.kubectl-gitops.yaml:5: target "a": path "../other" leaves the repository`},
		{"guard without reason", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
guard:
  allow:
  - path: keys/*.agekey
`, `.kubectl-gitops.yaml:5: guard.allow[0] (keys/*.agekey) has no reason`},
		{"unknown review field", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
review:
  provider: gitlab
  host: git.example.com
`, `.kubectl-gitops.yaml:5: unknown field "host" in review`},
		{"bad review provider", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
review:
  provider: gogs
`, `.kubectl-gitops.yaml:4: unknown review provider "gogs": want one of github, gitlab, gitea, forgejo, bitbucket`},
		{"review url with credentials", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
review:
  provider: gitea
  url: https://me:pw@git.example.com
`, `.kubectl-gitops.yaml:5: review.url holds credentials: give the forge's web address alone`},
		{"review url not a web address", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
review:
  provider: gitea
  url: git.example.com
`, `.kubectl-gitops.yaml:5: review.url "git.example.com" is not the forge's web address`},
		{"review url without provider", `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
review:
  url: https://git.example.com
`, `.kubectl-gitops.yaml:3: review.url needs review.provider`},
		{"syntax error", "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\ncommit: push: true\n", `.kubectl-gitops.yaml:3: mapping values are not allowed in this context`},
		{"duplicate key", "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\ntargets:\n- name: a\n  path: a\n  name: b\n", `.kubectl-gitops.yaml:6: field "name" is given twice in targets[0] (first at line 4)`},
		{"empty", "", `.kubectl-gitops.yaml: is empty`},
		{"two documents", "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\n---\nkind: Config\n", `.kubectl-gitops.yaml:3: holds more than one YAML document`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml), ConfigFile)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error:\n got %q\nwant %q...", err, tc.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, want *ConfigError", err)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	repo := t.TempDir()
	cfg, err := LoadConfig(repo)
	if cfg != nil || err != nil {
		t.Fatalf("no file: got %v, %v; want nil, nil", cfg, err)
	}
	writeFile(t, filepath.Join(repo, ConfigFile), "apiVersion: gitops.kubectl.io/v1alpha1\nkind: Config\ntargets:\n- name: root\n  path: ./\n")
	cfg, err = LoadConfig(repo)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.targets(repo)[0].Path; got != "." {
		t.Errorf("path ./ is %q, want .", got)
	}
	if cfg.File != filepath.Join(repo, ConfigFile) {
		t.Errorf("File = %q", cfg.File)
	}
}

func TestGuardAllowed(t *testing.T) {
	g := GuardConfig{Allow: []GuardAllow{
		{Path: "test/keys/*.agekey", Reason: "test key"},
		{Path: "**/testdata/*.pem", Reason: "fixtures"},
	}}
	for p, want := range map[string]string{
		"test/keys/a.agekey":          "test key",
		"./test/keys/b.agekey":        "test key",
		"test/keys/sub/a.agekey":      "",
		"testdata/x.pem":              "fixtures",
		"pkg/a/b/testdata/server.pem": "fixtures",
		"pkg/testdata/sub/server.pem": "",
		"keys/prod.agekey":            "",
	} {
		reason, ok := g.Allowed(p)
		if reason != want || ok != (want != "") {
			t.Errorf("Allowed(%q) = %q, %v; want %q", p, reason, ok, want)
		}
	}
}

func ExampleParseConfig() {
	cfg, err := ParseConfig([]byte(`apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    context: kind-staging
    path: overlays/staging
secrets:
  provider: sops
commit:
  push: true
`), ConfigFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Targets[0].Name, cfg.Targets[0].Path, cfg.Secrets.Provider, cfg.Commit.Push)

	_, err = ParseConfig([]byte(`apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
targets:
  - name: staging
    pathh: overlays/staging
`), ConfigFile)
	fmt.Println(err)
	// Output:
	// staging overlays/staging sops true
	// .kubectl-gitops.yaml:5: unknown field "pathh" in targets[0]
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
