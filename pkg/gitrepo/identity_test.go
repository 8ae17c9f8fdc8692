package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNoIdentity(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	empty := t.TempDir()
	t.Setenv("HOME", empty)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(empty, "xdg"))
	tr.git("config", "user.useConfigOnly", "true") // no guess from the host name
	_, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m",
		Changes: []Change{{Path: "staged.yaml", Content: []byte("x\n")}}})
	var ie *IdentityError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want IdentityError", err)
	}
	for _, want := range []string{"git config --global user.name", "git config --global user.email"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	tr.noLeftovers()
}

// TestIdentityLikeGit commits with the identity from each place git takes one from (git
// commit-tree resolves it) and compares it with `git var`, git's own answer.
func TestIdentityLikeGit(t *testing.T) {
	type setup func(t *testing.T, tr *testRepo, home string)
	writeFile := func(t *testing.T, p, content string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// want is the author each case must produce, so that agreeing with git proves something.
	want := map[string]string{
		"global":                         "Global Name <global@example.com>",
		"xdg overridden by ~/.gitconfig": "Xdg Name <home@example.com>",
		"GIT_CONFIG_GLOBAL":              `Custom "Q" Name <custom@example.com>`,
		"repository over global":         "Global Name <repo@example.com>",
		"author section and env":         "Author Name <env@example.com>",
		"EMAIL fallback":                 "User <fallback@example.com>",
		"includeIf gitdir":               "User <work@example.com>",
		"include and onbranch":           "Included <branch@example.com>",
		"GIT_CONFIG_COUNT":               "From Env Config <user@example.com>",
	}
	cases := map[string]setup{
		"global": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = Global Name\n\temail = global@example.com\n")
		},
		"xdg overridden by ~/.gitconfig": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, "xdg", "git", "config"), "[user]\n\tname = Xdg Name\n\temail = xdg@example.com\n")
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\temail = home@example.com\n")
		},
		"GIT_CONFIG_GLOBAL": func(t *testing.T, tr *testRepo, home string) {
			p := filepath.Join(home, "custom.gitconfig")
			writeFile(t, p, "[user]\n\tname = \"Custom \\\"Q\\\" Name\" ; comment\n\temail = custom@example.com\n")
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = Ignored\n\temail = ignored@example.com\n")
			t.Setenv("GIT_CONFIG_GLOBAL", p)
		},
		"repository over global": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = Global Name\n\temail = global@example.com\n")
			tr.git("config", "user.email", "repo@example.com")
		},
		"author section and env": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = User\n\temail = user@example.com\n[author]\n\tname = Author Name\n")
			t.Setenv("GIT_AUTHOR_EMAIL", "env@example.com")
			t.Setenv("GIT_COMMITTER_NAME", "Env Committer")
		},
		"EMAIL fallback": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = User\n")
			t.Setenv("EMAIL", "fallback@example.com")
		},
		"includeIf gitdir": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, "work.gitconfig"), "[user]\n\temail = work@example.com\n")
			parent := filepath.Dir(tr.dir)
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = User\n\temail = home@example.com\n"+
				"[includeIf \"gitdir:"+parent+"/\"]\n\tpath = work.gitconfig\n"+
				"[includeIf \"gitdir:/elsewhere/\"]\n\tpath = ~/nothing.gitconfig\n")
		},
		"include and onbranch": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, "a.gitconfig"), "[user]\n\tname = Included\n")
			writeFile(t, filepath.Join(home, "b.gitconfig"), "[user]\n\temail = branch@example.com\n")
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = Before\n\temail = before@example.com\n"+
				"[include]\n\tpath = ~/a.gitconfig\n[includeIf \"onbranch:ma*\"]\n\tpath = b.gitconfig\n")
		},
		"GIT_CONFIG_COUNT": func(t *testing.T, tr *testRepo, home string) {
			writeFile(t, filepath.Join(home, ".gitconfig"), "[user]\n\tname = User\n\temail = user@example.com\n")
			t.Setenv("GIT_CONFIG_COUNT", "1")
			t.Setenv("GIT_CONFIG_KEY_0", "user.name")
			t.Setenv("GIT_CONFIG_VALUE_0", "From Env Config")
		},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			tr := newTestRepo(t, baseFiles())
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
			set(t, tr, home)
			if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m",
				Changes: []Change{{Path: "staged.yaml", Content: []byte("x\n")}}}); err != nil {
				t.Fatal(err)
			}
			author := tr.git("log", "-1", "--format=%an <%ae>")
			if got := strings.TrimSpace(author); got != want[name] {
				t.Errorf("author %q, want %q", got, want[name])
			}
			for _, c := range []struct {
				name string
				got  string
			}{{"GIT_AUTHOR_IDENT", author}, {"GIT_COMMITTER_IDENT", tr.git("log", "-1", "--format=%cn <%ce>")}} {
				cmd := exec.Command("git", "var", c.name)
				cmd.Dir = tr.dir
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("git var %s: %v", c.name, err)
				}
				want := string(out[:strings.LastIndex(string(out), ">")+1])
				if got := strings.TrimSpace(c.got); got != want {
					t.Errorf("%s: got %q, git says %q", c.name, got, want)
				}
			}
		})
	}
}

func TestIdentityDate(t *testing.T) {
	t.Setenv("GIT_AUTHOR_DATE", "@1700000000 +0200")
	t.Setenv("GIT_COMMITTER_DATE", "2024-05-06T07:08:09Z")
	tr := newTestRepo(t, baseFiles())
	if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "m",
		Changes: []Change{{Path: "staged.yaml", Content: []byte("x\n")}}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.git("log", "-1", "--format=%ad|%cd", "--date=raw"); got != "1700000000 +0200|1714979289 +0000\n" {
		t.Errorf("dates %q", got)
	}
}

// TestSigning commits with commit.gpgsign and an ssh key made for the test.
func TestSigning(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not found")
	}
	tr := newTestRepo(t, baseFiles())
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(signers, []byte("test@example.com namespaces=\"git\" "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.git("config", "commit.gpgsign", "true")
	tr.git("config", "gpg.format", "ssh")
	tr.git("config", "user.signingkey", key)
	tr.git("config", "gpg.ssh.allowedSignersFile", signers)
	tr.write("staged.yaml", "mine\n")
	tr.git("add", "staged.yaml")

	res, err := tr.open().Commit(context.Background(), CommitRequest{Message: "signed change",
		Changes: []Change{{Path: "apps/web/deployment.yaml", Content: []byte("replicas: 5\n")}}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	out := tr.git("verify-commit", "-v", res.Hash)
	if !strings.Contains(out, `Good "git" signature for test@example.com`) {
		t.Errorf("verify-commit:\n%s", out)
	}
	if got := tr.git("log", "-1", "--format=%an <%ae> %ad|%s", "--date=raw"); got != "Test User <test@example.com> 1741061167 +0100|signed change\n" {
		t.Errorf("commit %q", got)
	}
	if got := tr.git("status", "--porcelain"); got != "M  staged.yaml\n" {
		t.Errorf("status %q", got)
	}
	tr.fsck()
}
