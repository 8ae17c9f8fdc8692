// Package gcpace paces the garbage collector for a short command: a command that reads a large
// repository builds its heap from nothing in a few hundred milliseconds, and with Go's default
// pacing (a collection each time the heap doubles) spends a third of its CPU collecting garbage
// it would free on exit anyway. Collections are made rarer while the heap is small, and return
// to the default once the live heap is large (a first render of a big repository), so memory
// stays bounded. A command imports it for its effect.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

const (
	// percent is the pacing while the live heap is small: a collection when the heap has grown
	// by four times what was live after the last one.
	percent = 400
	// largeHeap is the live heap from which the default pacing applies again.
	largeHeap = 256 << 20
)

// The pacing starts while packages are initialized, which allocate several megabytes before main
// runs (two collections at the default pacing, a fifth of a short command's start): Go
// initializes packages in import-path order among those whose imports are ready, and this one,
// needing only the standard library, comes before the Kubernetes packages that allocate most.
func init() { Start() }

// Start sets the pacing, unless the user set GOGC.
func Start() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(percent)
	watch()
}

// watch checks the live heap after each collection: a finalizer runs once the collection that
// found its object unreachable is done.
func watch() {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		if liveHeap() >= largeHeap {
			debug.SetGCPercent(100)
			return
		}
		watch()
	})
}

type sentinel struct{ _ [16]byte } // not a zero-size or tiny allocation, which a finalizer cannot watch

var sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

func liveHeap() uint64 {
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
