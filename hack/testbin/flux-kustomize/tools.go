//go:build tools

// Package tools pins Flux's kustomize-controller that the e2e tests run against.
package tools

import _ "github.com/fluxcd/kustomize-controller"
