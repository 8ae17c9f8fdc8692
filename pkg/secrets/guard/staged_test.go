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
	ch, err := StagedChange(context.Background(), r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	rep := ch.Check()
	assertNoLeak(r.t, ch.Files, rep)
	return rep
}

func (r *gitRepo) out(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
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

// Every way a path can get new content in the index is checked: a symbolic link turned into a
// file (git status T), a rename and a copy, whatever diff.renames says.
func TestStagedChangeKinds(t *testing.T) {
	plain := readCorpus(t, "fail-stringdata-plaintext.yaml")
	encrypted := readCorpus(t, "pass-sops-age.yaml")
	wantFile := func(t *testing.T, rep Report, file string) {
		t.Helper()
		if len(rep.Findings) == 0 {
			t.Fatalf("no finding, want %s refused", file)
		}
		for _, f := range rep.Findings {
			if f.File != file {
				t.Errorf("finding %+v, want only %s", f, file)
			}
		}
	}

	t.Run("symbolic link turned into a file", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("secrets/db.enc.yaml", encrypted)
		if err := os.Symlink("secrets/db.enc.yaml", filepath.Join(r.dir, "db.yaml")); err != nil {
			t.Fatal(err)
		}
		r.git("add", ".")
		r.git("commit", "-q", "-m", "link")
		if err := os.Remove(filepath.Join(r.dir, "db.yaml")); err != nil {
			t.Fatal(err)
		}
		r.write("db.yaml", plain)
		r.git("add", "db.yaml")
		if st := r.out("diff", "--cached", "--name-status"); st != "T\tdb.yaml" {
			t.Fatalf("git sees %q, want a type change", st)
		}
		wantFile(t, r.check(), "db.yaml")
	})

	for _, renames := range []string{"false", "true", "copies"} {
		t.Run("rename and copy, diff.renames="+renames, func(t *testing.T) {
			r := newGitRepo(t)
			r.git("config", "diff.renames", renames)
			// Committed with another name, when nothing read it as YAML.
			r.write("notes.txt", plain)
			r.write("keep.txt", plain)
			r.git("add", ".")
			r.git("commit", "-q", "--no-verify", "-m", "notes")
			if err := os.Mkdir(filepath.Join(r.dir, "apps"), 0o755); err != nil {
				t.Fatal(err)
			}
			r.git("mv", "notes.txt", "apps/secret.yaml")
			rep := r.check()
			wantFile(t, rep, "apps/secret.yaml")
			r.git("reset", "-q", "--hard")
			r.write("apps/copy.yaml", plain)
			r.git("add", ".")
			wantFile(t, r.check(), "apps/copy.yaml")
		})
	}
}

