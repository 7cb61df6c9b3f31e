package pipeline

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// LossSnapshot is one reading of every counter, the kernel's and the
// daemon's, that counts something lost or failed.
type LossSnapshot struct {
	At       time.Time
	Counters map[string]uint64 // C field name -> value
}

// lossLogInterval is the least time between two loss-rate logs.
const lossLogInterval = time.Minute

// isLossCounter picks the counters of things lost (the summary line's
// reasons) and of failed writes.
func isLossCounter(name string) bool {
	if name == "output_write_errors" {
		return true
	}
	for _, r := range lossReasons {
		if r.counter == name {
			return true
		}
	}
	return false
}

// ReadLossSnapshot reads the loss counters of a sensor's maps.
func ReadLossSnapshot(maps *abi.BpfMaps, at time.Time) (LossSnapshot, error) {
	snap := LossSnapshot{At: at, Counters: map[string]uint64{}}
	st, err := maps.ReadStats()
	if err != nil {
		return snap, err
	}
	kernel, err := abi.Counters(&st)
	if err != nil {
		return snap, err
	}
	ds, err := maps.ReadDaemonStats()
	if err != nil {
		return snap, err
	}
	daemon, err := abi.DaemonCounters(&ds)
	if err != nil {
		return snap, err
	}
	for _, c := range append(kernel, daemon...) {
		if isLossCounter(c.Name) {
			snap.Counters[c.Name] = c.Value
		}
	}
	return snap, nil
}

// LogLossRates logs, in one warning, each loss counter that grew from prev
// to cur: by how much and per second. It logs at most once a minute: when
// cur is less than a minute after prev it logs nothing and returns false,
// and the caller keeps prev for the next try. It also returns false (and
// logs nothing) when nothing was lost.
func LogLossRates(log *slog.Logger, prev, cur LossSnapshot) bool {
	span := cur.At.Sub(prev.At)
	if span < lossLogInterval {
		return false
	}
	var names []string
	for name, v := range cur.Counters {
		if v > prev.Counters[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return true // a quiet minute: the caller moves on to cur
	}
	sort.Strings(names)
	args := []any{"interval", span.Round(time.Second).String()}
	for _, name := range names {
		d := cur.Counters[name] - prev.Counters[name]
		args = append(args, name, fmt.Sprintf("%d (%.1f/s)", d, float64(d)/span.Seconds()))
	}
	log.Warn("lost since the last report", args...)
	return true
}
