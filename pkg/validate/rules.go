package validate

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// rules applies, offline, the API server's rules that users hit most (v1.37,
// pkg/apis/*/validation), with the API server's messages:
//
//   - replicas >= 0: Deployment, ReplicaSet, StatefulSet, ReplicationController (and the scale
//     subresource of custom resources, see crd.go);
//   - a workload's selector matches its pod template's labels: Deployment, ReplicaSet,
//     StatefulSet, DaemonSet, ReplicationController;
//   - pod templates (those and Pod, PodTemplate, Job, CronJob): valid template labels and
//     annotations; at least one container; container names are DNS-1123 labels, unique across
//     containers, init containers and ephemeral containers; images are valid references without
//     surrounding spaces; requests <= limits per resource (equal for resources that cannot be
//     overcommitted); container ports in 1-65535, host ports in 0-65535, port names valid;
//   - Service ports: port in 1-65535, targetPort a port number or name, nodePort in range.
//
// A workload's missing spec, selector or template is the schema's (builtin.go).
func rules(obj runtime.Object) field.ErrorList {
	spec := field.NewPath("spec")
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return workload(o.Spec.Replicas, o.Spec.Selector, &o.Spec.Template, spec)
	case *appsv1.ReplicaSet:
		return workload(o.Spec.Replicas, o.Spec.Selector, &o.Spec.Template, spec)
	case *appsv1.StatefulSet:
		return workload(o.Spec.Replicas, o.Spec.Selector, &o.Spec.Template, spec)
	case *appsv1.DaemonSet:
		return workload(nil, o.Spec.Selector, &o.Spec.Template, spec)
	case *corev1.ReplicationController:
		var errs field.ErrorList
		if o.Spec.Replicas != nil {
			errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*o.Spec.Replicas), spec.Child("replicas"))...)
		}
		if o.Spec.Template != nil {
			if len(o.Spec.Selector) > 0 && !labels.SelectorFromSet(o.Spec.Selector).Matches(labels.Set(o.Spec.Template.Labels)) {
				errs = append(errs, selectorMismatch(o.Spec.Template.Labels, spec.Child("template")))
			}
			errs = append(errs, podTemplate(o.Spec.Template, spec.Child("template"))...)
		}
		return errs
	case *batchv1.Job:
		return podTemplate(&o.Spec.Template, spec.Child("template"))
	case *batchv1.CronJob:
		return podTemplate(&o.Spec.JobTemplate.Spec.Template, spec.Child("jobTemplate", "spec", "template"))
	case *corev1.Pod:
		return podSpec(&o.Spec, spec)
	case *corev1.PodTemplate:
		return podTemplate(&o.Template, field.NewPath("template"))
	case *corev1.Service:
		return servicePorts(o.Spec.Ports, spec.Child("ports"))
	}
	return nil
}

// workload checks replicas, the selector against the template's labels, and the template.
func workload(replicas *int32, selector *metav1.LabelSelector, t *corev1.PodTemplateSpec, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	if replicas != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*replicas), spec.Child("replicas"))...)
	}
	if selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(spec.Child("selector"), selector, err.Error()))
		case sel.Empty():
			errs = append(errs, field.Invalid(spec.Child("selector"), selector, "empty selector is invalid"))
		case !sel.Matches(labels.Set(t.Labels)):
			errs = append(errs, selectorMismatch(t.Labels, spec.Child("template")))
		}
	}
	return append(errs, podTemplate(t, spec.Child("template"))...)
}

func selectorMismatch(templateLabels map[string]string, template *field.Path) *field.Error {
	return field.Invalid(template.Child("metadata", "labels"), templateLabels, "`selector` does not match template `labels`")
}

// podTemplate checks a pod template's labels and annotations (on the paths the API server
// names them: spec.template.labels) and its pod spec.
func podTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, p.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(t.Annotations, p.Child("annotations"))...)
	return append(errs, podSpec(&t.Spec, p.Child("spec"))...)
}

