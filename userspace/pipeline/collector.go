package pipeline

import (
	"os"
	"runtime/debug"
)

// CollectorPercent is the Go collector's pace (GOGC) while run and replay
// drain their rings. The daemon's heap is small beside the kernel's maps,
// so at the default 100 the collector ran every few megabytes of decoded
// alerts and flow records: about 40% of the time spent decoding an alert
// (BenchmarkDecodeAlert: 160-200 ns a record at 100, 87-115 ns at 400;
// the ring drain to EVE 1.55 -> 1.72 M events/s). The price is memory:
// the bench capture's replay peaks at 118-134 MB resident instead of
// 100-105 MB.
const CollectorPercent = 400

// paceCollector sets CollectorPercent for the drain, unless the operator
// set GOGC, and returns what restores the previous pace. The start-up
// (parsing a large blocklist) keeps the default: its heap is briefly large.
func paceCollector() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	old := debug.SetGCPercent(CollectorPercent)
	return func() { debug.SetGCPercent(old) }
}
