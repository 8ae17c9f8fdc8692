//go:build !unix

package plugin

import "os"

// peakRSS is 0 where the process's rusage does not report it.
func peakRSS(*os.ProcessState) int64 { return 0 }
