// Package repogen makes large, realistic kustomize config repositories with a long git history,
// for benchmarks: applications under base/apps, a shared base listing them all, overlays that
// size and retag a few of them, and thousands of small commits made in one `git fast-import`.
package repogen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strings"
)

// Options size the repository.
type Options struct {
	// Apps is the number of applications under base/apps.
	Apps int
	// ManifestsPerApp is each application's number of manifests (one object per file, not
	// counting its kustomization.yaml).
	ManifestsPerApp int
	// Overlays are the environments under overlays/, each a target rendering every application.
	Overlays []string
	// Commits is the length of the history; the first commit adds the repository, each other
	// changes one file (a replica count, an image tag, an environment value).
	Commits int
}

// Manifests is the number of manifests the repository holds.
func (o Options) Manifests() int { return o.Apps * o.ManifestsPerApp }

// OverlayReplicas are the Deployments whose replica count overlay env sets with a replicas: entry
// (the history changes the counts, never the names); nil when env is not an overlay.
func (o Options) OverlayReplicas(env string) []string {
	for _, ov := range newGenerator(o).overlays {
		if ov.env != env {
			continue
		}
		var names []string
		for _, r := range ov.replicas {
			names = append(names, r.name)
		}
		return names
	}
	return nil
}

var words = []string{
	"checkout", "billing", "catalog", "search", "cart", "payments", "inventory", "shipping",
	"accounts", "reviews", "pricing", "orders", "notify", "ledger", "media", "profile",
	"reports", "auth", "gateway", "recommend", "loyalty", "tax", "fraud", "warehouse", "returns",
}

var teams = []string{"storefront", "payments", "logistics", "platform", "growth", "data"}

// AppName is the name of application i (0-based): its directory under base/apps, its namespace,
// and the prefix of its objects (Deployment AppName(i)+"-web" always exists).
func AppName(i int) string {
	return fmt.Sprintf("%s-%03d", words[i%len(words)], i)
}

// Generate writes the repository into dir (which must not exist or be empty) as a git repository
// on branch main whose history has opts.Commits commits and whose working tree and index equal
// its last commit. git runs with the caller's environment. The content depends only on opts.
func Generate(dir string, opts Options) error {
	if opts.Apps < 1 || opts.ManifestsPerApp < 1 || len(opts.Overlays) == 0 || opts.Commits < 1 {
		return fmt.Errorf("generating a repository needs at least one app, manifest, overlay and commit: %+v", opts)
	}
	return importRepo(dir, newGenerator(opts).stream)
}

// importRepo makes dir a git repository on branch main from the fast-import stream that stream
// writes, and checks out its last commit.
func importRepo(dir string, stream func(io.Writer) error) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("generating a repository in %s: the directory is not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := git(dir, nil, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(stream(pw)) }()
	if err := git(dir, pr, "fast-import", "--quiet", "--done"); err != nil {
		return fmt.Errorf("importing the history: %w", err)
	}
	if err := git(dir, nil, "reset", "-q", "--hard", "main"); err != nil {
		return fmt.Errorf("checking out the generated repository: %w", err)
	}
	return nil
}

