package capture

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// OwnedReason says why an object belongs to something else than the user (its controller, the
// API server, the kubelet), or "" when it is the user's to capture. A bulk capture skips these;
// an object named on the command line is captured anyway.
func OwnedReason(u *unstructured.Unstructured) string {
	for _, r := range u.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller {
			return "controlled by " + r.Kind + " " + r.Name
		}
	}
	gk := u.GroupVersionKind().GroupKind()
	switch gk.String() {
	case "Event", "Event.events.k8s.io":
		return "an event"
	case "Endpoints", "EndpointSlice.discovery.k8s.io":
		return "maintained by the endpoints controllers"
	case "Lease.coordination.k8s.io":
		return "a lease"
	case "ControllerRevision.apps":
		return "a controller's revision"
	case "Secret":
		if t, _, _ := unstructured.NestedString(u.Object, "type"); t == "kubernetes.io/service-account-token" {
			return "a service-account token"
		}
	case "ConfigMap":
		if u.GetName() == "kube-root-ca.crt" {
			return "published by the root CA controller"
		}
	case "ServiceAccount":
		if u.GetName() == "default" {
			return "made for every namespace"
		}
	}
	return ""
}
