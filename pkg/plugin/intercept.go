package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/intercept"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// NewCmdIntercept builds the hidden `kubectl-gitops __intercept -- KUBECTL_ARGS...` that the
// shell function of shell-init calls for every kubectl command: it runs kubectl gitops for a
// change to a managed object, and kubectl, in its own place, for everything else.
func NewCmdIntercept(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                "__intercept -- KUBECTL_ARGS...",
		Short:              "Run a kubectl command line, in Git when it changes a managed object (for shell-init)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			return runIntercept(cmd.Context(), streams, args)
		},
	}
}

func runIntercept(ctx context.Context, streams genericiooptions.IOStreams, args []string) error {
	line, err := intercept.Parse(args)
	if err != nil {
		return fmt.Errorf("kubectl gitops: %w", err)
	}
	if intercept.Bypassed(os.Getenv) || line.Mode == intercept.Off || (!line.Changes() && line.Mode != intercept.On) {
		return kubectl(line.Args, nil, streams)
	}

	root, f := newRoot(streams)
	sub, rest, err := root.Find(line.Args)
	// A group (set) whose subcommand kubectl gitops lacks is found as the group itself.
	supported := err == nil && sub != root && sub.Runnable() && !sub.HasSubCommands()
	if !supported {
		// A verb kubectl gitops does not have (set subject, ...): the objects are read with the
		// nearest command's flags, to tell whether running kubectl would change a managed one.
		if sub == nil || err != nil {
			sub, rest = root, line.Args
		}
	}
	sub.FParseErrWhitelist = cobra.FParseErrWhitelist{UnknownFlags: true}
	if err := sub.ParseFlags(rest); err != nil {
		// kubectl will say what is wrong with the command line.
		return kubectl(line.Args, nil, streams)
	}

	var stdin []byte
	filenames, _ := sub.Flags().GetStringSlice("filename")
	for _, fn := range filenames {
		if fn == "-" {
			if stdin, err = io.ReadAll(streams.In); err != nil {
				return err
			}
		}
	}
	objs := objectArgs(sub, line)
	managed := "" // why the objects are kubectl gitops's, "" when they are not
	if line.Mode == intercept.On {
		managed = "--gitops=on"
	} else {
		if managed, err = managedBy(ctx, f, sub, objs, filenames, stdin); err != nil {
			return err
		}
	}
	replay := func() io.Reader {
		if stdin == nil {
			return nil
		}
		return bytes.NewReader(stdin)
	}
	if managed == "" {
		return kubectl(line.Args, replay(), streams)
	}
	if !supported {
		return fmt.Errorf("kubectl gitops: %s; kubectl gitops has no `%s %s` to write the change to Git, and kubectl would make the cluster differ from it: change the repository, or run it with --gitops=off", managed, line.Verb, line.Sub)
	}
	fmt.Fprintf(streams.ErrOut, "kubectl gitops: %s: writing the change to Git (kubectl gitops %s); --gitops=off changes the cluster instead\n",
		managed, strings.Join(quoteArgs(line.Args), " "))
	if in := replay(); in != nil {
		streams.In = in
	}
	gitops := NewRootCmd(streams)
	gitops.SetArgs(line.Args)
	return gitops.ExecuteContext(ctx)
}

// kubectl runs kubectl with args, in this process's place unless stdin (already read) must be
// replayed.
func kubectl(args []string, stdin io.Reader, streams genericiooptions.IOStreams) error {
	err := intercept.Kubectl(args, stdin, streams.Out, streams.ErrOut)
	var exit *intercept.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Code: exit.Code}
	}
	return err
}

// objectArgs are the arguments that name objects, as kubectl reads them: the leading TYPE/NAME
// arguments, or TYPE NAME... up to the first KEY=VALUE or KEY- (label, annotate and set take
// those after the objects).
func objectArgs(sub *cobra.Command, line intercept.Line) []string {
	args := sub.Flags().Args()
	// For a command kubectl gitops does not have, the verb and subcommand are still there.
	for _, w := range []string{line.Verb, line.Sub} {
		if len(args) > 0 && w != "" && args[0] == w {
			args = args[1:]
		}
	}
	slashed := len(args) > 0 && strings.Contains(args[0], "/")
	var out []string
	for _, a := range args {
		if strings.Contains(a, "=") || strings.HasSuffix(a, "-") || (slashed && !strings.Contains(a, "/")) {
			break
		}
		out = append(out, a)
	}
	return out
}

