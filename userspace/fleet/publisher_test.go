package fleet_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
)

// uniqueName is a sensor and stream name no other run shares.
func uniqueName(t *testing.T, what string) string {
	return fmt.Sprintf("%s-%d-%d", what, os.Getpid(), time.Now().UnixNano()%1e6)
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newPublisher(t *testing.T, url, spoolDir, sensor string, mod func(*fleet.Config)) *fleet.Publisher {
	t.Helper()
	cfg := fleet.Config{
		Conn:         fleet.ConnOptions{URL: url},
		SensorName:   sensor,
		EVE:          eve.Options{SensorName: sensor, CompressIPv6: true},
		Stream:       fleet.StreamOptions{Name: "XS_" + strings.ReplaceAll(sensor, "-", "_")},
		SpoolDir:     spoolDir,
		DrainTimeout: 20 * time.Second,
		Logger:       testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := fleet.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var flowBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testFlow is the i-th of a series of distinct flow records.
func testFlow(i int) *event.Flow {
	start := flowBase.Add(time.Duration(i) * time.Millisecond)
	return &event.Flow{
		FlowID: uint64(1_000_000 + i), Proto: event.ProtoTCP,
		Client:   event.Endpoint{IP: netip.MustParseAddr("198.51.100.10"), Port: uint16(1024 + i%60000)},
		Server:   event.Endpoint{IP: netip.MustParseAddr("203.0.113.80"), Port: 443},
		Start:    start,
		End:      start.Add(1500 * time.Millisecond),
		Reason:   event.EndFIN,
		ToServer: event.DirectionStats{Packets: 5, Bytes: 420, PayloadBytes: 120, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPFin},
		ToClient: event.DirectionStats{Packets: 4, Bytes: 1380, PayloadBytes: 1100, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPFin},
		History:  "ShADadFf",
	}
}

func flowEVE(sensor string, i int) string {
	return string(eve.AppendFlow(nil, testFlow(i), eve.Options{SensorName: sensor, CompressIPv6: true}))
}

// pump writes n flow records as the ring drain would: rate per second,
// a flush per 10 ms round. It returns the longest round: the drain must
// never wait for NATS.
func pump(t *testing.T, p *fleet.Publisher, from, n, rate int) time.Duration {
	perRound := max(rate/100, 1)
	var worst time.Duration
	next := time.Now()
	for i := from; i < from+n; {
		start := time.Now()
		for j := 0; j < perRound && i < from+n; j++ {
			if err := p.WriteFlow(testFlow(i)); err != nil {
				t.Error(err)
				return worst
			}
			i++
		}
		if err := p.Flush(); err != nil {
			t.Error(err)
		}
		worst = max(worst, time.Since(start))
		next = next.Add(10 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	return worst
}

func counters(p *fleet.Publisher) map[string]uint64 {
	m := map[string]uint64{}
	for _, c := range p.Counters() {
		m[c.Name] = c.Value
	}
	return m
}

// checkExactlyOnce asserts that msgs are flows from..from+n-1 of sensor,
// each once, with the EVE bytes and message id each should have, and in
// order when ordered.
func checkExactlyOnce(t *testing.T, msgs []fleettest.Msg, sensor string, n int, ordered bool) {
	t.Helper()
	if len(msgs) != n {
		t.Errorf("the stream holds %d messages, want %d", len(msgs), n)
	}
	seen := map[string]int{}
	for k, m := range msgs {
		seen[m.MsgID]++
		var i int
		if _, err := fmt.Sscanf(m.MsgID, sensor+"/flow/%d/", &i); err != nil {
			t.Fatalf("message %d: id %q", k, m.MsgID)
		}
		i -= 1_000_000
		f := testFlow(i)
		if want := fmt.Sprintf("%s/flow/%d/%d", sensor, f.FlowID, f.End.UnixNano()); m.MsgID != want {
			t.Fatalf("message %d: id %q, want %q", k, m.MsgID, want)
		}
		if m.Subject != "xdpsensor."+sensor+".flow" || m.Data != flowEVE(sensor, i) {
			t.Fatalf("message %d (%s): subject %s data\n%s\nwant\n%s", k, m.MsgID, m.Subject, m.Data, flowEVE(sensor, i))
		}
		if ordered && i != k {
			t.Fatalf("message %d is flow %d: out of order", k, i)
		}
	}
	var dup, missing []string
	for id, c := range seen {
		if c > 1 {
			dup = append(dup, id)
		}
	}
	for i := range n {
		f := testFlow(i)
		if seen[fmt.Sprintf("%s/flow/%d/%d", sensor, f.FlowID, f.End.UnixNano())] == 0 {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(dup) > 0 || len(missing) > 0 {
		t.Errorf("%d duplicated (%.200v), %d missing (%.200v)", len(dup), dup, len(missing), missing)
	}
}

// Every event is published once, as the EVE bytes eve.json gets, with its
// message id; stats events carry the fleet's counters.
func TestPublishExactlyOnce(t *testing.T) {
	srv := fleettest.Start(t)
	sensor := uniqueName(t, "pub")
	p := newPublisher(t, srv.URL(), t.TempDir(), sensor, nil)
	const n = 2000
	for i := range n {
		if err := p.WriteFlow(testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	alert := &event.Alert{ID: 77, FlowID: 1_000_000, Listed: event.ListedDst,
		Rule:   &event.Rule{GID: 1, SID: 9000001, Rev: 1, Msg: "XDPSENSOR test", Classtype: "trojan-activity", Priority: 1},
		Packet: event.Packet{Time: flowBase, Src: event.Endpoint{IP: netip.MustParseAddr("198.51.100.10"), Port: 1024}, Dst: event.Endpoint{IP: netip.MustParseAddr("203.0.113.80"), Port: 443}, Proto: event.ProtoTCP}}
	if err := p.WriteAlert(alert); err != nil {
		t.Fatal(err)
	}
	stats := &event.Stats{Time: flowBase.Add(time.Minute), Uptime: 61 * time.Second, Counters: []event.Counter{{Name: "packets", Value: 12345}}}
	if err := p.WriteStats(stats); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	stream := "XS_" + strings.ReplaceAll(sensor, "-", "_")
	checkExactlyOnce(t, fleettest.ReadStream(t, srv.URL(), stream, "xdpsensor.*.flow"), sensor, n, true)

	alerts := fleettest.ReadStream(t, srv.URL(), stream, "xdpsensor.*.alert")
	wantAlert := string(eve.AppendAlert(nil, alert, eve.Options{SensorName: sensor, CompressIPv6: true}))
	if len(alerts) != 1 || alerts[0].Data != wantAlert || alerts[0].MsgID != sensor+"/alert/77" {
		t.Errorf("alerts %+v, want one: %s", alerts, wantAlert)
	}
	st := fleettest.ReadStream(t, srv.URL(), stream, "xdpsensor.*.stats")
	if len(st) != 1 || st[0].MsgID != fmt.Sprintf("%s/stats/%d", sensor, stats.Time.UnixNano()) {
		t.Fatalf("stats messages %+v", st)
	}
	// The counters as the stats event was made: the events before it
	// spooled, nothing dropped.
	wantPrefix := `{"timestamp":"2026-01-02T03:05:05.000000+0000","event_type":"stats","stats":{"uptime":61,"packets":12345,"fleet":{"connected":`
	if !strings.HasPrefix(st[0].Data, wantPrefix) || !strings.Contains(st[0].Data, `"events_spooled":2001,`) ||
		!strings.Contains(st[0].Data, `"spool_dropped":0,`) || !strings.HasSuffix(st[0].Data, `},"host":"`+sensor+`"}`) {
		t.Errorf("stats event %s", st[0].Data)
	}
	c := counters(p)
	if c["fleet.events_spooled"] != n+2 || c["fleet.events_published"] != n+2 || c["fleet.spool_dropped"] != 0 || c["fleet.events_duplicate"] != 0 {
		t.Errorf("counters %v", c)
	}

	// The same events sent again (a lost ack, a restart that lost its
	// cursor) are dropped by the stream as duplicates.
	again := newPublisher(t, srv.URL(), t.TempDir(), sensor, nil)
	for i := range n {
		again.WriteFlow(testFlow(i))
	}
	again.Close()
	if c := counters(again); c["fleet.events_published"] != n || c["fleet.events_duplicate"] != n {
		t.Errorf("re-sent: counters %v, want %d published, all duplicates", c, n)
	}
	checkExactlyOnce(t, fleettest.ReadStream(t, srv.URL(), stream, "xdpsensor.*.flow"), sensor, n, true)
}

// The server is killed for 10 s while events flow: the drain never
// waits, the spool holds what could not be sent, and afterwards the
// stream has every event once, in order.
func TestServerOutage(t *testing.T) {
	srv := fleettest.Start(t)
	sensor := uniqueName(t, "outage")
	p := newPublisher(t, srv.URL(), t.TempDir(), sensor, nil)
	const rate, seconds = 1000, 14
	const n = rate * seconds
	var worst time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		worst = pump(t, p, 0, n, rate)
	}()
	time.Sleep(2 * time.Second)
	srv.Kill()
	killed := time.Now()
	time.Sleep(5 * time.Second)
	during := counters(p)
	if during["fleet.connected"] != 0 || during["fleet.spool_bytes"] < 3000*500 {
		t.Errorf("5 s into the outage: %v, want disconnected and ≥ 3000 events spooled", during)
	}
	time.Sleep(time.Until(killed.Add(10 * time.Second)))
	srv.Restart(t)
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("longest drain round %v; counters %v", worst, counters(p))
	if worst > 200*time.Millisecond {
		t.Errorf("a drain round took %v: the drain waited for NATS", worst)
	}
	c := counters(p)
	if c["fleet.events_spooled"] != n || c["fleet.spool_dropped"] != 0 || c["fleet.events_published"] < n {
		t.Errorf("counters %v", c)
	}
	checkExactlyOnce(t, fleettest.ReadStream(t, srv.URL(), "XS_"+strings.ReplaceAll(sensor, "-", "_"), ">"), sensor, n, true)
}

// A three-node cluster, the stream replicated three times: its leader
// is killed while events flow, and nothing is lost or duplicated.
func TestClusterNodeDown(t *testing.T) {
	nodes := fleettest.StartCluster(t)
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.URL())
	}
	sensor := uniqueName(t, "cluster")
	stream := "XS_" + strings.ReplaceAll(sensor, "-", "_")
	p := newPublisher(t, strings.Join(urls, ","), t.TempDir(), sensor, func(c *fleet.Config) { c.Stream.Replicas = 3 })
	const rate, seconds = 1000, 8
	const n = rate * seconds
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pump(t, p, 0, n, rate)
	}()
	time.Sleep(3 * time.Second)
	leader := fleettest.StreamLeader(t, urls, stream)
	var survivor string
	for _, s := range nodes {
		if s.Name == leader {
			s.Kill()
			t.Logf("killed the stream leader %s; publisher was on %s", leader, p.Conn().ConnectedServerName())
		} else {
			survivor = s.URL()
		}
	}
	if leader == "" {
		t.Fatal("no stream leader")
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c := counters(p)
	t.Logf("counters %v", c)
	if c["fleet.events_spooled"] != n || c["fleet.spool_dropped"] != 0 {
		t.Errorf("counters %v", c)
	}
	checkExactlyOnce(t, fleettest.ReadStream(t, survivor, stream, ">"), sensor, n, false)
}

// A sensor started while the server is down spools up to its limit and
// counts the rest; stopped, it leaves the spool; the next start sends it.
func TestSpoolFullAndResume(t *testing.T) {
	port := fleettest.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	dir := t.TempDir()
	sensor := uniqueName(t, "spool")
	p1 := newPublisher(t, url, dir, sensor, func(c *fleet.Config) {
		c.SpoolSize = 64 << 10
		c.DrainTimeout = 300 * time.Millisecond
	})
	const n = 200
	for i := range n {
		if err := p1.WriteFlow(testFlow(i)); err != nil {
			t.Fatal(err)
		}
	}
	p1.Close()
	c1 := counters(p1)
	line := len(flowEVE(sensor, 0)) + len(fmt.Sprintf("xdpsensor.%s.flow %s/flow/1000000/%d ", sensor, sensor, testFlow(0).End.UnixNano())) + 1
	kept := uint64((64 << 10) / line)
	if c1["fleet.events_spooled"] != kept || c1["fleet.spool_dropped"] != n-kept || c1["fleet.events_published"] != 0 || c1["fleet.connected"] != 0 {
		t.Fatalf("with the server down: %v, want %d spooled (%d-byte lines in 64 KiB) and %d dropped", c1, kept, line, n-kept)
	}

	srv := fleettest.StartAt(t, port)
	p2 := newPublisher(t, url, dir, sensor, nil)
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	if c2 := counters(p2); c2["fleet.events_published"] != kept {
		t.Errorf("next start published %d, want %d", c2["fleet.events_published"], kept)
	}
	checkExactlyOnce(t, fleettest.ReadStream(t, srv.URL(), "XS_"+strings.ReplaceAll(sensor, "-", "_"), ">"), sensor, int(kept), true)
}
