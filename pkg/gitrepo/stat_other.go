//go:build !linux && !darwin

package gitrepo

import "os"

// fillStat records what the platform offers portably; git compares the rest as zero, or
// re-reads the file when the stat data does not settle it.
func fillStat(e *indexEntry, fi os.FileInfo) {
	fillStatCommon(e, fi)
	e.ctimeS, e.ctimeN = e.mtimeS, e.mtimeN
}