// A file of any name that a kustomization lists is read as manifests: when the kustomization is
// staged, changed or not (the kustomization is what deploys it), and when it is staged alone.
func TestStagedKustomizationReadsUnchangedFile(t *testing.T) {
	r := newGitRepo(t)
	r.write("app/db-credentials", readCorpus(t, "fail-stringdata-plaintext.yaml"))
	r.write("app/kustomization.yaml", "resources: []\n")
	r.git("add", ".")
	r.git("commit", "-q", "--no-verify", "-m", "credentials, unused")
	r.write("app/kustomization.yaml", "resources:\n  - db-credentials\n")
	r.git("add", "app/kustomization.yaml")
	rep := r.check()
	if len(rep.Findings) == 0 {
		t.Fatal("no finding, want the Secret the kustomization now deploys")
	}
	for _, f := range rep.Findings {
		if f.File != "app/db-credentials" || !strings.Contains(f.Reason, "read by app/kustomization.yaml resources[0]") {
			t.Errorf("finding %+v, want app/db-credentials, read by the kustomization", f)
		}
	}

	// And the other way: the file of any name staged alone, its kustomization unchanged.
	r.write("app/db-credentials", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\n")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "listed, harmless")
	r.write("app/db-credentials", readCorpus(t, "fail-stringdata-plaintext.yaml"))
	r.git("add", "app/db-credentials")
	rep = r.check()
	if len(rep.Findings) == 0 {
		t.Fatal("no finding, want the staged Secret that a committed kustomization lists")
	}
	for _, f := range rep.Findings {
		if f.File != "app/db-credentials" || f.Doc != 1 || !strings.HasPrefix(f.Path, "stringData.") {
			t.Errorf("finding %+v, want app/db-credentials read as YAML", f)
		}
	}
}

const guardConfig = `apiVersion: gitops.kubectl.io/v1alpha1
kind: Config
guard:
  allow:
`

func allowEntry(glob, reason string) string {
	return "    - path: " + strconvQuote(glob) + "\n      reason: " + reason + "\n"
}

func strconvQuote(s string) string { return `"` + s + `"` }

// guard.allow is read from the index in --staged mode, whatever the work tree's configuration
// says; an entry added in the same commit as the files it allows lets none of them through.
func TestStagedAllowList(t *testing.T) {
	key := readCorpus(t, "fail-ec-private-key.pem")
	plain := readCorpus(t, "fail-stringdata-plaintext.yaml")

	t.Run("the index's configuration decides", func(t *testing.T) {
		r := newGitRepo(t)
		r.write(".kubectl-gitops.yaml", guardConfig+allowEntry("test/keys/*.pem", "test-only key"))
		r.git("add", ".")
		r.git("commit", "-q", "-m", "allow test keys")
		r.write("test/keys/ec.pem", key)
		r.git("add", "test/keys/ec.pem")
		// The work tree drops the entry, unstaged: the index still allows the key.
		r.write(".kubectl-gitops.yaml", guardConfig+allowEntry("nothing/*", "no"))
		rep := r.check()
		if len(rep.Findings) != 0 || len(rep.Allowed) != 1 || rep.Allowed[0].File != "test/keys/ec.pem" {
			t.Errorf("findings %v, allowed %v; want the key allowed by the index's entry", rep.Findings, rep.Allowed)
		}
		// And the reverse: an entry only in the work tree allows nothing.
		r.git("add", ".kubectl-gitops.yaml")
		r.write(".kubectl-gitops.yaml", guardConfig+allowEntry("test/keys/*.pem", "test-only key"))
		if rep := r.check(); len(rep.Findings) == 0 {
			t.Error("the key passed with an entry that only the work tree has")
		}
	})

	t.Run("an entry added with the plaintext it allows", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("README.md", "x\n")
		r.git("add", ".")
		r.git("commit", "-q", "-m", "start")
		r.write(".kubectl-gitops.yaml", guardConfig+allowEntry("**", "everything"))
		r.write("apps/db.yaml", plain)
		r.write("test/ec.pem", key)
		r.git("add", ".")
		rep := r.check()
		if len(rep.Allowed) != 0 {
			t.Errorf("allowed %v, want nothing let through", rep.Allowed)
		}
		files := map[string]bool{}
		for _, f := range rep.Findings {
			files[f.File] = true
			if !strings.Contains(f.Reason, `only guard.allow entry "**", added in the same commit, lets this file through: commit that entry alone first`) {
				t.Errorf("finding %+v does not say that only the new entry allows it", f)
			}
		}
		if !files["apps/db.yaml"] || !files["test/ec.pem"] {
			t.Errorf("findings %v, want both files refused", rep.Findings)
		}
		// The entry allows its own file too: every staged file is newly allowed.
		if len(rep.AllowChanges) != 1 || rep.AllowChanges[0].Entry != "**" || strings.Join(rep.AllowChanges[0].Files, ",") != ".kubectl-gitops.yaml,apps/db.yaml,test/ec.pem" {
			t.Errorf("allow changes %+v, want the new entry with the files it newly allows", rep.AllowChanges)
		}
		var out strings.Builder
		if err := FormatAllowChanges(&out, rep.AllowChanges); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), `.kubectl-gitops.yaml: guard.allow entry "**" (everything) is added in this commit; it newly allows: `) {
			t.Errorf("FormatAllowChanges = %q", out.String())
		}

		// Committed alone first, the entry lets the files through in the next commit.
		r.git("reset", "-q")
		r.git("add", ".kubectl-gitops.yaml")
		rep = r.check()
		if len(rep.Findings) != 0 || len(rep.AllowChanges) != 1 || len(rep.AllowChanges[0].Files) != 1 {
			t.Errorf("the entry alone: findings %v, changes %+v; want it reported, allowing only itself", rep.Findings, rep.AllowChanges)
		}
		r.git("commit", "-q", "-m", "allow")
		r.git("add", ".")
		rep = r.check()
		if len(rep.Findings) != 0 || len(rep.Allowed) != 2 || len(rep.AllowChanges) != 0 {
			t.Errorf("after the entry's commit: findings %v, allowed %v, changes %v; want both allowed", rep.Findings, rep.Allowed, rep.AllowChanges)
		}
	})

	t.Run("a staged configuration that does not parse", func(t *testing.T) {
		r := newGitRepo(t)
		r.write(".kubectl-gitops.yaml", "apiVersion: [\n")
		r.git("add", ".")
		_, err := StagedChange(context.Background(), r.dir)
		if err == nil || !strings.Contains(err.Error(), ".kubectl-gitops.yaml") || !strings.Contains(err.Error(), "(in the index)") {
			t.Errorf("err = %v, want the staged configuration named", err)
		}
	})
}

// CommitChange is what one commit changes, at that commit, with its guard.allow compared with
// its parent's.
func TestCommitChange(t *testing.T) {
	r := newGitRepo(t)
	plain := readCorpus(t, "fail-stringdata-plaintext.yaml")
	r.write("apps/db.yaml", plain)
	r.git("add", ".")
	r.git("commit", "-q", "--no-verify", "-m", "root with plaintext")
	root := r.out("rev-parse", "HEAD")
	r.write("apps/db.yaml", readCorpus(t, "pass-sops-age.yaml"))
	r.write(".kubectl-gitops.yaml", guardConfig+allowEntry("keys/*", "test key"))
	r.write("keys/ec.pem", readCorpus(t, "fail-ec-private-key.pem"))
	r.git("add", ".")
	r.git("commit", "-q", "--no-verify", "-m", "encrypt, and a key with its entry")
	second := r.out("rev-parse", "HEAD")
	// The work tree and index hold plaintext again: a commit is read as committed.
	r.write("apps/db.yaml", plain)
	r.git("add", ".")

	check := func(sha string) Report {
		t.Helper()
		ch, err := CommitChange(context.Background(), r.dir, sha)
		if err != nil {
			t.Fatal(err)
		}
		return ch.Check()
	}
	rep := check(root)
	if len(rep.Findings) == 0 || rep.Findings[0].File != "apps/db.yaml" {
		t.Errorf("root commit: findings %v, want apps/db.yaml refused", rep.Findings)
	}
	rep = check(second)
	if rep.Files != 3 || len(rep.Findings) != 1 || rep.Findings[0].File != "keys/ec.pem" || len(rep.AllowChanges) != 1 || rep.AllowChanges[0].Entry != "keys/*" {
		t.Errorf("second commit: %d files, findings %v, changes %+v; want the key refused, allowed only by the entry it adds", rep.Files, rep.Findings, rep.AllowChanges)
	}
}
