package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/internal/repogen"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// The benchmarks of issue 19: a change in repositories of the two real shapes that differ most
// from the generated fleet of BenchmarkScale, each beside its anchors measured in the same run on
// the same repository, and the targets reported as metrics so the table reads off the
// output:
//
//   - monitoring (repogen.Monitoring): one plain directory of about 100 files and 6 MB, most of
//     it large CRDs and JSON dashboards. Targets: a warm change ≤ 150 ms and ≤ 150 MB RSS; the
//     first change ≤ 1.5× one render.
//   - platform (repogen.Platform): one overlay of about 500 objects through components,
//     generators, replacements and three levels of overlays. Targets: a warm change ≤ 1 s and
//     at least 20× faster than one render; the first change ≤ 1.2× one render.
//
// A change is `kubectl-gitops scale` of one Deployment through the built binary, a new count each
// run, so each run commits. Its anchors:
//
//   - kustomize-ms: `kubectl kustomize PATH` with bin/testbin/kubectl, one whole render of the
//     target (median of the runs, interleaved with the changes so both see the same machine);
//   - git-commit-ms: `git commit -am` by the git executable of the same one-line change (the run's
//     commit undone in the working tree, then committed), the floor of any change.
//
// Metrics (medians of shapeRuns runs unless said): warm-ms, cold-ms (the first change, with no
// render cache in .git/kubectl-gitops), rss-MB (the peak resident set of a warm run, from the
// child's rusage; rss-max-MB the largest of them), cold-rss-MB, cpu-ms (user and system time of the warm median's
// process: on a loaded machine wall time inflates more), x-kustomize (kustomize-ms / warm-ms),
// and each target with *-target and *-met (1 met, 0 missed).
const shapeRuns = 9

// changeTargets are a shape's targets; zero means none.
type changeTargets struct {
	warmMillis, rssMB float64
	// coldRenders bounds the first change in renders of the target; speedup is how many times
	// faster than one render a warm change must be.
	coldRenders, speedup float64
}

type shapeBench struct {
	name     string
	generate func(dir string, commits int) (repogen.Shape, error)
	targets  changeTargets
}

var shapes = []shapeBench{
	{"monitoring", repogen.Monitoring, changeTargets{warmMillis: 150, rssMB: 150, coldRenders: 1.5}},
	{"platform", repogen.Platform, changeTargets{warmMillis: 1000, coldRenders: 1.2, speedup: 20}},
}

func BenchmarkShapes(b *testing.B) {
	benchEnv(b)
	kubectl := benchKubectl(b)
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), s.name)
			start := time.Now()
			shape, err := s.generate(dir, 2000)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("generated the %s shape with 2,000 commits in %v", s.name, time.Since(start).Round(time.Millisecond))
			for range b.N {
				benchChange(b, kubectl, dir, shape.Path, shape.Object(), s.targets)
			}
		})
	}
}

