package validate

import (
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxCronJobName is the longest name the API server takes for a CronJob: the Jobs it makes are
// named after it with an 11-character suffix, and carry that name in a label (63 at most).
const maxCronJobName = 52

// nameRules are the name rules of the built-in kinds users keep in Git, as the API server
// (v1.37, pkg/apis/*/validation) checks them on create. Other built-in kinds get the rule every
// REST resource has, a valid path segment.
var nameRules = map[schema.GroupKind]apimachineryvalidation.ValidateNameFunc{
	{Kind: "Namespace"}: apimachineryvalidation.ValidateNamespaceName,
	// A DNS-1123 label since Kubernetes 1.34 (RelaxedServiceNameValidation, GA in 1.37); older API
	// servers also want it to start with a letter, which the dry run tells.
	{Kind: "Service"}:                    apimachineryvalidation.NameIsDNSLabel,
	{Kind: "ConfigMap"}:                  apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "Secret"}:                     apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "ServiceAccount"}:             apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "Pod"}:                        apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "PodTemplate"}:                apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "ReplicationController"}:      apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "Endpoints"}:                  apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "LimitRange"}:                 apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "ResourceQuota"}:              apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "PersistentVolume"}:           apimachineryvalidation.NameIsDNSSubdomain,
	{Kind: "PersistentVolumeClaim"}:      apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "Deployment"}:  apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "ReplicaSet"}:  apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "DaemonSet"}:   apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "apps", Kind: "StatefulSet"}: apimachineryvalidation.NameIsDNSLabel,
	{Group: "batch", Kind: "Job"}:        apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "batch", Kind: "CronJob"}: func(name string, prefix bool) []string {
		msgs := apimachineryvalidation.NameIsDNSSubdomain(name, prefix)
		if !prefix && len(name) > maxCronJobName {
			msgs = append(msgs, "must be no more than 52 characters")
		}
		return msgs
	},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:                           apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "networking.k8s.io", Kind: "Ingress"}:                                     apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:                               apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "coordination.k8s.io", Kind: "Lease"}:                                     apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:                                apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        apimachineryvalidation.NameIsDNSSubdomain,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: apimachineryvalidation.NameIsDNSSubdomain,
	// RBAC names only need to be path segments: "system:controller:..." is a valid one.
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               path.ValidatePathSegmentName,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        path.ValidatePathSegmentName,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        path.ValidatePathSegmentName,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: path.ValidatePathSegmentName,
}

// nameRule is the rule for the names of kind gvk: the table's for a built-in kind, a DNS-1123
// subdomain for a custom resource (as the API server checks them), a path segment otherwise.
func nameRule(gvk schema.GroupVersionKind, custom bool) apimachineryvalidation.ValidateNameFunc {
	if f, ok := nameRules[gvk.GroupKind()]; ok {
		return f
	}
	if custom {
		return apimachineryvalidation.NameIsDNSSubdomain
	}
	return path.ValidatePathSegmentName
}

// validateMeta checks an object's metadata as the API server does on create: its name (by
// nameFn), namespace, labels, annotations, finalizers and owner references. Whether the kind is
// namespaced is the cluster's to say, so a namespace is checked when there is one.
func validateMeta(u *unstructured.Unstructured, nameFn apimachineryvalidation.ValidateNameFunc) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(u, u.GetNamespace() != "", nameFn, field.NewPath("metadata"))
	if u.GetName() != "" || u.GetGenerateName() == "" {
		return errs
	}
	// Objects created by name generation (hooks of Argo CD) have no name until the API server
	// makes one.
	var out field.ErrorList
	for _, e := range errs {
		if !(e.Type == field.ErrorTypeRequired && e.Field == "metadata.name") {
			out = append(out, e)
		}
	}
	return out
}
