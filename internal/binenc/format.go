package binenc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
)

// Format is the first string of a memo file: the memo's name with its format number, and the
// build that writes it. A memo holds what this build's code and libraries made (renders by
// kustomize, YAML converted by sigs.k8s.io/yaml, what discovery parsed), so another build's is
// not read: the key changes with the main module's version and revision, the Go version, the
// build settings and every module the binary links (path, version, checksum, replacement).
// Which of those shape a memo is not listed by hand, where it would go stale as a hand-written
// version string does. A build from a modified or unversioned tree (a developer's, a test
// binary) adds the executable's size and modification time, so each rebuild keys its own.
func Format(name string) string { return name + "; build " + thisBuild() }

var thisBuild = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return buildKey(bi, executableStamp)
})

// executableStamp is the running executable's path, size and modification time.
func executableStamp() string {
	exe, err := os.Executable()
	if err != nil {
		return "no executable"
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return exe
	}
	return fmt.Sprint(exe, " ", fi.Size(), " ", fi.ModTime().UnixNano())
}

// buildKey hashes the build information bi (nil: none), and exe() unless bi names a release.
func buildKey(bi *debug.BuildInfo, exe func() string) string {
	h := sha256.New()
	if bi == nil {
		fmt.Fprintln(h, "no build information")
	} else {
		fmt.Fprintln(h, bi.GoVersion, bi.Path)
		mod := func(m *debug.Module) {
			fmt.Fprintln(h, m.Path, m.Version, m.Sum)
			if m.Replace != nil {
				fmt.Fprintln(h, "=>", m.Replace.Path, m.Replace.Version, m.Replace.Sum)
			}
		}
		mod(&bi.Main)
		for _, d := range bi.Deps {
			mod(d)
		}
		for _, s := range bi.Settings {
			fmt.Fprintln(h, s.Key, s.Value)
		}
	}
	if bi == nil || !releaseBuild(bi) {
		fmt.Fprintln(h, exe())
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// releaseBuild reports whether the build names its code: a revision of a tree without changes,
// or, built outside a repository, a version of the main module.
func releaseBuild(bi *debug.BuildInfo) bool {
	revision, modified := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision != "" {
		return modified == "false"
	}
	return bi.Main.Version != "" && bi.Main.Version != "(devel)"
}
