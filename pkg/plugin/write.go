package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gitopssync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// changeFlags are what every writing command shares: where the change goes, how it is
// committed and checked, and how its Secrets are encrypted (any command may write one). Each
// command completes and validates them with its own flags, then builds its change on
// request(), the one workflow.Request every writing command hands to workflow.Run.
type changeFlags struct {
	Repo     string
	Path     string
	Target   string
	Branch   string
	Message  string
	Output   string
	DryRun   string
	Push     bool
	Wait     bool
	NoVerify bool
	Timeout  time.Duration
	secretFlags
	prFlags

	// commit holds the repository configuration's commit options.
	commit target.CommitConfig
	// factory and resolved are the cluster and the target resolveTarget found, for --wait,
	// the sealed-secrets controller and the server-side dry run; kubeContext is the
	// kubeconfig's context the command runs against.
	factory     cmdutil.Factory
	resolved    *target.Target
	kubeContext string
	// discovered is what discovering the target's repository learned, for the closed loop.
	discovered *target.Snapshot
	// fromLive says the target was found through a live object's labels, in the cluster the
	// kubeconfig reaches.
	fromLive bool
}

// writeFlagSet says which of the shared secrets flags a command registers besides the others:
// --cert as kubeseal names it (not where kubectl's own --cert means a TLS certificate), and
// --scope where a new SealedSecret is made.
type writeFlagSet struct {
	certAlias bool
	scope     bool
}

func (c *changeFlags) addFlags(cmd *cobra.Command) { c.addFlagSet(cmd, writeFlagSet{certAlias: true}) }

func (c *changeFlags) addFlagSet(cmd *cobra.Command, set writeFlagSet) {
	fl := cmd.Flags()
	fl.StringVar(&c.Repo, "repo", c.Repo, "The config repository's working tree (default: found from the config file or the live object's Flux/Argo CD labels).")
	fl.StringVar(&c.Path, "path", c.Path, "The target's path in the repository, the directory the reconciler renders.")
	fl.StringVar(&c.Target, "target", c.Target, "A target named in .kubectl-gitops.yaml or discovered in the repository.")
	fl.StringVar(&c.Branch, "branch", c.Branch, "Commit on this branch (created from the current one) instead of the current branch.")
	fl.StringVarP(&c.Message, "message", "m", c.Message, "The commit subject, instead of the generated one.")
	fl.StringVarP(&c.Output, "output", "o", c.Output, "Output format: one of json, yaml, name.")
	fl.StringVar(&c.DryRun, "dry-run", "none", `Must be "none", "server", or "client". With "client" (or no value), print the diff of the repository change and write nothing; with "server", the changed objects also pass a server-side dry run.`)
	fl.Lookup("dry-run").NoOptDefVal = "client"
	fl.BoolVar(&c.Push, "push", c.Push, "Push the commit (a rejected push is retried on the new remote head, never forced).")
	fl.BoolVar(&c.Wait, "wait", c.Wait, "With --push, ask Flux or Argo CD to apply the pushed commit now and wait until the live objects match it, as 'kubectl gitops sync --wait' does.")
	fl.DurationVar(&c.Timeout, "timeout", gitopssync.DefaultTimeout, "With --wait, how long to wait before failing with what still differs.")
	fl.BoolVar(&c.NoVerify, "no-verify", c.NoVerify, "Skip the repository's pre-commit and commit-msg hooks, as git commit --no-verify does.")
	c.secretFlags.addFlags(cmd, set.scope, set.certAlias)
	c.prFlags.addFlags(cmd)
}

// validate checks the shared flag values; it reads --dry-run as kubectl does.
func (c *changeFlags) validate(cmd *cobra.Command) error {
	switch c.Output {
	case "", "json", "yaml", "name":
	default:
		return usageErrorf(cmd, "--output must be one of json, yaml, name; not %q", c.Output)
	}
	if _, err := parseDryRun(c.DryRun); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if c.Timeout <= 0 {
		return usageErrorf(cmd, "--timeout must be positive, not %s", c.Timeout)
	}
	if cmd.Flags().Changed("timeout") && !c.Wait {
		return usageErrorf(cmd, "--timeout needs --wait")
	}
	if c.Wait && c.dryRun() {
		return usageErrorf(cmd, "--wait waits for the reconciler to apply a pushed commit, and --dry-run makes none: give one of them")
	}
	if err := c.validatePR(cmd); err != nil {
		return err
	}
	return c.secretFlags.validate(cmd)
}

