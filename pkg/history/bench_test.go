package history

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/gcpace"
	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// BenchmarkHistory reads the history of one Deployment of a generated fleet repository with
// 10,000 commits (500 manifests under a base shared by three overlays; every commit changes one
// application's manifest or one overlay's replicas:/images:), next to its anchor measured on the
// same repository: `git log -- PATHS` on the paths the target reads (the overlay and every
// directory its kustomizations include), which lists the candidate commits without rendering
// any. The object is one the staging overlay scales, so the history has many revisions.
//
// The history is walked twice with one memo directory, as a user's first `rollout history` and
// the `rollout undo --to-revision` after it: ms/first-history and cpu-ms/first-history (the
// walk's CPU time, its git processes' included) are the first walk's, which renders; ms/history
// and cpu-ms/history the next one's, which takes what the first kept (pkg/history's memo). Beside
// them ms/git-log, x-git-log (the next walk against it: issue 19's target, x-git-log-target and
// -met) and x-git-log-first, and the commits read, the states rendered by each walk and the
// revisions found. On this project's 2-core machine, idle: the first walk 2.9-3.1 s (3.4-3.8x
// git log's 0.80-0.88 s), reading 7,269 commits and rendering 165 states for 144 revisions; the
// next 0.45-0.54 s (0.5-0.7x), rendering none. Rendering the whole target at each commit would take
// hours: a render of its 500 objects costs about 0.9 s, and pkg/render's origin annotations
// triple that.
func BenchmarkHistory(b *testing.B) {
	// As the command does: its binary imports the pacing.
	gcpace.Start()
	home := b.TempDir()
	for k, v := range map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"), "GIT_CONFIG_NOSYSTEM": "1"} {
		b.Setenv(k, v)
	}
	dir := filepath.Join(b.TempDir(), "fleet")
	opts := repogen.Options{Apps: 25, ManifestsPerApp: 20, Overlays: []string{"dev", "staging", "production"}, Commits: 10000}
	if err := repogen.Generate(dir, opts); err != nil {
		b.Fatal(err)
	}
	const path = "overlays/staging"
	name := opts.OverlayReplicas("staging")[0]
	paths, err := target.IncludedDirs(dir, path)
	if err != nil {
		b.Fatal(err)
	}
	paths = append([]string{path}, paths...)
	ctx := context.Background()

	var logTime, coldTime, coldCPU, warmTime, warmCPU time.Duration
	var cold, warm *Result
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command("git", append([]string{"log", "--first-parent", "--format=%H %an %aI %s", "--"}, paths...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		logTime += time.Since(start)
		if n := strings.Count(string(out), "\n"); n < opts.Commits/2 {
			b.Fatalf("git log -- %v listed %d commits", paths, n)
		}

		// The first walk in the repository, then the next (what the first kept in its memo).
		memo := b.TempDir()
		for _, run := range []struct {
			res       **Result
			wall, cpu *time.Duration
		}{{&cold, &coldTime, &coldCPU}, {&warm, &warmTime, &warmCPU}} {
			start, startCPU := time.Now(), cpuTime(b)
			*run.res, err = Object(ctx, Request{RepoDir: dir, Path: path, Name: name, Select: selectByName("Deployment", name), TempDir: b.TempDir(), MemoDir: memo})
			if err != nil {
				b.Fatal(err)
			}
			*run.wall += time.Since(start)
			*run.cpu += cpuTime(b) - startCPU
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(warmTime.Milliseconds())/n, "ms/history")
	b.ReportMetric(float64(warmCPU.Milliseconds())/n, "cpu-ms/history")
	b.ReportMetric(float64(coldTime.Milliseconds())/n, "ms/first-history")
	b.ReportMetric(float64(coldCPU.Milliseconds())/n, "cpu-ms/first-history")
	b.ReportMetric(float64(logTime.Milliseconds())/n, "ms/git-log")
	b.ReportMetric(warmTime.Seconds()/logTime.Seconds(), "x-git-log")
	b.ReportMetric(coldTime.Seconds()/logTime.Seconds(), "x-git-log-first")
	b.ReportMetric(2, "x-git-log-target")
	if warmTime.Seconds() <= 2*logTime.Seconds() {
		b.ReportMetric(1, "x-git-log-met")
	} else {
		b.ReportMetric(0, "x-git-log-met")
	}
	b.ReportMetric(float64(cold.Stats.Commits), "commits")
	b.ReportMetric(float64(cold.Stats.Renders), "renders")
	b.ReportMetric(float64(warm.Stats.Renders), "renders/next")
	b.ReportMetric(float64(len(cold.Revisions)), "revisions")
	if len(cold.Revisions) < 10 {
		b.Errorf("%s has %d revisions in %d commits", name, len(cold.Revisions), opts.Commits)
	}
	if !reflect.DeepEqual(cold.Revisions, warm.Revisions) {
		b.Errorf("the next walk found other revisions than the first")
	}
	ratio := warmTime.Seconds() / logTime.Seconds()
	b.Logf("history of %s: first walk %.2f s (%.1f× git log), next %.2f s (%.1f×; target ≤ 2×: %s), git log %.2f s; %d commits, %d states rendered first, %d next, %d revisions",
		name, coldTime.Seconds()/n, coldTime.Seconds()/logTime.Seconds(), warmTime.Seconds()/n, ratio, map[bool]string{true: "met", false: "MISSED"}[ratio <= 2],
		logTime.Seconds()/n, cold.Stats.Commits, cold.Stats.Renders, warm.Stats.Renders, len(cold.Revisions))
}

// cpuTime is the user and system time of this process and of its children that have ended:
// the history's own and its git processes', which on a loaded machine say more than its wall time.
func cpuTime(b *testing.B) time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}
