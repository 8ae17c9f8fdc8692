package repogen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
)

// The monitoring shape: one plain directory of generated manifests, about 100 files and 6 MB,
// listed one by one in the kustomization at the repository root. Most of its bytes are a dozen
// CustomResourceDefinitions of 200–500 KB under manifests/setup and a ConfigMapList of JSON
// dashboards; the rest are each component's Deployment (or DaemonSet), Service, RBAC, network
// policy and alerting rules. The history changes image tags, replica counts and rule durations.

// monitoringNamespace is the namespace of every namespaced object of the monitoring shape.
const monitoringNamespace = "monitoring"

// monitoringCRDSizes are the sizes of the shape's CRDs, in KB.
var monitoringCRDSizes = []int{500, 480, 450, 420, 390, 360, 330, 300, 270, 240, 210, 200}

var monitoringCRDKinds = []string{"Prometheus", "Alertmanager", "AlertmanagerConfig", "PrometheusAgent",
	"ScrapeConfig", "ThanosRuler", "PodMonitor", "Probe", "ServiceMonitor", "PrometheusRule", "RecordingSet", "SilenceSet"}

type monComponent struct {
	name     string
	daemon   bool
	port     int
	rules    int
	pdb      bool
	replicas int
	tag      version
	// ruleFor is the alerting rules' for: duration in minutes, which the history changes.
	ruleFor int
}

// monitoring is the monitoring shape's state: what its files are written from.
type monitoring struct {
	history
	components []*monComponent
	dashboards int
}

// Monitoring writes the monitoring shape into dir (which must not exist or be empty) with a
// history of commits commits, as Generate does.
func Monitoring(dir string, commits int) (Shape, error) {
	if commits < 1 {
		return Shape{}, fmt.Errorf("generating a repository needs at least one commit")
	}
	m := newMonitoring()
	stream := func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		m.commit(bw, "Import the monitoring stack", m.files()...)
		for range commits - 1 {
			msg, f := m.edit()
			m.commit(bw, msg, f)
		}
		fmt.Fprint(bw, "done\n")
		return bw.Flush()
	}
	if err := importRepo(dir, stream); err != nil {
		return Shape{}, err
	}
	return Shape{Path: ".", Namespace: monitoringNamespace, Deployment: "dashboards"}, nil
}

func newMonitoring() *monitoring {
	m := &monitoring{history: newHistory(), dashboards: 30}
	for i, c := range []struct {
		name        string
		daemon, pdb bool
		port, rules int
		replicas    int
	}{
		{"alerting", false, true, 9093, 12, 3},
		{"blackbox", false, false, 9115, 4, 1},
		{"dashboards", false, false, 3000, 3, 1},
		{"state-metrics", false, false, 8443, 20, 1},
		{"node-exporter", true, false, 9100, 40, 0},
		{"metrics", false, true, 9090, 30, 2},
		{"metrics-adapter", false, true, 6443, 2, 2},
		{"operator", false, false, 8080, 8, 1},
		{"control-plane", false, false, 10250, 140, 0},
	} {
		m.components = append(m.components, &monComponent{name: c.name, daemon: c.daemon, port: c.port,
			rules: c.rules, pdb: c.pdb, replicas: c.replicas, tag: version{0, 10 + i, 0}, ruleFor: 15})
	}
	return m
}

func (m *monitoring) files() []file {
	var out []file
	for i, kind := range monitoringCRDKinds {
		out = append(out, file{fmt.Sprintf("manifests/setup/0%sCustomResourceDefinition.yaml", strings.ToLower(kind)),
			crd("monitoring.example.com", kind, monitoringCRDSizes[i]*1000, uint64(i))})
	}
	out = append(out, file{"manifests/setup/namespace.yaml", fmt.Appendf(nil,
		"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", monitoringNamespace)})
	for _, c := range m.components {
		for _, f := range []string{"serviceAccount", "clusterRole", "clusterRoleBinding", "service",
			"serviceMonitor", "networkPolicy", "prometheusRule", "deployment", "podDisruptionBudget"} {
			if f == "deployment" && c.replicas == 0 && !c.daemon {
				continue
			}
			if f == "podDisruptionBudget" && !c.pdb {
				continue
			}
			if f == "deployment" && c.daemon {
				f = "daemonset"
			}
			out = append(out, m.file(c, f))
		}
	}
	out = append(out,
		file{"manifests/dashboards-dashboardDefinitions.yaml", m.dashboardDefinitions()},
		file{"manifests/dashboards-dashboardSources.yaml", []byte(dashboardSources)},
		file{"manifests/dashboards-dashboardDatasources.yaml", []byte(dashboardDatasources)},
		file{"manifests/dashboards-config.yaml", []byte(dashboardConfig)},
		file{"manifests/metrics-adapter-configMap.yaml", []byte(adapterConfig)},
		file{"manifests/metrics-adapter-apiService.yaml", []byte(adapterAPIService)},
		file{"manifests/alerting-secret.yaml", []byte(alertingSecret)},
	)
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	var paths []string
	for _, f := range out {
		paths = append(paths, f.path)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(&k, "- ./%s\n", p)
	}
	return append(out, file{"kustomization.yaml", []byte(k.String())})
}

