package validate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// offline validates objects without a cluster.
func offline(t *testing.T, objs []*unstructured.Unstructured, crds ...*unstructured.Unstructured) *validate.Report {
	t.Helper()
	rep, err := validate.Objects(context.Background(), objs, validate.Options{CRDs: crds})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantProblems checks that the problems are as many as want, each holding its string.
func wantProblems(t *testing.T, got []validate.Problem, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.Contains(got[i].Message, want[i])
	}
	if !ok {
		var b strings.Builder
		for _, p := range got {
			b.WriteString("\n  " + p.String())
		}
		t.Errorf("got %d problems:%s\nwant:\n  %s", len(got), b.String(), strings.Join(want, "\n  "))
	}
}

func inNamespace(doc, ns string) string { return strings.ReplaceAll(doc, "NS", ns) }

// Each invalid change is refused with the API server's words, its field and (not a Secret) its
// value.
func TestInvalidObjects(t *testing.T) {
	for _, c := range invalidCases {
		t.Run(c.name, func(t *testing.T) {
			u := parse(t, inNamespace(c.doc, "shop"))
			rep := offline(t, []*unstructured.Unstructured{u})
			wantProblems(t, rep.Problems, c.want)
			for _, p := range rep.Problems {
				if p.Object.Name != u.GetName() || p.Object.Kind != u.GetKind() || p.Field == "" {
					t.Errorf("problem %+v does not name the object and the field", p)
				}
				if !strings.HasPrefix(p.Message, p.Field+": ") && !strings.HasPrefix(p.Message, "strict decoding error: ") {
					t.Errorf("message %q does not start with its field %q", p.Message, p.Field)
				}
			}
			if len(rep.Unchecked) > 0 || len(rep.Notices) > 0 {
				t.Errorf("unchecked %v, notices %v", rep.Unchecked, rep.Notices)
			}
		})
	}
}

// Valid objects of many kinds, written as users write them, pass: no false refusal.
func TestValidObjects(t *testing.T) {
	objs := parseAll(t, inNamespace(validObjects, "shop"))
	rep := offline(t, objs)
	wantProblems(t, rep.Problems, nil)
	if len(rep.Unchecked) > 0 || rep.Err() != nil {
		t.Errorf("unchecked: %v, err: %v", rep.Unchecked, rep.Err())
	}
}

// Fields that Kubernetes 1.21's document requires and later versions do not are not required.
func TestFieldsNoLongerRequired(t *testing.T) {
	objs := parseAll(t, `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {policyTypes: [Egress]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:reader"}
roleRef: {kind: ClusterRole, name: view}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
`)
	wantProblems(t, offline(t, objs).Problems, nil)
}

