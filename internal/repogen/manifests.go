package repogen

import (
	"fmt"
	"strings"
	"text/template"
)

// version is an image tag.
type version struct{ major, minor, patch int }

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// workload is the mutable part of one Deployment: what the history edits.
type workload struct {
	replicas int
	tag      version
}

// app is one application under base/apps and the values its history changes.
type app struct {
	index               int
	name, team          string
	web, worker, api    workload
	logLevel            string
	cacheTTL            int
	newCheckout         bool
	maxConnections      int
	workerConcurrency   int
	apiRateLimitPerUser int
}

// slot is one manifest of an application: its file and how it is written from the app's values.
type slot struct {
	file string
	tmpl *template.Template
	view func(a *app) any
}

// slots are an application's manifests, in order: an app with ManifestsPerApp = n has the first
// n (and, past the end, extra ConfigMaps). The web Deployment is first so every app has one.
var slots = []slot{
	{"web-deployment.yaml", deploymentTmpl, func(a *app) any { return a.deployment("web") }},
	{"web-service.yaml", serviceTmpl, func(a *app) any { return serviceView{a, "web", "http", 80, 8080, false} }},
	{"web-config.yaml", webConfigTmpl, func(a *app) any { return a }},
	{"namespace.yaml", namespaceTmpl, func(a *app) any { return a }},
	{"serviceaccount.yaml", serviceAccountTmpl, func(a *app) any { return a }},
	{"worker-deployment.yaml", deploymentTmpl, func(a *app) any { return a.deployment("worker") }},
	{"worker-config.yaml", workerConfigTmpl, func(a *app) any { return a }},
	{"web-pdb.yaml", pdbTmpl, func(a *app) any { return componentView{a, "web"} }},
	{"worker-hpa.yaml", hpaTmpl, func(a *app) any { return componentView{a, "worker"} }},
	{"cleanup-cronjob.yaml", cronJobTmpl, func(a *app) any { return a.deployment("worker") }},
	{"networkpolicy.yaml", networkPolicyTmpl, func(a *app) any { return a }},
	{"role.yaml", roleTmpl, func(a *app) any { return a }},
	{"rolebinding.yaml", roleBindingTmpl, func(a *app) any { return a }},
	{"ingress.yaml", ingressTmpl, func(a *app) any { return a }},
	{"api-deployment.yaml", deploymentTmpl, func(a *app) any { return a.deployment("api") }},
	{"api-service.yaml", serviceTmpl, func(a *app) any { return serviceView{a, "api", "grpc", 9000, 9000, false} }},
	{"api-config.yaml", apiConfigTmpl, func(a *app) any { return a }},
	{"api-pdb.yaml", pdbTmpl, func(a *app) any { return componentView{a, "api"} }},
	{"metrics-service.yaml", serviceTmpl, func(a *app) any { return serviceView{a, "metrics", "metrics", 9090, 9090, true} }},
	{"limitrange.yaml", limitRangeTmpl, func(a *app) any { return a }},
}

// fileOf is the file of slot i (an extra ConfigMap past the named slots).
func fileOf(i int) string {
	if i < len(slots) {
		return slots[i].file
	}
	return fmt.Sprintf("settings-%02d.yaml", i-len(slots)+1)
}

// slotIndex is the index of a named slot's file.
func slotIndex(file string) int {
	for i, s := range slots {
		if s.file == file {
			return i
		}
	}
	panic("repogen: no slot " + file)
}

// manifest writes the app's manifest of slot i.
func (a *app) manifest(i int) []byte {
	var b strings.Builder
	var err error
	if i < len(slots) {
		err = slots[i].tmpl.Execute(&b, slots[i].view(a))
	} else {
		err = settingsTmpl.Execute(&b, settingsView{a, i - len(slots) + 1})
	}
	if err != nil {
		panic("repogen: " + err.Error()) // the templates are fixed: a failure is a bug here
	}
	return []byte(b.String())
}

// deploymentView is what the Deployment and CronJob templates read.
type deploymentView struct {
	App, Team, Component, Image, Comment, Args string
	Replicas, Port, CacheTTL                   int
	LogLevel, CPU, Memory, MemoryLimit         string
}

