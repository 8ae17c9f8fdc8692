//go:build tools

// Package tools pins the kustomize CLI whose `kustomize edit` and `kustomize build` Argo CD's
// repo-server runs: the render tests run the same commands to check the render of Argo CD
// Applications with kustomize options.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
