package eve

import (
	"strings"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// AppendStats appends the EVE `stats` record of s to b, without a
// trailing newline: Suricata's shape, counters nested at the dots of
// their names ("decoder.pkts" is stats.decoder.pkts), groups in the order
// they first appear; a name that is also a group ("flow" and "flow.tcp")
// becomes the group's "total".
func AppendStats(b []byte, s *event.Stats, opts Options) []byte {
	return appendStats(b, s, &opts)
}

func appendStats(b []byte, s *event.Stats, opts *Options) []byte {
	b = append(b, `{"timestamp":"`...)
	b = appendTime(b, s.Time)
	b = appendUintMember(b, `","event_type":"stats","stats":{"uptime":`, uint64(s.Uptime.Seconds()))
	b = appendCounters(b, s.Counters, true)
	b = append(b, '}')
	return appendEnd(b, opts)
}

// appendCounters writes counters as members of the object being written;
// comma: a member precedes them.
func appendCounters(b []byte, cs []event.Counter, comma bool) []byte {
	type group struct {
		key     string // "name":
		leaf    *uint64
		members []event.Counter
	}
	var groups []*group
	index := map[string]*group{}
	for _, c := range cs {
		head, rest, nested := strings.Cut(c.Name, ".")
		g := index[head]
		if g == nil {
			g = &group{key: `"` + head + `":`}
			index[head] = g
			groups = append(groups, g)
		}
		if nested {
			g.members = append(g.members, event.Counter{Name: rest, Value: c.Value})
		} else {
			v := c.Value
			g.leaf = &v
		}
	}
	for _, g := range groups {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, g.key...)
		if len(g.members) == 0 {
			b = appendUint(b, *g.leaf)
			continue
		}
		b = append(b, '{')
		if g.leaf != nil {
			b = appendUintMember(b, `"total":`, *g.leaf)
		}
		b = appendCounters(b, g.members, g.leaf != nil)
		b = append(b, '}')
	}
	return b
}

// WriteStats writes s's stats record.
func (w *Writer) WriteStats(s *event.Stats) error {
	if w.enc != nil {
		return w.enc.queue(queued{stats: s})
	}
	w.line = append(appendStats(w.line[:0], s, &w.opts), '\n')
	return w.out.Write(w.line)
}

var _ event.StatsSink = (*Writer)(nil)
