package secrets_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
)

func TestChoose(t *testing.T) {
	const sops, sealed = secrets.ProviderSOPS, secrets.ProviderSealedSecrets
	for _, tc := range []struct {
		name     string
		config   string
		existing []string
		flag     string
		sopsRule string
		want     string
		wantErr  []string
	}{
		{name: "the flag overrides", config: sops, existing: []string{sops}, flag: sealed, want: sealed},
		{name: "the flag alone", flag: sops, want: sops},
		{name: "the configuration", config: sealed, existing: []string{sops}, want: sealed},
		{name: "the existing secrets", existing: []string{"", sealed, sealed}, want: sealed},
		{name: "nothing", existing: []string{"", ""}, wantErr: []string{"secrets.provider in .kubectl-gitops.yaml", "existing secrets", "--secrets sops|sealed-secrets"}},
		{name: "existing secrets disagree", existing: []string{sops, sealed}, wantErr: []string{"sealed-secrets and sops", "secrets.provider", "--secrets"}},
		{name: "a .sops.yaml rule", sopsRule: "/repo/.sops.yaml", want: sops},
		{name: "a .sops.yaml rule and sops secrets", sopsRule: "/repo/.sops.yaml", existing: []string{sops}, want: sops},
		{name: "a .sops.yaml rule and SealedSecrets", sopsRule: "/repo/.sops.yaml", existing: []string{sealed}, wantErr: []string{"/repo/.sops.yaml says sops", "SealedSecrets", "--secrets"}},
		{name: "the configuration over a .sops.yaml rule", sopsRule: "/repo/.sops.yaml", existing: []string{sealed}, config: sealed, want: sealed},
		{name: "unknown flag", flag: "vault", wantErr: []string{`--secrets: unknown secrets provider "vault"`}},
		{name: "unknown configuration", config: "vault", wantErr: []string{`secrets.provider in .kubectl-gitops.yaml: unknown secrets provider "vault"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secrets.Choose(secrets.Choice{Flag: tc.flag, Config: tc.config, SopsRule: tc.sopsRule, Existing: tc.existing})
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("Choose = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Choose = %q, want an error", got)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
	if _, err := secrets.Choose(secrets.Choice{}); !errors.Is(err, secrets.ErrNoProvider) {
		t.Errorf("no provider: %v is not ErrNoProvider", err)
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"sops Secret", "apiVersion: v1\nkind: Secret\ndata:\n  a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n  mac: ENC[x]\n  version: 3.13.3\n", secrets.ProviderSOPS},
		{"sops env file as JSON", `{"data": "ENC[...]", "sops": {"version": "3.13.3"}}`, secrets.ProviderSOPS},
		{"SealedSecret", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nspec:\n  encryptedData: {}\n", secrets.ProviderSealedSecrets},
		{"after a comment document", "# nothing\n---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n", secrets.ProviderSealedSecrets},
		{"plain Secret", "apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n", ""},
		{"SealedSecret of another group", "apiVersion: example.com/v1\nkind: SealedSecret\n", ""},
		{"empty sops key", "kind: Secret\nsops: {}\n", ""},
		{"not a mapping", "- a\n- b\n", ""},
		{"not YAML", "{", ""},
		{"empty", "", ""},
	} {
		if got := secrets.Detect([]byte(tc.doc)); got != tc.want {
			t.Errorf("%s: Detect = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNormalizeSecret(t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "db",
			Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: `{"stringData":{"password":"hunter2"}}`,
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		StringData: map[string]string{"password": "hunter2"},
	}
	u, err := secrets.NormalizeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if u.GetAPIVersion() != "v1" || u.GetKind() != "Secret" {
		t.Errorf("type meta %s %s", u.GetAPIVersion(), u.GetKind())
	}
	meta := u.Object["metadata"].(map[string]any)
	for _, field := range []string{"annotations", "managedFields", "creationTimestamp"} {
		if _, ok := meta[field]; ok {
			t.Errorf("metadata still has %s: %v", field, meta)
		}
	}
	if secret.Annotations[corev1.LastAppliedConfigAnnotation] == "" || secret.ManagedFields == nil {
		t.Errorf("NormalizeSecret modified its argument")
	}

	for _, bad := range []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret"}},
	} {
		if _, err := secrets.NormalizeSecret(bad); err == nil {
			t.Errorf("NormalizeSecret(%v) accepted it", bad.Object)
		}
	}
}

func TestStripSensitiveMetadataKeepsOtherAnnotations(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAnnotations(map[string]string{corev1.LastAppliedConfigAnnotation: "{}", "team": "payments"})
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
	secrets.StripSensitiveMetadata(u)
	if got := u.GetAnnotations(); len(got) != 1 || got["team"] != "payments" {
		t.Errorf("annotations %v", got)
	}
	if u.GetManagedFields() != nil {
		t.Errorf("managedFields kept")
	}
}

func TestIndent(t *testing.T) {
	for doc, want := range map[string]int{
		"apiVersion: v1\nmetadata:\n    name: x\n":                4,
		"# c\n---\nkind: Secret\ndata:\n\n  # comment\n   a: b\n": 3,
		"items:\n- a: 1\n  b: 2\nmetadata:\n  name: x\n":          2,
		"spec:\n  template:\n      metadata: {}\n":                2,
		"a: 1\n": 2,
		"sops:\n    age:\n        - recipient: x\n    version: 3.1\n": 4,
	} {
		if got := secrets.Indent([]byte(doc)); got != want {
			t.Errorf("Indent(%q) = %d, want %d", doc, got, want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, s := range []string{"", "strict", "namespace-wide", "cluster-wide"} {
		if got, err := secrets.ParseScope(s); err != nil || string(got) != s {
			t.Errorf("ParseScope(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := secrets.ParseScope("global"); err == nil || !strings.Contains(err.Error(), "cluster-wide") {
		t.Errorf("ParseScope(global): %v", err)
	}
}
