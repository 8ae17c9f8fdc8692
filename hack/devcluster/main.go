// Command devcluster runs the tests' control plane (etcd, kube-apiserver and optionally the
// sealed-secrets controller, all on 127.0.0.1) in the background, for trying kubectl-gitops by
// hand:
//
//	go run ./hack/devcluster up --dir /tmp/dev [--sealed-secrets]
//	export KUBECONFIG=/tmp/dev/kubeconfig
//	go run ./hack/devcluster down --dir /tmp/dev
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
  devcluster up --dir DIR [--sealed-secrets] [--timeout DURATION]
  devcluster down --dir DIR`

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
	dir := flags.String("dir", "", "directory for the cluster's state (required)")
	switch args[0] {
	case "up":
		sealedSecrets := flags.Bool("sealed-secrets", false, "also run the sealed-secrets controller (needs root)")
		timeout := flags.Duration("timeout", 2*time.Minute, "how long to wait for each component to become ready")
		if err := parse(flags, args[1:]); err != nil {
			return err
		}
		return up(ctx, testcluster.Options{Dir: *dir, SealedSecrets: *sealedSecrets, Detached: true, Timeout: *timeout}, stdout, stderr)
	case "down":
		if err := parse(flags, args[1:]); err != nil {
			return err
		}
		return down(testcluster.Options{Dir: *dir}, stderr)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func parse(flags *flag.FlagSet, args []string) error {
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", flags.Args(), usage)
	}
	if flags.Lookup("dir").Value.String() == "" {
		return fmt.Errorf("--dir is required\n%s", usage)
	}
	return nil
}

// up starts a cluster in opts.Dir, or reuses the one already running there.
func up(ctx context.Context, opts testcluster.Options, stdout, stderr io.Writer) error {
	running, err := testcluster.Open(opts)
	switch {
	case err == nil && running.Ready(ctx) == nil:
		if opts.SealedSecrets {
			if err := running.StartSealedSecrets(ctx); err != nil {
				return fmt.Errorf("starting the sealed-secrets controller: %w", err)
			}
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
	fmt.Fprintf(stderr, "cluster running in %s (stop it with: devcluster down --dir %s)\n", c.Dir, c.Dir)
	return report(c, stdout, stderr)
}

func report(c *testcluster.Cluster, stdout, stderr io.Writer) error {
	if c.SealedSecretsCertURL != "" {
		fmt.Fprintf(stderr, "sealed-secrets certificate: %s\n", c.SealedSecretsCertURL)
	}
	_, err := fmt.Fprintln(stdout, c.KubeconfigPath)
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
