package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
)

// secretTest is a repository made from a sample, in an environment isolated from the user's
// (HOME, XDG dirs, no sops keys), with its own TMPDIR to scan for plaintext, and the plaintext
// values that must never appear outside the process.
type secretTest struct {
	t      *testing.T
	dir    string
	tmp    string
	env    []string
	plains []string
}

// sopsKeyEnv are the variables through which sops finds age keys; cleared so nothing of the
// user's is read.
var sopsKeyEnv = []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD", "SEALED_SECRETS_CERT"}

func newSecretTest(t *testing.T, sample string) *secretTest {
	t.Helper()
	env := testrepo.Env(t)
	home := os.Getenv("HOME")
	t.Setenv("GNUPGHOME", filepath.Join(home, ".gnupg"))
	env = append(env, "GNUPGHOME="+filepath.Join(home, ".gnupg"))
	for _, name := range sopsKeyEnv {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	s := &secretTest{t: t, dir: testrepo.New(t, sample), env: env}
	// Made last: every t.TempDir above lies outside it, so what it holds after a command is
	// what the command left.
	s.tmp = filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(s.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", s.tmp)
	s.env = append(s.env, "TMPDIR="+s.tmp)
	return s
}

// ageKey makes an age identity in a file outside the repository and returns its recipient and
// the file.
func (s *secretTest) ageKey(name string) (string, string) {
	s.t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		s.t.Fatal(err)
	}
	dir := filepath.Join(os.Getenv("HOME"), "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(id.String()+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return id.Recipient().String(), p
}

// useKey makes sops (in this process and in the plugin binary) decrypt with the key file.
func (s *secretTest) useKey(file string) {
	s.t.Setenv("SOPS_AGE_KEY_FILE", file)
	s.env = append(s.env, "SOPS_AGE_KEY_FILE="+file)
}

// commit writes files and commits them with git.
func (s *secretTest) commit(msg string, files map[string]string) {
	s.t.Helper()
	for name, content := range files {
		p := filepath.Join(s.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	testrepo.Git(s.t, s.dir, "add", "-A")
	testrepo.Git(s.t, s.dir, "commit", "-q", "-m", msg)
}

// run runs the command tree in-process with stdin, and checks that no plaintext reached the
// terminal, the repository or the temporary directory.
func (s *secretTest) run(stdin string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	root := NewRootCmd(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = ReportError(streams.ErrOut, root, err)
	}
	stdout, stderr = streams.Out.(*bytes.Buffer).String(), streams.ErrOut.(*bytes.Buffer).String()
	s.noPlaintext("the output of "+strings.Join(args, " "), stdout+stderr)
	s.scan(strings.Join(args, " "))
	return stdout, stderr, code
}

// mustRun is run that fails the test on a non-zero exit.
func (s *secretTest) mustRun(stdin string, args ...string) (string, string) {
	s.t.Helper()
	out, errOut, code := s.run(stdin, args...)
	if code != 0 {
		s.t.Fatalf("kubectl gitops %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// plaintextForms are a value as it could leak: as is, and base64-encoded as in a Secret's data.
func plaintextForms(v string) []string {
	return []string{v, base64.StdEncoding.EncodeToString([]byte(v))}
}

func (s *secretTest) noPlaintext(what, text string) {
	s.t.Helper()
	for _, p := range s.plains {
		for _, form := range plaintextForms(p) {
			if strings.Contains(text, form) {
				s.t.Fatalf("%s holds the plaintext %q:\n%s", what, form, text)
			}
		}
	}
}

// scan checks every git object, every file of the working tree and the temporary directory
// for the plaintext values; the temporary directory must be empty.
func (s *secretTest) scan(after string) {
	s.t.Helper()
	cmd := exec.Command("git", "cat-file", "--batch-all-objects", "--batch")
	cmd.Dir = s.dir
	objects, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("git cat-file: %v", err)
	}
	s.noPlaintext("a git object after "+after, string(objects))
	for _, root := range []string{s.dir, s.tmp} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s.noPlaintext(p+" after "+after, string(b))
			return nil
		})
		if err != nil {
			s.t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		s.t.Fatalf("the temporary directory holds %v after %s", names, after)
	}
}

// head is the repository's HEAD commit.
func (s *secretTest) head() string {
	return testrepo.Git(s.t, s.dir, "rev-parse", "HEAD")
}

// show is a file as HEAD (or another revision) has it.
func (s *secretTest) show(rev, file string) string {
	s.t.Helper()
	cmd := exec.Command("git", "show", rev+":"+file)
	cmd.Dir = s.dir
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("git show %s:%s: %v", rev, file, err)
	}
	return string(out)
}

// committedFiles are the files the HEAD commit changed.
func (s *secretTest) committedFiles() string {
	return testrepo.Git(s.t, s.dir, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD")
}

// guardPasses runs the secrets guard over every file of the HEAD tree.
func (s *secretTest) guardPasses() {
	s.t.Helper()
	var files []guard.File
	for _, name := range strings.Split(testrepo.Git(s.t, s.dir, "ls-tree", "-r", "--name-only", "HEAD"), "\n") {
		files = append(files, guard.File{Path: name, Data: []byte(s.show("HEAD", name))})
	}
	rep := guard.Check(files, guard.Options{ReadFile: func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(name)))
	}})
	if len(rep.Findings) > 0 {
		var b bytes.Buffer
		_ = guard.Format(&b, rep.Findings)
		s.t.Fatalf("the guard refuses the committed tree:\n%s", b.String())
	}
}

// changedLines compares two versions of a file line by line (same line count expected) and
// returns the keys ("password", "mac", ...) of the lines that differ.
func changedLines(t *testing.T, before, after string) []string {
	t.Helper()
	a, b := strings.Split(before, "\n"), strings.Split(after, "\n")
	if len(a) != len(b) {
		t.Fatalf("the file went from %d to %d lines:\n%s\n---\n%s", len(a), len(b), before, after)
	}
	var keys []string
	for i := range a {
		if a[i] != b[i] {
			k, _, _ := strings.Cut(strings.TrimSpace(b[i]), ":")
			keys = append(keys, k)
		}
	}
	return keys
}