func git(dir string, stdin io.Reader, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// overlay is one environment's kustomization and the values its history changes.
type overlay struct {
	env      string
	replicas []replicaEntry
	images   []imageEntry
	// patched is the application whose web Deployment the overlay's patch file resizes.
	patched *app
}

type replicaEntry struct {
	name  string
	count int
}

type imageEntry struct {
	name string
	tag  version
}

type generator struct {
	history
	opts     Options
	apps     []*app
	overlays []*overlay
}

// history writes commits with authors and times drawn from rnd, in order.
type history struct {
	rnd   *rand.Rand
	clock int64
}

func newHistory() history { return history{rnd: rand.New(rand.NewPCG(4, 2)), clock: 1672531200} }

var authors = []string{
	"Ana Lima <ana@example.com>", "Bo Chen <bo@example.com>", "Chidi Okafor <chidi@example.com>",
	"Dana Levi <dana@example.com>", "Emil Berg <emil@example.com>", "Fatima Khan <fatima@example.com>",
	"Flux Image Automation <flux@example.com>", "Renovate Bot <bot@renovate.example.com>",
}

var logLevels = []string{"debug", "info", "warn"}

func newGenerator(opts Options) *generator {
	g := &generator{history: newHistory(), opts: opts}
	for i := range opts.Apps {
		g.apps = append(g.apps, &app{
			index: i, name: AppName(i), team: teams[i%len(teams)],
			web:                 workload{replicas: 2 + i%3, tag: g.version()},
			worker:              workload{replicas: 1 + i%2, tag: g.version()},
			api:                 workload{replicas: 2, tag: g.version()},
			logLevel:            "info",
			cacheTTL:            300,
			maxConnections:      100 + 50*(i%4),
			workerConcurrency:   4,
			apiRateLimitPerUser: 60,
		})
	}
	// Each overlay sizes and retags up to four applications, spread over the repository.
	step := max(1, opts.Apps/4)
	for k, env := range opts.Overlays {
		o := &overlay{env: env, patched: g.apps[(7*k+1)%opts.Apps]}
		seen := map[int]bool{}
		for j := range min(4, opts.Apps) {
			if i := (k + j*step) % opts.Apps; !seen[i] {
				seen[i] = true
				o.replicas = append(o.replicas, replicaEntry{AppName(i) + "-web", 1 + k + j%2})
			}
		}
		clear(seen)
		for j := range min(4, opts.Apps) {
			if i := (2*k + 1 + j*step) % opts.Apps; !seen[i] {
				seen[i] = true
				o.images = append(o.images, imageEntry{"registry.example.com/" + AppName(i) + "/web", g.version()})
			}
		}
		g.overlays = append(g.overlays, o)
	}
	return g
}

func (g *generator) version() version {
	return version{1, g.rnd.IntN(12), g.rnd.IntN(20)}
}

func (g *history) bump(v version) version {
	if g.rnd.IntN(5) == 0 {
		return version{v.major, v.minor + 1, 0}
	}
	return version{v.major, v.minor, v.patch + 1}
}

// stream writes the whole history as a fast-import stream.
func (g *generator) stream(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	files := g.files()
	g.commit(bw, fmt.Sprintf("Import %d applications with %d manifests and %d overlays",
		g.opts.Apps, g.opts.Manifests(), len(g.opts.Overlays)), files...)
	for range g.opts.Commits - 1 {
		msg, f := g.edit()
		g.commit(bw, msg, f)
	}
	fmt.Fprint(bw, "done\n")
	return bw.Flush()
}

type file struct {
	path string
	data []byte
}

func (g *history) commit(w *bufio.Writer, msg string, files ...file) {
	g.clock += 300 + g.rnd.Int64N(6900)
	who := authors[g.rnd.IntN(len(authors))]
	fmt.Fprintf(w, "commit refs/heads/main\nauthor %s %d +0000\ncommitter %s %d +0000\ndata %d\n%s\n",
		who, g.clock, who, g.clock, len(msg)+1, msg)
	for _, f := range files {
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n", f.path, len(f.data))
		w.Write(f.data)
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
}

// files are every file of the repository, as the first commit adds them.
func (g *generator) files() []file {
	var out []file
	var apps []string
	for _, a := range g.apps {
		dir := "base/apps/" + a.name
		apps = append(apps, "apps/"+a.name)
		out = append(out, file{dir + "/kustomization.yaml", g.appKustomization(a)})
		for i := range g.opts.ManifestsPerApp {
			out = append(out, file{dir + "/" + fileOf(i), a.manifest(i)})
		}
	}
	out = append(out, file{"base/kustomization.yaml", baseKustomization(apps, g.opts.Overlays)})
	for _, o := range g.overlays {
		out = append(out, file{"overlays/" + o.env + "/kustomization.yaml", o.kustomization()},
			file{"overlays/" + o.env + "/resources-patch.yaml", o.patch()})
	}
	out = append(out, file{"README.md", []byte(readme)})
	return out
}

const readme = `# Fleet configuration

Generated for benchmarks. base/apps holds one directory per application; base/kustomization.yaml
lists them all; overlays/<env> renders the base for one environment, with its replica counts
and image tags.
`

func (g *generator) appKustomization(a *app) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: owned by team %s.\n#\n", a.name, a.team)
	b.WriteString("# Sizes and image tags per environment live in overlays/*/kustomization.yaml.\n")
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\n")
	fmt.Fprintf(&b, "labels:\n  - pairs:\n      app.kubernetes.io/part-of: %s\n      example.com/team: %s\n\n", a.name, a.team)
	b.WriteString("resources:\n")
	for i := range g.opts.ManifestsPerApp {
		fmt.Fprintf(&b, "  - %s\n", fileOf(i))
	}
	return []byte(b.String())
}

func baseKustomization(apps, overlays []string) []byte {
	var b strings.Builder
	b.WriteString("# Every application of the fleet.\n#\n")
	fmt.Fprintf(&b, "# Shared by overlays/%s: anything that differs between environments\n", strings.Join(overlays, ", overlays/"))
	b.WriteString("# belongs in the overlays, not here.\n")
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\n")
	b.WriteString("labels:\n  - pairs:\n      app.kubernetes.io/managed-by: kustomize\n\n")
	b.WriteString("resources:\n")
	for _, a := range apps {
		fmt.Fprintf(&b, "  - %s\n", a)
	}
	return []byte(b.String())
}

func (o *overlay) kustomization() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# The %s environment: every application of the base, with %s's sizes\n", o.env, o.env)
	b.WriteString("# and image tags.\n")
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\n")
	b.WriteString("resources:\n  - ../../base\n\n")
	fmt.Fprintf(&b, "labels:\n  - pairs:\n      environment: %s\n\n", o.env)
	b.WriteString("replicas:\n")
	for _, r := range o.replicas {
		fmt.Fprintf(&b, "  - name: %s\n    count: %d\n", r.name, r.count)
	}
	b.WriteString("\nimages:\n")
	for _, im := range o.images {
		fmt.Fprintf(&b, "  - name: %s\n    newTag: \"%s\"\n", im.name, im.tag)
	}
	b.WriteString("\npatches:\n  # strategic merge patch: more memory for ")
	fmt.Fprintf(&b, "%s-web in %s\n  - path: resources-patch.yaml\n", o.patched.name, o.env)
	return []byte(b.String())
}

