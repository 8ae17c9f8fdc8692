package revdiff_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/revdiff"
)

// diffFromRuns is how many fast runs make the median; the render-everything runs are fewer:
// each renders every target twice, whole (2 min 6 s at 1,000 manifests on two busy cores), and
// the benchmark must fit go test's 10-minute timeout.
const (
	diffFromRuns   = 11
	everythingRuns = 1
)

// BenchmarkDiffFrom is the benchmark: `diff --from HEAD~1` on the benchmark fleet
// (internal/repogen: three overlays rendering every application) whose last commit changes one
// file, against rendering every target at both revisions in the same run, as a
// render-everything review diff does. The first fast run fills the render cache and is reported
// on its own (cold-ms); the median of the runs after it (fast-ms) must be at least 10 times
// faster than the render-everything run (everything-ms), and both must report the same
// targets. KUBECTL_GITOPS_BENCH_APPS sets the fleet's size (default 50 apps: 1,000 manifests).
func BenchmarkDiffFrom(b *testing.B) {
	// An isolated git, as testrepo.Env gives a test.
	home := b.TempDir()
	for k, v := range map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_CACHE_HOME": filepath.Join(home, ".cache"), "GIT_CONFIG_NOSYSTEM": "1"} {
		b.Setenv(k, v)
	}
	apps := 50
	if s := os.Getenv("KUBECTL_GITOPS_BENCH_APPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("KUBECTL_GITOPS_BENCH_APPS=%q: want a number of applications", s)
		}
		apps = n
	}
	opts := repogen.Options{Apps: apps, ManifestsPerApp: 20, Overlays: []string{"dev", "staging", "production"}, Commits: 50}
	dir := filepath.Join(b.TempDir(), "fleet")
	start := time.Now()
	if err := repogen.Generate(dir, opts); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d manifests, %d overlays, %d commits in %v", opts.Manifests(), len(opts.Overlays), opts.Commits, time.Since(start).Round(time.Millisecond))

	timed := func(o revdiff.Options) (*revdiff.Report, time.Duration) {
		start := time.Now()
		r, err := revdiff.Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		return r, time.Since(start)
	}
	fastOpts := revdiff.Options{Dir: dir, From: "HEAD~1"}
	for range b.N {
		cold, coldTime := timed(fastOpts)
		var fast, everything []time.Duration
		for range diffFromRuns {
			r, d := timed(fastOpts)
			if targetsJSON(b, r) != targetsJSON(b, cold) {
				b.Fatalf("a warm run reports other targets than the cold one:\n%s\n%s", targetsJSON(b, r), targetsJSON(b, cold))
			}
			fast = append(fast, d)
		}
		var plain *revdiff.Report
		for range everythingRuns {
			r, d := timed(revdiff.Options{Dir: dir, From: "HEAD~1", Everything: true})
			plain = r
			everything = append(everything, d)
		}
		if got, want := targetsJSON(b, cold), targetsJSON(b, plain); got != want {
			b.Fatalf("the fast path reports\n%s\nrendering everything\n%s", got, want)
		}
		fm, em := median(fast), median(everything)
		speedup := float64(em) / float64(fm)
		b.Logf("changed %v; rendered %v of %d targets; differing %d; cold %v, fast median %v (of %d), everything %v (median of %d): %.1f×",
			cold.ChangedFiles, cold.Rendered, len(opts.Overlays), len(cold.Targets), coldTime.Round(time.Millisecond),
			fm.Round(time.Millisecond), len(fast), em.Round(time.Millisecond), len(everything), speedup)
		b.ReportMetric(float64(coldTime.Milliseconds()), "cold-ms")
		b.ReportMetric(float64(fm.Milliseconds()), "fast-ms")
		b.ReportMetric(float64(em.Milliseconds()), "everything-ms")
		b.ReportMetric(speedup, "speedup-x")
		if speedup < 10 {
			b.Errorf("diff --from HEAD~1 is %.1f× faster than rendering everything, want at least 10×", speedup)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
