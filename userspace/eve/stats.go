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
	o := object{b: append(b, '{')}
	o.time("timestamp", s.Time)
	o.str("event_type", "stats")
	o.open("stats")
	o.uint("uptime", uint64(s.Uptime.Seconds()))
	o.counters(s.Counters)
	o.close()
	return o.end(opts)
}

// counters writes counters as members of the object being written.
func (o *object) counters(cs []event.Counter) {
	type group struct {
		name    string
		leaf    *uint64
		members []event.Counter
	}
	var groups []*group
	index := map[string]*group{}
	for _, c := range cs {
		head, rest, nested := strings.Cut(c.Name, ".")
		g := index[head]
		if g == nil {
			g = &group{name: head}
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
		if len(g.members) == 0 {
			o.uint(g.name, *g.leaf)
			continue
		}
		o.open(g.name)
		if g.leaf != nil {
			o.uint("total", *g.leaf)
		}
		o.counters(g.members)
		o.close()
	}
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
