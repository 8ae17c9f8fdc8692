// Command distpack writes one release archive for hack/dist.sh, the same bytes for the
// same inputs: entries in name order, a fixed mtime, owner 0, modes 0755 or 0644, and no
// gzip name or time. A .zip or .tar.gz is chosen by the output's name. Go's own archive
// writers are used so that neither GNU tar nor Info-ZIP is needed.
//
//	go run ./hack/krew/distpack --dir STAGE --mtime "$SOURCE_DATE_EPOCH" --out dist/x.tar.gz kubectl-gitops LICENSE
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/hack/krew/release"
)

func main() {
	fs := flag.NewFlagSet("distpack", flag.ExitOnError)
	dir := fs.String("dir", ".", "directory the files are read from")
	out := fs.String("out", "", "archive to write, ending in .tar.gz or .zip (required)")
	mtime := fs.Int64("mtime", 0, "modification time of every entry, seconds since the epoch (SOURCE_DATE_EPOCH)")
	_ = fs.Parse(os.Args[1:])
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: distpack --out ARCHIVE [--dir DIR] [--mtime EPOCH] FILE...")
		os.Exit(2)
	}
	if err := release.Pack(*out, *dir, fs.Args(), time.Unix(*mtime, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "distpack:", err)
		os.Exit(1)
	}
}
