package workflow

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// shortNames are kubectl's short names for the built-in kinds a repository commonly holds; the
// kinds of custom resources match by kind, singular and plural as kubectl matches them.
var shortNames = map[string]string{
	"deploy": "Deployment", "sts": "StatefulSet", "ds": "DaemonSet", "rs": "ReplicaSet",
	"cj": "CronJob", "cm": "ConfigMap", "svc": "Service", "po": "Pod", "ns": "Namespace",
	"sa": "ServiceAccount", "ing": "Ingress", "pvc": "PersistentVolumeClaim", "pv": "PersistentVolume",
	"hpa": "HorizontalPodAutoscaler", "pdb": "PodDisruptionBudget", "netpol": "NetworkPolicy",
	"crd": "CustomResourceDefinition", "crds": "CustomResourceDefinition", "ks": "Kustomization",
	"hr": "HelmRelease", "gitrepo": "GitRepository", "app": "Application", "apps": "Application",
}

// ObjectRef is what the user named: a resource type (as typed: deploy, deployments.apps,
// Deployment) and a name.
type ObjectRef struct {
	Resource string
	Name     string
	// Namespace, when set, is the object's own (-f of a manifest that names one): it wins over
	// the selection's.
	Namespace string
}

// ParseObjectArgs reads kubectl's argument forms: TYPE NAME..., TYPE/NAME..., or TYPE alone
// (with a selector or --all).
func ParseObjectArgs(args []string) (refs []ObjectRef, typeOnly string, err error) {
	if len(args) == 0 {
		return nil, "", fmt.Errorf("you must specify the type of resource and a name, as TYPE NAME or TYPE/NAME")
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok || typ == "" || name == "" {
				return nil, "", fmt.Errorf("%q is not TYPE/NAME: after %s, name each object as TYPE/NAME too (deploy/web deploy/worker), or give TYPE once, then the names (deploy web worker)", a, args[0])
			}
			refs = append(refs, ObjectRef{Resource: typ, Name: name})
		}
		return refs, "", nil
	}
	if len(args) == 1 {
		return nil, args[0], nil
	}
	for _, n := range args[1:] {
		refs = append(refs, ObjectRef{Resource: args[0], Name: n})
	}
	return refs, "", nil
}

// kindMatches tells whether a typed resource names kind (in group).
func kindMatches(resource, kind, group string) bool {
	res, grp, _ := strings.Cut(strings.ToLower(resource), ".")
	if grp != "" && grp != strings.ToLower(group) && !strings.HasPrefix(strings.ToLower(group), grp) {
		return false
	}
	if k, ok := shortNames[res]; ok {
		return k == kind
	}
	lk := strings.ToLower(kind)
	return res == lk || res == plural(lk)
}

