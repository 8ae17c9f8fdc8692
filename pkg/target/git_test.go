package target

import (
	"path/filepath"
	"testing"
)

func TestCacheSubdir(t *testing.T) {
	for u, want := range map[string]string{
		"https://git.example.com/platform/fleet.git": "git.example.com/platform/fleet",
		"git@git.example.com:platform/fleet.git":     "git.example.com/platform/fleet",
		"ssh://git@host/a b/../c":                    "host/a_b/_/c",
		"https://host":                               "host/_",
		"file:///srv/git/fleet.git":                  "file/srv/git/fleet",
	} {
		if got := filepath.ToSlash(cacheSubdir(u)); got != want {
			t.Errorf("cacheSubdir(%q) = %q, want %q", u, got, want)
		}
	}
}
