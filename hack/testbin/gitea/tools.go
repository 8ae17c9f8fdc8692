//go:build tools

// Package tools pins Gitea, the forge the --pr end-to-end tests open pull requests on.
package tools

import _ "code.gitea.io/gitea"
