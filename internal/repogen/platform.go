package repogen

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The platform shape: a large kustomize overlay of about 500 objects. example/ lists an overlay
// per application and per shared service; each application's overlays/platform adds components
// (one shared by all, one of its own), merges into its ConfigMap generator and patches its base;
// the base renames and places everything (namePrefix, namespace), generates a ConfigMap from a
// file and a Secret from literals, sets image tags and copies names into webhooks with
// replacements, over directories of CRDs, RBAC, a controller, a web app and webhooks. Three
// levels of overlays (example, overlays/platform, base) over the resource directories. The
// history changes image tags, generator values and replica counts.

// platformNamespace is the namespace every application's objects are placed in.
const platformNamespace = "platform"

var platformApps = []string{"notebooks", "pipelines", "tuning", "serving", "training", "dashboard",
	"profiles", "volumes", "tensorboards", "registry", "spark", "admission", "viewer", "events", "metadata"}

var platformServices = []string{"certs", "mesh", "identity", "gateway"}

type platformApp struct {
	name     string
	index    int
	tag      version
	replicas int
	logLevel string
	workers  int
}

type platform struct {
	history
	apps []*platformApp
}

// Platform writes the platform shape into dir (which must not exist or be empty) with a
// history of commits commits, as Generate does.
func Platform(dir string, commits int) (Shape, error) {
	if commits < 1 {
		return Shape{}, fmt.Errorf("generating a repository needs at least one commit")
	}
	p := &platform{history: newHistory()}
	for i, name := range platformApps {
		p.apps = append(p.apps, &platformApp{name: name, index: i, tag: version{1, i % 5, 0}, replicas: 1, logLevel: "info", workers: 4})
	}
	stream := func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		p.commit(bw, "Import the platform", p.files()...)
		for range commits - 1 {
			msg, f := p.edit()
			p.commit(bw, msg, f)
		}
		fmt.Fprint(bw, "done\n")
		return bw.Flush()
	}
	if err := importRepo(dir, stream); err != nil {
		return Shape{}, err
	}
	return Shape{Path: "example", Namespace: platformNamespace, Deployment: platformApps[0] + "-controller-manager"}, nil
}

func (p *platform) files() []file {
	var out []file
	var top []string
	for _, s := range platformServices {
		out = append(out, p.service(s)...)
		top = append(top, "../common/"+s+"/overlays/platform")
	}
	out = append(out, file{"components/sidecar-injection/kustomization.yaml", []byte(sidecarComponent)})
	for _, a := range p.apps {
		out = append(out, p.app(a)...)
		top = append(top, "../apps/"+a.name+"/overlays/platform")
	}
	var k strings.Builder
	k.WriteString("# Every application and shared service of the platform, as one install.\n")
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\n")
	k.WriteString("sortOptions:\n  order: legacy\n  legacySortOptions:\n    orderFirst:\n    - Namespace\n    - CustomResourceDefinition\n    - ServiceAccount\n    - ClusterRole\n    - ClusterRoleBinding\n    - ConfigMap\n    - Secret\n    - Service\n    - Deployment\n    orderLast:\n    - ValidatingWebhookConfiguration\n\n")
	k.WriteString("resources:\n")
	for _, t := range top {
		fmt.Fprintf(&k, "- %s\n", t)
	}
	k.WriteString("\nlabels:\n- pairs:\n    platform.example.com/install: example\n")
	out = append(out, file{"example/kustomization.yaml", []byte(k.String())})
	return out
}