// benchChange measures the first and warm changes of object (kind/namespace/name) in the target
// at path of the repository dir, with their anchors, and reports them against targets.
func benchChange(b *testing.B, kubectl, dir, path, object string, targets changeTargets) {
	b.Helper()
	kind, ns, name, err := splitObject(object)
	if err != nil {
		b.Fatal(err)
	}
	scale := func(n int) measurement {
		args := []string{"scale", kind + "/" + name, fmt.Sprintf("--replicas=%d", n), "--repo", dir, "--path", path}
		if ns != "" {
			args = append(args, "-n", ns)
		}
		return run(b, 10*time.Minute, dir, pluginBin, args...)
	}
	if err := os.RemoveAll(filepath.Join(gitDir(b, dir), "kubectl-gitops")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cold := scale(37)
	b.StopTimer()
	var warm, commit, build samples
	var rss, cpu []float64
	for k := range shapeRuns {
		b.StartTimer()
		m := scale(40 + k)
		b.StopTimer()
		warm.add(m)
		cpu = append(cpu, ms(m.cpu))
		rss = append(rss, mb(m.rss))
		commit.add(gitCommitSame(b, dir))
		build.add(run(b, 10*time.Minute, dir, kubectl, "kustomize", path))
	}
	b.ReportMetric(warm.median(), "warm-ms")
	b.ReportMetric(ms(cold.wall), "cold-ms")
	b.ReportMetric(median(rss), "rss-MB")
	b.ReportMetric(slices.Max(rss), "rss-max-MB")
	b.ReportMetric(mb(cold.rss), "cold-rss-MB")
	b.ReportMetric(median(cpu), "cpu-ms")
	b.ReportMetric(build.median(), "kustomize-ms")
	b.ReportMetric(commit.median(), "git-commit-ms")
	b.ReportMetric(build.median()/warm.median(), "x-kustomize")
	verdicts := []string{}
	if targets.warmMillis > 0 {
		ok := warm.median() <= targets.warmMillis
		b.ReportMetric(targets.warmMillis, "warm-target-ms")
		b.ReportMetric(met(ok), "warm-met")
		verdicts = append(verdicts, fmt.Sprintf("warm %.0f ms (target ≤ %.0f): %s", warm.median(), targets.warmMillis, verdict(ok)))
	}
	if targets.rssMB > 0 {
		ok := median(rss) <= targets.rssMB
		b.ReportMetric(targets.rssMB, "rss-target-MB")
		b.ReportMetric(met(ok), "rss-met")
		verdicts = append(verdicts, fmt.Sprintf("RSS %.0f MB (target ≤ %.0f): %s", median(rss), targets.rssMB, verdict(ok)))
	}
	if targets.coldRenders > 0 {
		limit := targets.coldRenders * build.median()
		ok := ms(cold.wall) <= limit
		b.ReportMetric(limit, "cold-target-ms")
		b.ReportMetric(met(ok), "cold-met")
		verdicts = append(verdicts, fmt.Sprintf("cold %.0f ms (target ≤ %.1f× render = %.0f): %s", ms(cold.wall), targets.coldRenders, limit, verdict(ok)))
	}
	if targets.speedup > 0 {
		ok := build.median()/warm.median() >= targets.speedup
		b.ReportMetric(targets.speedup, "x-kustomize-target")
		b.ReportMetric(met(ok), "x-kustomize-met")
		verdicts = append(verdicts, fmt.Sprintf("%.1f× faster than a render (target ≥ %.0f×): %s", build.median()/warm.median(), targets.speedup, verdict(ok)))
	}
	b.Logf("%s in %s: warm change %.0f ms (%d runs, CPU %.0f ms, peak RSS %.0f MB, at most %.0f), first change %.0f ms (peak RSS %.0f MB); kubectl kustomize %.0f ms, git commit %.0f ms; %s",
		object, path, warm.median(), len(warm.ms), median(cpu), median(rss), slices.Max(rss), ms(cold.wall), mb(cold.rss), build.median(), commit.median(), strings.Join(verdicts, "; "))
}

// met is a target's metric: 1 met, 0 missed.
func met(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// splitObject splits kind/namespace/name (or kind/name, cluster-scoped).
func splitObject(s string) (kind, ns, name string, err error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 3 && parts[0] != "" && parts[2] != "":
		return parts[0], parts[1], parts[2], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], "", parts[1], nil
	}
	return "", "", "", fmt.Errorf("object %q: want kind/namespace/name, such as deployment/shop/web", s)
}

func gitDir(b *testing.B, dir string) string {
	b.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--absolute-git-dir").Output()
	if err != nil {
		b.Fatalf("git rev-parse in %s: %v", dir, err)
	}
	return strings.TrimSpace(string(out))
}

// gitCommitSame undoes the last commit's change in the working tree (not timed) and times
// `git commit -am` of it: a change of the same lines of the same files as the plugin's commit.
func gitCommitSame(b *testing.B, dir string) measurement {
	b.Helper()
	out, err := exec.Command("git", "-C", dir, "diff", "--name-only", "HEAD~1", "HEAD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		b.Fatalf("the files of the last commit in %s: %v %s", dir, err, out)
	}
	files := strings.Fields(string(out))
	if out, err := exec.Command("git", append([]string{"-C", dir, "checkout", "HEAD~1", "--"}, files...)...).CombinedOutput(); err != nil {
		b.Fatalf("git checkout HEAD~1 -- %v: %v\n%s", files, err, out)
	}
	return run(b, time.Minute, dir, "git", "commit", "-q", "-am", "undo the last change, by hand")
}

