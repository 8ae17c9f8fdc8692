package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/history"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

var historyLong = templates.LongDesc(`
	Show the commits that changed a resource as its GitOps target renders it.

	Not the history of one file: every commit of the paths the target reads (its overlays, bases,
	components and patches, as they were at the time) is considered, and a commit is listed when
	the resource renders differently after it, with the fields that changed. A change to a shared
	base that the target's overlay overrides is not listed; an overlay's replicas: or images: entry
	that reaches the resource is.

	A resource that no longer renders has the history of its last form: the commits up to and
	including the one that removed it, as git log -- PATH shows a deleted file.`)

var historyExample = templates.Examples(`
	# The commits that changed deployment web in the target the repository's config names
	kubectl gitops history deploy/web

	# In a given repository and overlay, for scripts
	kubectl gitops history deployment/web --repo . --path overlays/staging -o json`)

// HistoryOptions are the options of `kubectl gitops history`.
type HistoryOptions struct {
	targetFlags
	genericiooptions.IOStreams
}

// NewCmdHistory builds `kubectl gitops history`.
func NewCmdHistory(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "history (TYPE NAME | TYPE/NAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Show the commits that changed a resource as its target renders it",
		Long:                  historyLong,
		Example:               historyExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(cmd, "", "json", "yaml"); err != nil {
				return err
			}
			h, err := o.objectHistory(f, cmd, args)
			if err != nil {
				return err
			}
			return o.print(h)
		},
	}
	o.targetFlags.addFlags(cmd, "Output format: one of json, yaml.")
	return cmd
}

// targetFlags are the flags of the commands that read a target without changing it: which
// repository and path, and -o.
type targetFlags struct {
	changeFlags
}

func (t *targetFlags) addFlags(cmd *cobra.Command, outputUsage string) {
	fl := cmd.Flags()
	fl.StringVar(&t.Repo, "repo", t.Repo, "The config repository's working tree (default: found from the config file or the live object's Flux/Argo CD labels).")
	fl.StringVar(&t.Path, "path", t.Path, "The target's path in the repository, the directory the reconciler renders.")
	fl.StringVar(&t.Target, "target", t.Target, "A target named in .kubectl-gitops.yaml or discovered in the repository.")
	fl.StringVarP(&t.Output, "output", "o", t.Output, outputUsage)
}

func (t *targetFlags) validate(cmd *cobra.Command, formats ...string) error {
	for _, f := range formats {
		if t.Output == f {
			return nil
		}
	}
	return usageErrorf(cmd, "--output must be one of %s; not %q", strings.Join(formats[1:], ", "), t.Output)
}

// objectHistory is one object's history in its target, with the target and the object's kubectl
// name.
type objectHistory struct {
	target *target.Target
	// targets are the repository's target paths, for a change's closed loop.
	targets []target.Target
	name    string // deployment.apps/web
	result  *history.Result
}