func (a *app) deployment(component string) deploymentView {
	// Only the web Deployment's environment changes in the history; the others keep the defaults.
	v := deploymentView{App: a.name, Team: a.team, Component: component, LogLevel: "info", CacheTTL: 300}
	cpu := []string{"50m", "100m", "200m", "250m", "500m"}[a.index%5]
	mem := []int{64, 128, 256, 512}[a.index%4]
	w := a.web
	switch component {
	case "web":
		v.Comment = "serves the storefront pages on :8080 behind Service " + a.name + "-web"
		v.LogLevel, v.CacheTTL = a.logLevel, a.cacheTTL
		v.Args, v.Port = `["--listen=:8080", "--metrics=:9090"]`, 8080
	case "worker":
		w = a.worker
		v.Comment = "consumes the " + a.name + " queue; scaled by HorizontalPodAutoscaler " + a.name + "-worker"
		v.Args, v.Port = fmt.Sprintf(`["--queue=%s", "--concurrency=%d"]`, a.name, a.workerConcurrency), 9102
		mem *= 2
	case "api":
		w = a.api
		v.Comment = "the gRPC API other teams call, on :9000"
		v.Args, v.Port = `["serve", "--grpc=:9000"]`, 9000
	}
	v.Replicas = w.replicas
	v.Image = fmt.Sprintf("registry.example.com/%s/%s:%s", a.name, component, w.tag)
	v.CPU, v.Memory, v.MemoryLimit = cpu, fmt.Sprintf("%dMi", mem), fmt.Sprintf("%dMi", 2*mem)
	return v
}

type serviceView struct {
	*app
	Component, PortName string
	Port, TargetPort    int
	Headless            bool
}

type componentView struct {
	*app
	Component string
}

type settingsView struct {
	*app
	N int
}

func parse(name, text string) *template.Template {
	return template.Must(template.New(name).Parse(strings.TrimPrefix(text, "\n")))
}

var deploymentTmpl = parse("deployment", `
# {{.App}} {{.Component}}: {{.Comment}}.
#
# replicas and the image tag are set per environment in
# overlays/*/kustomization.yaml; the values here are the defaults for a new
# environment.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{.App}}-{{.Component}}
  namespace: {{.App}}
  labels:
    app.kubernetes.io/name: {{.App}}-{{.Component}}
    app.kubernetes.io/component: {{.Component}}
  annotations:
    example.com/owner: "{{.Team}}"
spec:
  replicas: {{.Replicas}}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {{.App}}-{{.Component}}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0

  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{.App}}-{{.Component}}
        app.kubernetes.io/component: {{.Component}}
      annotations:
        kubectl.kubernetes.io/default-container: {{.Component}}
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      serviceAccountName: {{.App}}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{.Component}}
          image: {{.Image}}
          imagePullPolicy: IfNotPresent
          args: {{.Args}}
          ports:
            - name: {{if eq .Component "api"}}grpc{{else}}http{{end}}
              containerPort: {{.Port}}
              protocol: TCP
            - name: metrics
              containerPort: 9090
          env:
            - name: LOG_LEVEL
              value: {{.LogLevel}}
            - name: CACHE_TTL_SECONDS
              value: "{{.CacheTTL}}"   # seconds
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          envFrom:
            - configMapRef:
                name: {{.App}}-{{.Component}}-config
          resources:
            requests:
              cpu: {{.CPU}}
              memory: {{.Memory}}
            limits:
              memory: {{.MemoryLimit}}
          readinessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: 10
          livenessProbe:
            httpGet:
              path: /livez
              port: metrics
            initialDelaySeconds: 15
            periodSeconds: 20
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
`)

var serviceTmpl = parse("service", `
apiVersion: v1
kind: Service
metadata:
  name: {{.Name}}-{{.Component}}
  namespace: {{.Name}}
  labels:
    app.kubernetes.io/name: {{.Name}}-{{.Component}}
spec:
{{- if .Headless}}
  clusterIP: None   # headless: Prometheus scrapes every pod
  selector:
    app.kubernetes.io/part-of: {{.Name}}
{{- else}}
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {{.Name}}-{{.Component}}
{{- end}}
  ports:
    - name: {{.PortName}}
      port: {{.Port}}
      targetPort: {{.PortName}}   # named port of the container
      protocol: TCP
`)

