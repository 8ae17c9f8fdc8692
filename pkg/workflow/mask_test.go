package workflow

import "testing"

const (
	encA = "ENC[AES256_GCM,data:2HxVqg==,iv:wy3uMC2La0Cya7WmHJ2vqANA+m56bbZjI7xVMf8XYGY=,tag:FhRiwAHVSZjfHXSAzKy4pw==,type:str]"
	encB = "ENC[AES256_GCM,data:ZOqo7g==,iv:XMJGXNsXuS1U5s7Negnu6UTxaE1H0ORqvuGyZCxixDE=,tag:nNSanlxE2sFniK/bIqq1dg==,type:str]"
	encC = "ENC[AES256_GCM,data:EVJlog==,iv:ArpFat9DMrRvH2rZDnqK2yB5IxmU1haSPg6+WEmAOro=,tag:rPD0SgkYwoZ2nqbpoR4TAw==,type:str]"
)

// Masks as kubectl diff puts them: a changed value is "*** (before)"/"*** (after)", a value on
// one side only or the same on both is "***"; other lines stay.
func TestSecretMaskDiff(t *testing.T) {
	diff := `diff --git a/s.yaml b/s.yaml
--- a/s.yaml
+++ b/s.yaml
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  password: ` + encA + `
+  password: ` + encB + `
-  old: ` + encC + `
+  new: ` + encC + `
   username: ` + encC + `
 kind: Secret
`
	want := `diff --git a/s.yaml b/s.yaml
--- a/s.yaml
+++ b/s.yaml
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  password: *** (before)
+  password: *** (after)
-  old: ***
+  new: ***
   username: ***
 kind: Secret
`
	if got := maskDiff(diff); got != want {
		t.Errorf("maskDiff:\n%s\nwant:\n%s", got, want)
	}
}

func TestSecretMaskChange(t *testing.T) {
	for in, want := range map[string]string{
		"data.password: " + encA + " → " + encB: "data.password: *** (before) → *** (after)",
		"data.token: (unset) → " + encC:         "data.token: (unset) → ***",
		"data.token: " + encC + " → (removed)":  "data.token: *** → (removed)",
		"sops.lastmodified: 2026 → 2027":        "sops.lastmodified: 2026 → 2027",
	} {
		if got := maskChange(in); got != want {
			t.Errorf("maskChange(%q) = %q, want %q", in, got, want)
		}
	}
}
