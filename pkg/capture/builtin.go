package capture

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// builtinDefaults are, for kinds the API server defaults little, every field its own defaulting
// sets (Kubernetes' defaulters: SetDefaults_Secret, and rbac/v1's SetDefaults_RoleBinding and
// SetDefaults_Subject; ConfigMaps, ServiceAccounts and Roles have none). Any other field of
// these kinds is the user's whatever its value, so it needs no dry-run when nothing else
// mutates objects on creation (OnlyBuiltinDefaulting): a namespace's ConfigMaps, Secrets and
// RBAC cost a third of the dry-runs of BenchmarkCaptureNamespace200's 200 objects. The e2e
// test compares the manifests with those of a walk that asks the server about every field.
var builtinDefaults = map[string][]string{
	"ConfigMap":                             nil,
	"Secret":                                {"type"},
	"ServiceAccount":                        nil,
	"Role.rbac.authorization.k8s.io":        nil,
	"RoleBinding.rbac.authorization.k8s.io": {"roleRef.apiGroup", "subjects[].apiGroup"},
}

// userFields are, for kinds the API server defaults much, fields of the user's that its
// defaulting never sets (* is any key of a map): a Service's selector, a container's
// environment and the names of its ports. They are values that differ from object to object,
// and so were most of a Service's and a Deployment's dry-runs.
var userFields = map[string][]string{
	"Service": {"spec.selector", "spec.selector.*", "spec.ports[].name"},
	"Deployment.apps": {
		"spec.template.spec.containers[].env", "spec.template.spec.containers[].env[].name",
		"spec.template.spec.containers[].env[].value", "spec.template.spec.containers[].ports",
		"spec.template.spec.containers[].ports[].name",
	},
}

// userField tells whether the field at p of a kind is one the API server's defaulting never
// sets.
func userField(kind string, p path) bool {
	if fields, ok := builtinDefaults[kind]; ok {
		return !slices.ContainsFunc(fields, func(f string) bool { return matches(f, p) })
	}
	return slices.ContainsFunc(userFields[kind], func(f string) bool { return matches(f, p) })
}

// matches tells whether p is the field that pattern names: keys joined by dots, [] for any
// index of a list, * for any key of a map.
func matches(pattern string, p path) bool {
	parts := strings.Split(strings.ReplaceAll(pattern, "[]", ".[]"), ".")
	if len(parts) != len(p) {
		return false
	}
	for i, s := range p {
		switch {
		case s.index >= 0:
			if parts[i] != "[]" {
				return false
			}
		case parts[i] != "*" && parts[i] != s.key:
			return false
		}
	}
	return true
}

// OnlyBuiltinDefaulting tells whether the cluster changes objects on creation by its own
// defaulting only: it has no mutating webhook and no mutating admission policy. When it cannot
// tell (RBAC forbids the caller to list them, say), the answer is false, and every field is
// asked about.
func OnlyBuiltinDefaulting(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper) bool {
	kinds := []schema.GroupVersionResource{{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}}
	m, err := mapper.RESTMapping(schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"})
	switch {
	case err == nil:
		kinds = append(kinds, m.Resource)
	case !meta.IsNoMatchError(err):
		return false
	}
	for _, gvr := range kinds {
		l, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil || len(l.Items) > 0 {
			return false
		}
	}
	return true
}

// siblingCopies are fields whose default is another field of the same object: a Service port's
// targetPort is its port, a container's requests its limits, a host port its container port, a
// pod's serviceAccount and serviceAccountName each other. Whether their value is the default
// depends on that other field, so a decision about one holds only where that field is the
// same. When it is beside the field (a port's port, the limits beside the requests), that is
// every object of the namespace (a LimitRange defaults a pod's requests too) whose map holding
// the field is the same but for it, or, when only some keys of that map are the source, the
// same in those; otherwise (a host port follows the pod's hostNetwork too) the object the
// decision was made for.
var siblingCopies = []struct {
	field  string
	beside bool
	// only, when set, are the keys of the holding map that the default is copied from.
	only []string
}{
	{field: "ports[].targetPort", beside: true}, {field: "resources.requests", beside: true},
	{field: "ports[].hostPort"},
	{field: "spec.serviceAccount", beside: true, only: []string{"serviceAccountName"}},
	{field: "spec.serviceAccountName", beside: true, only: []string{"serviceAccount"}},
}

// siblingScope tells whether the field at p of an object has a default copied from a sibling,
// in any kind (a workload's pod template defaults as a pod does), and if so what a decision
// about it is keyed by beside its value: the namespace and the map holding the field without
// it, or the object's namespace and name.
func siblingScope(obj *unstructured.Unstructured, p path) (string, bool) {
	segs := make([]string, len(p))
	for i, s := range p {
		segs[i] = s.key
		if s.index >= 0 {
			segs[i] = "[]"
		}
	}
	for _, f := range siblingCopies {
		pat := strings.Split(strings.ReplaceAll(f.field, "[]", ".[]"), ".")
		for i := 0; i+len(pat) <= len(segs); i++ {
			if !slices.Equal(segs[i:i+len(pat)], pat) {
				continue
			}
			if !f.beside {
				return obj.GetNamespace() + "/" + obj.GetName(), true
			}
			last := i + len(pat) - 1
			holder, _ := get(obj.Object, p[:last])
			m, ok := holder.(map[string]any)
			if !ok {
				return obj.GetNamespace() + "/" + obj.GetName(), true
			}
			if f.only != nil {
				kept := map[string]any{}
				for _, k := range f.only {
					if v, ok := m[k]; ok {
						kept[k] = v
					}
				}
				return obj.GetNamespace() + "|" + jsonString(kept), true
			}
			m = runtime.DeepCopyJSONValue(m).(map[string]any)
			remove(m, p[last:])
			return obj.GetNamespace() + "|" + jsonString(m), true
		}
	}
	return "", false
}