// file is component c's manifest of kind f (its file name's suffix).
func (m *monitoring) file(c *monComponent, f string) file {
	p := fmt.Sprintf("manifests/%s-%s.yaml", c.name, f)
	labels := fmt.Sprintf(`    app.kubernetes.io/component: %[1]s
    app.kubernetes.io/name: %[1]s
    app.kubernetes.io/part-of: monitoring-stack
    app.kubernetes.io/version: %[2]s
`, c.name, c.tag)
	head := func(apiVersion, kind string, namespaced bool) string {
		s := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  labels:\n%s  name: %s\n", apiVersion, kind, labels, c.name)
		if namespaced {
			s += "  namespace: " + monitoringNamespace + "\n"
		}
		return s
	}
	var b strings.Builder
	switch f {
	case "serviceAccount":
		b.WriteString(head("v1", "ServiceAccount", true))
		b.WriteString("automountServiceAccountToken: false\n")
	case "clusterRole":
		b.WriteString(head("rbac.authorization.k8s.io/v1", "ClusterRole", false))
		b.WriteString("rules:\n")
		for i, res := range []string{"pods", "services", "endpoints", "nodes", "configmaps", "secrets", "namespaces"} {
			if i > 2+len(c.name)%5 {
				break
			}
			fmt.Fprintf(&b, "- apiGroups:\n  - \"\"\n  resources:\n  - %s\n  verbs:\n  - get\n  - list\n  - watch\n", res)
		}
	case "clusterRoleBinding":
		b.WriteString(head("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false))
		fmt.Fprintf(&b, "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: %s\nsubjects:\n- kind: ServiceAccount\n  name: %s\n  namespace: %s\n",
			c.name, c.name, monitoringNamespace)
	case "service":
		b.WriteString(head("v1", "Service", true))
		fmt.Fprintf(&b, "spec:\n  ports:\n  - name: web\n    port: %d\n    targetPort: web\n  - name: reloader-web\n    port: 8081\n    targetPort: reloader-web\n  selector:\n    app.kubernetes.io/component: %s\n    app.kubernetes.io/name: %s\n    app.kubernetes.io/part-of: monitoring-stack\n",
			c.port, c.name, c.name)
	case "serviceMonitor":
		b.WriteString(head("monitoring.example.com/v1", "ServiceMonitor", true))
		fmt.Fprintf(&b, "spec:\n  endpoints:\n  - interval: 30s\n    port: web\n    relabelings:\n    - action: replace\n      regex: (.*)\n      replacement: $1\n      sourceLabels:\n      - __meta_kubernetes_pod_node_name\n      targetLabel: instance\n  - interval: 30s\n    port: reloader-web\n  selector:\n    matchLabels:\n      app.kubernetes.io/component: %s\n      app.kubernetes.io/name: %s\n", c.name, c.name)
	case "networkPolicy":
		b.WriteString(head("networking.k8s.io/v1", "NetworkPolicy", true))
		fmt.Fprintf(&b, "spec:\n  egress:\n  - {}\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app.kubernetes.io/name: metrics\n    ports:\n    - port: %d\n      protocol: TCP\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n  policyTypes:\n  - Egress\n  - Ingress\n", c.port, c.name)
	case "podDisruptionBudget":
		b.WriteString(head("policy/v1", "PodDisruptionBudget", true))
		fmt.Fprintf(&b, "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n", c.name)
	case "prometheusRule":
		b.WriteString(head("monitoring.example.com/v1", "PrometheusRule", true))
		m.rules(&b, c)
	case "deployment", "daemonset":
		m.workload(&b, c, labels)
	}
	return file{p, []byte(b.String())}
}

// rules writes c's alerting rules, each with a multi-line expression and long annotations.
func (m *monitoring) rules(b *strings.Builder, c *monComponent) {
	rnd := rand.New(rand.NewPCG(uint64(c.port), 3))
	fmt.Fprintf(b, "spec:\n  groups:\n  - name: %s.rules\n    rules:\n", c.name)
	for i := range c.rules {
		alert := strings.ToUpper(c.name[:1]) + strings.ReplaceAll(c.name[1:], "-", "") + strings.ToUpper(camel(rnd, 2)[:1]) + camel(rnd, 2)[1:]
		fmt.Fprintf(b, "    - alert: %s%d\n      annotations:\n        description: %s\n        runbook_url: https://runbooks.example.com/%s/%s\n        summary: %s\n",
			alert, i, sentence(rnd, schemaWords, 30), c.name, strings.ToLower(alert), sentence(rnd, schemaWords, 8))
		fmt.Fprintf(b, "      expr: |\n        (\n          sum by (cluster, namespace, job) (rate(%s_%s_total{job=\"%s\"}[5m]))\n        /\n          sum by (cluster, namespace, job) (rate(%s_requests_total{job=\"%s\"}[5m]))\n        ) > 0.0%d\n",
			strings.ReplaceAll(c.name, "-", "_"), strings.ToLower(camel(rnd, 1)), c.name, strings.ReplaceAll(c.name, "-", "_"), c.name, 1+i%9)
		fmt.Fprintf(b, "      for: %dm\n      labels:\n        severity: %s\n", c.ruleFor, []string{"warning", "critical", "info"}[i%3])
	}
}

// workload writes c's Deployment or DaemonSet; the dashboards' mounts every dashboard ConfigMap.
func (m *monitoring) workload(b *strings.Builder, c *monComponent, labels string) {
	kind := "Deployment"
	if c.daemon {
		kind = "DaemonSet"
	}
	fmt.Fprintf(b, "apiVersion: apps/v1\nkind: %s\nmetadata:\n  labels:\n%s  name: %s\n  namespace: %s\nspec:\n", kind, labels, c.name, monitoringNamespace)
	if !c.daemon {
		fmt.Fprintf(b, "  replicas: %d\n", c.replicas)
	}
	fmt.Fprintf(b, "  selector:\n    matchLabels:\n      app.kubernetes.io/component: %s\n      app.kubernetes.io/name: %s\n      app.kubernetes.io/part-of: monitoring-stack\n", c.name, c.name)
	fmt.Fprintf(b, "  template:\n    metadata:\n      annotations:\n        kubectl.kubernetes.io/default-container: %s\n      labels:\n%s    spec:\n", c.name, indent(strings.TrimSuffix(labels, "\n"), "    ")+"\n")
	fmt.Fprintf(b, "      automountServiceAccountToken: true\n      containers:\n")
	for j, name := range []string{c.name, "config-reloader", "rbac-proxy"} {
		fmt.Fprintf(b, "      - args:\n        - --web.listen-address=:%d\n        - --log.level=info\n        - --config.file=/etc/%s/config.yaml\n", c.port+j, c.name)
		fmt.Fprintf(b, "        env:\n        - name: GOMAXPROCS\n          valueFrom:\n            resourceFieldRef:\n              resource: limits.cpu\n")
		fmt.Fprintf(b, "        image: registry.example.com/monitoring/%s:v%s\n        name: %s\n", name, c.tag, name)
		fmt.Fprintf(b, "        ports:\n        - containerPort: %d\n          name: %s\n", c.port+j, []string{"web", "reloader-web", "https"}[j])
		fmt.Fprintf(b, "        readinessProbe:\n          httpGet:\n            path: /-/ready\n            port: %d\n          initialDelaySeconds: 5\n", c.port+j)
		fmt.Fprintf(b, "        resources:\n          limits:\n            cpu: 200m\n            memory: 200Mi\n          requests:\n            cpu: 100m\n            memory: 100Mi\n")
		fmt.Fprintf(b, "        securityContext:\n          allowPrivilegeEscalation: false\n          capabilities:\n            drop:\n            - ALL\n          readOnlyRootFilesystem: true\n")
		if j == 0 {
			b.WriteString("        volumeMounts:\n        - mountPath: /etc/config\n          name: config\n          readOnly: true\n")
			if c.name == "dashboards" {
				for d := range m.dashboards {
					fmt.Fprintf(b, "        - mountPath: /grafana-dashboard-definitions/0/%[1]s\n          name: dashboard-%[1]s\n          readOnly: false\n", dashboardName(d))
				}
			}
		}
	}
	fmt.Fprintf(b, "      nodeSelector:\n        kubernetes.io/os: linux\n      securityContext:\n        fsGroup: 65534\n        runAsNonRoot: true\n        runAsUser: 65534\n      serviceAccountName: %s\n", c.name)
	fmt.Fprintf(b, "      volumes:\n      - name: config\n        secret:\n          secretName: %s-config\n", c.name)
	if c.name == "dashboards" {
		for d := range m.dashboards {
			fmt.Fprintf(b, "      - configMap:\n          name: dashboard-%[1]s\n        name: dashboard-%[1]s\n", dashboardName(d))
		}
	}
}

var dashboardTopics = []string{"cluster", "namespace", "pod", "workload", "node", "apiserver", "scheduler",
	"controller", "kubelet", "proxy", "network", "storage", "alerting", "operator", "coredns"}

func dashboardName(d int) string {
	return fmt.Sprintf("%s-%s", dashboardTopics[d%len(dashboardTopics)], []string{"overview", "resources", "detail"}[d/len(dashboardTopics)%3])
}

// dashboardDefinitions is a ConfigMapList of m.dashboards JSON dashboards of about 40 KB each.
func (m *monitoring) dashboardDefinitions() []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nitems:\n")
	for d := range m.dashboards {
		name := dashboardName(d)
		data, err := json.MarshalIndent(dashboard(d, name), "", "    ")
		if err != nil {
			panic("repogen: " + err.Error()) // plain maps and slices always marshal
		}
		fmt.Fprintf(&b, "- apiVersion: v1\n  data:\n    %s.json: |-\n%s\n  kind: ConfigMap\n  metadata:\n    labels:\n      app.kubernetes.io/component: dashboards\n      app.kubernetes.io/name: dashboards\n      app.kubernetes.io/part-of: monitoring-stack\n    name: dashboard-%s\n    namespace: %s\n",
			name, indent(string(data), "      "), name, monitoringNamespace)
	}
	b.WriteString("kind: ConfigMapList\n")
	return []byte(b.String())
}

func dashboard(d int, name string) map[string]any {
	rnd := rand.New(rand.NewPCG(uint64(d), 11))
	var panels []any
	for i := range 14 {
		metric := strings.ReplaceAll(dashboardTopics[d%len(dashboardTopics)], "-", "_") + "_" + strings.ToLower(camel(rnd, 2))
		panels = append(panels, map[string]any{
			"datasource":  map[string]any{"type": "prometheus", "uid": "${datasource}"},
			"description": sentence(rnd, schemaWords, 14),
			"fieldConfig": map[string]any{
				"defaults": map[string]any{
					"custom":     map[string]any{"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never", "spanNulls": false, "stacking": map[string]any{"mode": "none"}},
					"thresholds": map[string]any{"mode": "absolute", "steps": []any{map[string]any{"color": "green", "value": nil}, map[string]any{"color": "red", "value": 80}}},
					"unit":       []string{"short", "bytes", "s", "percentunit", "reqps"}[i%5],
				},
				"overrides": []any{},
			},
			"gridPos": map[string]any{"h": 7, "w": 12, "x": 12 * (i % 2), "y": 7 * (i / 2)},
			"id":      i + 1,
			"options": map[string]any{"legend": map[string]any{"calcs": []any{"mean", "max"}, "displayMode": "table", "placement": "right", "showLegend": true}, "tooltip": map[string]any{"mode": "multi", "sort": "desc"}},
			"targets": []any{
				map[string]any{"expr": fmt.Sprintf("sum by (namespace, pod) (rate(%s{cluster=\"$cluster\", namespace=~\"$namespace\"}[$__rate_interval]))", metric), "legendFormat": "{{namespace}}/{{pod}}", "refId": "A"},
				map[string]any{"expr": fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(%s_bucket{cluster=\"$cluster\"}[$__rate_interval])))", metric), "legendFormat": "p99", "refId": "B"},
			},
			"title": sentence(rnd, fieldWords, 4),
			"type":  "timeseries",
		})
	}
	return map[string]any{
		"annotations":   map[string]any{"list": []any{}},
		"editable":      false,
		"graphTooltip":  1,
		"panels":        panels,
		"refresh":       "30s",
		"schemaVersion": 39,
		"tags":          []any{"monitoring-stack"},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "query": "prometheus", "type": "datasource"},
			map[string]any{"name": "cluster", "query": "label_values(up, cluster)", "type": "query", "datasource": map[string]any{"type": "prometheus", "uid": "${datasource}"}},
			map[string]any{"name": "namespace", "query": "label_values(kube_namespace_created{cluster=\"$cluster\"}, namespace)", "type": "query", "includeAll": true},
		}},
		"time":     map[string]any{"from": "now-1h", "to": "now"},
		"timezone": "utc",
		"title":    "Monitoring / " + name,
		"uid":      fmt.Sprintf("%032x", d*7919+1),
	}
}

