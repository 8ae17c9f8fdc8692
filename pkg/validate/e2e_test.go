package validate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }

// cluster is the API server cfg reaches, with a fresh view of the kinds it serves.
func cluster(t *testing.T, cfg *rest.Config) *validate.Cluster {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &validate.Cluster{Config: cfg, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// e2eNamespace creates a namespace of its own for a test.
func e2eNamespace(t *testing.T, ctx context.Context, c *testcluster.Cluster, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// installWidgetCRD installs the Widget CRD of the unit tests.
func installWidgetCRD(t *testing.T, ctx context.Context, c *testcluster.Cluster) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "widget-crd.yaml")
	if err := os.WriteFile(p, []byte(widgetCRD), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCRDs(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// The API server agrees with the offline checks: it refuses every invalid object of the unit
// tests (but those of the kubelet's rules) with the words they expect, and takes every valid
// one. So the offline rules refuse nothing the API server takes.
func TestE2EAPIServerAgreesWithOfflineChecks(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installWidgetCRD(t, ctx, c)
	ns := e2eNamespace(t, ctx, c, "validate-agree")
	cl := cluster(t, c.RESTConfig())

	var objs []*unstructured.Unstructured
	var want []invalidCase
	for _, cs := range append(append([]invalidCase{}, invalidCases...), crdCases...) {
		objs = append(objs, parse(t, inNamespace(cs.doc, ns)))
		want = append(want, cs)
	}
	results, err := validate.DryRun(ctx, cl, objs, validate.DryRunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		switch {
		case want[i].server == "" && r.Outcome != validate.DryRunAccepted:
			t.Errorf("%s: the API server refuses it (%s: %s), the case says it takes it", want[i].name, r.Outcome, r.Message)
		case want[i].server != "" && (r.Outcome != validate.DryRunRefused || !strings.Contains(r.Message, want[i].server)):
			t.Errorf("%s: the API server answers %s: %q; want a refusal holding %q", want[i].name, r.Outcome, r.Message, want[i].server)
		}
	}

	var valid []*unstructured.Unstructured
	for _, u := range parseAll(t, inNamespace(validObjects, ns)) {
		if u.GetName() != "" { // an apply needs a name; generated names are the offline test's
			valid = append(valid, u)
		}
	}
	results, err = validate.DryRun(ctx, cl, valid, validate.DryRunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Outcome != validate.DryRunAccepted {
			t.Errorf("%s: %s: %s", r.ID, r.Outcome, r.Message)
		}
	}
}

// With a cluster: what the offline checks refuse is refused without asking the API server; what
// only the API server knows (a Deployment's restartPolicy, a CRD's CEL rule) is refused in its
// words; the cluster's CRDs validate custom resources offline; objects in a namespace the same
// change creates are not refused.
func TestE2EObjectsWithCluster(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installWidgetCRD(t, ctx, c)
	ns := e2eNamespace(t, ctx, c, "validate-cluster")
	cl := cluster(t, c.RESTConfig())

	objs := parseAll(t, inNamespace(deployment(nil)+"\n---\n"+
		deployment(replace("      containers:", "      restartPolicy: Never\n      containers:"))+"\n---\n"+
		invalidCases[1].doc+"\n---\n"+
		widget("ruled", "{size: 2, rule: forbidden}")+"\n---\n"+
		widget("small", "{size: 0}"), ns))
	objs[1].SetName("never")
	objs[2].SetName("negative")
	rep, err := validate.Objects(ctx, objs, validate.Options{Cluster: cl})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep.Problems, []string{
		"spec.replicas: Invalid value: -5: must be greater than or equal to 0",
		"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
		`Deployment.apps "never" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`,
		`Widget.example.com "ruled" is invalid: spec.rule: Invalid value: "forbidden": must not be forbidden`,
	})
	checks := []string{validate.CheckRule, validate.CheckCRD, validate.CheckDryRun, validate.CheckDryRun}
	fields := []string{"spec.replicas", "spec.size", "spec.template.spec.restartPolicy", "spec.rule"}
	for i, p := range rep.Problems {
		if i < len(checks) && (p.Check != checks[i] || p.Field != fields[i]) {
			t.Errorf("%s: check %s field %q, want %s %q", p, p.Check, p.Field, checks[i], fields[i])
		}
	}
	if len(rep.Notices) > 0 || len(rep.Unchecked) > 0 {
		t.Errorf("notices %q, unchecked %v", rep.Notices, rep.Unchecked)
	}

	// A new namespace and what goes in it, in one change.
	newNS := ns + "-new"
	objs = parseAll(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+newNS+"}\n---\n"+inNamespace(deployment(nil), newNS)+
		"\n---\n"+inNamespace(widget("fresh", "{size: 1}"), newNS))
	rep, err = validate.Objects(ctx, objs, validate.Options{Cluster: cl})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("no server-side dry run of Deployment.apps %s/web, Widget.example.com %s/fresh: its namespace %s is created along with it; checked offline only", newNS, newNS, newNS)
	if len(rep.Problems) > 0 || len(rep.Notices) != 1 || rep.Notices[0] != want {
		t.Errorf("problems %v, notices %q", rep.Problems, rep.Notices)
	}
}

// Where RBAC forbids the dry run (and reading the CRDs), the report says so in one line each
// and keeps the offline problems.
func TestE2EForbiddenDryRunIsANotice(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installWidgetCRD(t, ctx, c)
	ns := e2eNamespace(t, ctx, c, "validate-rbac")
	cfg := c.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody@example.com"}
	cl := cluster(t, cfg)

	objs := parseAll(t, inNamespace(deployment(nil)+"\n---\n"+invalidCases[1].doc+"\n---\n"+widget("w", "{size: 1}"), ns))
	objs[1].SetName("negative")
	rep, err := validate.Objects(ctx, objs, validate.Options{Cluster: cl})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep.Problems, []string{"spec.replicas: Invalid value: -5"})
	if len(rep.Notices) != 2 ||
		!strings.HasPrefix(rep.Notices[0], "RBAC forbids reading CustomResourceDefinition widgets.example.com, so Widget objects were not checked against its schema: ") ||
		!strings.HasPrefix(rep.Notices[1], fmt.Sprintf("RBAC forbids the server-side dry run of Deployment.apps %s/web, Widget.example.com %s/w (", ns, ns)) ||
		!strings.Contains(rep.Notices[1], `User "nobody@example.com" cannot patch resource`) ||
		!strings.HasSuffix(rep.Notices[1], "; checked offline only") {
		t.Errorf("notices:\n%s", strings.Join(rep.Notices, "\n"))
	}
	for _, n := range rep.Notices {
		if strings.Contains(n, "\n") {
			t.Errorf("a notice of more than one line: %q", n)
		}
	}
	if len(rep.Unchecked) != 1 || rep.Unchecked[0].Object.Kind != "Widget" {
		t.Errorf("unchecked: %v", rep.Unchecked)
	}
}
