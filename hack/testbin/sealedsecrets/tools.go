//go:build tools

// Package tools pins the sealed-secrets controller that the e2e tests run against.
package tools

import _ "github.com/bitnami-labs/sealed-secrets/cmd/controller"
