package capture_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/capture"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }

// countingServer counts the dry-runs per kind.
type countingServer struct {
	capture.DryRunner
	mu     sync.Mutex
	counts map[string]int
}

func (s *countingServer) DryRunCreate(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	s.counts[u.GetKind()]++
	s.mu.Unlock()
	return s.DryRunner.DryRunCreate(ctx, u)
}

// defaultsObjects is a namespace's worth of objects of seven kinds, n of each, their values
// varying from object to object as real ones do, with defaults written out in some (a
// Deployment's strategy, a Service's targetPort equal to its port, a Secret's type) and
// defaults that follow a sibling (a RoleBinding subject's apiGroup follows its kind).
func defaultsObjects(ns string, n int) []byte {
	var m strings.Builder
	for i := range n {
		app := fmt.Sprintf("app-%03d", i)
		head := func(apiVersion, kind, name string) {
			fmt.Fprintf(&m, "---\napiVersion: %s\nkind: %s\nmetadata: {name: %s, namespace: %s, labels: {app: %s}}\n", apiVersion, kind, name, ns, app)
		}
		head("v1", "ConfigMap", fmt.Sprintf("config-%03d", i))
		fmt.Fprintf(&m, "data: {LOG_LEVEL: info, INDEX: \"%d\"}\n", i)

		head("v1", "Service", fmt.Sprintf("web-%03d", i))
		switch i % 3 {
		case 0:
			fmt.Fprintf(&m, "spec: {selector: {app: %s}, ports: [{name: http, port: 80, targetPort: %d}]}\n", app, 8000+i)
		case 1:
			fmt.Fprintf(&m, "spec: {selector: {app: %s}, ports: [{port: %d, targetPort: %d, protocol: TCP}], sessionAffinity: ClientIP}\n", app, 9000+i, 9000+i)
		default:
			fmt.Fprintf(&m, "spec: {type: ClusterIP, selector: {app: %s}, ports: [{port: 443, targetPort: https}]}\n", app)
		}

		head("apps/v1", "Deployment", app)
		strategy := ""
		if i%2 == 1 {
			strategy = "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}\n"
		}
		fmt.Fprintf(&m, `spec:
  replicas: %d
%s  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      serviceAccountName: robot-%03d
      containers:
        - name: app
          image: registry.example.com/shop/%s:1.%d.0
          imagePullPolicy: %s
          ports: [{name: http, containerPort: %d}]
          env: [{name: CONFIG, value: config-%03d}]
          resources: {requests: {cpu: 100m, memory: 128Mi}}
`, 1+i%3, strategy, app, app, i%4, app, i%5, []string{"IfNotPresent", "Always"}[i%2], 8000+i, i)

		head("v1", "Secret", fmt.Sprintf("creds-%03d", i))
		if i%2 == 0 {
			m.WriteString("type: Opaque\n")
		}
		fmt.Fprintf(&m, "stringData: {username: app-%03d, password: password-%03d}\n", i, i)

		head("v1", "ServiceAccount", fmt.Sprintf("robot-%03d", i))
		head("rbac.authorization.k8s.io/v1", "Role", fmt.Sprintf("reader-%03d", i))
		m.WriteString("rules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, watch]}]\n")
		head("rbac.authorization.k8s.io/v1", "RoleBinding", fmt.Sprintf("reader-%03d", i))
		subject := fmt.Sprintf("{kind: ServiceAccount, name: robot-%03d, namespace: %s}", i, ns)
		if i%3 == 2 {
			subject = fmt.Sprintf("{kind: User, name: person-%03d, apiGroup: rbac.authorization.k8s.io}", i)
		}
		fmt.Fprintf(&m, "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader-%03d}\nsubjects: [%s]\n", i, subject)
	}
	return []byte(m.String())
}

// The manifests of a namespace, decided together (the cache, its shortcuts, several objects at
// a time), are byte for byte those that each object gets alone from a fresh Defaults, which
// asks the API server about every field of it.
func TestE2EManifestsAreThoseOfTheUncachedWalk(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	ns := "capture-defaults-" + utilrand.String(6)
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyYAML(ctx, "kubectl", defaultsObjects(ns, 12)); err != nil {
		t.Fatal(err)
	}
	cfg := c.RESTConfig()
	cfg.QPS, cfg.Burst = 200, 400
	disc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	groups, err := restmapper.GetAPIGroupResources(disc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	server := capture.ServerDryRun{Client: dyn, Mapper: mapper}
	all, err := capture.List(ctx, disc, dyn, capture.ListOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var lives []*unstructured.Unstructured
	for _, u := range all {
		if capture.OwnedReason(u) == "" {
			lives = append(lives, u)
		}
	}
	if len(lives) != 7*12 {
		t.Fatalf("listed %d objects of the user's, want %d", len(lives), 7*12)
	}

	together := &countingServer{DryRunner: server, counts: map[string]int{}}
	start := time.Now()
	d := capture.NewDefaults(together)
	// The test API server has no mutating admission: the fields its defaulting never sets are
	// decided without it.
	if d.OnlyBuiltin = capture.OnlyBuiltinDefaulting(ctx, dyn, mapper); !d.OnlyBuiltin {
		t.Fatal("the test API server has no mutating admission, and OnlyBuiltinDefaulting says it may have")
	}
	got, err := d.Manifests(ctx, lives)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)

	alone := &countingServer{DryRunner: server, counts: map[string]int{}}
	for i, live := range lives {
		want, err := capture.NewDefaults(alone).Manifest(ctx, live)
		if err != nil {
			t.Fatal(err)
		}
		gotYAML, _ := yaml.Marshal(got[i].Object)
		wantYAML, _ := yaml.Marshal(want.Object)
		if string(gotYAML) != string(wantYAML) {
			t.Errorf("%s decided together:\n%s\nalone:\n%s", capture.LiveName(live), gotYAML, wantYAML)
		}
	}
	total := func(s *countingServer) int {
		n := 0
		for _, c := range s.counts {
			n += c
		}
		return n
	}
	t.Logf("%d objects together: %d dry-runs %v in %s; each alone: %d dry-runs %v",
		len(lives), total(together), together.counts, took.Round(time.Millisecond), total(alone), alone.counts)
}
