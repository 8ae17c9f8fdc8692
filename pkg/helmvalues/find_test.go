package helmvalues

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/placement"
)

// chart renders what a small chart's templates would: a Deployment and a Service from values.
// (The real charts' renders are tested with the Helm SDK in pkg/render.)
func chart(values map[string]any) ([]*unstructured.Unstructured, error) {
	img, _ := values["image"].(map[string]any)
	container := map[string]any{
		"name":  "web",
		"image": fmt.Sprintf("%v:%v", img["repository"], img["tag"]),
	}
	if r, ok := values["resources"].(map[string]any); ok && len(r) > 0 {
		container["resources"] = r
	}
	if e, ok := values["env"].([]any); ok && len(e) > 0 {
		container["env"] = e
	}
	annotations := map[string]any{}
	if values["replicasInAnnotation"] == true {
		annotations["replicas"] = fmt.Sprint(values["replicaCount"])
	}
	deploy := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "apps", "annotations": annotations},
		"spec": map[string]any{
			"replicas": values["replicaCount"],
			"template": map[string]any{"spec": map[string]any{"containers": []any{container}, "terminationGracePeriodSeconds": int64(30)}},
		},
	}
	svc := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "namespace": "apps"},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": values["port"]}}},
	}
	return []*unstructured.Unstructured{{Object: deploy}, {Object: svc}}, nil
}

func baseValues() map[string]any {
	return map[string]any{
		"replicaCount": int64(2),
		"port":         int64(80),
		"image":        map[string]any{"repository": "ghcr.io/acme/web", "tag": "1.0.0"},
		"resources":    map[string]any{},
		"env":          []any{},
	}
}

// request is the change from the chart's Deployment to the same after mutate, as a command makes it.
func request(t *testing.T, values map[string]any, mutate func(u *unstructured.Unstructured)) Request {
	t.Helper()
	objs, err := chart(values)
	if err != nil {
		t.Fatal(err)
	}
	live := objs[0]
	desired := live.DeepCopy()
	mutate(desired)
	return Request{Values: values, Object: live, Changes: placement.Diff(live.Object, desired.Object, placement.PatchMeta(live.GroupVersionKind()))}
}

func TestFind(t *testing.T) {
	cases := []struct {
		name   string
		values func(map[string]any)
		mutate func(u *unstructured.Unstructured)
		want   []Key
	}{
		{
			name: "replicas",
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
			},
			want: []Key{{Path: []any{"replicaCount"}, Value: int64(5)}},
		},
		{
			name: "image tag",
			mutate: func(u *unstructured.Unstructured) {
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				c[0].(map[string]any)["image"] = "ghcr.io/acme/web:1.1.0"
				_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
			},
			want: []Key{{Path: []any{"image", "tag"}, Value: "1.1.0"}},
		},
		{
			name: "resources into an empty block",
			mutate: func(u *unstructured.Unstructured) {
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				c[0].(map[string]any)["resources"] = map[string]any{"limits": map[string]any{"cpu": "500m"}}
				_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
			},
			want: []Key{{Path: []any{"resources"}, Value: map[string]any{"limits": map[string]any{"cpu": "500m"}}}},
		},
		{
			name: "env into an empty list",
			mutate: func(u *unstructured.Unstructured) {
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				c[0].(map[string]any)["env"] = []any{map[string]any{"name": "LOG", "value": "debug"}}
				_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
			},
			want: []Key{{Path: []any{"env"}, Value: []any{map[string]any{"name": "LOG", "value": "debug"}}}},
		},
		{
			name: "replicas and image tag together",
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				c[0].(map[string]any)["image"] = "ghcr.io/acme/web:1.1.0"
				_ = unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
			},
			want: []Key{{Path: []any{"replicaCount"}, Value: int64(5)}, {Path: []any{"image", "tag"}, Value: "1.1.0"}},
		},
		{
			name:   "the port key also holds 2 but moves the Service",
			values: func(v map[string]any) { v["port"] = int64(2) },
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(3), "spec", "replicas")
			},
			want: []Key{{Path: []any{"replicaCount"}, Value: int64(3)}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := baseValues()
			if tc.values != nil {
				tc.values(values)
			}
			// Each render costs a chart's template run: no values are rendered twice.
			seen := map[string]bool{}
			keys, err := Find(request(t, values, tc.mutate), func(v map[string]any) ([]*unstructured.Unstructured, error) {
				s := fmt.Sprint(v)
				if seen[s] {
					t.Errorf("values rendered twice: %s", s)
				}
				seen[s] = true
				return chart(v)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keys, tc.want) {
				t.Fatalf("keys = %v, want %v", keys, tc.want)
			}
		})
	}
}

func TestFindRefuses(t *testing.T) {
	cases := []struct {
		name   string
		values func(map[string]any)
		mutate func(u *unstructured.Unstructured)
	}{
		{
			name:   "the key moves another field",
			values: func(v map[string]any) { v["replicasInAnnotation"] = true },
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
			},
		},
		{
			name: "no key drives the field",
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(60), "spec", "template", "spec", "terminationGracePeriodSeconds")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := baseValues()
			if tc.values != nil {
				tc.values(values)
			}
			_, err := Find(request(t, values, tc.mutate), chart)
			var nk *NoKeyError
			if !errors.As(err, &nk) {
				t.Fatalf("err = %v, want a NoKeyError", err)
			}
			t.Log(err)
		})
	}
}

func TestKeyString(t *testing.T) {
	k := Key{Path: []any{"image", "tag"}}
	if got := k.String(); got != "image.tag" {
		t.Errorf("%q", got)
	}
	k = Key{Path: []any{"podAnnotations", "example.com/x", "env", 0, "value"}}
	if got := k.String(); got != `podAnnotations.example\.com/x.env[0].value` {
		t.Errorf("%q", got)
	}
}
