package plugin

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/create"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/change"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workflow"
)

// NewCmdCreate builds `kubectl gitops create`.
func NewCmdCreate(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create SUBCOMMAND",
		Short: "Create a resource in Git",
		Long: templates.LongDesc(`
			Create a resource as kubectl create does, as a commit in the GitOps repository: a new
			file in the target's directory, registered in its kustomization.`),
		Run: runHelp,
	}
	cmd.AddCommand(NewCmdCreateSecret(f, streams))
	return cmd
}

var createSecretLong = templates.LongDesc(`
	Create a Secret in the GitOps repository, encrypted before it is written: with sops (the keys
	of the .sops.yaml creation rule that matches the new file) or as a Bitnami SealedSecret (sealed
	with the controller's certificate). --secrets, else the repository's configuration
	(secrets.provider), else what the target's existing secrets use decides which.

	The values go from the flags, files and stdin straight to the encryptor: nothing in plain text
	is written to the working tree, a commit, the terminal or a temporary file. --dry-run shows
	the change with the values masked, as kubectl diff masks them.`)

// NewCmdCreateSecret builds `kubectl gitops create secret`.
func NewCmdCreateSecret(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret (docker-registry | generic | tls)",
		Short: "Create an encrypted secret in Git",
		Long:  createSecretLong,
		Run:   runHelp,
	}
	cmd.AddCommand(
		NewCmdCreateSecretGeneric(f, streams),
		NewCmdCreateSecretTLS(f, streams),
		NewCmdCreateSecretDockerRegistry(f, streams),
	)
	return cmd
}

// CreateSecretOptions are what every `create secret` command shares: where the Secret goes
// and how it is encrypted. The subcommands add how it is built (kubectl's own code does that).
type CreateSecretOptions struct {
	changeFlags

	name       string
	namespace  string
	nsExplicit bool
	kubeNS     string
	// build makes the plaintext Secret, in memory.
	build func() (*corev1.Secret, error)
	genericiooptions.IOStreams
}

func (o *CreateSecretOptions) addFlags(cmd *cobra.Command, certFlag bool) {
	o.changeFlags.addFlagSet(cmd, writeFlagSet{certAlias: certFlag, scope: true})
}

// complete reads the name and the namespace (-n).
func (o *CreateSecretOptions) complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	n := cmd.ArgsLenAtDash()
	if n == -1 {
		n = len(args)
	}
	if n != 1 {
		return usageErrorf(cmd, "exactly one NAME is required, got %d", n)
	}
	o.name = args[0]
	var err error
	if o.kubeNS, _, err = f.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	if fl := cmd.Flags().Lookup("namespace"); fl != nil && fl.Changed {
		o.namespace, o.nsExplicit = o.kubeNS, true
	}
	return nil
}

// Run encrypts the Secret and commits it.
func (o *CreateSecretOptions) Run(f cmdutil.Factory, cmd *cobra.Command) error { return o.run(f, cmd) }

// captured runs a kubectl create command's Run with client-side dry run and returns the Secret
// it would have printed: kubectl's own validation and encoding build it, and nothing is sent
// or printed.
func captured(printObj *func(runtime.Object) error, dryRun *cmdutil.DryRunStrategy, run func() error) (*corev1.Secret, error) {
	var secret *corev1.Secret
	*dryRun = cmdutil.DryRunClient
	*printObj = func(obj runtime.Object) error {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return fmt.Errorf("kubectl built a %T, not a Secret", obj)
		}
		secret = s
		return nil
	}
	if err := run(); err != nil {
		return nil, err
	}
	return secret, nil
}

