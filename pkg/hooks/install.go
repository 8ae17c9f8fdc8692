package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Names are the hooks kubectl-gitops installs.
var Names = []string{"pre-commit", "pre-push"}

// KeptSuffix is added to the name of a hook the repository already had: the shim runs it first.
const KeptSuffix = ".local"

// shimMarker is in every shim, so that install and uninstall recognise their own file.
const shimMarker = "# Installed by `kubectl gitops hooks install`"

// Shim is the hook script `hooks install` writes for the hook name. It runs the hook the
// repository had before, kept as NAME.local, first (when it is executable, as git would run
// it), with the same arguments and the same input, saved to a private temporary file because
// both read it; then `kubectl-gitops hook NAME`. Either failing fails the hook.
func Shim(name string) []byte {
	verb := "commit"
	if name == "pre-push" {
		verb = "push"
	}
	return []byte(`#!/bin/sh
# The ` + name + ` hook of kubectl-gitops.
` + shimMarker + `; ` + "`kubectl gitops hooks uninstall`" + ` removes it and puts
# back the hook that was here before, which is kept as ` + name + KeptSuffix + ` and runs first.
hook=` + name + `
if ! command -v kubectl-gitops >/dev/null 2>&1; then
	echo "$hook: kubectl-gitops is not on PATH: install it (kubectl krew install gitops), or skip the hook: git ` + verb + ` --no-verify" >&2
	exit 1
fi
kept="$(dirname -- "$0")/$hook` + KeptSuffix + `"
if [ -f "$kept" ] && [ -x "$kept" ]; then
	input=$(mktemp "${TMPDIR:-/tmp}/kubectl-gitops-$hook.XXXXXX") || exit 1
	trap 'rm -f -- "$input"' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cat >"$input" || exit 1
	"$kept" "$@" <"$input" || exit $?
	kubectl-gitops hook "$hook" "$@" <"$input"
	exit $?
fi
exec kubectl-gitops hook "$hook" "$@"
`)
}

// IsShim tells whether data is a hook `hooks install` wrote.
func IsShim(data []byte) bool {
	return bytes.Contains(data, []byte(shimMarker))
}

// HookAction is what install or uninstall did to one hook.
type HookAction struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Action: "installed", "updated", "already installed", "removed", "not installed".
	Action string `json:"action"`
	// Kept is the repository's own hook, kept next to the shim (install) or put back
	// (uninstall).
	Kept string `json:"kept,omitempty"`
}

// InstallReport is what install or uninstall did.
type InstallReport struct {
	HooksDir string       `json:"hooksDir"`
	Hooks    []HookAction `json:"hooks"`
}

// HooksDir is the directory git runs the repository's hooks from: core.hooksPath when set,
// else .git/hooks (of the main work tree, for linked work trees too). Absolute.
func HooksDir(ctx context.Context, dir string) (string, error) {
	p, err := gitLine(ctx, dir, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return "", fmt.Errorf("failed to find the hooks directory of %s: %w", dir, err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p), nil
}

// Install writes the shims into the repository's hooks directory. A hook the repository
// already has is never overwritten: it is renamed NAME.local, bytes and mode untouched, and the
// shim runs it first. Installing again changes nothing (or updates an older shim).
func Install(ctx context.Context, dir string) (*InstallReport, error) {
	hooksDir, err := HooksDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(hooksDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create the hooks directory: %w", err)
	}
	rep := &InstallReport{HooksDir: hooksDir}
	for _, name := range Names {
		a, err := install(hooksDir, name)
		if err != nil {
			return rep, err
		}
		rep.Hooks = append(rep.Hooks, a)
	}
	return rep, nil
}

func install(hooksDir, name string) (HookAction, error) {
	p := filepath.Join(hooksDir, name)
	kept := p + KeptSuffix
	a := HookAction{Name: name, Path: p}
	shim := Shim(name)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.Action = "installed"
	case err != nil:
		return a, fmt.Errorf("failed to look at the %s hook: %w", name, err)
	case fi.Mode().IsRegular() && isShimFile(p):
		if exists(kept) {
			a.Kept = kept
		}
		if data, _ := os.ReadFile(p); bytes.Equal(data, shim) && fi.Mode().Perm()&0o111 != 0 {
			a.Action = "already installed"
			return a, nil
		}
		a.Action = "updated"
	default:
		if exists(kept) {
			return a, fmt.Errorf("cannot install the %s hook: %s is the repository's own hook, and %s exists too; move one of them away", name, p, kept)
		}
		if err := os.Rename(p, kept); err != nil {
			return a, fmt.Errorf("failed to keep the existing %s hook: %w", name, err)
		}
		a.Action, a.Kept = "installed", kept
	}
	if err := writeExecutable(p, shim); err != nil {
		if a.Kept != "" && a.Action == "installed" {
			_ = os.Rename(kept, p)
		}
		return a, fmt.Errorf("failed to write the %s hook: %w", name, err)
	}
	return a, nil
}