// BenchmarkRepo runs the change, diff and history benchmarks on a repository the user names
// (make bench-repo): BENCH_REPO (its working tree; copied with its .git to a temporary directory
// first, so the user's is never changed), BENCH_PATH (the target's directory in it) and BENCH_OBJECT (a
// Deployment or other scalable object the target renders, kind/namespace/name). The change is
// BenchmarkShapes', with the targets of the platform shape when the target reads another
// kustomization and of the monitoring shape otherwise (BENCH_SHAPE=monitoring|platform
// chooses). Then, after the changes:
//
//   - first-diff-ms: `diff --from HEAD~1` with no render cache (a fresh clone in CI), and
//     diff-ms, its median with the cache the changes left; anchor: the kustomize-ms of the
//     change, as rendering the target at both revisions takes two;
//   - first-history-ms: `history KIND/NAME` of the object, the first walk in the repository,
//     and history-ms, the median of the next (which take what the first kept in its memo, as
//     `rollout undo` after `rollout history` does); anchor git-log-ms: `git log -- PATHS` of
//     the directories the target reads; x-git-log, history-ms's ratio to it (target: ≤ 2).
func BenchmarkRepo(b *testing.B) {
	src, path, object := os.Getenv("BENCH_REPO"), os.Getenv("BENCH_PATH"), os.Getenv("BENCH_OBJECT")
	if src == "" {
		b.Skip("BENCH_REPO is not set: BENCH_REPO=DIR BENCH_PATH=P BENCH_OBJECT=kind/ns/name make bench-repo")
	}
	if path == "" || object == "" {
		b.Fatal("BENCH_REPO needs BENCH_PATH (the target's directory) and BENCH_OBJECT (kind/namespace/name)")
	}
	kind, ns, name, err := splitObject(object)
	if err != nil {
		b.Fatal(err)
	}
	benchEnv(b)
	kubectl := benchKubectl(b)
	dir := filepath.Join(b.TempDir(), "repo")
	// A copy of the working tree and its .git directory, so nothing the benchmark does reaches
	// the user's repository (benchChange removes the copy's render cache). A worktree or
	// submodule (.git a file naming another directory) is cloned instead.
	copyArgs := []string{"cp", "-a", src + "/.", dir}
	if fi, err := os.Stat(filepath.Join(src, ".git")); err != nil || !fi.IsDir() {
		copyArgs = []string{"git", "clone", "-q", "--no-local", src, dir}
	} else if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(copyArgs[0], copyArgs[1:]...).CombinedOutput(); err != nil {
		b.Fatalf("copying %s: %s: %v\n%s", src, strings.Join(copyArgs, " "), err, out)
	}
	paths, err := target.IncludedDirs(dir, path)
	if err != nil {
		b.Fatal(err)
	}
	paths = append([]string{path}, paths...)
	// The targets of the shape the repository has: an overlay's when the target reads another
	// kustomization, a plain directory's otherwise; BENCH_SHAPE (monitoring or platform) chooses.
	shape := os.Getenv("BENCH_SHAPE")
	if shape == "" {
		shape = "monitoring"
		for _, p := range paths[1:] {
			if _, err := os.Stat(filepath.Join(dir, p, "kustomization.yaml")); err == nil {
				shape = "platform"
			}
		}
	}
	i := slices.IndexFunc(shapes, func(s shapeBench) bool { return s.name == shape })
	if i < 0 {
		b.Fatalf("BENCH_SHAPE=%q: want monitoring or platform", shape)
	}
	targets := shapes[i].targets
	b.Logf("the targets of the %s shape", shape)
	nsArgs := func(args ...string) []string {
		if ns != "" {
			args = append(args, "-n", ns)
		}
		return args
	}
	for range b.N {
		benchChange(b, kubectl, dir, path, object, targets)

		if err := os.RemoveAll(filepath.Join(gitDir(b, dir), "kubectl-gitops")); err != nil {
			b.Fatal(err)
		}
		diffArgs := []string{"diff", "--from", "HEAD~1", "--repo", dir}
		first := runDiff(b, dir, diffArgs)
		var diffs samples
		for range 5 {
			diffs.add(runDiff(b, dir, diffArgs))
		}
		b.ReportMetric(ms(first.wall), "first-diff-ms")
		b.ReportMetric(diffs.median(), "diff-ms")

		// The first history walk (with no memo of an earlier one), then up to three more, fewer
		// when they are slow; one killed at its deadline counts as a lower bound.
		historyArgs := nsArgs("history", kind+"/"+name, "--repo", dir, "--path", path)
		firstHistory := run(b, 5*time.Minute, dir, pluginBin, historyArgs...)
		var history, log samples
		for start := time.Now(); len(history.ms) < 3 && time.Since(start) < 2*time.Minute && !history.timedOut && !firstHistory.timedOut; {
			history.add(run(b, 5*time.Minute, dir, pluginBin, historyArgs...))
			log.add(run(b, time.Minute, dir, "git", append([]string{"log", "--first-parent", "--format=%H %an %aI %s", "--"}, paths...)...))
		}
		if firstHistory.timedOut {
			history.add(firstHistory)
			log.add(run(b, time.Minute, dir, "git", append([]string{"log", "--first-parent", "--format=%H %an %aI %s", "--"}, paths...)...))
		}
		ratio := history.median() / log.median()
		b.ReportMetric(ms(firstHistory.wall), "first-history-ms")
		b.ReportMetric(history.median(), "history-ms")
		b.ReportMetric(log.median(), "git-log-ms")
		b.ReportMetric(ratio, "x-git-log")
		b.ReportMetric(2, "x-git-log-target")
		b.ReportMetric(met(ratio <= 2 && !history.timedOut), "x-git-log-met")
		b.Logf("diff --from HEAD~1: first %.0f ms, then %.0f ms; history first %.0f ms (%.1f×), then %s ms (%d runs) against git log -- %d paths %.0f ms (%s%.1f×, target ≤ 2×)",
			ms(first.wall), diffs.median(), ms(firstHistory.wall), ms(firstHistory.wall)/log.median(), history.String(), len(history.ms), len(paths), log.median(), geq(history.timedOut), ratio)
	}
}

