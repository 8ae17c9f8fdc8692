package diff

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status says how an object differs.
type Status string

const (
	// StatusDrift: the cluster holds some fields the manifest sets differently.
	StatusDrift Status = "drift"
	// StatusMissing: the object is in Git, not in the cluster.
	StatusMissing Status = "missing"
	// StatusExtra: the reconciler owns the object (by its labels), Git no longer has it.
	StatusExtra Status = "extra"
	// StatusError: the object could not be compared; Message says why (the API server refused
	// the manifest in the dry-run, for one).
	StatusError Status = "error"
)

// ObjectID names an object: its manifest's apiVersion, kind, namespace and name.
type ObjectID struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String names the object the way kubectl's messages do: "Deployment.apps shop/web".
func (id ObjectID) String() string {
	gk := id.Kind
	if id.Group != "" {
		gk += "." + id.Group
	}
	if id.Namespace == "" {
		return gk + " " + id.Name
	}
	return gk + " " + id.Namespace + "/" + id.Name
}

// FileName is the object's file name in kubectl diff's directories: apps.v1.Deployment.shop.web.
func (id ObjectID) FileName() string {
	parts := []string{}
	if id.Group != "" {
		parts = append(parts, id.Group)
	}
	parts = append(parts, id.Version, id.Kind)
	if id.Namespace != "" {
		parts = append(parts, id.Namespace)
	}
	return strings.Join(append(parts, id.Name), ".")
}

func idOf(u *unstructured.Unstructured) ObjectID {
	gvk := u.GroupVersionKind()
	return ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Field is one field the manifest sets that the cluster holds differently. Want is Git's value,
// Live the cluster's; each is absent (nil) when that side does not have the field. Secret data
// values are masked.
type Field struct {
	Path string `json:"path"`
	Want any    `json:"want,omitempty"`
	Live any    `json:"live,omitempty"`

	wantAbsent, liveAbsent bool
}

func (f Field) String() string {
	return fmt.Sprintf("%s: %s -> %s", f.Path, showValue(f.Live, f.liveAbsent), showValue(f.Want, f.wantAbsent))
}

func showValue(v any, absent bool) string {
	if absent {
		return "(absent)"
	}
	return fmt.Sprintf("%v", v)
}

// Object is one object that differs.
type Object struct {
	ObjectID
	Status Status `json:"status"`
	// Fields are the differing fields of a drifted object, outermost paths first.
	Fields []Field `json:"fields,omitempty"`
	// Message explains an error, or why a drift is not confirmed by the API server.
	Message string `json:"message,omitempty"`

	// Live is the object in the cluster (nil when missing) and Git what applying the manifest
	// would make of it (nil when extra): the server-side dry-run's answer when there was one.
	// Both are ready to show: no managedFields, Secret values masked as kubectl diff masks them.
	Live *unstructured.Unstructured `json:"-"`
	Git  *unstructured.Unstructured `json:"-"`
}

// Report is the result of a comparison.
type Report struct {
	// Objects are the objects that differ: the manifests' in their order, then the extra
	// objects by group, kind, namespace and name.
	Objects []Object `json:"objects"`
	// Compared counts the manifests compared.
	Compared int `json:"compared"`
	// PruneLabels are the labels that chose the objects the reconciler owns, with Prune.
	PruneLabels map[string]string `json:"pruneLabels,omitempty"`
	// Warnings say what could not be looked at (a resource type the user may not list).
	Warnings []string `json:"warnings,omitempty"`
}

// HasDifferences tells whether Git and the cluster differ; objects that could not be compared
// (Errors) do not count.
func (r *Report) HasDifferences() bool {
	for _, o := range r.Objects {
		if o.Status != StatusError {
			return true
		}
	}
	return false
}

// ExitCode is the exit status of a diff as kubectl diff ends: 0 no differences, 1 differences,
// 2 when an object could not be compared.
func (r *Report) ExitCode() int {
	switch {
	case len(r.Errors()) > 0:
		return 2
	case r.HasDifferences():
		return 1
	}
	return 0
}

// Errors returns the objects that could not be compared.
func (r *Report) Errors() []Object {
	var out []Object
	for _, o := range r.Objects {
		if o.Status == StatusError {
			out = append(out, o)
		}
	}
	return out
}