// podSpec checks the containers of a pod spec.
func podSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := sets.New[string]()
	for i := range s.InitContainers {
		errs = append(errs, container(&s.InitContainers[i], p.Child("initContainers").Index(i), names)...)
	}
	for i := range s.Containers {
		errs = append(errs, container(&s.Containers[i], p.Child("containers").Index(i), names)...)
	}
	for i := range s.EphemeralContainers {
		c := corev1.Container(s.EphemeralContainers[i].EphemeralContainerCommon)
		errs = append(errs, container(&c, p.Child("ephemeralContainers").Index(i), names)...)
	}
	return errs
}

// container checks one container; names holds the names of the pod's containers before it.
func container(c *corev1.Container, p *field.Path, names sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.Name == "":
		errs = append(errs, field.Required(p.Child("name"), ""))
	case names.Has(c.Name):
		errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
	default:
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
		}
		names.Insert(c.Name)
	}
	errs = append(errs, image(c.Image, p.Child("image"))...)
	for i, e := range c.Env {
		// Names as Kubernetes accepts them since RelaxedEnvironmentVariableValidation (any
		// printable ASCII but '='). The value is not checked nor quoted: it may be a credential.
		for _, msg := range validation.IsRelaxedEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(p.Child("env").Index(i).Child("name"), e.Name, msg))
		}
	}
	errs = append(errs, resources(c.Resources, p.Child("resources"))...)
	return append(errs, containerPorts(c.Ports, p.Child("ports"))...)
}

// image checks an image reference as the container runtime parses it. An empty image is the
// API server's to refuse (it allows one in templates, for admission to fill in).
func image(img string, p *field.Path) field.ErrorList {
	if img == "" {
		return nil
	}
	if img != strings.TrimSpace(img) {
		return field.ErrorList{field.Invalid(p, img, "must not have leading or trailing whitespace")}
	}
	if _, err := reference.ParseNormalizedNamed(img); err != nil {
		return field.ErrorList{field.Invalid(p, img, "not a valid image reference: "+err.Error())}
	}
	return nil
}

// resources checks that each request is within its limit: at most the limit for the resources
// the kubelet can overcommit (the native ones but hugepages), equal to it for the others.
func resources(r corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sets.List(sets.KeySet(r.Requests)) {
		req := r.Requests[name]
		limit, ok := r.Limits[name]
		if !ok {
			continue
		}
		reqPath := p.Child("requests").Key(string(name))
		switch {
		case !overcommittable(name) && req.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(reqPath, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case req.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(reqPath, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

// overcommittable tells whether requests of a resource may stay below its limit: native
// resources (no domain, or kubernetes.io's) but hugepages.
func overcommittable(name corev1.ResourceName) bool {
	n := string(name)
	native := !strings.Contains(n, "/") || strings.Contains(n, corev1.ResourceDefaultNamespacePrefix)
	return native && !strings.HasPrefix(n, corev1.ResourceHugePagesPrefix)
}

// containerPorts checks the port numbers and names of a container.
func containerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		ip := p.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(ip.Child("name"), port.Name, msg))
				}
			} else if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(ip.Child("name"), port.Name))
			} else {
				names.Insert(port.Name)
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(ip.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNumber(int(port.ContainerPort), ip.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNumber(int(port.HostPort), ip.Child("hostPort"))...)
		}
	}
	return errs
}

// servicePorts checks the numbers of a Service's ports.
func servicePorts(ports []corev1.ServicePort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		ip := p.Index(i)
		errs = append(errs, portNumber(int(port.Port), ip.Child("port"))...)
		switch {
		case port.TargetPort.Type == intstr.String:
			for _, msg := range validation.IsValidPortName(port.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(ip.Child("targetPort"), port.TargetPort.StrVal, msg))
			}
		case port.TargetPort.IntVal != 0:
			errs = append(errs, portNumber(int(port.TargetPort.IntVal), ip.Child("targetPort"))...)
		}
		if port.NodePort != 0 {
			errs = append(errs, portNumber(int(port.NodePort), ip.Child("nodePort"))...)
		}
	}
	return errs
}

func portNumber(n int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(n) {
		errs = append(errs, field.Invalid(p, n, msg))
	}
	return errs
}
