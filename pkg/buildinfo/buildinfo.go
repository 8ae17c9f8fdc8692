// Package buildinfo holds what the build stamped into the binary with -ldflags.
package buildinfo

import "runtime"

// Set with -ldflags "-X github.com/kubectl-gitops/kubectl-gitops/pkg/buildinfo.Version=v1.2.3" and so on;
// a plain `go build` leaves the development defaults.
var (
	Version   = "v0.0.0-dev"
	GitCommit = "unknown"
	BuildDate = "unknown"
)

// Info is the version report `kubectl gitops version` prints.
type Info struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the stamped build information and the runtime's Go version and platform.
func Get() Info {
	return Info{
		Version:   Version,
		GitCommit: GitCommit,
		BuildDate: BuildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
