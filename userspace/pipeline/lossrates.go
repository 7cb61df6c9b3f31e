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

// lossSnapshot picks the loss counters of a counter set.
func lossSnapshot(counters []abi.Counter, at time.Time) LossSnapshot {
	snap := LossSnapshot{At: at, Counters: map[string]uint64{}}
	for _, c := range counters {
		if isLossCounter(c.Name) {
			snap.Counters[c.Name] = c.Value
		}
	}
	return snap
}

// LogLossRates logs, in one warning, each loss counter that grew from prev
// to cur: by how much and per second. It logs at most once a minute: when
// cur is less than a minute after prev it logs nothing and returns false,
// and the caller keeps prev for the next try. A minute that lost nothing
// logs nothing and returns true.
func LogLossRates(log *slog.Logger, prev, cur LossSnapshot) bool {
	if cur.At.Sub(prev.At) < lossLogInterval {
		return false
	}
	logLosses(log, prev, cur)
	return true
}

// logLosses logs, in one warning, each loss counter that grew from prev to
// cur, whatever the time between them: the end of a run reports what its
// last stretch lost however short it was. It logs nothing when nothing
// was lost.
func logLosses(log *slog.Logger, prev, cur LossSnapshot) {
	span := cur.At.Sub(prev.At)
	var names []string
	for name, v := range cur.Counters {
		if v > prev.Counters[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return // a quiet stretch
	}
	sort.Strings(names)
	args := []any{"interval", span.Round(time.Second).String()}
	for _, name := range names {
		d := cur.Counters[name] - prev.Counters[name]
		rate := 0.0
		if span > 0 {
			rate = float64(d) / span.Seconds()
		}
		args = append(args, name, fmt.Sprintf("%d (%.1f/s)", d, rate))
	}
	log.Warn("lost since the last report", args...)
}