// parseDryRun reads --dry-run as kubectl's GetDryRunStrategy does (none, client, server; the
// deprecated booleans), without its deprecation warnings.
func parseDryRun(v string) (cmdutil.DryRunStrategy, error) {
	switch v {
	case "none", "false":
		return cmdutil.DryRunNone, nil
	case "client", "true":
		return cmdutil.DryRunClient, nil
	case "server":
		return cmdutil.DryRunServer, nil
	}
	return cmdutil.DryRunNone, fmt.Errorf(`invalid dry-run value (%v): must be "none", "server", or "client"`, v)
}

// checkWait refuses --wait when the change will not be pushed where the reconciler looks: a
// commit is pushed with --push or the configuration's commit.push, and always from the tool's
// own clone; and the reconciler follows the target's branch, not another one.
func (c *changeFlags) checkWait(cmd *cobra.Command, t *target.Target) error {
	if !c.Wait {
		return nil
	}
	if !c.Push && !c.commit.Push && !t.Cached {
		return usageErrorf(cmd, "--wait waits for the reconciler to apply the pushed commit: add --push (the commit would stay in %s)", t.RepoDir)
	}
	if c.Branch != "" && c.Branch != t.Branch {
		return usageErrorf(cmd, "--wait waits for branch %s, which target %s follows, and --branch commits on %s: drop one of them", t.Branch, t, c.Branch)
	}
	return nil
}

// diffOut is where a dry run prints its diff: stdout, unless -o asks for machine output (which
// then carries the diff itself).
func (c *changeFlags) diffOut(streams genericiooptions.IOStreams) io.Writer {
	if c.Output != "" {
		return nil
	}
	return streams.Out
}

func (c *changeFlags) dryRun() bool {
	strategy, err := parseDryRun(c.DryRun)
	return err != nil || strategy != cmdutil.DryRunNone
}

// request is the change of target t as the shared flags say it is committed; the command adds
// which objects change and how (Select and Mutate, or Changes) and the subject. With --pr the
// commit goes on --branch or a new branch named for the change, and is pushed.
func (c *changeFlags) request(streams genericiooptions.IOStreams, t *target.Target, targets []target.Target) workflow.Request {
	req := c.plainRequest(streams, t, targets)
	req.PlanAt = branchTip(t.RepoDir, c.Branch)
	if c.PR {
		req.Push = true
		if c.Branch == "" {
			req.BranchFor = c.branchFor
		}
	}
	return req
}

