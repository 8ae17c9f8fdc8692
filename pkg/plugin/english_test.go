package plugin

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// internal/english skips kubectl's translation catalog for English locales. The help kubectl's
// packages give must read the same as with the catalog (another locale falls back to kubectl's
// default, English, catalog), and the catalog must not be loaded while the packages initialize.
func TestEnglishNeedsNoCatalog(t *testing.T) {
	home := t.TempDir()
	run := func(locale string, args ...string) string {
		cmd := exec.Command(pluginBin, args...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LC_ALL=" + locale}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return string(out)
	}
	for _, args := range [][]string{{"create", "secret", "generic", "--help"}, {"scale", "--help"}, {"--help"}} {
		en := run("en_US.UTF-8", args...)
		other := run("xx_YY.UTF-8", args...)
		if en != other {
			t.Errorf("%v: the help differs without the catalog:\n--- en_US\n%s\n--- with the default catalog\n%s", args, en, other)
		}
	}
	// The first package that translates at initialization pays for loading the catalog.
	allocs := func(locale string) int {
		cmd := exec.Command(pluginBin, "version")
		cmd.Env = []string{"GODEBUG=inittrace=1", "HOME=" + home, "LC_ALL=" + locale}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("version: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`(?m)^init k8s\.io/kubectl/pkg/cmd/apiresources @\S+ ms, \S+ ms clock, (\d+) bytes`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no init trace of k8s.io/kubectl/pkg/cmd/apiresources:\n%s", out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if en, other := allocs("en_US.UTF-8"), allocs("xx_YY.UTF-8"); en > 1<<20 || other < 1<<20 {
		t.Errorf("apiresources' initialization allocated %d bytes in English and %d in another locale: want the catalog (over 1 MiB) loaded only for the other", en, other)
	}
}
