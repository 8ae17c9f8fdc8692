package helm

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/postrenderer"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

// Options are the release settings a render depends on.
type Options struct {
	// ReleaseName is .Release.Name (helm-controller: spec.releaseName or [targetNamespace-]name,
	// shortened; Argo CD: helm.releaseName or the Application's name).
	ReleaseName string
	// Namespace is .Release.Namespace; empty means "default", as for `helm template`.
	Namespace string
	// KubeVersion is .Capabilities.KubeVersion ("v1.31.0"); empty means the SDK's default.
	KubeVersion string
	// APIVersions are added to .Capabilities.APIVersions (Argo CD passes the cluster's).
	APIVersions []string
	// IncludeCRDs puts the chart's crds/ files in the result (Argo CD unless skipCrds;
	// helm-controller applies them itself, by its CRD policy).
	IncludeCRDs bool
	// DisableHooks leaves hooks out (helm-controller's install.disableHooks / upgrade.disableHooks).
	DisableHooks bool
	// SkipTests leaves out hooks of the test event (Argo CD's skipTests; helm-controller runs
	// tests only when spec.test.enable is set, and never applies them as part of the release).
	SkipTests bool
	// IsUpgrade renders with .Release.IsUpgrade set, as helm-controller's upgrade of an
	// existing release does.
	IsUpgrade bool
	// SkipSchemaValidation skips values.schema.json (Argo CD's skipSchemaValidation,
	// helm-controller's disableSchemaValidation).
	SkipSchemaValidation bool
	// PostRenderer, when set, rewrites the rendered manifests as the SDK's install does with it
	// (helm-controller's postRenderers and origin labels), by PostRenderStrategy.
	PostRenderer       postrenderer.PostRenderer
	PostRenderStrategy action.PostRenderStrategy
}

// Document is one rendered YAML document and the template it came from.
type Document struct {
	// Template is the chart path of the template, prefixed with the chart names
	// ("web/templates/deployment.yaml", "web/charts/redis/templates/svc.yaml", "web/crds/crd.yaml").
	Template string
	// YAML is the document, without the "# Source:" comment or a separator.
	YAML string
}

// Hook is a rendered hook: its document, the events it runs on and its weight.
type Hook struct {
	Document
	Kind   string
	Name   string
	Events []string
	Weight int
}

// Result is a render: CRDs (when included), then the manifests in Helm's install order, and the
// hooks in Helm's order; that is also the order `helm template` prints them in.
type Result struct {
	CRDs      []Document
	Manifests []Document
	Hooks     []Hook
	// Notes is the rendered NOTES.txt of the chart.
	Notes string
}

// Render renders the chart with the values as the release's user-supplied values, the way
// `helm template` and helm-controller's install do: the SDK's install action in client-only
// dry-run mode, so chart defaults, subchart conditions and globals are coalesced by the SDK.
// Missing dependencies are an error, as they are for `helm template`.
func Render(ch *Chart, vals map[string]any, opts Options) (*Result, error) {
	c, err := ch.sdk()
	if err != nil {
		return nil, err
	}
	if t := c.Metadata.Type; t != "" && t != "application" {
		return nil, fmt.Errorf("chart %s is of type %q and cannot be rendered as a release", c.Name(), t)
	}
	if deps := c.Metadata.Dependencies; len(deps) > 0 {
		reqs := make([]chart.Dependency, len(deps))
		for i, d := range deps {
			reqs[i] = d
		}
		if err := action.CheckDependencies(c, reqs); err != nil {
			return nil, fmt.Errorf("chart %s: %w (run `helm dependency build` in the chart directory and commit charts/)", c.Name(), err)
		}
	}

	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.DiscardHandler)
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true // no release storage to check the name against
	install.ReleaseName = opts.ReleaseName
	install.Namespace = opts.Namespace
	if install.Namespace == "" {
		install.Namespace = "default"
	}
	if opts.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", opts.KubeVersion, err)
		}
		install.KubeVersion = kv
	}
	install.APIVersions = common.VersionSet(opts.APIVersions)
	install.IncludeCRDs = opts.IncludeCRDs
	install.DisableHooks = opts.DisableHooks
	install.IsUpgrade = opts.IsUpgrade
	install.SkipSchemaValidation = opts.SkipSchemaValidation
	install.PostRenderer = opts.PostRenderer
	install.PostRenderStrategy = opts.PostRenderStrategy
	if vals == nil {
		vals = map[string]any{}
	}
	rel, err := install.RunWithContext(context.Background(), c, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering chart %s: %w", c.Name(), err)
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("rendering chart %s: unexpected release type %T", c.Name(), rel)
	}

	crdFiles := map[string]bool{}
	for _, crd := range c.CRDObjects() {
		crdFiles[crd.Filename] = true
	}
	res := &Result{Notes: r.Info.Notes}
	for _, d := range splitManifest(r.Manifest) {
		if crdFiles[d.Template] {
			res.CRDs = append(res.CRDs, d)
		} else {
			res.Manifests = append(res.Manifests, d)
		}
	}
	if !opts.DisableHooks {
		for _, h := range r.Hooks {
			if opts.SkipTests && slices.Contains(h.Events, releasev1.HookTest) {
				continue
			}
			events := make([]string, len(h.Events))
			for i, e := range h.Events {
				events[i] = string(e)
			}
			res.Hooks = append(res.Hooks, Hook{
				Document: Document{Template: h.Path, YAML: h.Manifest},
				Kind:     h.Kind, Name: h.Name, Events: events, Weight: h.Weight,
			})
		}
	}
	return res, nil
}

// splitManifest splits the release manifest the SDK builds ("---\n# Source: path\n" before each
// template's document; a CRD file's later documents carry no comment) into documents.
func splitManifest(manifest string) []Document {
	parts := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []Document
	source := ""
	for _, k := range keys {
		doc := parts[k]
		if rest, ok := strings.CutPrefix(doc, "# Source: "); ok {
			line, body, _ := strings.Cut(rest, "\n")
			source, doc = line, body
		}
		if strings.TrimSpace(doc) == "" {
			continue
		}
		out = append(out, Document{Template: source, YAML: strings.TrimRight(doc, "\n") + "\n"})
	}
	return out
}