// run hands the Secret, in memory, to the write path, which encrypts it for the target (the
// gate encrypts every Secret any command writes) and commits it as a new file.
func (o *CreateSecretOptions) run(f cmdutil.Factory, cmd *cobra.Command) error {
	ctx := cmd.Context()
	secret, err := o.build()
	if err != nil {
		return err
	}
	name := secret.Name // --append-hash adds to it
	t, targets, _, err := o.resolveTarget(ctx, f, cmd, workflow.Selection{})
	if err != nil {
		return err
	}
	kustNS, _, err := targetKustomization(t.RepoDir, t.Path)
	if err != nil {
		return err
	}
	if o.nsExplicit && kustNS != "" && kustNS != o.namespace {
		return fmt.Errorf("target %s puts every object in namespace %s (its kustomization's namespace:), not %s: drop -n or choose another target", t, kustNS, o.namespace)
	}
	plain, err := secrets.NormalizeSecret(secret)
	if err != nil {
		return err
	}
	req := o.request(o.IOStreams, t, targets)
	// A strict or namespace-wide SealedSecret is bound to the namespace it will render in:
	// the kubeconfig's when neither the Secret nor the target names one.
	req.Secrets = o.providersIn(t, o.kubeNS)
	req.Changes = func(r *render.Result) ([]change.ObjectChange, error) {
		for _, obj := range r.Objects {
			if workflow.IsSecretKind(obj) && (obj.ID.Name == name || obj.Origin.Name == name) &&
				(!o.nsExplicit || obj.ID.Namespace == "" || obj.ID.Namespace == o.namespace) {
				return nil, fmt.Errorf("secrets %q already exists in target path %s (%s in %s): change it with `kubectl gitops set secret` or `kubectl gitops edit secret/%s`",
					name, r.Path, obj.ID, obj.Origin.File, name)
			}
		}
		return []change.ObjectChange{{Desired: plain.DeepCopy().Object}}, nil
	}
	req.Subject = func(objs []*render.Object) string {
		how := "sops-encrypted"
		if len(objs) == 1 && objs[0].ID.Kind == "SealedSecret" {
			how = "sealed"
		}
		return fmt.Sprintf("create %s secret %s", how, secretName(secret.Namespace, name))
	}
	forRelease(&req)
	res, err := workflow.Run(ctx, req)
	if err != nil {
		return err
	}
	return o.finish(ctx, o.IOStreams, "created", res, []string{"secret/" + name})
}

// targetKustomization reads the namespace a target's own kustomization puts every object in,
// and its indentation (a new file is written in it).
func targetKustomization(root, dir string) (namespace string, indent int, err error) {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path.Join(dir, n))))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", 0, err
		}
		var k struct {
			Namespace string `json:"namespace"`
		}
		if err := yaml.Unmarshal(src, &k); err != nil {
			return "", 0, fmt.Errorf("%s: %w", path.Join(dir, n), err)
		}
		return k.Namespace, secrets.Indent(src), nil
	}
	return "", 2, nil
}

var createSecretGenericExample = templates.Examples(`
	# A Secret with two literal values, encrypted for the staging target
	kubectl gitops create secret generic db -n shop --from-literal=username=admin --from-literal=password='s3cr3t' --target staging

	# Keys from files (the key is the file's name, or the name given), sealed with the controller's certificate
	kubectl gitops create secret generic tls-ca --from-file=ca.crt --from-file=key=path/to/key.pem --secrets sealed-secrets --cert https://sealed-secrets.example.com/v1/cert.pem

	# From an env file, showing the change (values masked) without committing
	kubectl gitops create secret generic app-env --from-env-file=app.env --dry-run`)

// CreateSecretGenericOptions are the options of `create secret generic`.
type CreateSecretGenericOptions struct {
	CreateSecretOptions
	kubectl *create.CreateSecretOptions
}

// NewCmdCreateSecretGeneric builds `kubectl gitops create secret generic`.
func NewCmdCreateSecretGeneric(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CreateSecretGenericOptions{CreateSecretOptions: CreateSecretOptions{IOStreams: streams}, kubectl: create.NewSecretOptions(streams)}
	o.build = func() (*corev1.Secret, error) {
		ko := o.kubectl
		ko.Name, ko.Namespace, ko.EnforceNamespace = o.name, o.namespace, o.nsExplicit
		return captured(&ko.PrintObj, &ko.DryRunStrategy, ko.Run)
	}
	cmd := &cobra.Command{
		Use:                   "generic NAME [--type=string] [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run]",
		DisableFlagsInUseLine: true,
		Short:                 "Create an encrypted secret from a local file, directory, or literal value",
		Long:                  createSecretLong,
		Example:               createSecretGenericExample,
	}
	o.addFlags(cmd, true)
	fl := cmd.Flags()
	ko := o.kubectl
	fl.StringSliceVar(&ko.FileSources, "from-file", nil, "Key files can be specified using their file path, in which case a default name will be given to them, or optionally with a name and file path, in which case the given name will be used. Specifying a directory will iterate each named file in the directory that is a valid secret key.")
	fl.StringArrayVar(&ko.LiteralSources, "from-literal", nil, "Specify a key and literal value to insert in secret (i.e. mykey=somevalue)")
	fl.StringSliceVar(&ko.EnvFileSources, "from-env-file", nil, "Specify the path to a file to read lines of key=val pairs to create a secret.")
	fl.StringVar(&ko.Type, "type", "", "The type of secret to create")
	fl.BoolVar(&ko.AppendHash, "append-hash", false, "Append a hash of the secret to its name.")
	return writeCommand(f, cmd, o)
}

