// Package capture turns live objects into the manifests a person would have written: it strips
// what the API server and the controllers add, asks the API server which of the remaining values
// are its own defaults, and tells the objects that another object owns. It also reads the live
// values of the fields a rendered object sets, for recording drift. It never sees cobra.
package capture

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// metadataFields are written by the API server, never by a person.
var metadataFields = []string{
	"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
	"deletionGracePeriodSeconds", "selfLink", "managedFields", "generateName",
}

// keptAnnotations are written by kubectl for the user (kubectl rollout restart): the user's intent.
var keptAnnotations = map[string]bool{
	"kubectl.kubernetes.io/restartedAt":            true,
	"kubectl.kubernetes.io/default-container":      true,
	"kubectl.kubernetes.io/default-logs-container": true,
}

// controllerAnnotationPrefixes are annotation domains that controllers and tools write to
// record what they did, not what the user asked for.
var controllerAnnotationPrefixes = []string{
	"kubectl.kubernetes.io/",
	"deployment.kubernetes.io/",
	"control-plane.alpha.kubernetes.io/",
	"endpoints.kubernetes.io/",
	"pv.kubernetes.io/",
	"volume.kubernetes.io/",
	"volume.beta.kubernetes.io/",
	"kubernetes.io/service-account.",
	"meta.helm.sh/",
	"kustomize.toolkit.fluxcd.io/",
	"argocd.argoproj.io/tracking-id",
}

// Clean returns a copy of a live object without what the server and the controllers wrote:
// status, the server's metadata, controllers' ownerReferences and annotations, allocated cluster
// IPs and the service-account token volumes that admission injects.
func Clean(live *unstructured.Unstructured) *unstructured.Unstructured {
	u := live.DeepCopy()
	delete(u.Object, "status")
	md, _ := u.Object["metadata"].(map[string]any)
	if md != nil {
		for _, f := range metadataFields {
			delete(md, f)
		}
		cleanAnnotations(md)
		cleanOwners(md)
	}
	switch u.GroupVersionKind().GroupKind().String() {
	case "Service":
		cleanService(u.Object)
	case "Pod":
		cleanPodSpec(u.Object, "spec")
	}
	// Pod templates wherever they are: Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicaSets.
	for _, p := range [][]string{{"spec", "template", "spec"}, {"spec", "jobTemplate", "spec", "template", "spec"}} {
		if _, ok, _ := unstructured.NestedMap(u.Object, p...); ok {
			cleanPodSpec(u.Object, p...)
		}
	}
	return u
}

func cleanAnnotations(md map[string]any) {
	ann, _ := md["annotations"].(map[string]any)
	for k := range ann {
		if keptAnnotations[k] {
			continue
		}
		for _, p := range controllerAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				delete(ann, k)
				break
			}
		}
	}
	if ann != nil && len(ann) == 0 {
		delete(md, "annotations")
	}
}

// cleanOwners drops the ownerReferences of controllers: the controller recreates them. Other
// owners (garbage-collection links a person set) are kept.
func cleanOwners(md map[string]any) {
	refs, _ := md["ownerReferences"].([]any)
	var keep []any
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); c {
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		delete(md, "ownerReferences")
		return
	}
	md["ownerReferences"] = keep
}

// cleanService drops the cluster IPs the server allocated; a headless Service's "None" is the
// user's choice and stays.
func cleanService(obj map[string]any) {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return
	}
	if ip, _ := spec["clusterIP"].(string); ip != "None" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	} else if ips, _ := spec["clusterIPs"].([]any); len(ips) == 1 && ips[0] == "None" {
		delete(spec, "clusterIPs")
	}
	// Node ports are allocated too, unless the user named them; a captured Service that keeps
	// them would collide with the original when applied to the same cluster.
	if ports, _ := spec["ports"].([]any); ports != nil {
		for _, p := range ports {
			if m, ok := p.(map[string]any); ok {
				delete(m, "nodePort")
			}
		}
	}
	delete(spec, "healthCheckNodePort")
}

// cleanPodSpec removes the projected service-account token volumes (kube-api-access-*) that the
// ServiceAccount admission plugin adds, with their mounts.
func cleanPodSpec(obj map[string]any, path ...string) {
	spec, ok, _ := unstructured.NestedMap(obj, path...)
	if !ok {
		return
	}
	injected := map[string]bool{}
	if vols, ok := spec["volumes"].([]any); ok {
		var keep []any
		for _, v := range vols {
			m, _ := v.(map[string]any)
			if name, _ := m["name"].(string); strings.HasPrefix(name, "kube-api-access-") {
				if _, projected := m["projected"]; projected {
					injected[name] = true
					continue
				}
			}
			keep = append(keep, v)
		}
		setOrDelete(spec, "volumes", keep)
	}
	if len(injected) > 0 {
		for _, key := range []string{"initContainers", "containers", "ephemeralContainers"} {
			cs, _ := spec[key].([]any)
			for _, c := range cs {
				cm, _ := c.(map[string]any)
				mounts, _ := cm["volumeMounts"].([]any)
				if mounts == nil {
					continue
				}
				var keep []any
				for _, vm := range mounts {
					m, _ := vm.(map[string]any)
					if name, _ := m["name"].(string); injected[name] {
						continue
					}
					keep = append(keep, vm)
				}
				setOrDelete(cm, "volumeMounts", keep)
			}
		}
	}
	_ = unstructured.SetNestedMap(obj, spec, path...)
}

func setOrDelete(m map[string]any, key string, list []any) {
	if len(list) == 0 {
		delete(m, key)
		return
	}
	m[key] = list
}