var webConfigTmpl = parse("web-config", `
# Settings of {{.Name}}-web, read through envFrom. Values are strings: keep
# numbers quoted.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{.Name}}-web-config
  namespace: {{.Name}}
data:
  SESSION_TIMEOUT: "1800"
  CURRENCY: EUR
  NEW_CHECKOUT: "{{.NewCheckout}}"
  MAX_CONNECTIONS: "{{.MaxConnections}}"
  UPSTREAM_URL: http://{{.Name}}-api.{{.Name}}.svc.cluster.local:9000
`)

var workerConfigTmpl = parse("worker-config", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{.Name}}-worker-config
  namespace: {{.Name}}
data:
  # seconds a message may stay unacknowledged before it is redelivered
  ACK_TIMEOUT: "30"
  MAX_RETRIES: "5"
  DEAD_LETTER_QUEUE: {{.Name}}.dlq
`)

var apiConfigTmpl = parse("api-config", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{.Name}}-api-config
  namespace: {{.Name}}
data:
  RATE_LIMIT_PER_USER: "{{.APIRateLimitPerUser}}"
  GRPC_MAX_RECV_MSG_SIZE: "4194304"
`)

var namespaceTmpl = parse("namespace", `
apiVersion: v1
kind: Namespace
metadata:
  name: {{.Name}}
  labels:
    example.com/team: {{.Team}}
    pod-security.kubernetes.io/enforce: restricted
`)

var serviceAccountTmpl = parse("serviceaccount", `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{.Name}}
  namespace: {{.Name}}
automountServiceAccountToken: false
`)

var pdbTmpl = parse("pdb", `
# Keep one {{.Component}} pod during node drains.
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{.Name}}-{{.Component}}
  namespace: {{.Name}}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {{.Name}}-{{.Component}}
`)

var hpaTmpl = parse("hpa", `
# {{.Name}}-{{.Component}} follows its queue through CPU.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{.Name}}-{{.Component}}
  namespace: {{.Name}}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{.Name}}-{{.Component}}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
`)

var cronJobTmpl = parse("cronjob", `
# Deletes expired sessions every night; runs the worker image.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{.App}}-cleanup
  namespace: {{.App}}
spec:
  schedule: "17 3 * * *"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        metadata:
          labels:
            app.kubernetes.io/name: {{.App}}-cleanup
        spec:
          restartPolicy: OnFailure
          serviceAccountName: {{.App}}
          containers:
            - name: cleanup
              image: {{.Image}}
              command: ["/app/bin/cleanup", "--older-than=720h"]
              resources:
                requests:
                  cpu: 50m
                  memory: 64Mi
`)

var networkPolicyTmpl = parse("networkpolicy", `
# Only the ingress controller and pods of {{.Name}} may connect.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{.Name}}-ingress
  namespace: {{.Name}}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: ingress-nginx
        - podSelector: {}
`)

var roleTmpl = parse("role", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{.Name}}-config-reader
  namespace: {{.Name}}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
`)

var roleBindingTmpl = parse("rolebinding", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{.Name}}-config-reader
  namespace: {{.Name}}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{.Name}}-config-reader
subjects:
  - kind: ServiceAccount
    name: {{.Name}}
    namespace: {{.Name}}
`)

var ingressTmpl = parse("ingress", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{.Name}}-web
  namespace: {{.Name}}
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
spec:
  ingressClassName: nginx
  rules:
    - host: {{.Name}}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{.Name}}-web
                port:
                  name: http
`)

var limitRangeTmpl = parse("limitrange", `
# Defaults for containers that do not say what they need.
apiVersion: v1
kind: LimitRange
metadata:
  name: {{.Name}}-defaults
  namespace: {{.Name}}
spec:
  limits:
    - type: Container
      defaultRequest:
        cpu: 50m
        memory: 64Mi
      default:
        memory: 256Mi
`)

var settingsTmpl = parse("settings", `
# Feature settings, group {{.N}}.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{.Name}}-settings-{{printf "%02d" .N}}
  namespace: {{.Name}}
data:
  GROUP: "{{.N}}"
  ENABLED: "true"
`)

// Exported field names for the templates that read *app directly.

func (a *app) Name() string             { return a.name }
func (a *app) Team() string             { return a.team }
func (a *app) NewCheckout() bool        { return a.newCheckout }
func (a *app) MaxConnections() int      { return a.maxConnections }
func (a *app) APIRateLimitPerUser() int { return a.apiRateLimitPerUser }
