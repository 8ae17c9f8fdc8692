package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// A commit stores what `git add` would: the blobs of files under a filter driver, ident or
// end-of-line conversion are git's, the working tree keeps the bytes given, and git status
// is clean afterwards. Each case is run with and without a hook that reads the commit's
// index (the tree made in process, and by git).
func TestCommitConvertsAsGit(t *testing.T) {
	cases := map[string]struct {
		files   map[string]string
		config  [][]string
		changes []Change
	}{
		"filter and eol attributes": {
			files: map[string]string{
				".gitattributes":         "*.txt text eol=lf\n*.id ident\n",
				"secrets/.gitattributes": "*.yaml filter=rot13\n",
				"secrets/token.yaml":     "token: old\n",
				"apps/web/service.yaml":  "port: 80\n",
			},
			config: [][]string{{"filter.rot13.clean", "tr a-zA-Z n-za-mN-ZA-M"}, {"filter.rot13.smudge", "tr a-zA-Z n-za-mN-ZA-M"}},
			changes: []Change{
				{Path: "secrets/token.yaml", Content: []byte("token: abc\n")},
				{Path: "secrets/new.yaml", Content: []byte("password: hunter\n")},
				{Path: "notes.txt", Content: []byte("one\r\ntwo\r\n")},
				{Path: "plain.txt", Content: []byte("one\ntwo\n")},
				{Path: "version.id", Content: []byte("$Id: 0123456789012345678901234567890123456789 $\n")},
				{Path: "apps/web/service.yaml", Content: []byte("port: 8080\r\n")},
				// git filters no link, whatever its name.
				{Path: "secrets/link.yaml", Mode: filemode.Symlink, Content: []byte("token.yaml")},
			},
		},
		"core.autocrlf": {
			files:  map[string]string{"apps/web/service.yaml": "port: 80\n"},
			config: [][]string{{"core.autocrlf", "input"}},
			changes: []Change{
				{Path: "apps/web/service.yaml", Content: []byte("port: 8080\r\n")},
				{Path: "apps/web/lf.yaml", Content: []byte("a: 1\n")},
			},
		},
	}
	for name, tc := range cases {
		for _, hook := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: " with a pre-commit hook"}[hook], func(t *testing.T) {
				tr := newTestRepo(t, nil)
				for _, kv := range tc.config {
					tr.git("config", kv[0], kv[1])
				}
				for p, c := range tc.files {
					tr.write(p, c)
				}
				tr.git("add", "-A")
				tr.git("commit", "-q", "-m", "initial")
				if hook {
					// A refusing hook first: the working tree is given back as git checks it out.
					before := map[string]string{}
					for p := range tc.files {
						before[p] = tr.read(p)
					}
					setHook(t, tr, "#!/bin/sh\nexit 1\n")
					var hookErr *HookError
					if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "refused", Changes: tc.changes, Now: fixedNow}); !errors.As(err, &hookErr) {
						t.Fatalf("commit with a refusing hook: %v, want a *HookError", err)
					}
					for p, c := range before {
						if got := tr.read(p); got != c {
							t.Errorf("%s after the refused commit holds %q, want %q", p, got, c)
						}
					}
					if st := tr.git("status", "--porcelain"); st != "" {
						t.Errorf("git status after the refused commit:\n%s", st)
					}
					setHook(t, tr, "#!/bin/sh\nexit 0\n")
				}
				if _, err := tr.open().Commit(context.Background(), CommitRequest{Message: "change", Changes: tc.changes, Now: fixedNow}); err != nil {
					t.Fatal(err)
				}
				converted := 0
				for _, c := range tc.changes {
					want := hashAsGit(t, tr.dir, c.Path, c.Content)
					link := c.Mode == filemode.Symlink
					if link {
						want = hashRaw(t, tr.dir, c.Content)
					}
					if got := strings.TrimSpace(tr.git("rev-parse", "HEAD:"+c.Path)); got != want {
						t.Errorf("%s: HEAD holds blob %s, want %s, as git add stores it", c.Path, got, want)
					}
					if want != hashRaw(t, tr.dir, c.Content) {
						converted++
					}
					if link {
						if got, err := os.Readlink(filepath.Join(tr.dir, c.Path)); err != nil || got != string(c.Content) {
							t.Errorf("%s: the link leads to %q (%v), want %q", c.Path, got, err, c.Content)
						}
					} else if got := tr.read(c.Path); got != string(c.Content) {
						t.Errorf("%s: the working tree holds %q, want %q", c.Path, got, c.Content)
					}
				}
				if converted == 0 {
					t.Fatal("no change is converted by git: the case tests nothing")
				}
				if st := tr.git("status", "--porcelain"); st != "" {
					t.Errorf("git status after the commit:\n%s", st)
				}
				tr.fsck()
			})
		}
	}
}

func setHook(t *testing.T, tr *testRepo, script string) {
	t.Helper()
	p := filepath.Join(tr.dir, ".git", "hooks", "pre-commit")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// hashAsGit is the blob git add makes of content at p.
func hashAsGit(t *testing.T, dir, p string, content []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "--stdin", "--path="+p)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(string(content))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// hashRaw is the blob of content as it is.
func hashRaw(t *testing.T, dir string, content []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "--stdin", "--no-filters")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(string(content))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
