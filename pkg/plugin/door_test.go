package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// writingCommands are the commands of the tree that write to the repository, as their paths
// below the root ("set image", "create secret tls").
func writingCommands(root *cobra.Command) []string {
	var out []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Annotations[writesAnnotation] == "true" {
			out = append(out, strings.TrimPrefix(displayPath(c), displayPath(root)+" "))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	slices.Sort(out)
	return out
}

// doorCase is what a writing command is tried with: a change of a Secret (or an attempt on
// one, for commands that cannot change Secrets), and a change the API server would refuse. A
// command for which one of them cannot apply says why in skip.
type doorCase struct {
	secret  func(t *testing.T)
	invalid func(t *testing.T)
	skip    string
}

// Every writing command of the root command goes through the one door: it is a writeCommand
// (Options/Complete/Validate/Run, the request builder, workflow.Run), and, tried with a Secret
// and with an invalid change, it never writes plaintext (secretTest checks every git object,
// file, temporary file and output after each command) and writes nothing invalid. A new
// writing command without a case here fails the test.
func TestEveryWritingCommandPassesTheGate(t *testing.T) {
	s := newSecretTest(t, "sops")
	certFile, keyFile, keyPEM := tlsPair(t, os.Getenv("HOME"))
	s.plains = []string{plainPassword, plainToken, plainAPIKey, plainNewPass, plainEdited, keyPEM}
	recipientA, keyA := s.ageKey("a.agekey")
	recipientB, keyB := s.ageKey("b.agekey")
	s.useKey(keyA)
	s.commit("sops rules", map[string]string{".sops.yaml": sopsRule(recipientA)})
	args := func(a ...string) []string { return append(a, "--repo", s.dir, "--target", "staging") }
	const dbFile, apiFile = "apps/staging/secret-db.yaml", "apps/staging/secret-api.yaml"

	// refused runs a command that must write nothing, and checks its error says want.
	refused := func(t *testing.T, want string, a ...string) {
		t.Helper()
		before := snapshot(t, s.dir)
		_, errOut, code := s.run("", args(a...)...)
		if code == 0 {
			t.Fatalf("%s: exit 0, want a refusal", strings.Join(a, " "))
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: the error does not say %q:\n%s", strings.Join(a, " "), want, errOut)
		}
		assertUnchanged(t, s.dir, before, strings.Join(a, " "))
	}
	decrypts := func(t *testing.T, file string, want map[string]string) {
		t.Helper()
		wantData(t, file, sopsData(t, s.show("HEAD", file)), want)
		s.guardPasses()
	}
	manifest := func(name, content string) string { return manifestFile(t, name, content) }

	cases := map[string]doorCase{
		"create secret generic": {
			secret: func(t *testing.T) {
				s.mustRun("", args("create", "secret", "generic", "db", "-n", "shop", "--from-literal=password="+plainPassword)...)
				decrypts(t, dbFile, map[string]string{"password": plainPassword})
			},
			invalid: func(t *testing.T) {
				refused(t, "invalid name", "create", "secret", "generic", "../evil", "--from-literal=a=b")
			},
		},
		"create secret tls": {
			secret: func(t *testing.T) {
				s.mustRun("", args("create", "secret", "tls", "web-tls", "-n", "shop", "--cert", certFile, "--key", keyFile)...)
				got := sopsData(t, s.show("HEAD", "apps/staging/secret-web-tls.yaml"))
				if got["tls.key"] != keyPEM {
					t.Error("the TLS key does not decrypt to the key given")
				}
			},
			invalid: func(t *testing.T) {
				refused(t, "invalid name", "create", "secret", "tls", "web/tls", "--cert", certFile, "--key", keyFile)
			},
		},
		"create secret docker-registry": {
			secret: func(t *testing.T) {
				s.mustRun("", args("create", "secret", "docker-registry", "regcred", "-n", "shop", "--docker-server=registry.example.com", "--docker-username=ci", "--docker-password="+plainToken)...)
				if !strings.Contains(sopsData(t, s.show("HEAD", "apps/staging/secret-regcred.yaml"))[".dockerconfigjson"], plainToken) {
					t.Error("the registry credential does not decrypt to the password given")
				}
			},
			invalid: func(t *testing.T) {
				refused(t, "metadata.name", "create", "secret", "docker-registry", "Reg_Cred", "-n", "shop", "--docker-username=ci", "--docker-password="+plainToken)
			},
		},
		"set secret": {
			secret: func(t *testing.T) {
				s.mustRun("", args("set", "secret", "db", "password="+plainNewPass)...)
				decrypts(t, dbFile, map[string]string{"password": plainNewPass})
			},
			invalid: func(t *testing.T) {
				refused(t, "not a valid key name", "set", "secret", "db", "bad key!="+plainToken)
			},
		},
		"edit": {
			secret: func(t *testing.T) {
				t.Setenv("EDITOR", "sed -i s/"+plainNewPass+"/"+plainEdited+"/")
				s.mustRun("", args("edit", "secret/db")...)
				decrypts(t, dbFile, map[string]string{"password": plainEdited})
			},
			invalid: func(t *testing.T) {
				t.Setenv("EDITOR", "sed -i s/replicas:.*/replicas:\\ -1/")
				refused(t, "must be greater than or equal to 0", "edit", "deploy/web")
			},
		},
		"apply": {
			secret: func(t *testing.T) {
				s.mustRun("", args("apply", "-f", manifest("api.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: shop\nstringData:\n  key: "+plainAPIKey+"\n"))...)
				decrypts(t, apiFile, map[string]string{"key": plainAPIKey})
			},
			invalid: func(t *testing.T) {
				refused(t, "spec.replicas", "apply", "-f", manifest("web.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: -1\n"))
			},
		},
		"patch": {
			secret: func(t *testing.T) {
				s.mustRun("", args("patch", "secret/api", "-p", `{"stringData":{"key":"`+plainToken+`"}}`)...)
				decrypts(t, apiFile, map[string]string{"key": plainToken})
			},
			invalid: func(t *testing.T) {
				refused(t, "must be greater than or equal to 0", "patch", "deploy/web", "-p", `{"spec":{"replicas":-5}}`)
			},
		},
		"label": {
			secret: func(t *testing.T) {
				s.mustRun("", args("label", "secret/api", "tier=backend")...)
				decrypts(t, apiFile, map[string]string{"key": plainToken})
			},
			invalid: func(t *testing.T) { refused(t, "invalid label value", "label", "deploy/web", "tier=not valid!") },
		},
		"annotate": {
			secret: func(t *testing.T) {
				s.mustRun("", args("annotate", "secret/api", "owner=payments")...)
				decrypts(t, apiFile, map[string]string{"key": plainToken})
			},
			invalid: func(t *testing.T) { refused(t, "bad key!", "annotate", "deploy/web", "bad key!=x") },
		},
		"scale": {
			secret:  func(t *testing.T) { refused(t, "cannot be changed this way", "scale", "secret/api", "--replicas=1") },
			invalid: func(t *testing.T) { refused(t, "spec.replicas", "scale", "deploy/web", "--replicas=2147483648") },
		},
		"set image": {
			secret: func(t *testing.T) {
				refused(t, "secret", "set", "image", "secret/api", "web=registry.example.com/shop/web:2")
			},
			invalid: func(t *testing.T) {
				refused(t, "not a valid image reference", "set", "image", "deploy/web", "web=registry.example.com/Shop/web:2")
			},
		},
		"set env": {
			secret: func(t *testing.T) {
				s.mustRun("", args("set", "env", "deploy/web", "--from=secret/api")...)
				written := ""
				for _, f := range strings.Fields(s.committedFiles()) {
					written += s.show("HEAD", f)
				}
				if !strings.Contains(written, "secretKeyRef") {
					t.Error("set env --from=secret/api did not reference the Secret's keys")
				}
			},
			invalid: func(t *testing.T) {
				refused(t, "a valid environment variable name", "set", "env", "deploy/web", "CAFÉ_URL=x")
			},
		},
		"set resources": {
			secret: func(t *testing.T) { refused(t, "secret", "set", "resources", "secret/api", "--limits=cpu=1") },
			invalid: func(t *testing.T) {
				refused(t, "less than or equal to cpu limit", "set", "resources", "deploy/web", "--requests=cpu=2", "--limits=cpu=1")
			},
		},
		"secrets rotate": {
			secret: func(t *testing.T) {
				s.commit("a second recipient", map[string]string{".sops.yaml": sopsRule(recipientA, recipientB)})
				s.mustRun("", args("secrets", "rotate", "db")...)
				s.useKey(keyB)
				decrypts(t, dbFile, map[string]string{"password": plainEdited})
				s.useKey(keyA)
			},
			skip: "invalid: rotate changes only the keys of encrypted documents, never an object's fields",
		},
		"rollout undo": {
			secret: func(t *testing.T) {
				s.mustRun("", args("rollout", "undo", "secret/db", "--to-revision=1")...)
				decrypts(t, dbFile, map[string]string{"password": plainPassword})
			},
			invalid: func(t *testing.T) {
				// A revision committed by hand that the API server would refuse is not restored.
				web := filepath.Join(s.dir, "apps", "base", "web.yaml")
				src, err := os.ReadFile(web)
				if err != nil {
					t.Fatal(err)
				}
				s.commit("replicas by hand", map[string]string{"apps/base/web.yaml": strings.Replace(string(src), "replicas: 2", "replicas: -3", 1)})
				s.commit("fixed", map[string]string{"apps/base/web.yaml": string(src)})
				refused(t, "must be greater than or equal to 0", "rollout", "undo", "deploy/web")
			},
		},
		"delete": {
			secret: func(t *testing.T) {
				s.mustRun("", args("delete", "secret/api")...)
				if _, err := os.Stat(filepath.Join(s.dir, apiFile)); !os.IsNotExist(err) {
					t.Errorf("delete left %s (%v)", apiFile, err)
				}
			},
			skip: "invalid: delete removes objects; the closed loop checks that nothing else changes",
		},
		"capture": {
			skip: "both: capture reads live objects; TestE2ECaptureSecretSops and TestE2ECaptureSecretSealed prove its Secrets are encrypted through the same gate",
		},
	}

	root := NewRootCmd(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	commands := writingCommands(root)
	for _, name := range commands {
		if _, ok := cases[name]; !ok {
			t.Errorf("writing command %q has no case in this test", name)
		}
	}
	for name := range cases {
		if !slices.Contains(commands, name) {
			t.Errorf("%q has a case but is not a writing command of the tree", name)
		}
	}
	// In this order: the later commands change the Secrets the earlier ones made.
	order := []string{"create secret generic", "create secret tls", "create secret docker-registry", "set secret", "edit",
		"apply", "patch", "label", "annotate", "scale", "set image", "set env", "set resources", "secrets rotate",
		"rollout undo", "delete", "capture"}
	// Not subtests: the cases share the repository and its secretTest, whose checks fail the
	// whole test.
	for _, name := range order {
		c := cases[name]
		if c.secret != nil {
			t.Logf("%s with a Secret", name)
			c.secret(t)
		}
		if c.invalid != nil {
			t.Logf("%s with an invalid change", name)
			c.invalid(t)
		}
		if (c.secret == nil || c.invalid == nil) && c.skip == "" {
			t.Errorf("%s: a case is missing and skip does not say why", name)
		}
	}
}