// edit makes one small change: an image tag, a replica count or the rules' duration.
func (m *monitoring) edit() (string, file) {
	c := m.components[m.rnd.IntN(len(m.components))]
	workload := "deployment"
	if c.daemon {
		workload = "daemonset"
	}
	switch n := m.rnd.IntN(10); {
	case n < 5 && (c.replicas > 0 || c.daemon):
		c.tag = m.bump(c.tag)
		return fmt.Sprintf("%s: update to v%s", c.name, c.tag), m.file(c, workload)
	case n < 7 && c.replicas > 0:
		c.replicas = 1 + m.rnd.IntN(4)
		return fmt.Sprintf("%s: %d replicas", c.name, c.replicas), m.file(c, workload)
	}
	c.ruleFor = 5 * (1 + m.rnd.IntN(6))
	return fmt.Sprintf("%s: alert after %d minutes", c.name, c.ruleFor), m.file(c, "prometheusRule")
}

const dashboardSources = `apiVersion: v1
data:
  dashboards.yaml: |-
    {
        "apiVersion": 1,
        "providers": [
            {
                "folder": "Default",
                "name": "0",
                "options": {
                    "path": "/grafana-dashboard-definitions/0"
                },
                "orgId": 1,
                "type": "file"
            }
        ]
    }
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/component: dashboards
    app.kubernetes.io/name: dashboards
  name: dashboards-sources
  namespace: monitoring
`

