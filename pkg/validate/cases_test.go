package validate_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// parse reads one object written in YAML.
func parse(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return u
}

// parseAll reads objects written in YAML, separated by "---" lines.
func parseAll(t testing.TB, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) != "" {
			out = append(out, parse(t, d))
		}
	}
	return out
}

// deployment is a valid Deployment web in namespace NS whose spec, as YAML under "spec:", is
// changed by edit.
func deployment(edit func(spec string) string) string {
	spec := `
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example.com/shop/web:1.4.0
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: "1", memory: 256Mi}
        ports:
        - {name: http, containerPort: 8080}
`
	if edit != nil {
		spec = edit(spec)
	}
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: NS\n  labels: {app: web}\nspec:" + spec
}

// withSpec is a Deployment whose spec is replaced.
func withSpec(spec string) string {
	return deployment(func(string) string { return spec })
}

// replace is an edit of a Deployment's spec.
func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("no " + old + " in the spec")
		}
		return strings.Replace(s, old, new, 1)
	}
}

// invalidCase is an object the offline validation refuses.
type invalidCase struct {
	name string
	// doc is the object, in namespace NS.
	doc string
	// want are the problems, in order: each message holds its string.
	want []string
	// server is a part of the API server's refusal of the object; "" when the API server
	// takes it (a rule of the kubelet's, not of the API server's).
	server string
}

