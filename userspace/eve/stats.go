package eve

import (
	"strings"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// AppendStats appends the EVE `stats` record of s to b, without a
// trailing newline: Suricata's shape, counters nested at the dots of
// their names ("decoder.pkts" is stats.decoder.pkts).
func AppendStats(b []byte, s *event.Stats, opts Options) []byte {
	return appendStats(b, s, &opts)
}

func appendStats(b []byte, s *event.Stats, opts *Options) []byte {
	o := object{b: append(b, '{')}
	o.time("timestamp", s.Time)
	o.str("event_type", "stats")
	o.open("stats")
	o.uint("uptime", uint64(s.Uptime.Seconds()))
	var path []string // the objects open now
	for _, c := range s.Counters {
		parts := strings.Split(c.Name, ".")
		groups, leaf := parts[:len(parts)-1], parts[len(parts)-1]
		common := 0
		for common < len(path) && common < len(groups) && path[common] == groups[common] {
			common++
		}
		for len(path) > common {
			o.close()
			path = path[:len(path)-1]
		}
		for _, g := range groups[common:] {
			o.open(g)
			path = append(path, g)
		}
		o.uint(leaf, c.Value)
	}
	for range path {
		o.close()
	}
	o.close()
	return o.end(opts)
}

// WriteStats writes s's stats record.
func (w *Writer) WriteStats(s *event.Stats) error {
	w.line = append(appendStats(w.line[:0], s, &w.opts), '\n')
	return w.out.Write(w.line)
}

var _ event.StatsSink = (*Writer)(nil)