// branchTip is the commit at the tip of branch when it exists and is not the one checked out:
// a change committed there is planned on its files, not the working tree's.
func branchTip(dir, branch string) string {
	if branch == "" {
		return ""
	}
	if repo, err := gitrepo.Open(dir); err == nil {
		if cur, err := repo.CurrentBranch(); err == nil && cur == branch {
			return ""
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/"+branch+"^{commit}").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (c *changeFlags) plainRequest(streams genericiooptions.IOStreams, t *target.Target, targets []target.Target) workflow.Request {
	req := workflow.Request{
		Target:        t,
		Targets:       targets,
		Discovery:     c.discovered,
		Message:       c.Message,
		MessagePrefix: c.commit.MessagePrefix,
		Signoff:       c.commit.Signoff,
		Branch:        c.Branch,
		Push:          c.Push || c.commit.Push,
		DryRun:        c.dryRun(),
		Out:           c.diffOut(streams),
		Secrets:       c.providers(t),
		NoVerify:      c.NoVerify,
		ErrOut:        streams.ErrOut,
		ServerDryRun:  c.DryRun == "server",
		Cluster:       c.cluster(t),
	}
	if rc := c.renderCluster(t, streams.ErrOut); rc != nil {
		req.Lookup, req.RenderCluster = rc.Lookup, rc
	}
	return req
}

// cluster is the API server the changed objects are dry-run against: the target's cluster,
// when the command knows it is the one its kubeconfig reaches (the target was found through
// the live object's labels, or its configured context is the current one), or whatever the
// kubeconfig reaches when --dry-run=server asks for it. Nil means offline checks only.
func (c *changeFlags) cluster(t *target.Target) *validate.Cluster {
	known := c.fromLive || (t.Context != "" && t.Context == c.kubeContext)
	if c.factory == nil || (!known && c.DryRun != "server") {
		return nil
	}
	cfg, err := c.factory.ToRESTConfig()
	if err != nil {
		return nil
	}
	mapper, err := c.factory.ToRESTMapper()
	if err != nil {
		return nil
	}
	return &validate.Cluster{Config: cfg, Mapper: mapper}
}

// resolveTarget finds the target: from flags or the repository's config without the cluster,
// else from the live object's GitOps labels.
func (c *changeFlags) resolveTarget(ctx context.Context, f cmdutil.Factory, cmd *cobra.Command, sel workflow.Selection) (*target.Target, []target.Target, *unstructured.Unstructured, error) {
	opts := target.ResolveOptions{Repo: c.Repo, Path: c.Path, Target: c.Target}
	if fl := cmd.Flags().Lookup("context"); fl != nil && fl.Value.String() != "" {
		opts.Context = fl.Value.String()
	} else if raw, err := f.ToRawKubeConfigLoader().RawConfig(); err == nil {
		opts.Context = raw.CurrentContext
	}
	c.kubeContext = opts.Context
	t, d, err := target.Resolve(ctx, opts)
	var noTarget *target.NoTargetError
	var ambiguous *target.AmbiguousError
	var live *unstructured.Unstructured
	// Nothing offline says which target it is, or --repo holds several: the live object's
	// labels say which reconciler object applies it.
	if (errors.As(err, &noTarget) || errors.As(err, &ambiguous)) && len(sel.Refs) > 0 {
		var lerr error
		live, lerr = fetchLive(f, sel)
		if lerr != nil {
			return nil, nil, nil, fmt.Errorf("%w\n(reading %s/%s from the cluster to follow its labels failed: %v)", err, sel.Refs[0].Resource, sel.Refs[0].Name, lerr)
		}
		if opts.Client, err = f.DynamicClient(); err != nil {
			return nil, nil, nil, err
		}
		if opts.Mapper, err = f.ToRESTMapper(); err != nil {
			return nil, nil, nil, err
		}
		opts.Live = live
		t, d, err = target.Resolve(ctx, opts)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var cfg *target.Config
	if cfg, err = target.LoadConfig(t.RepoDir); err != nil {
		return nil, nil, nil, err
	}
	if d == nil || d.Targets == nil {
		if d, _, err = target.Scan(t.RepoDir, cfg); err != nil {
			return nil, nil, nil, err
		}
	}
	if cfg != nil {
		c.commit = cfg.Commit
	}
	if err := c.checkWait(cmd, t); err != nil {
		return nil, nil, nil, err
	}
	if err := c.checkPR(cmd, t); err != nil {
		return nil, nil, nil, err
	}
	c.factory, c.resolved, c.fromLive, c.discovered = f, t, live != nil, d
	return t, d.Targets, live, nil
}

// fetchLive reads the first named object from the cluster, for its GitOps labels.
func fetchLive(f cmdutil.Factory, sel workflow.Selection) (*unstructured.Unstructured, error) {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	if sel.NamespaceExplicit {
		ns = sel.Namespace
	}
	ref := sel.Refs[0]
	r := f.NewBuilder().Unstructured().NamespaceParam(ns).DefaultNamespace().
		ResourceTypeOrNameArgs(true, ref.Resource+"/"+ref.Name).SingleResourceType().Flatten().Do()
	infos, err := r.Infos()
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("not found")
	}
	u, ok := infos[0].Object.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object type %T", infos[0].Object)
	}
	return u, nil
}

// selection builds the object selection from kubectl's argument forms and -n.
func selection(f cmdutil.Factory, cmd *cobra.Command, args []string, selector string, all bool) (workflow.Selection, error) {
	refs, typeOnly, err := workflow.ParseObjectArgs(args)
	if err != nil {
		return workflow.Selection{}, usageErrorf(cmd, "%v", err)
	}
	if typeOnly != "" && selector == "" && !all {
		return workflow.Selection{}, usageErrorf(cmd, "resource(s) were provided, but no name was specified: give NAME, -l SELECTOR or --all")
	}
	ns, explicit, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return workflow.Selection{}, err
	}
	nsFlag := cmd.Flags().Lookup("namespace")
	explicit = nsFlag != nil && nsFlag.Changed
	return workflow.Selection{Refs: refs, TypeOnly: typeOnly, Selector: selector, All: all, Namespace: ns, NamespaceExplicit: explicit}, nil
}

