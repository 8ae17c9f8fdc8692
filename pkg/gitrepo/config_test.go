package gitrepo

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommitConfigLikeGit compares what commitConfig reads with git's own answers: `git
// rev-parse --git-path hooks` for the hooks directory, `git config --type=bool` for signing.
func TestCommitConfigLikeGit(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	r := tr.open()
	for _, c := range []struct{ hooksPath, gpgsign string }{
		{"", ""}, {".githooks", "true"}, {"~/hooks", "yes"}, {"/abs/hooks", "off"}, {"tools/../hooks", "0"}, {"x", "2"},
	} {
		_ = exec.Command("git", "-C", tr.dir, "config", "--unset-all", "core.hooksPath").Run()
		_ = exec.Command("git", "-C", tr.dir, "config", "--unset-all", "commit.gpgsign").Run()
		if c.hooksPath != "" {
			tr.git("config", "core.hooksPath", c.hooksPath)
		}
		if c.gpgsign != "" {
			tr.git("config", "commit.gpgsign", c.gpgsign)
		}
		cfg, err := r.commitConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(tr.git("rev-parse", "--git-path", "hooks"))
		if !filepath.IsAbs(want) {
			want = filepath.Join(tr.dir, want)
		}
		if cfg.hooksDir != filepath.Clean(want) {
			t.Errorf("core.hooksPath %q: hooks in %s, git says %s", c.hooksPath, cfg.hooksDir, want)
		}
		out, _ := exec.Command("git", "-C", tr.dir, "config", "--type=bool", "commit.gpgsign").Output()
		if got := map[bool]string{true: "true", false: "false"}[cfg.sign]; c.gpgsign != "" && got != strings.TrimSpace(string(out)) {
			t.Errorf("commit.gpgsign %q: %s, git says %s", c.gpgsign, got, out)
		}
	}
}

// TestCleanMessageLikeGit compares cleanMessage with `git stripspace`.
func TestCleanMessageLikeGit(t *testing.T) {
	for _, m := range []string{
		"subject", "\n\n  \nsubject  \n\n\n\nbody\t\n\n", "a\r\nb\r\n", "# not a comment here\n\nx\n", "", " \n\t\n",
		"s\n\n\n\nTrailer: x\n  \n",
	} {
		cmd := exec.Command("git", "stripspace")
		cmd.Stdin = strings.NewReader(m)
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := cleanMessage(m); got != string(want) {
			t.Errorf("cleanMessage(%q) = %q, git stripspace says %q", m, got, want)
		}
	}
}