const dashboardDatasources = `apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/component: dashboards
    app.kubernetes.io/name: dashboards
  name: dashboards-datasources
  namespace: monitoring
data:
  datasources.yaml: |-
    {
        "apiVersion": 1,
        "datasources": [
            {
                "access": "proxy",
                "editable": false,
                "name": "metrics",
                "orgId": 1,
                "type": "prometheus",
                "url": "http://metrics.monitoring.svc:9090",
                "version": 1
            }
        ]
    }
`

const dashboardConfig = `apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/component: dashboards
    app.kubernetes.io/name: dashboards
  name: dashboards-config
  namespace: monitoring
data:
  dashboards.ini: |
    [date_formats]
    default_timezone = UTC
    [analytics]
    reporting_enabled = false
`

const adapterConfig = `apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/component: metrics-adapter
    app.kubernetes.io/name: metrics-adapter
  name: metrics-adapter-config
  namespace: monitoring
data:
  config.yaml: |-
    "resourceRules":
      "cpu":
        "containerLabel": "container"
        "containerQuery": |
          sum by (<<.GroupBy>>) (
            irate (
                container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!="",pod!=""}[120s]
            )
          )
        "resources":
          "overrides":
            "namespace":
              "resource": "namespace"
            "node":
              "resource": "node"
            "pod":
              "resource": "pod"
      "window": "5m"
`

const adapterAPIService = `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  labels:
    app.kubernetes.io/component: metrics-adapter
    app.kubernetes.io/name: metrics-adapter
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  groupPriorityMinimum: 100
  insecureSkipTLSVerify: true
  service:
    name: metrics-adapter
    namespace: monitoring
  version: v1beta1
  versionPriority: 100
`

// alertingSecret is the alert router's configuration, a Secret in plain text as in the stack this
// shape follows; it holds no credential.
const alertingSecret = `apiVersion: v1
kind: Secret
metadata:
  labels:
    app.kubernetes.io/component: alerting
    app.kubernetes.io/name: alerting
  name: alerting-main
  namespace: monitoring
stringData:
  alerting.yaml: |-
    "global":
      "resolve_timeout": "5m"
    "route":
      "group_by":
      - "namespace"
      "group_interval": "5m"
      "group_wait": "30s"
      "receiver": "Default"
      "repeat_interval": "12h"
    "receivers":
    - "name": "Default"
type: Opaque
`