// Complete reads the name, the namespace and the sources.
func (o *CreateSecretGenericOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if err := o.complete(f, cmd, args); err != nil {
		return err
	}
	o.kubectl.Name = o.name
	return nil
}

// Validate checks the flag values, as kubectl does, and that no source is read in a way that
// would put a value where a key goes or into a message.
func (o *CreateSecretGenericOptions) Validate(cmd *cobra.Command) error {
	if err := o.changeFlags.validate(cmd); err != nil {
		return err
	}
	if err := checkLiteralSources(o.kubectl.LiteralSources); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if err := checkEnvFiles(o.kubectl.EnvFileSources); err != nil {
		return err
	}
	if err := o.kubectl.Validate(); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	return nil
}

var createSecretTLSExample = templates.Examples(`
	# A TLS Secret from a key pair, encrypted for the target the configuration names
	kubectl gitops create secret tls web-tls -n shop --cert=path/to/tls.crt --key=path/to/tls.key

	# Sealed with a certificate file (--cert is the TLS certificate here)
	kubectl gitops create secret tls web-tls --cert=tls.crt --key=tls.key --sealed-secrets-cert=pub-cert.pem`)

// CreateSecretTLSOptions are the options of `create secret tls`.
type CreateSecretTLSOptions struct {
	CreateSecretOptions
	kubectl *create.CreateSecretTLSOptions
}

// NewCmdCreateSecretTLS builds `kubectl gitops create secret tls`.
func NewCmdCreateSecretTLS(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CreateSecretTLSOptions{CreateSecretOptions: CreateSecretOptions{IOStreams: streams}, kubectl: create.NewSecretTLSOptions(streams)}
	o.build = func() (*corev1.Secret, error) {
		ko := o.kubectl
		ko.Name, ko.Namespace, ko.EnforceNamespace = o.name, o.namespace, o.nsExplicit
		return captured(&ko.PrintObj, &ko.DryRunStrategy, ko.Run)
	}
	cmd := &cobra.Command{
		Use:                   "tls NAME --cert=path/to/cert/file --key=path/to/key/file [--dry-run]",
		DisableFlagsInUseLine: true,
		Short:                 "Create an encrypted TLS secret",
		Long:                  createSecretLong,
		Example:               createSecretTLSExample,
	}
	o.addFlags(cmd, false)
	fl := cmd.Flags()
	ko := o.kubectl
	fl.StringVar(&ko.Cert, "cert", "", "Path to PEM encoded public key certificate.")
	fl.StringVar(&ko.Key, "key", "", "Path to private key associated with given certificate.")
	fl.BoolVar(&ko.AppendHash, "append-hash", false, "Append a hash of the secret to its name.")
	return writeCommand(f, cmd, o)
}

// Complete reads the name and the namespace.
func (o *CreateSecretTLSOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	return o.complete(f, cmd, args)
}

// Validate checks the flag values, as kubectl does.
func (o *CreateSecretTLSOptions) Validate(cmd *cobra.Command) error {
	if err := o.changeFlags.validate(cmd); err != nil {
		return err
	}
	if err := o.kubectl.Validate(); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	return nil
}

var createSecretDockerExample = templates.Examples(`
	# A registry credential, encrypted for the staging target
	kubectl gitops create secret docker-registry regcred -n shop --docker-server=registry.example.com --docker-username=ci --docker-password="$TOKEN" --target staging

	# From an existing docker config file
	kubectl gitops create secret docker-registry regcred --from-file=.dockerconfigjson=path/to/.docker/config.json`)