// invalidCases are the changes a review found committed although the API server refuses them,
// and one or more objects for every rule. The e2e test sends each to the API server.
var invalidCases = []invalidCase{
	// The review's.
	{
		name:   "patch replicas three",
		doc:    deployment(replace("replicas: 2", `replicas: "three"`)),
		want:   []string{`spec.replicas: Invalid value: "three": must be an int32 (an integer from -2147483648 to 2147483647)`},
		server: ".spec.replicas: expected numeric (int or float), got string",
	},
	{
		name:   "patch replicas -5",
		doc:    deployment(replace("replicas: 2", "replicas: -5")),
		want:   []string{`spec.replicas: Invalid value: -5: must be greater than or equal to 0`},
		server: `spec.replicas: Invalid value: -5: must be greater than or equal to 0`,
	},
	{
		name: "replicas 2147483648",
		doc:  deployment(replace("replicas: 2", "replicas: 2147483648")),
		want: []string{`spec.replicas: Invalid value: 2147483648: must be an int32 (an integer from -2147483648 to 2147483647)`},
		// The API server's apply reads it as -2147483648.
		server: "spec.replicas: Invalid value: -2147483648",
	},
	{
		name: "spec null",
		doc:  withSpec(" null\n"),
		want: []string{
			"spec.selector: Required value",
			"spec.template: Required value",
			"spec.template.spec.containers: Required value",
		},
		server: "spec.selector: Required value",
	},
	{
		name: "json patch removing every container",
		doc: deployment(func(s string) string {
			return s[:strings.Index(s, "      containers:\n")] + "      containers: []\n"
		}),
		want:   []string{"spec.template.spec.containers: Required value"},
		server: "spec.template.spec.containers: Required value",
	},
	{
		name:   "requests above limits",
		doc:    deployment(replace("requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 1500m, memory: 128Mi}")),
		want:   []string{`spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: "1500m": must be less than or equal to cpu limit of 1`},
		server: `Invalid value: "1500m": must be less than or equal to cpu limit of 1`,
	},
	{
		name: "secret name ../base-evil",
		doc:  "apiVersion: v1\nkind: Secret\nmetadata: {name: ../base-evil, namespace: NS}\ndata: {password: czNjcjN0}\n",
		// A Secret's problems show no value at all.
		want:   []string{`metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of`},
		server: `metadata.name: Invalid value: "../base-evil"`,
	},

	// Typed decoding.
	{
		name:   "unknown field",
		doc:    deployment(replace("        image:", "        imagePullPolicyy: Always\n        image:")),
		want:   []string{`strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		server: "imagePullPolicyy",
	},
	{
		name:   "unknown field in metadata",
		doc:    strings.Replace(deployment(nil), "  labels: {app: web}\nspec", "  lables: {app: web}\nspec", 1),
		want:   []string{`strict decoding error: unknown field "metadata.lables"`},
		server: "lables",
	},
	{
		name:   "wrong type, every one found",
		doc:    deployment(replace("replicas: 2", "replicas: 2\n  paused: yes-please\n  minReadySeconds: {}")),
		want:   []string{`spec.minReadySeconds: Invalid value: must be an int32`, `spec.paused: Invalid value: "yes-please": must be a boolean`},
		server: ".spec.paused: expected boolean",
	},
	{
		name: "int64 out of range",
		doc:  deployment(replace("      containers:", "      activeDeadlineSeconds: 9223372036854775808\n      containers:")),
		// The object holds the number as a float, as a YAML or JSON decoder into any gives it.
		want:   []string{`spec.template.spec.activeDeadlineSeconds: Invalid value: 9223372036854776000: must be an int64`},
		server: "spec.template.spec.activeDeadlineSeconds: Invalid value",
	},
	{
		name:   "invalid quantity",
		doc:    deployment(replace("memory: 256Mi", "memory: lots")),
		want:   []string{`spec.template.spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must match the regular expression`},
		server: "quantities must match the regular expression",
	},
	{
		name:   "required field of the schema",
		doc:    deployment(replace("      - name: web\n        image:", "      - image:")),
		want:   []string{"spec.template.spec.containers[0].name: Required value"},
		server: "spec.template.spec.containers[0].name: Required value",
	},
	{
		name:   "required selector",
		doc:    deployment(replace("  selector:\n    matchLabels: {app: web}\n", "")),
		want:   []string{"spec.selector: Required value"},
		server: "spec.selector: Required value",
	},

	// Metadata.
	{
		name:   "service name with capitals",
		doc:    "apiVersion: v1\nkind: Service\nmetadata: {name: Web, namespace: NS}\nspec:\n  ports: [{port: 80}]\n",
		want:   []string{`metadata.name: Invalid value: "Web": a lowercase RFC 1123 label must consist of`},
		server: `metadata.name: Invalid value: "Web"`,
	},
	{
		name:   "statefulset name with a dot",
		doc:    strings.Replace(strings.Replace(deployment(nil), "kind: Deployment", "kind: StatefulSet", 1), "name: web\n  namespace", "name: web.v1\n  namespace", 1),
		want:   []string{`metadata.name: Invalid value: "web.v1": must not contain dots`},
		server: `metadata.name: Invalid value: "web.v1"`,
	},
	{
		name:   "cronjob name of 53 characters",
		doc:    "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: " + strings.Repeat("c", 53) + ", namespace: NS}\nspec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: job, image: busybox:1.36}]\n",
		want:   []string{"metadata.name: Invalid value: \"" + strings.Repeat("c", 53) + "\": must be no more than 52 characters"},
		server: "must be no more than 52 characters",
	},
	{
		name:   "configmap name with capitals",
		doc:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: WebConfig, namespace: NS}\ndata: {a: b}\n",
		want:   []string{`metadata.name: Invalid value: "WebConfig": a lowercase RFC 1123 subdomain`},
		server: `metadata.name: Invalid value: "WebConfig"`,
	},
	{
		name:   "label key and value",
		doc:    strings.Replace(deployment(nil), "labels: {app: web}\nspec", "labels: {app: web, 'bad key!': x, tier: '"+strings.Repeat("v", 64)+"'}\nspec", 1),
		want:   []string{`metadata.labels: Invalid value: "bad key!": name part must consist of`, `metadata.labels: Invalid value: "` + strings.Repeat("v", 64) + `": must be no more than 63 bytes`},
		server: "metadata.labels: Invalid value",
	},
	{
		name:   "annotation key",
		doc:    strings.Replace(deployment(nil), "labels: {app: web}\nspec", "labels: {app: web}\n  annotations: {'a/b/c': x}\nspec", 1),
		want:   []string{`metadata.annotations: Invalid value: "a/b/c": a valid label key must consist of`},
		server: "metadata.annotations: Invalid value",
	},
	{
		name:   "pod template labels",
		doc:    deployment(replace("      labels: {app: web}", "      labels: {app: web, 'x y': z}")),
		want:   []string{`spec.template.labels: Invalid value: "x y": name part must consist of`},
		server: `spec.template.labels: Invalid value: "x y": name part must consist of`,
	},

	// The API server's rules.
	{
		name:   "statefulset replicas -1",
		doc:    strings.Replace(deployment(replace("replicas: 2", "replicas: -1")), "kind: Deployment", "kind: StatefulSet", 1),
		want:   []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		server: "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
	},
	{
		name:   "replicaset replicas -1",
		doc:    strings.Replace(deployment(replace("replicas: 2", "replicas: -1")), "kind: Deployment", "kind: ReplicaSet", 1),
		want:   []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		server: "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
	},
	{
		name:   "replicationcontroller replicas -1",
		doc:    "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: web, namespace: NS}\nspec:\n  replicas: -1\n  selector: {app: web}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx:1.27}]\n",
		want:   []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		server: "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
	},
	{
		name:   "daemonset without spec",
		doc:    "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: NS}\n",
		want:   []string{"spec.selector: Required value", "spec.template: Required value", "spec.template.spec.containers: Required value"},
		server: "spec.template.spec.containers: Required value",
	},
	{
		name:   "job without containers",
		doc:    "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once, namespace: NS}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: []\n",
		want:   []string{"spec.template.spec.containers: Required value"},
		server: "spec.template.spec.containers: Required value",
	},
	{
		name:   "selector does not match the template",
		doc:    deployment(replace("      labels: {app: web}", "      labels: {app: api}")),
		want:   []string{"spec.template.metadata.labels: Invalid value: {\"app\":\"api\"}: `selector` does not match template `labels`"},
		server: "`selector` does not match template `labels`",
	},
	{
		name: "container names duplicate and invalid",
		doc: deployment(replace("        ports:\n        - {name: http, containerPort: 8080}\n",
			"      - {name: web, image: nginx:1.27}\n      - {name: Side_Car, image: nginx:1.27}\n      initContainers:\n      - {name: web, image: busybox:1.36}\n")),
		want: []string{
			`spec.template.spec.containers[0].name: Duplicate value: "web"`,
			`spec.template.spec.containers[1].name: Duplicate value: "web"`,
			`spec.template.spec.containers[2].name: Invalid value: "Side_Car": a lowercase RFC 1123 label must consist of`,
		},
		server: `duplicate entries for key [name="web"]`,
	},
	{
		name: "image with a space",
		doc:  deployment(replace("image: registry.example.com/shop/web:1.4.0", `image: "nginx:1.27 "`)),
		want: []string{`spec.template.spec.containers[0].image: Invalid value: "nginx:1.27 ": must not have leading or trailing whitespace`},
		// The API server refuses it in a Pod only; the kubelet cannot pull it.
		server: "",
	},
	{
		name:   "image with capitals",
		doc:    deployment(replace("image: registry.example.com/shop/web:1.4.0", "image: registry.example.com/Shop/Web:1.4.0")),
		want:   []string{`spec.template.spec.containers[0].image: Invalid value: "registry.example.com/Shop/Web:1.4.0": not a valid image reference: invalid reference format: repository name (Shop/Web) must be lowercase`},
		server: "",
	},
	{
		name:   "init container image with a bad digest",
		doc:    deployment(replace("      containers:", "      initContainers:\n      - {name: init, image: 'busybox@sha256:abc'}\n      containers:")),
		want:   []string{`spec.template.spec.initContainers[0].image: Invalid value: "busybox@sha256:abc": not a valid image reference: invalid reference format`},
		server: "",
	},
	{
		name:   "hugepages request below its limit",
		doc:    deployment(replace("requests: {cpu: 100m, memory: 128Mi}\n          limits: {cpu: \"1\", memory: 256Mi}", "requests: {cpu: 100m, memory: 128Mi, hugepages-2Mi: 2Mi}\n          limits: {cpu: \"1\", memory: 256Mi, hugepages-2Mi: 4Mi}")),
		want:   []string{`spec.template.spec.containers[0].resources.requests[hugepages-2Mi]: Invalid value: "2Mi": must be equal to hugepages-2Mi limit of 4Mi`},
		server: "must be equal to hugepages-2Mi limit of 4Mi",
	},
	{
		name: "container ports",
		doc:  deployment(replace("- {name: http, containerPort: 8080}", "- {name: http, containerPort: 70000, hostPort: 65536}\n        - {name: http, containerPort: 8081}\n        - {name: Not_A_Name, containerPort: 8082}")),
		want: []string{
			`spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
			`spec.template.spec.containers[0].ports[0].hostPort: Invalid value: 65536: must be between 1 and 65535, inclusive`,
			`spec.template.spec.containers[0].ports[1].name: Duplicate value: "http"`,
			`spec.template.spec.containers[0].ports[2].name: Invalid value: "Not_A_Name": must contain only`,
		},
		server: "must be between 1 and 65535, inclusive",
	},
	{
		name:   "container port missing",
		doc:    deployment(replace("- {name: http, containerPort: 8080}", "- {name: http}")),
		want:   []string{"spec.template.spec.containers[0].ports[0].containerPort: Required value"},
		server: "containerPort: Required value",
	},
	{
		name: "service ports",
		doc:  "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: NS}\nspec:\n  ports:\n  - {name: a, port: 0, targetPort: 8080}\n  - {name: b, port: 80, targetPort: not_a_name}\n  - {name: c, port: 81, targetPort: 65536}\n",
		want: []string{
			"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
			`spec.ports[1].targetPort: Invalid value: "not_a_name": must contain only`,
			"spec.ports[2].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive",
		},
		server: "must be between 1 and 65535, inclusive",
	},
	{
		name:   "pod without containers",
		doc:    "apiVersion: v1\nkind: Pod\nmetadata: {name: once, namespace: NS}\nspec:\n  containers: []\n",
		want:   []string{"spec.containers: Required value"},
		server: "spec.containers: Required value",
	},
	{
		name:   "env var name",
		doc:    deployment(replace("        image:", "        env: [{name: \"CAFÉ_URL\", value: x}]\n        image:")),
		want:   []string{`spec.template.spec.containers[0].env[0].name: Invalid value: "CAFÉ_URL": a valid environment variable name must consist only of printable ASCII characters other than '='`},
		server: `env[0].name: Invalid value: "CAFÉ_URL"`,
	},
}