// managedBy says which reconciler or repository target manages the objects the command line
// names; "" when none does. Objects some of which are managed and some not are refused.
func managedBy(ctx context.Context, f cmdutil.Factory, sub *cobra.Command, objArgs, filenames []string, stdin []byte) (string, error) {
	lives, err := liveObjects(ctx, f, sub, objArgs, filenames, stdin)
	if err != nil {
		return "", err
	}
	app := argoApplicationExists(ctx, f)
	var managed, unmanaged []string
	var reasons []string
	for _, l := range lives {
		name := strings.ToLower(l.ref.kind) + "/" + l.ref.name
		if l.obj != nil {
			if m := intercept.Manager(l.obj.GetLabels(), l.obj.GetAnnotations(), app); m != "" {
				managed = append(managed, name)
				reasons = append(reasons, fmt.Sprintf("%s is managed by %s", name, m))
				continue
			}
		}
		unmanaged = append(unmanaged, name)
	}
	if len(unmanaged) > 0 {
		// The repository's configuration may cover them without labels in the cluster.
		if t, covered := configCovers(ctx, f, sub, lives); covered != nil {
			for _, l := range lives {
				name := strings.ToLower(l.ref.kind) + "/" + l.ref.name
				if covered[name] && !contains(managed, name) {
					managed = append(managed, name)
					reasons = append(reasons, fmt.Sprintf("%s is in target %s", name, t))
				}
			}
			unmanaged = unmanaged[:0]
			for _, l := range lives {
				if name := strings.ToLower(l.ref.kind) + "/" + l.ref.name; !contains(managed, name) {
					unmanaged = append(unmanaged, name)
				}
			}
		}
	}
	switch {
	case len(managed) == 0:
		return "", nil
	case len(unmanaged) > 0:
		return "", fmt.Errorf("kubectl gitops: %s, but %s %s not managed by GitOps: change them in separate commands (or pass --gitops=off to change all of them in the cluster)",
			strings.Join(reasons, "; "), strings.Join(unmanaged, ", "), isAre(len(unmanaged)))
	}
	return strings.Join(reasons, "; "), nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// liveRef names an object of the command line; liveObject is it as the cluster has it (obj nil
// when the cluster does not have it).
type liveRef struct {
	group, kind, namespace, name string
}

type liveObject struct {
	ref liveRef
	obj *unstructured.Unstructured
}

// liveObjects reads the objects the command line names from the cluster, as kubectl would find
// them: by TYPE/NAME, TYPE NAME..., TYPE -l SELECTOR, or the objects of -f files.
func liveObjects(ctx context.Context, f cmdutil.Factory, sub *cobra.Command, objArgs, filenames []string, stdin []byte) ([]liveObject, error) {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	var out []liveObject
	selector, _ := sub.Flags().GetString("selector")
	all, _ := sub.Flags().GetBool("all")
	if len(objArgs) > 0 {
		b := f.NewBuilder().Unstructured().ContinueOnError().NamespaceParam(ns).DefaultNamespace().
			ResourceTypeOrNameArgs(true, objArgs...).Flatten()
		if selector != "" {
			b = b.LabelSelectorParam(selector)
		}
		if all {
			b = b.SelectAllParam(true)
		}
		infos, err := b.Do().Infos()
		if err != nil && !apierrors.IsNotFound(err) && len(infos) == 0 {
			// Unknown types, an unreachable cluster: the objects are not known to be managed.
			return nil, nil
		}
		for _, info := range infos {
			u, _ := info.Object.(*unstructured.Unstructured)
			out = append(out, liveObject{ref: liveRef{group: info.Mapping.GroupVersionKind.Group, kind: info.Mapping.GroupVersionKind.Kind, namespace: info.Namespace, name: info.Name}, obj: u})
		}
	}
	recursive, _ := sub.Flags().GetBool("recursive")
	for _, fn := range filenames {
		objs, err := readManifests(f, bytes.NewReader(stdin), []string{fn}, recursive)
		if err != nil {
			return nil, err
		}
		for _, u := range objs {
			l := liveObject{ref: liveRef{group: u.GroupVersionKind().Group, kind: u.GetKind(), namespace: u.GetNamespace(), name: u.GetName()}}
			l.obj = getLive(ctx, f, u.GroupVersionKind(), l.ref.namespace, ns, u.GetName())
			if l.obj != nil {
				l.ref.namespace = l.obj.GetNamespace()
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// getLive reads one object from the cluster; nil when it is not there or cannot be read.
func getLive(ctx context.Context, f cmdutil.Factory, gvk schema.GroupVersionKind, ns, defaultNs, name string) *unstructured.Unstructured {
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return nil
	}
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil
	}
	client, err := f.DynamicClient()
	if err != nil {
		return nil
	}
	var u *unstructured.Unstructured
	if m.Scope.Name() == "namespace" {
		if ns == "" {
			ns = defaultNs
		}
		u, err = client.Resource(m.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	} else {
		u, err = client.Resource(m.Resource).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil
	}
	return u
}

// argoApplicationExists tells whether an Argo CD Application exists, for the label Helm charts
// share with Argo CD.
func argoApplicationExists(ctx context.Context, f cmdutil.Factory) func(ns, name string) bool {
	return func(ns, name string) bool {
		client, err := f.DynamicClient()
		if err != nil {
			return false
		}
		gvr := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
		_, err = client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
}

// configCovers renders the target that the repository configuration of the current directory
// picks for the current context, and reports which of the objects it renders.
func configCovers(ctx context.Context, f cmdutil.Factory, sub *cobra.Command, lives []liveObject) (*target.Target, map[string]bool) {
	opts := target.ResolveOptions{}
	if fl := sub.Flags().Lookup("context"); fl != nil && fl.Value.String() != "" {
		opts.Context = fl.Value.String()
	} else if raw, err := f.ToRawKubeConfigLoader().RawConfig(); err == nil {
		opts.Context = raw.CurrentContext
	}
	t, _, err := target.Resolve(ctx, opts)
	if err != nil || t.Source != target.SourceConfig {
		return nil, nil
	}
	r, err := change.Render(t.RepoDir, change.Target{Path: t.Path, Applied: t.Applied}, workflow.RenderCache(t.RepoDir))
	if err != nil {
		return nil, nil
	}
	covered := map[string]bool{}
	for _, l := range lives {
		if len(r.Find(schema.GroupKind{Group: l.ref.group, Kind: l.ref.kind}, l.ref.namespace, l.ref.name)) > 0 {
			covered[strings.ToLower(l.ref.kind)+"/"+l.ref.name] = true
		}
	}
	return t, covered
}

// quoteArgs quotes the arguments that a shell would split, for the line that says what runs.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