// service is a shared service: a base of CRDs, a controller and its RBAC, and an overlay.
func (p *platform) service(s string) []file {
	dir := "common/" + s
	var out []file
	var res []string
	for i := range 3 {
		kind := strings.ToUpper(s[:1]) + s[1:] + []string{"Policy", "Route", "Issuer"}[i]
		f := fmt.Sprintf("crd-%s.yaml", strings.ToLower(kind))
		out = append(out, file{dir + "/base/" + f, crd(s+".platform.example.com", kind, 40_000+60_000*i, uint64(100+i+10*len(s)))})
		res = append(res, f)
	}
	for _, f := range []struct{ name, data string }{
		{"namespace.yaml", fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s-system\n", s)},
		{"serviceaccount.yaml", fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\n", s)},
		{"clusterrole.yaml", clusterRole(s, s)},
		{"clusterrolebinding.yaml", fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: %[1]s\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: %[1]s\nsubjects:\n- kind: ServiceAccount\n  name: %[1]s\n  namespace: %[1]s-system\n", s)},
		{"deployment.yaml", platformDeployment(s, s, "controller", 1)},
		{"service.yaml", platformService(s, s, 443)},
		{"webhook.yaml", fmt.Sprintf("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: %[1]s-webhook\nwebhooks:\n- admissionReviewVersions:\n  - v1\n  clientConfig:\n    service:\n      name: %[1]s\n      namespace: %[1]s-system\n      path: /validate\n  failurePolicy: Fail\n  name: validate.%[1]s.platform.example.com\n  rules:\n  - apiGroups:\n    - %[1]s.platform.example.com\n    apiVersions:\n    - v1\n    operations:\n    - CREATE\n    - UPDATE\n    resources:\n    - '*'\n  sideEffects: None\n", s)},
	} {
		out = append(out, file{dir + "/base/" + f.name, []byte(f.data)})
		res = append(res, f.name)
	}
	out = append(out, file{dir + "/base/kustomization.yaml", fmt.Appendf(nil,
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s-system\nresources:\n- %s\nimages:\n- name: registry.example.com/%s/controller\n  newTag: v1.2.0\n",
		s, strings.Join(res, "\n- "), s)})
	out = append(out, file{dir + "/overlays/platform/kustomization.yaml", fmt.Appendf(nil,
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\npatches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/annotations\n      value:\n        platform.example.com/shared-service: %s\n", s)})
	return out
}

// app is one application: upstream/{crd,rbac,manager,web,webhook,components,default},
// base/ and overlays/platform/.
func (p *platform) app(a *platformApp) []file {
	root := "apps/" + a.name
	up := root + "/upstream"
	var out []file
	add := func(dir string, files map[string]string, kustomization string) {
		for _, name := range slices.Sorted(maps.Keys(files)) {
			out = append(out, file{up + "/" + dir + "/" + name, []byte(files[name])})
		}
		out = append(out, file{up + "/" + dir + "/kustomization.yaml", []byte(kustomization)})
	}
	group := a.name + ".platform.example.com"
	crds := map[string]string{}
	var crdRes []string
	for i, kind := range []string{"Job", "Experiment", "Run"} {
		title := strings.ToUpper(a.name[:1]) + a.name[1:] + kind
		f := fmt.Sprintf("%s_%ss.yaml", group, strings.ToLower(title))
		// Half the applications have a large CRD, as operators' generated CRDs are.
		size := []int{20_000, 60_000, 120_000}[i]
		if i == 2 && a.index%2 == 0 {
			size = 300_000
		}
		crds[f] = string(crd(group, title, size, uint64(1000+10*a.index+i)))
		crdRes = append(crdRes, f)
	}
	add("crd", crds, kustomization(crdRes...))

	add("rbac", map[string]string{
		"service_account.yaml":              "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: controller-manager\n",
		"role.yaml":                         clusterRole("manager-role", a.name),
		"role_binding.yaml":                 binding("ClusterRoleBinding", "manager-rolebinding", "ClusterRole", "manager-role", "controller-manager"),
		"aggregate_edit.yaml":               clusterRole("aggregate-edit", a.name),
		"aggregate_view.yaml":               clusterRole("aggregate-view", a.name),
		"leader_election_role.yaml":         role("leader-election-role"),
		"leader_election_role_binding.yaml": binding("RoleBinding", "leader-election-rolebinding", "Role", "leader-election-role", "controller-manager"),
		"web_service_account.yaml":          "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web-app\n",
		"web_role.yaml":                     clusterRole("web-app-role", a.name),
		"web_role_binding.yaml":             binding("ClusterRoleBinding", "web-app-rolebinding", "ClusterRole", "web-app-role", "web-app"),
	}, kustomization("service_account.yaml", "role.yaml", "role_binding.yaml", "aggregate_edit.yaml", "aggregate_view.yaml",
		"leader_election_role.yaml", "leader_election_role_binding.yaml", "web_service_account.yaml", "web_role.yaml", "web_role_binding.yaml"))

	add("manager", map[string]string{
		"manager.yaml": platformDeployment("controller-manager", a.name, "controller", a.replicas) + "---\n" + platformService("controller-manager-metrics", a.name, 8443),
		"params.env":   fmt.Sprintf("LOG_LEVEL=%s\nWORKERS=%d\nCLUSTER_DOMAIN=cluster.local\nENABLE_CULLING=false\n", a.logLevel, a.workers),
		"hpa.yaml":     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web-app\nspec:\n  maxReplicas: 5\n  minReplicas: 1\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web-app\n",
		"pdb.yaml":     "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: controller-manager\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/component: controller\n",
	}, kustomization("manager.yaml", "hpa.yaml", "pdb.yaml")+
		"configMapGenerator:\n- name: config\n  envs:\n  - params.env\nsecretGenerator:\n- name: db-credentials\n  literals:\n  - DB_USER=platform\n  - DB_NAME="+a.name+"\n")

	add("web", map[string]string{
		"deployment.yaml":     platformDeployment("web-app", a.name, "web", 1),
		"service.yaml":        platformService("web-app", a.name, 80),
		"virtualservice.yaml": fmt.Sprintf("apiVersion: networking.example.com/v1\nkind: VirtualService\nmetadata:\n  name: web-app\nspec:\n  gateways:\n  - platform/platform-gateway\n  hosts:\n  - '*'\n  http:\n  - match:\n    - uri:\n        prefix: /%[1]s/\n    rewrite:\n      uri: /\n    route:\n    - destination:\n        host: web-app.NAMESPACE.svc.cluster.local\n        port:\n          number: 80\n", a.name),
	}, kustomization("deployment.yaml", "service.yaml", "virtualservice.yaml")+
		"configMapGenerator:\n- name: web-app-config\n  literals:\n  - APP_PREFIX=/"+a.name+"\n  - USERID_HEADER=platform-userid\n")

	add("webhook", map[string]string{
		"manifests.yaml":   fmt.Sprintf("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: validating-webhook-configuration\n  annotations:\n    cert-manager.io/inject-ca-from: CERTIFICATE_NAMESPACE/CERTIFICATE_NAME\nwebhooks:\n- admissionReviewVersions:\n  - v1\n  clientConfig:\n    service:\n      name: webhook-service\n      namespace: system\n      path: /validate\n  failurePolicy: Fail\n  name: v%[1]s.platform.example.com\n  rules:\n  - apiGroups:\n    - %[1]s.platform.example.com\n    apiVersions:\n    - v1\n    operations:\n    - CREATE\n    - UPDATE\n    resources:\n    - '*'\n  sideEffects: None\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: mutating-webhook-configuration\n  annotations:\n    cert-manager.io/inject-ca-from: CERTIFICATE_NAMESPACE/CERTIFICATE_NAME\nwebhooks:\n- admissionReviewVersions:\n  - v1\n  clientConfig:\n    service:\n      name: webhook-service\n      namespace: system\n      path: /mutate\n  failurePolicy: Fail\n  name: m%[1]s.platform.example.com\n  sideEffects: None\n", a.name),
		"service.yaml":     platformService("webhook-service", a.name, 443),
		"certificate.yaml": "apiVersion: certs.platform.example.com/v1\nkind: Certificate\nmetadata:\n  name: serving-cert\nspec:\n  dnsNames:\n  - SERVICE_NAME.SERVICE_NAMESPACE.svc\n  - SERVICE_NAME.SERVICE_NAMESPACE.svc.cluster.local\n  issuerRef:\n    kind: Issuer\n    name: selfsigned-issuer\n  secretName: webhook-server-cert\n---\napiVersion: certs.platform.example.com/v1\nkind: Issuer\nmetadata:\n  name: selfsigned-issuer\nspec:\n  selfSigned: {}\n",
	}, kustomization("manifests.yaml", "service.yaml", "certificate.yaml"))

	add("components/network", map[string]string{
		"networkpolicy.yaml":       fmt.Sprintf("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: %[1]s-controller\n  namespace: %[2]s\nspec:\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: %[2]s\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: %[1]s\n  policyTypes:\n  - Ingress\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: %[1]s-web\n  namespace: %[2]s\nspec:\n  ingress:\n  - ports:\n    - port: 8080\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/component: web\n  policyTypes:\n  - Ingress\n", a.name, platformNamespace),
		"authorizationpolicy.yaml": fmt.Sprintf("apiVersion: security.example.com/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: %[1]s-web\n  namespace: %[2]s\nspec:\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        principals:\n        - cluster.local/ns/platform/sa/gateway\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: %[1]s\n", a.name, platformNamespace),
	}, "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- networkpolicy.yaml\n- authorizationpolicy.yaml\n")

	add("default", nil, fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %[2]s
namePrefix: %[1]s-
labels:
- includeSelectors: true
  pairs:
    app.kubernetes.io/name: %[1]s
resources:
- ../crd
- ../rbac
- ../manager
- ../web
- ../webhook
replacements:
- source:
    kind: Service
    name: webhook-service
    fieldPath: metadata.name
  targets:
  - select:
      kind: ValidatingWebhookConfiguration
    fieldPaths:
    - webhooks.*.clientConfig.service.name
  - select:
      kind: MutatingWebhookConfiguration
    fieldPaths:
    - webhooks.*.clientConfig.service.name
  - select:
      kind: Certificate
    fieldPaths:
    - spec.dnsNames.0
    - spec.dnsNames.1
    options:
      delimiter: .
      index: 0
- source:
    kind: Service
    name: webhook-service
    fieldPath: metadata.namespace
  targets:
  - select:
      kind: ValidatingWebhookConfiguration
    fieldPaths:
    - webhooks.*.clientConfig.service.namespace
  - select:
      kind: Certificate
    fieldPaths:
    - spec.dnsNames.0
    - spec.dnsNames.1
    options:
      delimiter: .
      index: 1
- source:
    kind: Certificate
    name: serving-cert
    fieldPath: metadata.namespace
  targets:
  - select:
      kind: ValidatingWebhookConfiguration
    fieldPaths:
    - metadata.annotations.[cert-manager.io/inject-ca-from]
    options:
      delimiter: /
      index: 0
  - select:
      kind: MutatingWebhookConfiguration
    fieldPaths:
    - metadata.annotations.[cert-manager.io/inject-ca-from]
    options:
      delimiter: /
      index: 0
- source:
    kind: Certificate
    name: serving-cert
    fieldPath: metadata.name
  targets:
  - select:
      kind: ValidatingWebhookConfiguration
    fieldPaths:
    - metadata.annotations.[cert-manager.io/inject-ca-from]
    options:
      delimiter: /
      index: 1
  - select:
      kind: MutatingWebhookConfiguration
    fieldPaths:
    - metadata.annotations.[cert-manager.io/inject-ca-from]
    options:
      delimiter: /
      index: 1
- source:
    kind: Deployment
    name: web-app
    fieldPath: metadata.namespace
  targets:
  - select:
      kind: VirtualService
    fieldPaths:
    - spec.http.0.route.0.destination.host
    options:
      delimiter: .
      index: 1
`, a.name, platformNamespace))

	out = append(out, file{root + "/base/kustomization.yaml", p.appBase(a)})
	out = append(out,
		file{root + "/overlays/platform/kustomization.yaml", fmt.Appendf(nil, `# %[1]s as the platform installs it: behind the mesh, with its network policies.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
components:
- ../../../../components/sidecar-injection
- ../../upstream/components/network
configMapGenerator:
- name: config
  behavior: merge
  literals:
  - USE_MESH=true
  - GATEWAY=platform/platform-gateway
patches:
- path: patches/web-app-env.yaml
- target:
    group: rbac.authorization.k8s.io
    kind: ClusterRole
    name: %[1]s-web-app-role
  patch: |-
    - op: add
      path: /rules/-
      value:
        apiGroups:
        - authorization.k8s.io
        resources:
        - subjectaccessreviews
        verbs:
        - create
`, a.name)},
		file{root + "/overlays/platform/patches/web-app-env.yaml", fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s-web-app
  namespace: %[2]s
spec:
  template:
    spec:
      containers:
      - name: web
        env:
        - name: APP_SECURE_COOKIES
          value: "true"
        - name: APP_DISABLE_AUTH
          value: "false"
`, a.name, platformNamespace)})
	return out
}

func (p *platform) appBase(a *platformApp) []byte {
	return fmt.Appendf(nil, `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../upstream/default
images:
- name: registry.example.com/%[1]s/controller
  newTag: v%[2]s
- name: registry.example.com/%[1]s/web
  newTag: v%[2]s
`, a.name, a.tag)
}

// edit makes one small change: an image tag, a generator's value or a replica count.
func (p *platform) edit() (string, file) {
	a := p.apps[p.rnd.IntN(len(p.apps))]
	switch n := p.rnd.IntN(10); {
	case n < 5:
		a.tag = p.bump(a.tag)
		return fmt.Sprintf("%s: v%s", a.name, a.tag), file{"apps/" + a.name + "/base/kustomization.yaml", p.appBase(a)}
	case n < 7:
		a.logLevel = logLevels[p.rnd.IntN(len(logLevels))]
		a.workers = 2 + 2*p.rnd.IntN(4)
		return fmt.Sprintf("%s: LOG_LEVEL=%s WORKERS=%d", a.name, a.logLevel, a.workers),
			file{"apps/" + a.name + "/upstream/manager/params.env", fmt.Appendf(nil, "LOG_LEVEL=%s\nWORKERS=%d\nCLUSTER_DOMAIN=cluster.local\nENABLE_CULLING=false\n", a.logLevel, a.workers)}
	}
	a.replicas = 1 + p.rnd.IntN(3)
	return fmt.Sprintf("%s: controller at %d replicas", a.name, a.replicas),
		file{"apps/" + a.name + "/upstream/manager/manager.yaml", []byte(platformDeployment("controller-manager", a.name, "controller", a.replicas) + "---\n" + platformService("controller-manager-metrics", a.name, 8443))}
}

func kustomization(resources ...string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + strings.Join(resources, "\n- ") + "\n"
}

func clusterRole(name, app string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: %s\nrules:\n", name)
	for _, r := range []string{"jobs", "experiments", "runs", "runs/status", "events", "configmaps"} {
		fmt.Fprintf(&b, "- apiGroups:\n  - %s.platform.example.com\n  resources:\n  - %s\n  verbs:\n  - create\n  - delete\n  - get\n  - list\n  - patch\n  - update\n  - watch\n", app, r)
	}
	return b.String()
}

func role(name string) string {
	return fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: %s\nrules:\n- apiGroups:\n  - coordination.k8s.io\n  resources:\n  - leases\n  verbs:\n  - get\n  - list\n  - watch\n  - create\n  - update\n  - patch\n  - delete\n", name)
}

func binding(kind, name, roleKind, roleName, sa string) string {
	return fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: %s\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: %s\n  name: %s\nsubjects:\n- kind: ServiceAccount\n  name: %s\n  namespace: system\n", kind, name, roleKind, roleName, sa)
}

func platformService(name, app string, port int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  ports:\n  - name: https\n    port: %d\n    targetPort: 8443\n  selector:\n    app.kubernetes.io/instance: %s\n", name, port, app)
}

// platformDeployment is a Deployment whose first container reads the ConfigMap "config" the
// manager's generator makes (kustomize rewrites the name with its hash).
func platformDeployment(name, app, component string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/component: %[3]s
spec:
  replicas: %[4]d
  selector:
    matchLabels:
      app.kubernetes.io/component: %[3]s
  template:
    metadata:
      labels:
        app.kubernetes.io/component: %[3]s
    spec:
      serviceAccountName: controller-manager
      containers:
      - name: %[3]s
        image: registry.example.com/%[2]s/%[3]s
        args:
        - --leader-elect
        - --metrics-bind-address=:8443
        envFrom:
        - configMapRef:
            name: config
        ports:
        - containerPort: 8443
          name: https
        livenessProbe:
          httpGet:
            path: /healthz
            port: 8081
          initialDelaySeconds: 15
        resources:
          limits:
            cpu: 500m
            memory: 512Mi
          requests:
            cpu: 10m
            memory: 64Mi
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop:
            - ALL
      securityContext:
        runAsNonRoot: true
`, name, app, component, replicas)
}

const sidecarComponent = `# Every Deployment of an application joins the mesh.
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/metadata/annotations
      value:
        sidecar.mesh.example.com/inject: "true"
`
