package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SensorStatus is what a sensor's latest stats events say.
type SensorStatus struct {
	Sensor   string    `json:"sensor"`  // the EVE host field, else the subject token
	Subject  string    `json:"subject"` // xdpsensor.<token>.stats
	LastSeen time.Time `json:"last_seen"`
	// Counters of the latest stats event, by dotted name.
	Counters map[string]uint64 `json:"counters"`
	// Rates are per second between the two latest stats events (none when
	// there is one).
	Rates    map[string]float64 `json:"rates,omitempty"`
	Interval float64            `json:"interval_seconds,omitempty"`
	time     time.Time          // the latest event's own timestamp
}

// BlocklistGeneration is the kernel generation the fleet installed.
func (s *SensorStatus) BlocklistGeneration() uint64 { return s.Counters["fleet.blocklist_generation"] }

// BlocklistRevision is the KV revision of the fleet list installed (0:
// none yet; the sensor runs its local list).
func (s *SensorStatus) BlocklistRevision() uint64 { return s.Counters["fleet.blocklist_revision"] }

// Losses are the non-zero counters that count something lost or dropped
// (the kernel's lost_events, capture_lost, fleet.spool_dropped, ...).
func (s *SensorStatus) Losses() map[string]uint64 {
	out := map[string]uint64{}
	for name, v := range s.Counters {
		leaf := name[strings.LastIndexByte(name, '.')+1:]
		if v > 0 && (strings.Contains(leaf, "lost") || strings.Contains(leaf, "drop")) {
			out[name] = v
		}
	}
	return out
}

// Rate is the per-second rate of the first counter whose last dotted
// element is one of leaves (e.g. "packets", "pkts"); ok is false without
// one.
func (s *SensorStatus) Rate(leaves ...string) (float64, bool) {
	names := make([]string, 0, len(s.Rates))
	for n := range s.Rates {
		names = append(names, n)
	}
	// Shortest names first: "packets" before "decoder.ipv4.packets".
	slices.SortFunc(names, func(a, b string) int {
		if d := strings.Count(a, ".") - strings.Count(b, "."); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		leaf := n[strings.LastIndexByte(n, '.')+1:]
		if slices.Contains(leaves, leaf) {
			return s.Rates[n], true
		}
	}
	return 0, false
}

// ListSensors reads the stats events of the last `since` from the stream
// and returns each sensor's status, most recently seen first.
func ListSensors(ctx context.Context, nc *nats.Conn, stream string, since time.Duration) ([]SensorStatus, error) {
	if stream == "" {
		stream = DefaultStream
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("no stream %s: no sensor has published yet", stream)
	} else if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	start := time.Now().Add(-since)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ".*.stats"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
		// A consumer placed on a dead node is not retried forever.
		MaxResetAttempts: 5,
	})
	if err != nil {
		return nil, fmt.Errorf("reading stats events: %w", err)
	}
	bySubject := map[string]*SensorStatus{}
	prev := map[string]*SensorStatus{}
	for done := false; !done; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("reading stats events: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			st, err := parseStatsEvent(m.Data())
			if err != nil {
				continue // not ours to judge: skip what does not parse
			}
			st.Subject, st.LastSeen = m.Subject(), md.Timestamp
			if st.Sensor == "" {
				st.Sensor = strings.TrimSuffix(strings.TrimPrefix(m.Subject(), SubjectPrefix+"."), ".stats")
			}
			if cur := bySubject[m.Subject()]; cur != nil {
				prev[m.Subject()] = cur
			}
			bySubject[m.Subject()] = &st
			if md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("reading stats events: %w", err)
		}
		if n == 0 {
			done = true
		}
	}
	var out []SensorStatus
	for subj, st := range bySubject {
		if p := prev[subj]; p != nil {
			dt := st.time.Sub(p.time).Seconds()
			if dt <= 0 {
				dt = st.LastSeen.Sub(p.LastSeen).Seconds()
			}
			if dt > 0 {
				st.Interval = dt
				st.Rates = map[string]float64{}
				for name, v := range st.Counters {
					if pv, ok := p.Counters[name]; ok && v >= pv && name != "uptime" {
						st.Rates[name] = float64(v-pv) / dt
					}
				}
			}
		}
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b SensorStatus) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.Sensor, b.Sensor)
	})
	return out, nil
}

// parseStatsEvent reads an EVE stats record into flat dotted counters.
func parseStatsEvent(data []byte) (SensorStatus, error) {
	var rec struct {
		Timestamp string                     `json:"timestamp"`
		EventType string                     `json:"event_type"`
		Host      string                     `json:"host"`
		Stats     map[string]json.RawMessage `json:"stats"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rec); err != nil {
		return SensorStatus{}, err
	}
	if rec.EventType != "stats" {
		return SensorStatus{}, fmt.Errorf("event_type %q", rec.EventType)
	}
	st := SensorStatus{Sensor: rec.Host, Counters: map[string]uint64{}}
	st.time, _ = time.Parse("2006-01-02T15:04:05.000000-0700", rec.Timestamp)
	var walk func(prefix string, raw json.RawMessage)
	walk = func(prefix string, raw json.RawMessage) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			for k, v := range obj {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				walk(name, v)
			}
			return
		}
		if v, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
			st.Counters[prefix] = v
		}
	}
	for k, v := range rec.Stats {
		walk(k, v)
	}
	return st, nil
}
