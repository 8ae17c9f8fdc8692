package gcpace

import (
	"runtime/debug"
	"testing"
)

func TestStartPacesUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	Start()
	if got := debug.SetGCPercent(100); got != percent {
		t.Errorf("GC percent after Start: %d, want %d", got, percent)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	Start()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent after Start with GOGC=150: %d, want the user's 150", got)
	}
}
