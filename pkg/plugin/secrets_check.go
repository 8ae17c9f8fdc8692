package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/guard"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

var secretsCheckLong = templates.LongDesc(`
	Refuse files that would put secret material into the repository in the clear: a Secret
	whose data or stringData is not sops-encrypted (in any YAML or JSON document, List items
	included), a malformed SealedSecret or plaintext in its template, kustomize secret
	generators (secretGenerator, or a SecretGenerator under generators) with literals or files
	that are not sops-encrypted, inline patches and JSON patches that write plaintext into a
	Secret, Secrets in files of any name that a kustomization lists, and private keys (age
	identities, PEM and PGP private keys whether or not they parse, encrypted ones included,
	the sealed-secrets controller's key).

	With --staged it checks what the next commit will hold, the index, whatever the work tree
	holds: this is what the pre-commit hook runs. Files the repository configuration's
	guard.allow lists (test-only keys, each with a reason) are let through; with --staged the
	configuration is read from the index too, and an entry that the index adds lets nothing
	through: it is named with the files it would allow, which are checked (commit the entry
	alone first).

	Findings name the file, the document, the key path and the reason, never the value.
	Exit status: 0 nothing found, 1 findings, 2 an error.`)

var secretsCheckExample = templates.Examples(`
	# Check what is staged for the next commit, as the pre-commit hook does
	kubectl gitops secrets check --staged

	# Check files and directories of the work tree
	kubectl gitops secrets check apps/ clusters/prod/db-secret.yaml

	# Findings as JSON, with the files the allow-list let through
	kubectl gitops secrets check --staged -o json`)

// SecretsCheckOptions are the options of `kubectl gitops secrets check`.
type SecretsCheckOptions struct {
	Staged  bool
	Repo    string
	Output  string
	Verbose bool

	paths []string
	allow func(path string) (string, bool)
	genericiooptions.IOStreams
}

// NewSecretsCheckOptions returns the defaults of `kubectl gitops secrets check`.
func NewSecretsCheckOptions(streams genericiooptions.IOStreams) *SecretsCheckOptions {
	return &SecretsCheckOptions{IOStreams: streams}
}

// NewCmdSecretsCheck builds `kubectl gitops secrets check`.
func NewCmdSecretsCheck(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewSecretsCheckOptions(streams)
	cmd := &cobra.Command{
		Use:                   "check [PATHS...] [--staged] [--repo DIR] [-o json]",
		DisableFlagsInUseLine: true,
		Short:                 "Refuse plaintext Secrets, secretGenerator literals and private keys",
		Long:                  secretsCheckLong,
		Example:               secretsCheckExample,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	cmd.Flags().BoolVar(&o.Staged, "staged", o.Staged, "Check the files staged for the next commit, as staged (the index), not the work tree.")
	cmd.Flags().StringVar(&o.Repo, "repo", o.Repo, "The repository whose index --staged reads and whose .kubectl-gitops.yaml holds the allow-list (the index's with --staged). Defaults to the repository of the current directory.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: 'json'. Default: one 'file:doc: path: reason' line per finding.")
	cmd.Flags().BoolVar(&o.Verbose, "verbose", o.Verbose, "Also list the files the allow-list let through, with their reasons, and say how many files were checked.")
	return cmd
}

// Validate checks the flag values and arguments.
func (o *SecretsCheckOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "json":
	default:
		return usageErrorf(cmd, "--output must be 'json' (or not given, for one line per finding), not %q", o.Output)
	}
	if o.Staged && len(o.paths) > 0 {
		return usageErrorf(cmd, "--staged checks the whole index: give no PATHS with it")
	}
	if !o.Staged && len(o.paths) == 0 {
		return usageErrorf(cmd, "give the PATHS to check, or --staged to check the index")
	}
	cmd.SilenceUsage = true
	return nil
}

// Complete finds the repository and, for paths of the work tree, its allow-list (--staged
// reads the index's when it runs).
func (o *SecretsCheckOptions) Complete(cmd *cobra.Command, args []string) error {
	o.paths = args
	if o.Repo == "" {
		top, err := guard.Toplevel(cmd.Context(), ".")
		if err != nil {
			if o.Staged {
				return &ExitError{Code: 2, Err: fmt.Errorf("--staged needs a git repository: run it inside one, or give --repo: %w", err)}
			}
			// Files outside any repository: there is no allow-list to read.
			return nil
		}
		o.Repo = top
	}
	if o.Staged {
		return nil
	}
	cfg, err := target.LoadConfig(o.Repo)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if cfg == nil || len(cfg.Guard.Allow) == 0 {
		return nil
	}
	repo := realPath(o.Repo)
	o.allow = func(p string) (string, bool) {
		rel, err := filepath.Rel(repo, realPath(filepath.FromSlash(p)))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", false
		}
		return cfg.Guard.Allowed(filepath.ToSlash(rel))
	}
	return nil
}

// realPath is p made absolute with its symbolic links resolved, as git reports the top level.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// Run checks the files and prints the findings.
func (o *SecretsCheckOptions) Run(cmd *cobra.Command) error {
	var rep guard.Report
	if o.Staged {
		change, err := guard.StagedChange(cmd.Context(), o.Repo)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		rep = change.Check()
	} else {
		for _, p := range o.paths {
			if _, err := os.Stat(p); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("cannot check %s: %w", p, err)}
			}
		}
		files, err := guard.ReadPaths(o.paths)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		rep = guard.Check(files, guard.Options{Allow: o.allow})
	}

	if o.Output == "json" {
		if rep.Findings == nil {
			rep.Findings = []guard.Finding{}
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(o.Out, string(b)); err != nil {
			return err
		}
	} else {
		if o.Verbose {
			if err := guard.FormatAllowed(o.ErrOut, rep.Allowed); err != nil {
				return err
			}
		}
		// A change to the allow-list is shown whatever the verbosity: it is what a reviewer
		// of the commit must see.
		if err := guard.FormatAllowChanges(o.ErrOut, rep.AllowChanges); err != nil {
			return err
		}
		if err := guard.Format(o.Out, rep.Findings); err != nil {
			return err
		}
	}
	if n := len(rep.Findings); n > 0 {
		msg := ""
		if o.Output == "" {
			msg = fmt.Sprintf("refused: %d %s of secret material in the clear; encrypt it (sops or sealed-secrets), remove it, or list a test-only file under guard.allow in %s", n, plural(n, "finding", "findings"), target.ConfigFile)
		}
		return &ExitError{Code: 1, Message: msg}
	}
	if o.Verbose && o.Output == "" {
		fmt.Fprintf(o.ErrOut, "checked %d %s: nothing in the clear\n", rep.Files, plural(rep.Files, "file", "files"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