func (o *overlay) patch() []byte {
	return fmt.Appendf(nil, `# %[2]s sizing of %[1]s-web.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s-web
  namespace: %[1]s
spec:
  template:
    spec:
      containers:
        - name: web
          resources:
            requests:
              memory: 512Mi
            limits:
              memory: 1Gi
`, o.patched.name, o.env)
}

// edit makes one random small change and returns its commit message and the changed file.
func (g *generator) edit() (string, file) {
	has := func(f string) bool { return slotIndex(f) < g.opts.ManifestsPerApp }
	a := g.apps[g.rnd.IntN(len(g.apps))]
	app := func(f, msg string) (string, file) {
		return a.name + ": " + msg, file{path.Join("base/apps", a.name, f), a.manifest(slotIndex(f))}
	}
	switch n := g.rnd.IntN(10); {
	case n == 0:
		a.web.replicas = 1 + g.rnd.IntN(6)
		return app("web-deployment.yaml", fmt.Sprintf("default web to %d replicas", a.web.replicas))
	case n == 1:
		a.web.tag = g.bump(a.web.tag)
		return app("web-deployment.yaml", "web image "+a.web.tag.String())
	case n == 2:
		a.logLevel = logLevels[g.rnd.IntN(len(logLevels))]
		return app("web-deployment.yaml", "LOG_LEVEL="+a.logLevel)
	case n == 3 && has("web-config.yaml"):
		a.newCheckout = !a.newCheckout
		return app("web-config.yaml", fmt.Sprintf("NEW_CHECKOUT=%t", a.newCheckout))
	case n == 4 && has("worker-deployment.yaml"):
		a.worker.tag = g.bump(a.worker.tag)
		return app("worker-deployment.yaml", "worker image "+a.worker.tag.String())
	case n == 5 && has("api-deployment.yaml"):
		a.api.tag = g.bump(a.api.tag)
		return app("api-deployment.yaml", "api image "+a.api.tag.String())
	case n == 6 && has("api-config.yaml"):
		a.apiRateLimitPerUser = 30 * (1 + g.rnd.IntN(6))
		return app("api-config.yaml", fmt.Sprintf("rate limit %d per user", a.apiRateLimitPerUser))
	case n == 7:
		o := g.overlays[g.rnd.IntN(len(g.overlays))]
		r := &o.replicas[g.rnd.IntN(len(o.replicas))]
		r.count = 1 + g.rnd.IntN(8)
		return o.env + ": scale " + r.name + fmt.Sprintf(" to %d", r.count),
			file{"overlays/" + o.env + "/kustomization.yaml", o.kustomization()}
	case n >= 8:
		o := g.overlays[g.rnd.IntN(len(g.overlays))]
		im := &o.images[g.rnd.IntN(len(o.images))]
		im.tag = g.bump(im.tag)
		return o.env + ": " + path.Base(path.Dir(im.name)) + " web " + im.tag.String(),
			file{"overlays/" + o.env + "/kustomization.yaml", o.kustomization()}
	}
	a.cacheTTL = 60 * (1 + g.rnd.IntN(15))
	return app("web-deployment.yaml", fmt.Sprintf("CACHE_TTL_SECONDS=%d", a.cacheTTL))
}
