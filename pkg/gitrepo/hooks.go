package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// HookError is a hook of the repository that refused the commit; nothing was written.
type HookError struct {
	Hook     string // "pre-commit", "prepare-commit-msg" or "commit-msg"
	ExitCode int
	Output   string // what the hook printed, stdout and stderr (its last 64 KiB)
	shown    bool   // Output went to CommitRequest.HookOut already
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("the repository's %s hook refused the commit (exit status %d); nothing was committed", e.Hook, e.ExitCode)
	if e.Hook == "pre-commit" || e.Hook == "commit-msg" {
		msg += "; fix what it reports, or skip the pre-commit and commit-msg hooks with --no-verify"
	}
	if out := strings.TrimSpace(e.Output); out != "" && !e.shown {
		msg += ":\n" + out
	}
	return msg
}

// commitConfig is what Commit needs from git's configuration, read in one run of git.
type commitConfig struct {
	sign     bool   // commit.gpgSign
	hooksDir string // core.hooksPath, else the repository's hooks directory
	// attributesFile is core.attributesFile; autocrlf says core.autocrlf is true or input
	// (attributes.go).
	attributesFile string
	autocrlf       bool
}

func (r *Repo) commitConfig(ctx context.Context) (commitConfig, error) {
	if r.warmConfig != nil {
		return r.warmConfig()
	}
	return r.readCommitConfig(ctx)
}

// WarmCommit starts reading the configuration a commit needs (one run of git config) on
// another core, for a command that plans before it commits: the commits made through r then
// use what it read instead of running git on the way to the commit. ctx bounds the read.
func (r *Repo) WarmCommit(ctx context.Context) {
	r.warmConfig = sync.OnceValues(func() (commitConfig, error) { return r.readCommitConfig(ctx) })
	go func() { _, _ = r.warmConfig() }()
}

func (r *Repo) readCommitConfig(ctx context.Context) (commitConfig, error) {
	c := commitConfig{hooksDir: filepath.Join(r.commonDir, "hooks")}
	out, err := runGit(ctx, r.root, nil, nil, "config", "-z", "--get-regexp", `^(commit\.gpgsign|core\.hookspath|core\.attributesfile|core\.autocrlf)$`)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return c, nil // none is set
	}
	if err != nil {
		return c, fmt.Errorf("failed to read the git configuration: %w", err)
	}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, hasValue := strings.Cut(kv, "\n")
		switch strings.ToLower(k) {
		case "commit.gpgsign":
			if c.sign, err = parseBool(v, hasValue); err != nil {
				return c, fmt.Errorf("bad value %q of commit.gpgSign: %w", v, err)
			}
		case "core.hookspath":
			c.hooksDir = expandPath(v, r.root)
		case "core.attributesfile":
			c.attributesFile = expandPath(v, r.root)
		case "core.autocrlf":
			if c.autocrlf = strings.EqualFold(v, "input"); !c.autocrlf {
				if c.autocrlf, err = parseBool(v, hasValue); err != nil {
					return c, fmt.Errorf("bad value %q of core.autocrlf: %w", v, err)
				}
			}
		}
	}
	return c, nil
}

// parseBool reads a boolean as git does: "key" alone is true, "key =" false.
func parseBool(v string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch strings.ToLower(v) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off", "":
		return false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return false, errors.New("not a boolean")
	}
	return n != 0, nil
}

// expandPath resolves core.hooksPath as git does: "~/" is the home directory, and a relative
// path is relative to where hooks run, the root of the working tree.
func expandPath(p, root string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok || p == "~" {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	return p
}

// hookRun is how the hooks of one commit run.
type hookRun struct {
	r     *Repo
	cfg   commitConfig
	dir   string   // the working tree the hooks run in
	env   []string // GIT_INDEX_FILE and, for another branch, GIT_DIR and GIT_WORK_TREE
	out   io.Writer
	ran   bool // a hook ran
	noVer bool // pre-commit and commit-msg are skipped
}

// exists reports whether git would run the hook: an executable file in the hooks directory.
func (h *hookRun) exists(name string) bool {
	if h.noVer && (name == "pre-commit" || name == "commit-msg") {
		return false
	}
	fi, err := os.Stat(filepath.Join(h.cfg.hooksDir, name))
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// run runs a hook with `git hook run`, which finds it as git commit does (core.hooksPath) and
// runs it in the working tree's root with its stdout sent to stderr. The output goes to h.out as
// it comes; a failure is a *HookError carrying it.
func (h *hookRun) run(ctx context.Context, name string, args ...string) error {
	if !h.exists(name) {
		return nil
	}
	h.ran = true
	out := &tailBuffer{max: 64 << 10}
	var w io.Writer = out
	if h.out != nil {
		w = io.MultiWriter(out, h.out)
	}
	env := append([]string{"GIT_EDITOR=:"}, h.env...)
	_, err := gitCmd{dir: h.dir, env: env, stderr: w}.run(ctx, append([]string{"hook", "run", "--ignore-missing", name, "--"}, args...)...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case strings.Contains(out.String(), "'hook' is not a git command"):
		return fmt.Errorf("running the repository's %s hook needs git 2.36 or newer: %w", name, err)
	case errors.As(err, &exit):
		return &HookError{Hook: name, ExitCode: exit.ExitCode(), Output: out.String(), shown: h.out != nil}
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