// validObjects are objects of many kinds that the API server takes, written the ways users
// write them (numbers for quantities, ports by name, optional fields left out where older
// schemas required them). Their namespace is NS. The e2e test dry-runs them.
const validObjects = `
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: NS, annotations: {note: "any text, even: colons"}}
data: {LOG_LEVEL: debug, port: "8080"}
binaryData: {blob: aGVsbG8=}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: NS}
type: Opaque
data: {password: czNjcjN0LXZhbHVl}
stringData: {user: admin}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: NS}
---
apiVersion: v1
kind: Service
metadata: {name: 1web, namespace: NS}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9102, targetPort: 9102, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: NS}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
  labels: {app: web, app.kubernetes.io/part-of: shop}
  annotations: {deployment.kubernetes.io/revision: "3"}
spec:
  replicas: 0
  revisionHistoryLimit: 5
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  selector:
    matchExpressions:
    - {key: app, operator: In, values: [web]}
  template:
    metadata:
      labels: {app: web}
      annotations: {prometheus.io/scrape: "true"}
    spec:
      serviceAccountName: web
      terminationGracePeriodSeconds: 30
      initContainers:
      - name: migrate
        image: registry.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        command: [/app/migrate]
      containers:
      - name: web
        image: registry.example.com:5000/shop/web:1.4.0-rc.1
        args: ["--port", "8080"]
        env:
        - {name: PORT, value: "8080"}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        envFrom:
        - configMapRef: {name: web-config}
        ports:
        - {name: http, containerPort: 8080}
        resources:
          requests: {cpu: 0.5, memory: 1e8, ephemeral-storage: 1Gi}
          limits: {cpu: 1, memory: 256Mi, example.com/widget: 2}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 10
        livenessProbe:
          tcpSocket: {port: 8080}
        volumeMounts:
        - {name: cache, mountPath: /cache}
      - name: proxy
        image: nginx
        resources:
          requests: {hugepages-2Mi: 4Mi, memory: 64Mi}
          limits: {hugepages-2Mi: 4Mi, memory: 64Mi}
      volumes:
      - name: cache
        emptyDir: {sizeLimit: 500Mi}
      tolerations:
      - {key: dedicated, operator: Equal, value: shop, effect: NoSchedule}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        ports: [{containerPort: 5432, name: pg}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: NS}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "docker.io/library/busybox:1.36"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cache-warmup, namespace: NS}
spec:
  schedule: "*/30 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: warmup, image: registry.example.com/shop/web:1.4.0}]
---
apiVersion: batch/v1
kind: Job
metadata: {generateName: hook-, namespace: NS}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: hook, image: busybox:1.36, command: ["true"]}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: NS}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: NS}
spec:
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: NS}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: 1web, port: {name: http}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "system:web:reader", namespace: NS}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "system:web:reader", namespace: NS}
roleRef: {kind: Role, name: "system:web:reader"}
subjects:
- {kind: ServiceAccount, name: web, namespace: NS}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: NS}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: shop, namespace: NS}
spec:
  hard: {requests.cpu: "20", limits.memory: 64Gi, pods: "100"}
---
apiVersion: v1
kind: LimitRange
metadata: {name: shop, namespace: NS}
spec:
  limits:
  - type: Container
    default: {cpu: 500m}
    defaultRequest: {cpu: 100m}
`
