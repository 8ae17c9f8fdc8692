package render

import (
	"context"
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
		return nil, err
	}
	return helm.LoadArchive(got.Archive)
}
