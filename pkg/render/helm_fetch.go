package render

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/helm"
)

// chartTimeout bounds each request to a chart repository during a render.
const chartTimeout = 30 * time.Second

// fetchRepoChart fetches the chart ref names through the user's chart cache (reused offline).
func fetchRepoChart(ref helm.ChartRef) (*helm.Chart, error) {
	dir, err := helm.DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	f := &helm.Fetcher{Dir: dir, Timeout: chartTimeout}
	got, err := f.Fetch(context.Background(), ref)
	if err != nil {
		return nil, unreachable(ref, err)
	}
	return helm.LoadArchive(got.Archive)
}

// unreachable says briefly that a repository whose host or address does not answer (and whose
// chart the cache lacks) cannot give the chart: the network's own message names the resolver
// and the addresses tried, which say nothing the user can act on.
func unreachable(ref helm.ChartRef, err error) error {
	var dns *net.DNSError
	var op *net.OpError
	cause := ""
	switch {
	case errors.As(err, &dns):
		cause = "the host " + dns.Name + " is not found"
	case errors.As(err, &op):
		cause = op.Op + " " + op.Net + ": " + errors.Unwrap(op).Error()
	default:
		return err
	}
	version := ref.Version
	if version == "" {
		version = "latest"
	}
	return &ChartUnavailableError{msg: fmt.Sprintf("chart %s (%s) from %s cannot be fetched (%s), and the chart cache holds no copy: fetch it once where the repository is reachable", ref.Chart, version, ref.RepoURL, cause)}
}

// ChartUnavailableError says a release's chart could not be had here: its repository does not
// answer and the chart cache lacks it. It says nothing of the repository's files: a check
// reports the target as not checked, not as failing.
type ChartUnavailableError struct{ msg string }

func (e *ChartUnavailableError) Error() string { return e.msg }