// A Secret's values, and values of fields that may hold one elsewhere, appear in no problem.
func TestSecretValuesAreNeverShown(t *testing.T) {
	const value = "hunter2-pw"
	objs := parseAll(t, `
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop, labels: {bad: "hunter2-pw!"}}
data: {password: "hunter2-pw", token: 12}
stringData: {user: 7, pin: true}
typo: hunter2-pw
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: db, namespace: shop}
spec:
  encryptedData: {password: 5}
  template:
    data: {password: hunter2-pw}
    type: [hunter2-pw]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: env, namespace: shop, annotations: {"x/y/z": hunter2-pw}}
data: {password: 99}
---
`+deployment(replace(`        ports:`, `        env:
        - {name: PASSWORD, value: 12345678}
        ports:`)))
	sealedCRD := parse(t, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: sealedsecrets.bitnami.com}
spec:
  group: bitnami.com
  names: {kind: SealedSecret, plural: sealedsecrets}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              encryptedData:
                type: object
                additionalProperties: {type: string}
              template:
                type: object
                properties:
                  data:
                    type: object
                    additionalProperties: {type: string, pattern: "^[A-Z]+$"}
                  type: {type: string}
`)
	objs[3].SetNamespace("shop")
	rep := offline(t, objs, sealedCRD)
	byKind := map[string]int{}
	var secretFields []string
	for _, p := range rep.Problems {
		byKind[p.Object.Kind]++
		if p.Object.Kind == "Secret" {
			secretFields = append(secretFields, p.Field)
		}
		if strings.Contains(p.Message, value) || strings.Contains(p.Message, "12345678") ||
			strings.Contains(p.Message, ": 12") || strings.Contains(p.Message, ": 99") || strings.Contains(p.Message, ": 7") {
			t.Errorf("a secret value is shown: %s", p)
		}
	}
	// Secret: the label, data[password] (not base64), data[token], stringData.user and .pin, typo.
	// SealedSecret: encryptedData[password], template.data[password], template.type.
	// ConfigMap: the annotation key, data.password. Deployment: the environment variable.
	if byKind["Secret"] != 6 || byKind["SealedSecret"] != 3 || byKind["ConfigMap"] != 2 || byKind["Deployment"] != 1 {
		var b strings.Builder
		for _, p := range rep.Problems {
			b.WriteString("\n  " + p.String())
		}
		t.Errorf("problems by kind %v:%s", byKind, b.String())
	}
	if got, want := strings.Join(secretFields, " "), "data[password] data[token] metadata.labels stringData[pin] stringData[user] typo"; got != want {
		t.Errorf("the Secret's problems are on %s, want %s", got, want)
	}
}

const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [size, mode]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              replicas: {type: integer}
              mode: {type: string, default: fast, enum: [fast, slow]}
              color: {type: string, enum: [red, blue]}
              port: {x-kubernetes-int-or-string: true}
              contact: {type: string, format: email}
              reference: {type: string, format: uri-reference}
              labels:
                type: object
                additionalProperties: {type: string}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  spec: {type: object, properties: {size: {type: integer}}}
              note: {type: string, nullable: true}
              rule:
                type: string
                x-kubernetes-validations:
                - {rule: "self != 'forbidden'", message: "must not be forbidden"}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

// widget is a Widget in namespace NS whose spec is given.
func widget(name, spec string) string {
	return "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: " + name + ", namespace: NS}\nspec: " + spec + "\n"
}

// crdCases are custom resources their CRD's schema refuses, and the e2e test's too.
var crdCases = []invalidCase{
	{
		name: "schema violations",
		doc:  widget("bad", "{size: 0, color: green, sise: 3, template: {apiVersion: v1, kind: X, metadata: {name: x}, spec: {size: a}}}"),
		want: []string{
			`spec.color: Unsupported value: "green": supported values: "red", "blue"`,
			`strict decoding error: unknown field "spec.sise"`,
			`spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1`,
			`spec.template.spec.size: Invalid value: "string": spec.template.spec.size in body must be of type integer: "string"`,
		},
		server: ".spec.sise: field not declared in schema",
	},
	{
		name:   "below its minimum",
		doc:    widget("small", "{size: 0}"),
		want:   []string{"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"},
		server: "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
	},
	{
		name:   "scale replicas -1",
		doc:    widget("scaled", "{size: 1, replicas: -1}"),
		want:   []string{"spec.replicas: Invalid value: -1: should be a non-negative integer"},
		server: "should be a non-negative integer",
	},
	{
		name:   "required spec",
		doc:    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: empty, namespace: NS}\n",
		want:   []string{"spec: Required value"},
		server: "spec: Required value",
	},
	{
		name:   "invalid name and metadata",
		doc:    strings.Replace(widget("Big_Widget", "{size: 1}"), "namespace: NS}", "namespace: NS, lables: {a: b}}", 1),
		want:   []string{`strict decoding error: unknown field "metadata.lables"`, `metadata.name: Invalid value: "Big_Widget": a lowercase RFC 1123 subdomain`},
		server: ".metadata.lables: field not declared in schema",
	},
}

// Custom resources are checked against their CRD's schema as the API server does: OpenAPI
// validations, unknown fields where the schema is closed, the scale subresource's replicas; a
// default fills a required field, x-kubernetes-int-or-string takes both, unsupported formats are
// ignored, preserved and embedded fields are open.
func TestCustomResources(t *testing.T) {
	crd := parse(t, widgetCRD)
	for _, c := range crdCases {
		t.Run(c.name, func(t *testing.T) {
			rep := offline(t, []*unstructured.Unstructured{parse(t, inNamespace(c.doc, "shop"))}, crd)
			wantProblems(t, rep.Problems, c.want)
			for _, p := range rep.Problems {
				if p.Check != validate.CheckCRD && p.Check != validate.CheckSchema {
					t.Errorf("problem %s from check %s", p, p.Check)
				}
			}
		})
	}
	good := parse(t, inNamespace(widget("good", `{size: 3, port: http, contact: nobody@example.com, reference: "../x", note: null, labels: {a: b},
  extra: {anything: [1, 2]}, template: {apiVersion: v1, kind: Y, metadata: {name: y}, spec: {size: 1}}, rule: forbidden}`), "shop"))
	good.Object["status"] = map[string]any{"replicas": int64(3), "free": "form"}
	rep := offline(t, []*unstructured.Unstructured{good}, crd)
	wantProblems(t, rep.Problems, nil)
	if len(rep.Unchecked) > 0 {
		t.Errorf("unchecked: %v", rep.Unchecked)
	}
}

// Objects of kinds no schema covers are listed as unchecked, not refused; their metadata is
// still checked.
func TestUncheckedKinds(t *testing.T) {
	crd := parse(t, widgetCRD)
	objs := parseAll(t, `
apiVersion: example.com/v2
kind: Widget
metadata: {name: newer, namespace: shop}
spec: {anything: 1}
---
apiVersion: other.example.com/v1
kind: Gadget
metadata: {name: g, namespace: shop, labels: {"a b": c}}
spec: {anything: 1}
---
apiVersion: other.example.com/v1
kind: Gadget
metadata: {name: h, namespace: shop, labels: {tier: 5}}
`)
	rep := offline(t, objs, crd)
	wantProblems(t, rep.Problems, []string{`metadata.labels: Invalid value: "a b"`, "metadata.labels[tier]: Invalid value: 5: must be a string"})
	if len(rep.Unchecked) != 3 ||
		rep.Unchecked[0].Reason != "CustomResourceDefinition widgets.example.com (in the repository) has no version v2" ||
		rep.Unchecked[1].Reason != "no CustomResourceDefinition defines its kind" || rep.Unchecked[1].Object.Kind != "Gadget" {
		t.Errorf("unchecked: %+v", rep.Unchecked)
	}
}

// An object without apiVersion or kind is refused for that alone; one without a name for that.
func TestIdentity(t *testing.T) {
	rep := offline(t, parseAll(t, "metadata: {name: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: shop}\n"))
	wantProblems(t, rep.Problems, []string{"apiVersion: Required value", "kind: Required value", "metadata.name: Required value: name or generateName is required"})
}

// The report's error lists every problem with its object.
func TestReportErr(t *testing.T) {
	objs := parseAll(t, inNamespace(invalidCases[1].doc+"\n---\n"+invalidCases[6].doc, "shop"))
	err := offline(t, objs).Err()
	var inv *validate.InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
	want := "2 objects are invalid:\n" +
		"  Deployment.apps shop/web: spec.replicas: Invalid value: -5: must be greater than or equal to 0\n" +
		"  Secret shop/../base-evil: metadata.name: Invalid value: a lowercase RFC 1123 subdomain"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err:\n%s\nwant prefix:\n%s", err, want)
	}
}

// A cluster that does not answer is a notice: the offline result stands.
func TestUnreachableClusterIsANotice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: 5 * time.Second}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	objs := parseAll(t, inNamespace(deployment(nil)+"\n---\n"+invalidCases[1].doc+"\n---\n"+widget("w", "{size: 1}"), "shop"))
	objs[1].SetName("api")
	rep, err := validate.Objects(ctx, objs, validate.Options{Cluster: &validate.Cluster{Config: cfg, Mapper: mapper}})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep.Problems, []string{"spec.replicas: Invalid value: -5"})
	if len(rep.Notices) != 2 || !strings.HasPrefix(rep.Notices[0], "the cluster's CustomResourceDefinitions were not read: ") ||
		!strings.HasPrefix(rep.Notices[1], "no server-side dry run (the objects were checked offline only): ") ||
		!strings.Contains(rep.Notices[1], "127.0.0.1:1") || strings.Contains(rep.Notices[1], "\n") {
		t.Errorf("notices: %q", rep.Notices)
	}
}
