// Command krewgen writes the krew plugin manifest (krew/gitops.yaml) for the
// release archives that hack/dist.sh put in dist/. It refuses an archive that
// is badly named or lacks LICENSE or the plugin binary.
//
//	go run ./hack/krew/krewgen --version v1.2.3 --dist dist --out krew/gitops.yaml
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/hack/krew/release"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "krewgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	defaults := release.DefaultOptions()
	var platforms []string
	for _, p := range release.SupportedPlatforms() {
		platforms = append(platforms, p.String())
	}

	fs := flag.NewFlagSet("krewgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "plugin version, v-prefixed semver (required)")
	dist := fs.String("dist", "dist", "directory holding the release archives")
	urlTemplate := fs.String("url-template", defaults.URLTemplate, "download URL of an archive; text/template over .Version .File .OS .Arch")
	out := fs.String("out", "krew/gitops.yaml", "manifest to write; - for stdout")
	required := fs.String("platforms", strings.Join(platforms, ","), "comma-separated os/arch list that must each have an archive")
	homepage := fs.String("homepage", defaults.Homepage, "spec.homepage")
	short := fs.String("short-description", defaults.ShortDescription, "spec.shortDescription")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *version == "" {
		return fmt.Errorf("--version is required")
	}
	req, err := release.ParsePlatforms(*required)
	if err != nil {
		return fmt.Errorf("--platforms: %w", err)
	}

	opts := defaults
	opts.Version = *version
	opts.URLTemplate = *urlTemplate
	opts.Homepage = *homepage
	opts.ShortDescription = *short
	data, err := release.Generate(opts, *dist, req)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "krewgen: wrote %s for %s\n", *out, *version)
	return nil
}