func plural(k string) string {
	switch {
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "ch"):
		return k + "es"
	case strings.HasSuffix(k, "y") && !strings.HasSuffix(k, "ey"):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

// Selection says which objects of a render a command acts on.
type Selection struct {
	Refs     []ObjectRef
	TypeOnly string // with Selector or All
	Selector string
	All      bool
	// Namespace is -n; NamespaceExplicit says the user typed it (else a unique name in any
	// namespace matches, since the repository, not the kubeconfig, decides where objects live).
	Namespace         string
	NamespaceExplicit bool
	// Allowed restricts the kinds the command accepts (scale: Deployment, StatefulSet, ...).
	Allowed []string
}

// Select returns the objects of r the selection names, or an error that says where it looked.
func (s Selection) Select(r *render.Result) ([]*render.Object, error) {
	var out []*render.Object
	nsOK := func(o *render.Object) bool {
		return !s.NamespaceExplicit || o.ID.Namespace == "" || o.ID.Namespace == s.Namespace
	}
	if s.TypeOnly != "" {
		if s.Selector == "" && !s.All {
			return nil, fmt.Errorf("resource(s) were provided, but no name was specified: give NAME, -l SELECTOR or --all")
		}
		sel := labels.Everything()
		if s.Selector != "" {
			var err error
			if sel, err = labels.Parse(s.Selector); err != nil {
				return nil, fmt.Errorf("invalid --selector %q: %w", s.Selector, err)
			}
		}
		known := false
		for _, o := range r.Objects {
			if !kindMatches(s.TypeOnly, o.ID.Kind, o.ID.Group) {
				continue
			}
			known = true
			if nsOK(o) && sel.Matches(labels.Set(o.Obj().GetLabels())) {
				out = append(out, o)
			}
		}
		if !known {
			return nil, s.unknownType(s.TypeOnly, r)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no %s in target path %s matches %q", s.TypeOnly, r.Path, s.Selector)
		}
		return s.allowed(out)
	}
	for _, ref := range s.Refs {
		sel := s
		if ref.Namespace != "" {
			sel.Namespace, sel.NamespaceExplicit = ref.Namespace, true
		}
		refNSOK := func(o *render.Object) bool {
			return !sel.NamespaceExplicit || o.ID.Namespace == "" || o.ID.Namespace == sel.Namespace
		}
		var found, typed []*render.Object
		for _, o := range r.Objects {
			if !kindMatches(ref.Resource, o.ID.Kind, o.ID.Group) {
				continue
			}
			typed = append(typed, o)
			if o.ID.Name == ref.Name && refNSOK(o) {
				found = append(found, o)
			}
		}
		if len(found) == 0 && kindMatches(ref.Resource, "Secret", "") {
			if ss := sealedNamed(r, ref.Name, sel.Namespace, sel.NamespaceExplicit); ss != nil {
				return nil, fmt.Errorf("secret %q is a SealedSecret in target path %s (%s): its values can only be sealed again, with `kubectl gitops set secret %s KEY=VALUE` or `kubectl gitops edit secret/%s`",
					ref.Name, r.Path, ss.Origin.File, ref.Name, ref.Name)
			}
		}
		switch {
		case len(typed) == 0 && !s.knownType(ref.Resource):
			return nil, s.unknownType(ref.Resource, r)
		case len(found) == 0:
			ns := ""
			if sel.NamespaceExplicit {
				ns = " in namespace " + sel.Namespace
			}
			return nil, &NotFoundError{msg: fmt.Sprintf("%s %q not found%s in target path %s (rendered %d objects from it%s); if it lives only in the cluster, bring it into Git with `kubectl gitops capture %s/%s`",
				ref.Resource, ref.Name, ns, r.Path, len(r.Objects), sameType(typed), ref.Resource, ref.Name)}
		case len(found) > 1:
			var where []string
			for _, o := range found {
				where = append(where, o.ID.String())
			}
			return nil, fmt.Errorf("%s %q is defined more than once in target path %s (%s): pass -n NAMESPACE to choose", ref.Resource, ref.Name, r.Path, strings.Join(where, ", "))
		}
		out = append(out, found[0])
	}
	return s.allowed(out)
}

// sameType names the rendered objects of the type asked for, the names a user most likely
// meant (a namePrefix or nameSuffix of the target changes them): five at most.
func sameType(typed []*render.Object) string {
	if len(typed) == 0 {
		return ""
	}
	var names []string
	for _, o := range typed[:min(len(typed), 5)] {
		n := o.ID.Name
		if o.ID.Namespace != "" {
			n = o.ID.Namespace + "/" + n
		}
		names = append(names, n)
	}
	if len(typed) > 5 {
		names = append(names, fmt.Sprintf("%d more", len(typed)-5))
	}
	return "; of that type: " + strings.Join(names, ", ")
}

// sealedNamed is the SealedSecret of r that unseals to Secret name.
func sealedNamed(r *render.Result, name, namespace string, nsExplicit bool) *render.Object {
	for _, o := range r.Objects {
		if o.ID.Kind == "SealedSecret" && o.ID.Group == "bitnami.com" && o.ID.Name == name &&
			(!nsExplicit || o.ID.Namespace == "" || o.ID.Namespace == namespace) {
			return o
		}
	}
	return nil
}

func (s Selection) allowed(objs []*render.Object) ([]*render.Object, error) {
	if len(s.Allowed) == 0 {
		return objs, nil
	}
	for _, o := range objs {
		ok := false
		for _, k := range s.Allowed {
			if o.ID.Kind == k {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s cannot be changed this way: only %s", o.ID, strings.Join(s.Allowed, ", "))
		}
	}
	return objs, nil
}

func (s Selection) knownType(resource string) bool {
	res, _, _ := strings.Cut(strings.ToLower(resource), ".")
	_, ok := shortNames[res]
	return ok
}

func (s Selection) unknownType(resource string, r *render.Result) error {
	kinds := map[string]bool{}
	for _, o := range r.Objects {
		kinds[o.ID.Kind] = true
	}
	var list []string
	for k := range kinds {
		list = append(list, k)
	}
	sort.Strings(list)
	return &NotFoundError{msg: fmt.Sprintf("the resource type %q is unknown to the cluster and to target path %s (its kinds: %s)", resource, r.Path, strings.Join(list, ", "))}
}

// NotFoundError says that a render has no object of the name, or of the type, the user gave:
// an object removed from the repository (history looks for it in older commits), or a typo.
type NotFoundError struct{ msg string }

func (e *NotFoundError) Error() string { return e.msg }
