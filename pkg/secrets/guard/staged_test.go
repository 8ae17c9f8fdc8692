package guard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a repository in a temporary directory, with the user's configuration out of reach.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	isolateHome(t)
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.name", "Guard Test")
	r.git("config", "user.email", "guard@example.invalid")
	r.git("config", "commit.gpgsign", "false")
	return r
}

func (r *gitRepo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (r *gitRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// check runs the guard as --staged does.
func (r *gitRepo) check() Report {
	r.t.Helper()
	ctx := context.Background()
	ix := Index{Dir: r.dir}
	files, err := StagedFiles(ctx, r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	kusts, err := ix.Kustomizations(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	rep := Check(files, Options{
		ReadFile:       func(name string) ([]byte, error) { return ix.ReadFile(ctx, name) },
		Kustomizations: kusts,
	})
	assertNoLeak(r.t, files, rep)
	return rep
}

func paths(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.File+":"+f.Path)
	}
	return out
}

// TestStaged checks what is staged, not what the work tree holds.
func TestStaged(t *testing.T) {
	plain := readCorpus(t, "fail-stringdata-plaintext.yaml")
	encrypted := readCorpus(t, "pass-sops-age.yaml")
	const name = "apps/prod dir/sécret.yaml" // -z keeps odd names whole

	t.Run("plaintext staged, encrypted in the work tree", func(t *testing.T) {
		r := newGitRepo(t)
		r.write(name, plain)
		r.git("add", ".")
		r.write(name, encrypted)
		rep := r.check()
		got := paths(rep.Findings)
		want := []string{name + ":stringData.DATABASE_URL", name + ":stringData.SMTP_PASSWORD"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("findings = %v, want %v", got, want)
		}
	})

	t.Run("encrypted staged, plaintext in the work tree", func(t *testing.T) {
		r := newGitRepo(t)
		r.write(name, encrypted)
		r.git("add", ".")
		r.write(name, plain)
		if rep := r.check(); len(rep.Findings) != 0 || rep.Files != 1 {
			t.Errorf("findings = %v (of %d files), want none of 1", rep.Findings, rep.Files)
		}
	})

	t.Run("only staged changes are checked", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("old.yaml", plain)
		r.git("add", ".")
		r.git("commit", "-q", "-m", "old")
		r.write("new.yaml", encrypted)
		r.write("untracked.yaml", plain)
		r.git("add", "new.yaml")
		if rep := r.check(); len(rep.Findings) != 0 || rep.Files != 1 {
			t.Errorf("findings = %v (of %d files), want none of 1", rep.Findings, rep.Files)
		}
		r.git("rm", "-q", "--cached", "old.yaml")
		if rep := r.check(); len(rep.Findings) != 0 {
			t.Errorf("a deletion was checked: %v", rep.Findings)
		}
	})

	t.Run("env file staged alone under a committed kustomization", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("app/kustomization.yaml", readCorpus(t, "pass-generator-env-sops/kustomization.yaml"))
		r.write("app/secret.env", readCorpus(t, "pass-generator-env-sops/secret.env"))
		r.git("add", ".")
		if rep := r.check(); len(rep.Findings) != 0 {
			t.Fatalf("the encrypted generator was refused: %v", rep.Findings)
		}
		r.git("commit", "-q", "-m", "generator")
		r.write("app/secret.env", "DB_PASSWORD="+marker+"-staged\n")
		r.git("add", "app/secret.env")
		rep := r.check()
		if len(rep.Findings) != 1 || rep.Findings[0].File != "app/secret.env" || !strings.Contains(rep.Findings[0].Reason, `read by secretGenerator "db" in app/kustomization.yaml`) {
			t.Errorf("findings = %v, want the staged env file refused", rep.Findings)
		}
	})

	t.Run("kustomization staged, its env file read from the index", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("app/kustomization.yaml", readCorpus(t, "pass-generator-env-sops/kustomization.yaml"))
		r.write("app/secret.env", "DB_PASSWORD="+marker+"-indexed\n")
		r.git("add", ".")
		r.git("commit", "-q", "-m", "plain env")
		// The work tree's env file is encrypted now, but the index still holds the plaintext.
		r.write("app/secret.env", readCorpus(t, "pass-generator-env-sops/secret.env"))
		r.write("app/kustomization.yaml", readCorpus(t, "pass-generator-env-sops/kustomization.yaml")+"# touched\n")
		r.git("add", "app/kustomization.yaml")
		rep := r.check()
		if len(rep.Findings) != 1 || rep.Findings[0].Path != "secretGenerator[0].envs[0]" {
			t.Errorf("findings = %v, want the env file in the index refused", rep.Findings)
		}
	})
}

func TestToplevel(t *testing.T) {
	r := newGitRepo(t)
	r.write("a/b/c.txt", "x")
	top, err := Toplevel(context.Background(), filepath.Join(r.dir, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(r.dir)
	if got, _ := filepath.EvalSymlinks(top); got != want {
		t.Errorf("Toplevel = %s, want %s", got, want)
	}
	if _, err := Toplevel(context.Background(), t.TempDir()); err == nil {
		t.Error("Toplevel outside a repository: no error")
	}
}
