//go:build tools

// Package tools pins the helm CLI whose `helm template` the render equality tests compare
// pkg/helm's renders with: the same SDK version as the main module's.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
