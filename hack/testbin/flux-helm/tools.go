//go:build tools

// Package tools pins Flux's helm-controller that the e2e tests run against.
package tools

import _ "github.com/fluxcd/helm-controller"