// objectHistory resolves the target of the one object args name and reads its history.
func (c *changeFlags) objectHistory(f cmdutil.Factory, cmd *cobra.Command, args []string) (*objectHistory, error) {
	sel, err := selection(f, cmd, args, "", false)
	if err != nil {
		return nil, err
	}
	if len(sel.Refs) != 1 {
		return nil, usageErrorf(cmd, "give one resource, as TYPE/NAME or TYPE NAME")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, targets, _, err := c.resolveTarget(ctx, f, cmd, sel)
	if err != nil {
		return nil, err
	}
	if hr := t.HelmRelease; hr != nil {
		// The chart's object has the history of the values and chart its release reads.
		rt, rtargets, err := helmReleaseTarget(t, targets)
		if err != nil {
			return nil, fmt.Errorf("%s/%s is made by HelmRelease %s/%s: %w", sel.Refs[0].Resource, sel.Refs[0].Name, hr.Namespace, hr.Name, err)
		}
		if rt != nil {
			t, targets = rt, rtargets
			c.resolved = rt
		}
	}
	if hr := t.HelmRelease; hr != nil {
		return nil, fmt.Errorf("%s/%s is made by HelmRelease %s/%s, which target %s renders: its history is the release's, `kubectl gitops history helmrelease/%s -n %s`",
			sel.Refs[0].Resource, sel.Refs[0].Name, hr.Namespace, hr.Name, t, hr.Name, hr.Namespace)
	}
	var memoDir string // what earlier walks learned: `rollout undo` walks as `rollout history` did
	if repo, err := gitrepo.Open(t.RepoDir); err == nil {
		memoDir = repo.CacheDir()
	}
	res, err := history.Object(ctx, history.Request{
		RepoDir: t.RepoDir,
		Path:    t.Path,
		Applied: t.Applied,
		MemoDir: memoDir,
		Name:    sel.Refs[0].Name,
		Select: func(r *render.Result) (*render.Object, error) {
			objs, err := sel.Select(r)
			var notFound *workflow.NotFoundError
			if errors.As(err, &notFound) {
				return nil, history.NotRendered(err)
			}
			if err != nil {
				return nil, err
			}
			return objs[0], nil
		},
	})
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return nil, fmt.Errorf("history interrupted")
		}
		return nil, err
	}
	return &objectHistory{target: t, targets: targets, name: resourceName(res.Object), result: res}, nil
}

// historyOutput is what -o json|yaml prints.
type historyOutput struct {
	Object    string           `json:"object"`
	Namespace string           `json:"namespace,omitempty"`
	Target    string           `json:"target"`
	Path      string           `json:"path"`
	Revisions []revisionOutput `json:"revisions"`
}

type revisionOutput struct {
	Revision int       `json:"revision"`
	Commit   string    `json:"commit"`
	Author   string    `json:"author"`
	Email    string    `json:"email"`
	Date     time.Time `json:"date"`
	Subject  string    `json:"subject"`
	Created  bool      `json:"created,omitempty"`
	Deleted  bool      `json:"deleted,omitempty"`
	Changes  []string  `json:"changes,omitempty"`
}

func (h *objectHistory) output() historyOutput {
	out := historyOutput{Object: h.name, Namespace: h.result.ID.Namespace, Target: h.target.Name, Path: h.target.Path, Revisions: []revisionOutput{}}
	for _, r := range h.result.Revisions {
		ro := revisionOutput{Revision: r.Number, Commit: r.Commit.Hash, Author: r.Commit.Author, Email: r.Commit.Email,
			Date: r.Commit.When, Subject: r.Commit.Subject, Created: r.Created, Deleted: r.Deleted}
		for _, c := range r.Changes {
			ro.Changes = append(ro.Changes, c.String())
		}
		out.Revisions = append(out.Revisions, ro)
	}
	return out
}

// printStructured prints v as -o json or yaml ask; it reports false for other formats.
func printStructured(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintln(w, string(b))
		return true, err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, nil
}

// gitDate is git log's default date format.
const gitDate = "Mon Jan 2 15:04:05 2006 -0700"

func (o *HistoryOptions) print(h *objectHistory) error {
	if done, err := printStructured(o.Out, o.Output, h.output()); done {
		return err
	}
	// Newest first, as git log.
	revs := h.result.Revisions
	for i := len(revs) - 1; i >= 0; i-- {
		r := revs[i]
		if i < len(revs)-1 {
			fmt.Fprintln(o.Out)
		}
		fmt.Fprintf(o.Out, "commit %s (revision %d)\n", r.Commit.Hash, r.Number)
		fmt.Fprintf(o.Out, "Author: %s <%s>\n", r.Commit.Author, r.Commit.Email)
		fmt.Fprintf(o.Out, "Date:   %s\n\n", r.Commit.When.Format(gitDate))
		fmt.Fprintf(o.Out, "    %s\n\n", r.Commit.Subject)
		switch {
		case r.Created:
			fmt.Fprintf(o.Out, "    %s created\n", h.name)
		case r.Deleted:
			fmt.Fprintf(o.Out, "    %s deleted\n", h.name)
		}
		for _, c := range r.Changes {
			fmt.Fprintf(o.Out, "    %s\n", c)
		}
	}
	return nil
}