// Uninstall removes the shims and puts back the hooks they kept, as they were.
func Uninstall(ctx context.Context, dir string) (*InstallReport, error) {
	hooksDir, err := HooksDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	rep := &InstallReport{HooksDir: hooksDir}
	for _, name := range Names {
		a, err := uninstall(hooksDir, name)
		if err != nil {
			return rep, err
		}
		rep.Hooks = append(rep.Hooks, a)
	}
	return rep, nil
}

func uninstall(hooksDir, name string) (HookAction, error) {
	p := filepath.Join(hooksDir, name)
	kept := p + KeptSuffix
	a := HookAction{Name: name, Path: p, Action: "not installed"}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return a, fmt.Errorf("failed to look at the %s hook: %w", name, err)
	case fi.Mode().IsRegular() && isShimFile(p):
		if err := os.Remove(p); err != nil {
			return a, fmt.Errorf("failed to remove the %s hook: %w", name, err)
		}
		a.Action = "removed"
	default:
		// Someone else's hook: not ours to touch, and neither is a .local next to it.
		return a, nil
	}
	if exists(kept) {
		if err := os.Rename(kept, p); err != nil {
			return a, fmt.Errorf("failed to put back the %s hook: %w", name, err)
		}
		a.Kept = kept
	}
	return a, nil
}

func isShimFile(p string) bool {
	data, err := os.ReadFile(p)
	return err == nil && IsShim(data)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeExecutable replaces p with an executable file holding data, atomically.
func writeExecutable(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// ProjectURL is the repository the pre-commit framework fetches the hook definitions from.
const ProjectURL = "https://github.com/kubectl-gitops/kubectl-gitops"

// PreCommitConfigFile is the pre-commit framework's configuration, at the repository's root.
const PreCommitConfigFile = ".pre-commit-config.yaml"

// PreCommitRepoEntry is the entry of .pre-commit-config.yaml's repos list that runs both hooks
// through the pre-commit framework, at the project's revision rev.
func PreCommitRepoEntry(rev string) string {
	return `  - repo: ` + ProjectURL + `
    rev: ` + rev + `
    hooks:
      - id: kubectl-gitops-pre-commit
      - id: kubectl-gitops-pre-push
`
}

// PreCommitConfig is a whole .pre-commit-config.yaml with the entry, installing both hook
// types by default.
func PreCommitConfig(rev string) string {
	return `# kubectl-gitops: the secrets guard and a render of the touched targets before a commit, the
# cluster check before a push. Needs kubectl-gitops on PATH. Then: pre-commit install
default_install_hook_types: [pre-commit, pre-push]
repos:
` + PreCommitRepoEntry(rev)
}

// InstallPreCommitConfig writes .pre-commit-config.yaml in the repository at dir when it has
// none. An existing file is not edited: written is false, and listed tells whether it already
// names the hooks.
func InstallPreCommitConfig(dir, rev string) (path string, written, listed bool, err error) {
	path = filepath.Join(dir, PreCommitConfigFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return path, false, strings.Contains(string(data), "kubectl-gitops-pre-push"), nil
	case !errors.Is(err, fs.ErrNotExist):
		return path, false, false, fmt.Errorf("failed to read %s: %w", PreCommitConfigFile, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return path, false, false, fmt.Errorf("failed to write %s: %w", PreCommitConfigFile, err)
	}
	_, err = f.WriteString(PreCommitConfig(rev))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return path, false, false, fmt.Errorf("failed to write %s: %w", PreCommitConfigFile, err)
	}
	return path, true, true, nil
}
