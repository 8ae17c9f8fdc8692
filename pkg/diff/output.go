package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/internal/privtmp"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ExternalDiffEnv names the program to show differences with, as for kubectl diff.
const ExternalDiffEnv = "KUBECTL_EXTERNAL_DIFF"

const (
	colorReset  = "\x1b[0m"
	colorBold   = "\x1b[1m"
	colorRed    = "\x1b[31m"
	colorGreen  = "\x1b[32m"
	colorCyan   = "\x1b[36m"
	liveDir     = "live"
	gitDir      = "git"
	devNull     = "/dev/null"
	diffContext = 3
)

// WriteUnified writes a unified diff per differing object, from the cluster to Git (what
// applying Git would change), as kubectl diff shows it; with color, in red and green. Objects
// that could not be compared are left to the caller to report.
func WriteUnified(w io.Writer, r *Report, color bool) error {
	for _, o := range r.Objects {
		if o.Status == StatusError {
			continue
		}
		from, to, err := sides(o)
		if err != nil {
			return err
		}
		fromName, toName := liveDir+"/"+o.FileName(), gitDir+"/"+o.FileName()
		if o.Live == nil {
			fromName = devNull
		}
		if o.Git == nil {
			toName = devNull
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: lines(from), B: lines(to),
			FromFile: fromName, ToFile: toName, Context: diffContext,
		})
		if err != nil {
			return err
		}
		var b strings.Builder
		header := fmt.Sprintf("diff -u -N %s/%s %s/%s", liveDir, o.FileName(), gitDir, o.FileName())
		b.WriteString(paint(color, colorBold, header) + "\n")
		if text == "" {
			// The two sides print the same (a drift the dry-run could not confirm, shown
			// from the local comparison): the fields tell.
			for _, f := range o.Fields {
				b.WriteString("# " + f.String() + "\n")
			}
		}
		for _, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			body := strings.TrimSuffix(line, "\n")
			switch {
			case strings.HasPrefix(line, "---"), strings.HasPrefix(line, "+++"):
				body = paint(color, colorBold, body)
			case strings.HasPrefix(line, "@@"):
				body = paint(color, colorCyan, body)
			case strings.HasPrefix(line, "-"):
				body = paint(color, colorRed, body)
			case strings.HasPrefix(line, "+"):
				body = paint(color, colorGreen, body)
			}
			b.WriteString(body + "\n")
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// lines splits text after each newline; empty text has no lines.
func lines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
}

func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return code + s + colorReset
}

// sides is the YAML of an object's two sides; an absent side is empty.
func sides(o Object) (string, string, error) {
	from, err := toYAML(o.Live)
	if err != nil {
		return "", "", err
	}
	to, err := toYAML(o.Git)
	return from, to, err
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("failed to print %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return string(b), nil
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	if r.Objects == nil {
		r = &Report{Objects: []Object{}, Compared: r.Compared, PruneLabels: r.PruneLabels, Warnings: r.Warnings}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// externalArg is what kubectl diff accepts as an argument in KUBECTL_EXTERNAL_DIFF.
var externalArg = regexp.MustCompile(`^[a-zA-Z0-9-=]+$`)

// RunExternal shows the differences with an external program, as kubectl diff does with
// $KUBECTL_EXTERNAL_DIFF: the cluster's and Git's side of every differing object are written to
// two private temporary directories (removed afterwards), and the program is run with them,
// then with the arguments of spec after the first word (those of letters, digits, '-' and '=').
// Its exit status 1 means differences, not failure.
func RunExternal(ctx context.Context, spec string, r *Report, stdout, stderr io.Writer) (err error) {
	words := strings.Fields(spec)
	if len(words) == 0 {
		return fmt.Errorf("%s is empty", ExternalDiffEnv)
	}
	// The two sides live in the process's private directory: the live side holds what the
	// cluster has (masked Secrets included), for the external program only.
	from, removeFrom, err := privtmp.MkdirTemp("LIVE-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, removeFrom()) }()
	to, removeTo, err := privtmp.MkdirTemp("MERGED-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, removeTo()) }()
	for _, o := range r.Objects {
		if o.Status == StatusError {
			continue
		}
		a, b, err := sides(o)
		if err != nil {
			return err
		}
		if o.Live != nil {
			if err := os.WriteFile(filepath.Join(from, o.FileName()), []byte(a), 0o600); err != nil {
				return err
			}
		}
		if o.Git != nil {
			if err := os.WriteFile(filepath.Join(to, o.FileName()), []byte(b), 0o600); err != nil {
				return err
			}
		}
	}
	args := []string{from, to}
	for _, a := range words[1:] {
		if externalArg.MatchString(a) {
			args = append(args, a)
		}
	}
	cmd := exec.CommandContext(ctx, words[0], args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to run %s %q: %w", ExternalDiffEnv, words[0], err)
	}
	return nil
}
