package fleet

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// appendStatsEVE appends the EVE `stats` record of s, as Suricata writes
// it: {"timestamp":…,"event_type":"stats","stats":{"uptime":N,…}} with
// the dotted counter names nested ("fleet.spool_dropped" is
// stats.fleet.spool_dropped), then host. The eve package has no stats
// encoder yet; once it has one, this should call it so that eve.json and
// the stream carry the same bytes.
func appendStatsEVE(b []byte, s *event.Stats, host string) []byte {
	b = append(b, `{"timestamp":"`...)
	b = s.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000-0700")
	b = append(b, `","event_type":"stats","stats":{"uptime":`...)
	b = strconv.AppendInt(b, int64(s.Uptime/time.Second), 10)
	b = appendCounterTree(b, s.Counters, true)
	b = append(b, '}')
	if host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, host)
	}
	return append(b, '}')
}

// appendCounterTree writes counters as members of the object being
// written, grouping names by their first dotted element in order of first
// appearance. A name that is both a counter and a group ("a" and "a.b")
// keeps the counter as the group's "total".
func appendCounterTree(b []byte, cs []event.Counter, comma bool) []byte {
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
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = appendJSONString(b, g.name)
		b = append(b, ':')
		if len(g.members) == 0 {
			b = strconv.AppendUint(b, *g.leaf, 10)
			continue
		}
		b = append(b, '{')
		members := g.members
		if g.leaf != nil {
			members = append([]event.Counter{{Name: "total", Value: *g.leaf}}, members...)
		}
		b = appendCounterTree(b, members, false)
		b = append(b, '}')
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}
