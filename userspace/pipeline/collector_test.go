package pipeline

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The drain runs the collector at CollectorPercent and restores the pace
// after; an operator's GOGC is left alone.
func TestPaceCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	restore := paceCollector()
	if got := gcPercent(); got != CollectorPercent {
		t.Errorf("during the drain: GOGC %d, want %d", got, CollectorPercent)
	}
	restore()
	if got := gcPercent(); got != 100 {
		t.Errorf("after: GOGC %d, want 100", got)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	restore = paceCollector()
	if got := gcPercent(); got != 150 {
		t.Errorf("with GOGC=150 set: %d, want 150", got)
	}
	restore()
}