// printResultEach prints a change's result as kubectl prints what it changed, or as -o asks,
// with a verb for each object (apply's created, configured and unchanged).
func printResultEach(streams genericiooptions.IOStreams, output string, res *workflow.Result, objs, verbs []string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(streams.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(res)
		if err != nil {
			return err
		}
		_, err = streams.Out.Write(b)
		return err
	case "name":
		for _, o := range objs {
			fmt.Fprintln(streams.Out, o)
		}
		return nil
	}
	if res.DryRun {
		for i, o := range objs {
			fmt.Fprintf(streams.ErrOut, "%s %s (dry run: nothing written)\n", o, verbs[i])
		}
		return nil
	}
	where := fileList(res.Files)
	for i, o := range objs {
		fmt.Fprintf(streams.Out, "%s %s\n", o, verbs[i])
	}
	pushed := ""
	if res.Pushed {
		pushed = ", pushed"
	}
	fmt.Fprintf(streams.ErrOut, "committed %s on %s: %s%s\n", shortHash(res.Commit), res.Branch, where, pushed)
	return nil
}

// fileList names a commit's files on the line that reports it; a bulk commit (a namespace's
// capture) names the first few and counts the rest, which `git show --stat` lists.
func fileList(files []string) string {
	const shown = 5
	if len(files) <= shown+1 {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more files", strings.Join(files[:shown], ", "), len(files)-shown)
}

// finish reports a committed change as printResultEach does and, with --wait, waits for the
// reconciler (see settle).
func (c *changeFlags) finish(ctx context.Context, streams genericiooptions.IOStreams, verb string, res *workflow.Result, objs []string) error {
	verbs := make([]string, len(objs))
	for i := range verbs {
		verbs[i] = verb
	}
	return c.finishEach(ctx, streams, res, objs, verbs)
}

// finishEach is finish with a verb for each object (apply's created, configured and
// unchanged); with --pr it opens or updates the request of the pushed branch instead of
// waiting.
func (c *changeFlags) finishEach(ctx context.Context, streams genericiooptions.IOStreams, res *workflow.Result, objs, verbs []string) error {
	if c.PR && !res.DryRun {
		return c.finishRequest(ctx, streams, res, objs, verbs)
	}
	if err := printResultEach(streams, c.Output, res, objs, verbs); err != nil {
		return err
	}
	return c.settle(ctx, streams)
}

// settle, with --wait, asks the target's reconciler to apply the head of its branch and waits
// until the live objects match it: the commit the change pushed, or, when there was nothing to
// change, the head that already says so.
func (c *changeFlags) settle(ctx context.Context, streams genericiooptions.IOStreams) error {
	if !c.Wait || c.dryRun() || c.resolved == nil {
		return nil
	}
	return SyncPushed(ctx, c.factory, streams, c.resolved, c.Timeout)
}

func shortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// resourceName is kubectl's TYPE/NAME form of a rendered object: deployment.apps/web.
func resourceName(o *render.Object) string {
	kind := strings.ToLower(o.ID.Kind)
	if o.ID.Group != "" {
		kind += "." + o.ID.Group
	}
	return kind + "/" + o.ID.Name
}

// noChange reports an unchanged object as kubectl does, without failing.
func noChange(w io.Writer, err error) bool {
	var nc *workflow.NoChangeError
	if errors.As(err, &nc) {
		fmt.Fprintf(w, "%s (no change)\n", strings.Join(nc.Objects, ", "))
		return true
	}
	return false
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	return io.ReadAll(r)
}

// changeSpec is what a change command contributes to the shared road: which objects, how each
// changes, and how to name it.
type changeSpec struct {
	selection workflow.Selection
	verb      string // "scaled", "image updated", ... as kubectl prints it
	mutate    func(u *unstructured.Unstructured) error
	subject   func(objs []*render.Object) string
	// inspect sees the selected objects with their render, for warnings (HPA, ...).
	inspect func(r *render.Result, objs []*render.Object) []string
	// check, when set, refuses selected objects the command cannot change, given their render
	// and the target's cluster (nil offline); it runs before mutate.
	check func(r *render.Result, objs []*render.Object, cluster *validate.Cluster) error
	// names, when set, are the objects reported as changed (the live objects a HelmRelease makes).
	names []string
}

// helmReleaseSpec turns a change of an object that a Flux HelmRelease makes into a change of
// that HelmRelease: a post-renderer patch in the target's layer (SPEC §3.3).
func helmReleaseSpec(hr *target.ObjectRef, live *unstructured.Unstructured, spec changeSpec) (changeSpec, error) {
	desired := live.DeepCopy()
	if err := spec.mutate(desired); err != nil {
		return spec, fmt.Errorf("%s/%s: %w", strings.ToLower(live.GetKind()), live.GetName(), err)
	}
	name := strings.ToLower(live.GetKind()) + "/" + live.GetName()
	hrSpec := spec
	hrSpec.names = []string{name}
	hrSpec.selection = workflow.Selection{Refs: []workflow.ObjectRef{{Resource: "helmrelease", Name: hr.Name}}, Namespace: hr.Namespace, NamespaceExplicit: true}
	hrSpec.inspect, hrSpec.check = nil, nil
	hrSpec.mutate = func(u *unstructured.Unstructured) error {
		out, changes, err := placement.HelmPostRenderer(u, live, desired)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		u.Object = out.Object
		return nil
	}
	hrSpec.subject = func([]*render.Object) string {
		return spec.subject([]*render.Object{{ID: render.ObjectID{Kind: live.GetKind(), Namespace: live.GetNamespace(), Name: live.GetName()}}}) +
			fmt.Sprintf(" via HelmRelease %s/%s", hr.Namespace, hr.Name)
	}
	return hrSpec, nil
}

// runChange resolves the target, runs the change through the closed loop and commits it (or
// prints the diff), then reports as kubectl does.
func (c *changeFlags) runChange(f cmdutil.Factory, cmd *cobra.Command, streams genericiooptions.IOStreams, spec changeSpec) error {
	ctx := cmd.Context()
	t, targets, live, err := c.resolveTarget(ctx, f, cmd, spec.selection)
	if err != nil {
		return err
	}
	if t.HelmRelease != nil && live != nil {
		// The chart's objects change through the HelmRelease's values, in its own target;
		// else through a post-renderer patch.
		rt, rtargets, rerr := helmReleaseTarget(t, targets)
		if rerr != nil {
			// Without the chart no values key can be found or proven: the post-renderer
			// patch needs only the live object.
			fmt.Fprintf(streams.ErrOut, "Warning: %v: the change is a post-renderer patch of HelmRelease %s/%s, not a values key\n", rerr, t.HelmRelease.Namespace, t.HelmRelease.Name)
		}
		if rt != nil {
			t, targets = rt, rtargets
		} else if spec, err = helmReleaseSpec(t.HelmRelease, live, spec); err != nil {
			return err
		}
	}
	var names, warnings []string
	req := c.request(streams, t, targets)
	if isRelease(t) {
		// --wait waits for helm-controller's release: the chart's objects as the change renders them.
		c.resolved = t
		var selected []*render.Object
		var via string
		req.Changes = releaseChanges(t, targets, spec, &names, &selected, &via)
		req.Subject = releaseSubject(t, spec, &selected, &via)
		res, err := workflow.Run(ctx, req)
		if noChange(streams.ErrOut, err) {
			return c.settle(ctx, streams)
		}
		if err != nil {
			return err
		}
		return c.finish(ctx, streams, spec.verb, res, names)
	}
	cluster := req.Cluster
	req.Select = func(r *render.Result) ([]*render.Object, error) {
		objs, err := spec.selection.Select(r)
		if err != nil {
			return nil, err
		}
		names, warnings = names[:0], warnings[:0]
		for _, o := range objs {
			names = append(names, resourceName(o))
		}
		if spec.check != nil {
			if err := spec.check(r, objs, cluster); err != nil {
				return nil, err
			}
		}
		if spec.inspect != nil {
			warnings = spec.inspect(r, objs)
		}
		return objs, nil
	}
	req.Mutate = spec.mutate
	req.Subject = spec.subject
	res, err := workflow.Run(ctx, req)
	if noChange(streams.ErrOut, err) {
		return c.settle(ctx, streams)
	}
	if err != nil {
		return err
	}
	if spec.names != nil {
		names = spec.names
	}
	for _, w := range warnings {
		fmt.Fprintln(streams.ErrOut, "Warning: "+w)
	}
	return c.finish(ctx, streams, spec.verb, res, names)
}

// writer is a writing command's options, in kubectl's shape: Complete resolves what touches
// the factory and reads the arguments, Validate checks flag values only, Run builds the change
// and hands it to workflow.Run through request(), the one way to the repository.
type writer interface {
	Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error
	Validate(cmd *cobra.Command) error
	Run(f cmdutil.Factory, cmd *cobra.Command) error
}

// writesAnnotation marks the commands that write to the repository (tests find them by it).
const writesAnnotation = "gitops.kubectl.io/writes"

// writeCommand makes cmd a writing command running o.
func writeCommand(f cmdutil.Factory, cmd *cobra.Command, o writer) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[writesAnnotation] = "true"
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(cmd); err != nil {
			return err
		}
		return o.Run(f, cmd)
	}
	return cmd
}
