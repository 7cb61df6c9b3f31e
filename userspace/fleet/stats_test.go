package fleet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// The stream's stats events are eve's, and the fleet listing reads them
// back: dotted counter names nest as Suricata's stats do; a name that is
// also a group becomes the group's "total".
func TestStatsEVE(t *testing.T) {
	s := &event.Stats{
		Time:   time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC),
		Uptime: 3723 * time.Second,
		Counters: []event.Counter{
			{Name: "decoder.pkts", Value: 10}, {Name: "flow.end.state.closed", Value: 2},
			{Name: "decoder.bytes", Value: 640}, {Name: "lost_events", Value: 0},
			{Name: "flow", Value: 7}, {Name: "flow.end.state.new", Value: 1},
		},
	}
	got := string(eve.AppendStats(nil, s, eve.Options{SensorName: `sensor "1"`}))
	want := `{"timestamp":"2026-03-04T05:06:07.891234+0000","event_type":"stats","stats":{"uptime":3723,` +
		`"decoder":{"pkts":10,"bytes":640},"flow":{"total":7,"end":{"state":{"closed":2,"new":1}}},"lost_events":0},"host":"sensor \"1\""}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not JSON")
	}
	back, err := parseStatsEvent([]byte(got))
	if err != nil || back.Counters["flow.end.state.new"] != 1 || back.Counters["decoder.bytes"] != 640 || back.Sensor != `sensor "1"` {
		t.Fatalf("parsed back %+v, %v", back, err)
	}
}
