package console

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// Health is the sensor-health panel: counters with their rates, losses
// flagged, the blocklist generation, and where the numbers came from.
type Health struct {
	Source     string // "EVE stats event" or "pinned maps /sys/fs/bpf/xdpsensor"
	At         time.Time
	Generation string
	Rows       []HealthRow
	Headline   []HealthRow // packets, alerts, flows: shown at a glance
	Losses     []HealthRow // the counters of lost evidence, shown at a glance
	Problem    string      // why there are no numbers
}

// headline tells the counters shown at a glance, by the last part of
// their name (kernel counters are flat, EVE's dotted).
func headline(name string) bool {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	switch name {
	case "packets", "pkts", "alerts", "flows_new":
		return true
	}
	return false
}

// withSummary picks the counters of the summary line.
func (h Health) withSummary() Health {
	for _, r := range h.Rows {
		switch {
		case isLoss(r.Name):
			h.Losses = append(h.Losses, r)
		case headline(r.Name):
			h.Headline = append(h.Headline, r)
		}
	}
	return h
}

// HealthRow is one counter.
type HealthRow struct {
	Name  string
	Value string
	Rate  string // per second, "" when unknown
	Alarm bool   // a loss that is not zero
}

// isLoss tells the counters that mean evidence was lost.
func isLoss(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "lost") || strings.Contains(n, "drop") || strings.Contains(n, "fail")
}

// healthFromStats builds the panel from the latest EVE stats events.
func healthFromStats(cur, prev *Stats) Health {
	h := Health{Source: "EVE stats event", At: cur.Time}
	names := make([]string, 0, len(cur.Counters))
	for n := range cur.Counters {
		names = append(names, n)
	}
	slices.Sort(names)
	secs := 0.0
	if prev != nil {
		secs = cur.Time.Sub(prev.Time).Seconds()
	}
	for _, n := range names {
		v := cur.Counters[n]
		if strings.Contains(strings.ToLower(n), "generation") {
			h.Generation = strconv.FormatFloat(v, 'f', -1, 64)
			continue
		}
		row := HealthRow{Name: n, Value: strconv.FormatFloat(v, 'f', -1, 64), Alarm: isLoss(n) && v > 0}
		if pv, ok := prev.counter(n); ok && secs > 0 && v >= pv && n != "uptime" {
			row.Rate = strconv.FormatFloat((v-pv)/secs, 'f', 1, 64)
		}
		h.Rows = append(h.Rows, row)
	}
	return h.withSummary()
}

func (s *Stats) counter(name string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	v, ok := s.Counters[name]
	return v, ok
}

// mapsSample is one reading of the pinned maps.
type mapsSample struct {
	at       time.Time
	counters []abi.Counter
	gen      uint32
}

// pinnedHealth reads the running sensor's pinned maps now and then, in
// its own goroutine, so that a page never waits for them.
type pinnedHealth struct {
	pinDir string
	every  time.Duration

	mu         sync.Mutex
	cur, prev  *mapsSample
	err        error
	lastReadAt time.Time
}

func (p *pinnedHealth) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		s, err := readPinned(p.pinDir)
		p.mu.Lock()
		p.err = err
		if err == nil {
			p.prev, p.cur = p.cur, &s
		}
		p.lastReadAt = time.Now()
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func readPinned(dir string) (mapsSample, error) {
	maps, err := loader.OpenPinned(dir)
	if err != nil {
		return mapsSample{}, err
	}
	defer maps.Close()
	st, err := maps.ReadStats()
	if err != nil {
		return mapsSample{}, err
	}
	counters, err := abi.Counters(&st)
	if err != nil {
		return mapsSample{}, err
	}
	cfg, err := maps.ReadConfig()
	if err != nil {
		return mapsSample{}, err
	}
	return mapsSample{at: time.Now(), counters: counters, gen: cfg.Generation}, nil
}

// health builds the panel from the last reading.
func (p *pinnedHealth) health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		h := Health{Problem: "no stats events in eve.json, and no pinned maps read yet"}
		if p.err != nil {
			h.Problem = fmt.Sprintf("no stats events in eve.json, and the pinned maps are not readable: %v", p.err)
		}
		return h
	}
	h := Health{Source: "pinned maps " + p.pinDir, At: p.cur.at, Generation: strconv.FormatUint(uint64(p.cur.gen), 10)}
	if p.err != nil {
		h.Problem = fmt.Sprintf("last read failed: %v", p.err)
	}
	secs := 0.0
	if p.prev != nil {
		secs = p.cur.at.Sub(p.prev.at).Seconds()
	}
	for i, c := range p.cur.counters {
		row := HealthRow{Name: c.Name, Value: strconv.FormatUint(c.Value, 10), Alarm: isLoss(c.Name) && c.Value > 0}
		if secs > 0 && i < len(p.prev.counters) && p.prev.counters[i].Name == c.Name && c.Value >= p.prev.counters[i].Value {
			row.Rate = strconv.FormatFloat(float64(c.Value-p.prev.counters[i].Value)/secs, 'f', 1, 64)
		}
		h.Rows = append(h.Rows, row)
	}
	return h.withSummary()
}
