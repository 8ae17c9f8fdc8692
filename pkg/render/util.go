package render

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}
