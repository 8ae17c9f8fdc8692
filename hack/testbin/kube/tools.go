//go:build tools

// Package tools pins the kube-apiserver the e2e tests run against and the kubectl they compare with.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
