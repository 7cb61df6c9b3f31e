package fleet_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
)

// Two sensors publish stats events (built here: the pipeline's are the
// lead's); the fleet listing finds both, with rates over the two latest
// events of each, losses and the fleet counters.
func TestListSensors(t *testing.T) {
	srv := fleettest.Start(t)
	stream := "XS_" + strings.ReplaceAll(uniqueName(t, "list"), "-", "_")
	onStream := func(c *fleet.Config) { c.Stream.Name = stream }
	alpha := newPublisher(t, srv.URL(), t.TempDir(), "alpha.dc1.example", onStream)
	beta := newPublisher(t, srv.URL(), t.TempDir(), "beta", onStream)

	t0 := time.Now().UTC().Truncate(time.Second).Add(-20 * time.Second)
	stats := func(at time.Time, packets, lost uint64) *event.Stats {
		return &event.Stats{Time: at, Uptime: at.Sub(t0) + time.Minute, Counters: []event.Counter{
			{Name: "packets", Value: packets}, {Name: "alerts", Value: packets / 100},
			{Name: "lost_events", Value: lost}, {Name: "capture_lost", Value: 0},
		}}
	}
	// Beta's one event is stored before alpha's second.
	if err := alpha.WriteStats(stats(t0, 1000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := beta.WriteStats(stats(t0.Add(5*time.Second), 700, 0)); err != nil {
		t.Fatal(err)
	}
	beta.Close()
	if err := alpha.WriteStats(stats(t0.Add(10*time.Second), 6000, 5)); err != nil {
		t.Fatal(err)
	}
	alpha.Close()

	nc := connect(t, srv.URL())
	sensors, err := fleet.ListSensors(context.Background(), nc, stream, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) != 2 {
		t.Fatalf("%d sensors: %+v", len(sensors), sensors)
	}
	var a, b *fleet.SensorStatus
	for i := range sensors {
		switch sensors[i].Sensor {
		case "alpha.dc1.example":
			a = &sensors[i]
		case "beta":
			b = &sensors[i]
		}
	}
	if a == nil || b == nil {
		t.Fatalf("sensors %+v", sensors)
	}
	if a.Subject != "xdpsensor.alpha_dc1_example.stats" || b.Subject != "xdpsensor.beta.stats" {
		t.Errorf("subjects %q, %q", a.Subject, b.Subject)
	}
	if sensors[0].Sensor != "alpha.dc1.example" {
		t.Errorf("alpha published last: want it first, got %s", sensors[0].Sensor)
	}
	if r, ok := a.Rate("packets", "pkts"); !ok || r != 500 || a.Interval != 10 {
		t.Errorf("alpha packets rate %v (%v) over %v s, want 500/s over 10 s", r, ok, a.Interval)
	}
	if r, ok := a.Rate("alerts"); !ok || r != 5 {
		t.Errorf("alpha alerts rate %v, want 5/s", r)
	}
	if got := a.Losses(); !reflect.DeepEqual(got, map[string]uint64{"lost_events": 5}) {
		t.Errorf("alpha losses %v", got)
	}
	if _, ok := b.Rate("packets"); ok || b.Rates != nil {
		t.Errorf("beta has one stats event: no rates, got %v", b.Rates)
	}
	if b.Counters["packets"] != 700 || b.BlocklistRevision() != 0 {
		t.Errorf("beta counters %v", b.Counters)
	}
	// The fleet counters came with the stats: alpha had spooled its first
	// stats event when it made the second.
	if a.Counters["fleet.events_spooled"] != 1 || a.Counters["fleet.spool_dropped"] != 0 {
		t.Errorf("alpha fleet counters %v", a.Counters)
	}
	if time.Since(a.LastSeen) > 30*time.Second || a.LastSeen.Before(b.LastSeen) {
		t.Errorf("last seen: alpha %v, beta %v", a.LastSeen, b.LastSeen)
	}
}