// CreateSecretDockerRegistryOptions are the options of `create secret docker-registry`.
type CreateSecretDockerRegistryOptions struct {
	CreateSecretOptions
	kubectl *create.CreateSecretDockerRegistryOptions
}

// NewCmdCreateSecretDockerRegistry builds `kubectl gitops create secret docker-registry`.
func NewCmdCreateSecretDockerRegistry(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CreateSecretDockerRegistryOptions{CreateSecretOptions: CreateSecretOptions{IOStreams: streams}, kubectl: create.NewSecretDockerRegistryOptions(streams)}
	o.build = func() (*corev1.Secret, error) {
		ko := o.kubectl
		ko.Name, ko.Namespace, ko.EnforceNamespace = o.name, o.namespace, o.nsExplicit
		return captured(&ko.PrintObj, &ko.DryRunStrategy, ko.Run)
	}
	cmd := &cobra.Command{
		Use:                   "docker-registry NAME --docker-username=user --docker-password=password --docker-email=email [--docker-server=string] [--from-file=[key=]source] [--dry-run]",
		DisableFlagsInUseLine: true,
		Short:                 "Create an encrypted secret for use with a Docker registry",
		Long:                  createSecretLong,
		Example:               createSecretDockerExample,
	}
	o.addFlags(cmd, true)
	fl := cmd.Flags()
	ko := o.kubectl
	fl.StringVar(&ko.Username, "docker-username", "", "Username for Docker registry authentication")
	fl.StringVar(&ko.Password, "docker-password", "", "Password for Docker registry authentication")
	fl.StringVar(&ko.Email, "docker-email", "", "Email for Docker registry")
	fl.StringVar(&ko.Server, "docker-server", ko.Server, "Server location for Docker registry")
	fl.BoolVar(&ko.AppendHash, "append-hash", false, "Append a hash of the secret to its name.")
	fl.StringSliceVar(&ko.FileSources, "from-file", nil, "Key files can be specified using their file path, in which case a default name of "+corev1.DockerConfigJsonKey+" will be given to them, or optionally with a name and file path, in which case the given name will be used.")
	return writeCommand(f, cmd, o)
}

// Complete reads the name, the namespace and the sources.
func (o *CreateSecretDockerRegistryOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if err := o.complete(f, cmd, args); err != nil {
		return err
	}
	ko := o.kubectl
	ko.Name = o.name
	for i, src := range ko.FileSources {
		if !strings.Contains(src, "=") {
			ko.FileSources[i] = corev1.DockerConfigJsonKey + "=" + src
		}
	}
	return nil
}

// Validate checks the flag values, as kubectl does.
func (o *CreateSecretDockerRegistryOptions) Validate(cmd *cobra.Command) error {
	if err := o.changeFlags.validate(cmd); err != nil {
		return err
	}
	if err := o.kubectl.Validate(); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	return nil
}

// checkLiteralSources refuses a --from-literal without KEY=, before kubectl's own parsing would
// quote the whole argument (the value with it) in its error.
func checkLiteralSources(sources []string) error {
	for i, src := range sources {
		key, _, ok := strings.Cut(src, "=")
		if !ok || key == "" {
			return fmt.Errorf("--from-literal #%d is not KEY=VALUE; it is not shown, as it may be a value", i+1)
		}
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return fmt.Errorf("--from-literal #%d: %q is not a valid key name for a Secret: %s", i+1, key, strings.Join(errs, "; "))
		}
	}
	return nil
}

// checkEnvFiles refuses an env file with a line that is not KEY=VALUE: kubectl would take such
// a line as the name of a key (a value pasted without its KEY= would become a key name, and key
// names are not encrypted) with its value from the environment.
func checkEnvFiles(files []string) error {
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--from-env-file: %w", err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if key, _, ok := strings.Cut(line, "="); !ok || strings.TrimSpace(key) == "" {
				return fmt.Errorf("--from-env-file %s: line %d is not KEY=VALUE (it is not shown, as it may be a value); every line must set a key", file, i+1)
			}
		}
	}
	return nil
}