// runDiff times `kubectl-gitops diff --from`, whose exit code 1 means differences.
func runDiff(b *testing.B, dir string, args []string) measurement {
	b.Helper()
	cmd := exec.Command(pluginBin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	m := measurement{wall: time.Since(start)}
	if ee := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
		b.Fatalf("kubectl-gitops %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return m
}

// BenchmarkShapesInProcess runs BenchmarkShapes' warm change inside the test process, so a
// profile sees where the time and memory go:
//
//	KUBECTL_GITOPS_BENCH_SHAPE=platform go test ./pkg/plugin -run '^$' -bench ShapesInProcess \
//	    -benchtime 1x -cpuprofile cpu.out -memprofile mem.out
//
// The shape is monitoring unless KUBECTL_GITOPS_BENCH_SHAPE names another; the first change (not
// timed, but in -cpuprofile's profile) fills the render cache. Each warm change follows a commit
// made by hand, as in BenchmarkShapes. KUBECTL_GITOPS_BENCH_WARM_PROFILE=FILE
// writes a CPU profile of the warm changes alone (go test's -cpuprofile must then be unset).
func BenchmarkShapesInProcess(b *testing.B) {
	benchEnv(b)
	name := os.Getenv("KUBECTL_GITOPS_BENCH_SHAPE")
	if name == "" {
		name = "monitoring"
	}
	for _, s := range shapes {
		if s.name != name {
			continue
		}
		dir := filepath.Join(b.TempDir(), s.name)
		shape, err := s.generate(dir, 200)
		if err != nil {
			b.Fatal(err)
		}
		scale := func(n int) {
			var out, errOut bytes.Buffer
			root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			root.SetArgs([]string{"scale", "deploy/" + shape.Deployment, "-n", shape.Namespace, fmt.Sprintf("--replicas=%d", n), "--repo", dir, "--path", shape.Path})
			if err := root.ExecuteContext(context.Background()); err != nil {
				b.Fatalf("scale: %v\n%s%s", err, out.String(), errOut.String())
			}
		}
		scale(37)
		if f := os.Getenv("KUBECTL_GITOPS_BENCH_WARM_PROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(out); err != nil {
				b.Fatal(err)
			}
			defer func() {
				pprof.StopCPUProfile()
				if err := out.Close(); err != nil {
					b.Error(err)
				}
			}()
		}
		var warm samples
		b.ResetTimer()
		for i := range b.N {
			for k := range shapeRuns {
				start := time.Now()
				scale(40 + i*shapeRuns + k)
				warm.add(measurement{wall: time.Since(start)})
				// As in BenchmarkShapes, the next change follows a commit made by hand.
				b.StopTimer()
				gitCommitSame(b, dir)
				b.StartTimer()
			}
		}
		b.StopTimer()
		b.ReportMetric(warm.median(), "warm-ms")
		return
	}
	b.Fatalf("KUBECTL_GITOPS_BENCH_SHAPE=%q: want monitoring or platform", name)
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
