// Command devcluster runs the tests' control plane (etcd, kube-apiserver and optionally the
// sealed-secrets controller, Flux's source- and kustomize-controllers and a Git server for them,
// all on 127.0.0.1) in the background, for trying kubectl-gitops by hand:
//
//	go run ./hack/devcluster up --dir /tmp/dev [--sealed-secrets] [--flux] [--git-root /tmp/repos]
//	export KUBECONFIG=/tmp/dev/kubeconfig
//	go run ./hack/devcluster down --dir /tmp/dev
//
// up prints the kubeconfig's path and, with --git-root, the Git server's URL, one per line: the
// bare repository /tmp/repos/NAME.git is URL/NAME.git, for a GitRepository and for git push.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

const usage = `usage:
  devcluster up --dir DIR [--sealed-secrets] [--flux] [--git-root DIR] [--timeout DURATION]
  devcluster down --dir DIR
  devcluster serve-git --listen HOST:PORT --root DIR   (run by up --git-root)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	flags := flag.NewFlagSet("devcluster "+args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	if args[0] == "serve-git" {
		listen := flags.String("listen", "127.0.0.1:0", "the address to serve on")
		root := flags.String("root", "", "the directory of the bare repositories to serve (required)")
		if err := parse(flags, args[1:], "root"); err != nil {
			return err
		}
		return testcluster.ServeGit(ctx, *listen, *root)
	}
	dir := flags.String("dir", "", "directory for the cluster's state (required)")
	switch args[0] {
	case "up":
		sealedSecrets := flags.Bool("sealed-secrets", false, "also run the sealed-secrets controller (needs root)")
		flux := flags.Bool("flux", false, "also run Flux's source-controller and kustomize-controller, with Flux's CRDs")
		gitRoot := flags.String("git-root", "", "serve the bare repositories in this directory over HTTP, fetch and push (for Flux's GitRepository URLs)")
		timeout := flags.Duration("timeout", 2*time.Minute, "how long to wait for each component to become ready")
		if err := parse(flags, args[1:], "dir"); err != nil {
			return err
		}
		opts := testcluster.Options{Dir: *dir, SealedSecrets: *sealedSecrets, Detached: true, Timeout: *timeout}
		return up(ctx, opts, extras{flux: *flux, gitRoot: *gitRoot}, stdout, stderr)
	case "down":
		if err := parse(flags, args[1:], "dir"); err != nil {
			return err
		}
		return down(testcluster.Options{Dir: *dir}, stderr)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func parse(flags *flag.FlagSet, args []string, required string) error {
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", flags.Args(), usage)
	}
	if flags.Lookup(required).Value.String() == "" {
		return fmt.Errorf("--%s is required\n%s", required, usage)
	}
	return nil
}

// extras are what up runs besides the control plane and the sealed-secrets controller.
type extras struct {
	flux    bool
	gitRoot string
}

// start runs the extras that do not run yet.
func (e extras) start(ctx context.Context, c *testcluster.Cluster) error {
	if e.flux && !c.FluxRunning() {
		if _, err := c.StartFlux(ctx); err != nil {
			return fmt.Errorf("starting Flux: %w", err)
		}
	}
	if e.gitRoot != "" {
		// The server is this program, run again as serve-git, in the cluster's session.
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("starting the Git server: %w", err)
		}
		if err := c.StartGitServer(ctx, e.gitRoot, []string{self, "serve-git"}); err != nil {
			return fmt.Errorf("starting the Git server: %w", err)
		}
	}
	return nil
}

// up starts a cluster in opts.Dir, or reuses the one already running there.
func up(ctx context.Context, opts testcluster.Options, e extras, stdout, stderr io.Writer) error {
	running, err := testcluster.Open(opts)
	switch {
	case err == nil && running.Ready(ctx) == nil:
		if opts.SealedSecrets {
			if err := running.StartSealedSecrets(ctx); err != nil {
				return fmt.Errorf("starting the sealed-secrets controller: %w", err)
			}
		}
		if err := e.start(ctx, running); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "cluster already running in %s\n", running.Dir)
		return report(running, stdout, stderr)
	case err == nil:
		fmt.Fprintf(stderr, "cleaning up the stopped cluster in %s\n", running.Dir)
		if err := running.Stop(); err != nil {
			return fmt.Errorf("cleaning up the stopped cluster: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}

	c, err := testcluster.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	if err := e.start(ctx, c); err != nil {
		return errors.Join(err, c.Stop())
	}
	fmt.Fprintf(stderr, "cluster running in %s (stop it with: devcluster down --dir %s)\n", c.Dir, c.Dir)
	return report(c, stdout, stderr)
}

func report(c *testcluster.Cluster, stdout, stderr io.Writer) error {
	if c.SealedSecretsCertURL != "" {
		fmt.Fprintf(stderr, "sealed-secrets certificate: %s\n", c.SealedSecretsCertURL)
	}
	if c.FluxRunning() {
		fmt.Fprintf(stderr, "Flux's source-controller and kustomize-controller are running (logs in %s)\n", c.Dir)
	}
	if _, err := fmt.Fprintln(stdout, c.KubeconfigPath); err != nil {
		return err
	}
	if c.GitURL == "" {
		return nil
	}
	fmt.Fprintf(stderr, "Git server: %s (the bare repository NAME.git of the --git-root is %s/NAME.git)\n", c.GitURL, c.GitURL)
	_, err := fmt.Fprintln(stdout, c.GitURL)
	return err
}

// down stops the cluster in opts.Dir and removes its state; no cluster there is no error.
func down(opts testcluster.Options, stderr io.Writer) error {
	c, err := testcluster.Open(opts)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "no cluster in %s\n", opts.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.Stop(); err != nil {
		return fmt.Errorf("stopping the cluster: %w", err)
	}
	fmt.Fprintf(stderr, "stopped the cluster in %s\n", c.Dir)
	return nil
}
