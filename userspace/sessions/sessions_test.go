package sessions

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
)

var update = flag.Bool("update", false, "rewrite testdata/eve.json from the flows below")

var ep = eventtest.Endpoint

// backscatterSession is one of the two sessions the "Backscatter
// Detected" seed's Sguil query found: the listed IRC server's SYN-ACK to
// 69.143.202.28, answered by a RST 338 µs later.
func backscatterSession(id uint64, start time.Time, port uint16) *event.Flow {
	return &event.Flow{
		FlowID: id,
		Proto:  event.ProtoTCP,
		Client: ep("193.109.122.67", 6667),
		Server: ep("69.143.202.28", port),
		Start:  start,
		End:    start.Add(338 * time.Microsecond),
		ToServer: event.DirectionStats{
			Packets: 1, Bytes: 40, TCPFlags: event.TCPSyn | event.TCPAck,
			FlagCounts: event.TCPFlagCounts{SYNACK: 1},
		},
		ToClient: event.DirectionStats{
			Packets: 1, Bytes: 40, TCPFlags: event.TCPRst,
			FlagCounts: event.TCPFlagCounts{RST: 1},
		},
		FirstTCPFlags: event.TCPSyn | event.TCPAck,
		Reason:        event.EndRST,
		Alerts:        1,
		History:       "Hr",
		ClientListed:  true,
	}
}

// eveLines are the lines of testdata/eve.json: what a sensor named
// cel433 wrote, plus one record from a sensor that wrote no host and one
// line cut short.
func eveLines() [][]byte {
	cel := eve.Options{SensorName: "cel433", CompressIPv6: true}
	var lines [][]byte

	// The seed's first session, labelled by the sensor; its alert.
	b1 := backscatterSession(5044069116374886360, time.Date(2007, 3, 20, 18, 4, 19, 731091000, time.UTC), 1024)
	b1.Label, b1.LabelNote = "backscatter", "answered by RST"
	lines = append(lines, eve.AppendAlert(nil, &event.Alert{
		ID: 1, FlowID: b1.FlowID, Listed: event.ListedDst,
		Rule:   &event.Rule{GID: 1, SID: 2404000, Rev: 602, Msg: "BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1)", Category: "A Network Trojan was detected", Priority: 1},
		Packet: event.Packet{Time: b1.End, Src: b1.Server, Dst: b1.Client, Proto: event.ProtoTCP, TCPFlags: event.TCPRst, TTL: 64, IPLen: 40},
	}, cel))
	lines = append(lines, eve.AppendFlow(nil, b1, cel))

	// An unlisted DNS exchange.
	dns := &event.Flow{
		FlowID: 4417, Proto: event.ProtoUDP,
		Client: ep("69.143.202.28", 33001), Server: ep("68.87.71.226", 53),
		Start: time.Date(2007, 3, 20, 19, 0, 0, 0, time.UTC), End: time.Date(2007, 3, 20, 19, 0, 0, 41000000, time.UTC),
		ToServer: event.DirectionStats{Packets: 1, Bytes: 61, PayloadBytes: 33},
		ToClient: event.DirectionStats{Packets: 1, Bytes: 77, PayloadBytes: 49},
		Reason:   event.EndTimeout,
	}
	lines = append(lines, eve.AppendFlow(nil, dns, cel))

	// The seed's second session, from a sensor that did not label
	// flows: the reader labels it.
	b2 := backscatterSession(5044103368738397945, time.Date(2007, 3, 20, 20, 17, 14, 104882000, time.UTC), 3072)
	lines = append(lines, eve.AppendFlow(nil, b2, cel))

	// A connection of ours to a listed host over IPv6 that carried data.
	v6 := &event.Flow{
		FlowID: 9001, Proto: event.ProtoTCP,
		Client: ep("2001:db8:1::10", 51000), Server: ep("2001:db8:bad::66", 443),
		Start: time.Date(2007, 3, 21, 9, 30, 0, 0, time.UTC), End: time.Date(2007, 3, 21, 9, 30, 2, 500000000, time.UTC),
		ToServer: event.DirectionStats{Packets: 5, Bytes: 717, PayloadBytes: 317, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPPsh | event.TCPFin,
			FlagCounts: event.TCPFlagCounts{SYN: 1, ACK: 2, FIN: 1, PSH: 1}},
		ToClient: event.DirectionStats{Packets: 4, Bytes: 1492, PayloadBytes: 1172, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPPsh | event.TCPFin,
			FlagCounts: event.TCPFlagCounts{SYNACK: 1, FIN: 1, PSH: 1}},
		FirstTCPFlags: event.TCPSyn, Reason: event.EndFIN, ServerListed: true,
		Label: "cc-established", LabelNote: "data-out=317, 1172 bytes in",
	}
	lines = append(lines, eve.AppendFlow(nil, v6, cel))

	// A ping to a listed host, unanswered.
	ping := &event.Flow{
		FlowID: 9002, Proto: event.ProtoICMP,
		Client: ep("69.143.202.28", 0), Server: ep("193.109.122.77", 0),
		Start: time.Date(2007, 3, 21, 10, 0, 0, 0, time.UTC), End: time.Date(2007, 3, 21, 10, 0, 2, 0, time.UTC),
		ToServer: event.DirectionStats{Packets: 3, Bytes: 252, PayloadBytes: 168},
		ICMPType: 8, Reason: event.EndTimeout, ServerListed: true,
		Label: "cc-unanswered", LabelNote: "ICMP type 8 code 0, 3 packets, no reply",
	}
	lines = append(lines, eve.AppendFlow(nil, ping, cel))

	// The "Bot C&C" seed, from a sensor that wrote no host field.
	bot := &event.Flow{
		FlowID: 1159843557329870, Proto: event.ProtoTCP,
		Client: ep("192.168.0.31", 2253), Server: ep("161.53.178.240", 6667),
		Start: time.Date(2007, 2, 21, 10, 17, 54, 366236000, time.UTC), End: time.Date(2007, 2, 21, 10, 18, 3, 306453000, time.UTC),
		ToServer:      event.DirectionStats{Packets: 3, Bytes: 144, TCPFlags: event.TCPSyn, FlagCounts: event.TCPFlagCounts{SYN: 3}},
		FirstTCPFlags: event.TCPSyn, Reason: event.EndTimeout, Alerts: 1, ServerListed: true,
		Label: "cc-unanswered", LabelNote: "3 SYNs",
	}
	lines = append(lines, eve.AppendFlow(nil, bot, eve.Options{}))

	// A line being written when the file was read.
	lines = append(lines, []byte(`{"timestamp":"2007-03-21T11:00:00.000000+0000","flow_id":9003,"event_type":"flow","src_ip":"69.1`))
	return lines
}

// TestEVETestdata: testdata/eve.json reads back as what the EVE encoder
// writes today for eveLines (byte equality would tie the file to every
// field the encoder may gain).
func TestEVETestdata(t *testing.T) {
	fresh := bytes.Join(eveLines(), []byte("\n"))
	fresh = append(fresh, '\n')
	path := filepath.Join("testdata", "eve.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, fresh, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := Read(bytes.NewReader(fresh), "thishost")
	if err != nil {
		t.Fatal(err)
	}
	got := readTestdata(t)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("testdata/eve.json reads as\n%+v\nthe encoder's lines as\n%+v\n(go test -update rewrites it)", got, want)
	}
}

func readTestdata(t *testing.T) Result {
	t.Helper()
	res, err := ReadFile(filepath.Join("testdata", "eve.json"), "thishost")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// seedView is the Sguil session text of the backscatter seed's two
// sessions: the seed's lines, then the flags each way (the source sent a
// SYN ACK, the dest a RST), and the label.
const seedView = `------------------------------------------------------------------------
Sensor:cel433 Session ID:5044069116374886360
Start Time:2007-03-20 18:04:19 End Time:2007-03-20 18:04:19
193.109.122.67:6667 -> 69.143.202.28:1024
Source Packets:1 Bytes:0
Dest Packets:1 Bytes:0
Source Flags:***A**S* ACK SYN (synack=1)
Dest Flags:*****R** RST (rst=1)
Label: backscatter (answered by RST)
------------------------------------------------------------------------
Sensor:cel433 Session ID:5044103368738397945
Start Time:2007-03-20 20:17:14 End Time:2007-03-20 20:17:14
193.109.122.67:6667 -> 69.143.202.28:3072
Source Packets:1 Bytes:0
Dest Packets:1 Bytes:0
Source Flags:***A**S* ACK SYN (synack=1)
Dest Flags:*****R** RST (rst=1)
Label: backscatter (answered by RST)
`

func TestBackscatterSeedView(t *testing.T) {
	res := readTestdata(t)
	host, _ := ParseHost("193.109.122.67")
	var buf bytes.Buffer
	if err := Render(&buf, Select(res.Sessions, Filter{Host: host})); err != nil {
		t.Fatal(err)
	}
	if buf.String() != seedView {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), seedView)
	}
	// The first six lines of each session are the seed's, verbatim.
	seed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "backscatter-detected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(seedView, rule+"\n")[1:] {
		lines := strings.SplitN(block, "\n", 6)
		sguil := rule + "\n" + strings.Join(lines[:5], "\n") + "\n"
		if !bytes.Contains(seed, []byte(sguil)) {
			t.Errorf("not in the seed:\n%s", sguil)
		}
	}
}

func TestReadAll(t *testing.T) {
	res := readTestdata(t)
	if res.Skipped != 1 {
		t.Errorf("skipped %d lines, want 1 (the cut-short one)", res.Skipped)
	}
	var ids []uint64
	for _, s := range res.Sessions {
		ids = append(ids, s.Flow.FlowID)
	}
	// By start time; the alert is not a session.
	want := []uint64{1159843557329870, 5044069116374886360, 4417, 5044103368738397945, 9001, 9002}
	if len(ids) != len(want) {
		t.Fatalf("sessions %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("sessions %v, want %v", ids, want)
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, res.Sessions); err != nil {
		t.Fatal(err)
	}
	wantText := `------------------------------------------------------------------------
Sensor:thishost Session ID:1159843557329870
Start Time:2007-02-21 10:17:54 End Time:2007-02-21 10:18:03
192.168.0.31:2253 -> 161.53.178.240:6667
Source Packets:3 Bytes:0
Dest Packets:0 Bytes:0
Source Flags:******S* SYN (syn=3)
Dest Flags:******** none
Label: cc-unanswered (3 SYNs)
` + strings.SplitAfter(seedView, "Label: backscatter (answered by RST)\n")[0] + `------------------------------------------------------------------------
Sensor:cel433 Session ID:4417
Start Time:2007-03-20 19:00:00 End Time:2007-03-20 19:00:00
69.143.202.28:33001 -> 68.87.71.226:53 (UDP)
Source Packets:1 Bytes:33
Dest Packets:1 Bytes:49
` + strings.SplitAfter(seedView, "Label: backscatter (answered by RST)\n")[1] + `------------------------------------------------------------------------
Sensor:cel433 Session ID:9001
Start Time:2007-03-21 09:30:00 End Time:2007-03-21 09:30:02
[2001:db8:1::10]:51000 -> [2001:db8:bad::66]:443
Source Packets:5 Bytes:317
Dest Packets:4 Bytes:1172
Source Flags:***AP*SF ACK PSH SYN FIN (syn=1 ack=2 fin=1 psh=1)
Dest Flags:***AP*SF ACK PSH SYN FIN (synack=1 fin=1 psh=1)
Label: cc-established (data-out=317, 1172 bytes in)
------------------------------------------------------------------------
Sensor:cel433 Session ID:9002
Start Time:2007-03-21 10:00:00 End Time:2007-03-21 10:00:02
69.143.202.28 -> 193.109.122.77 (ICMP type 8 code 0)
Source Packets:3 Bytes:168
Dest Packets:0 Bytes:0
Label: cc-unanswered (ICMP type 8 code 0, 3 packets, no reply)
`
	if buf.String() != wantText {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), wantText)
	}
}

func TestFilters(t *testing.T) {
	res := readTestdata(t)
	ids := func(f Filter) []uint64 {
		var out []uint64
		for _, s := range Select(res.Sessions, f) {
			out = append(out, s.Flow.FlowID)
		}
		return out
	}
	p := func(s string) netip.Prefix {
		h, err := ParseHost(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	since := func(s string) time.Time {
		tm, err := ParseSince(s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1159843557329870, 5044069116374886360, 4417, 5044103368738397945, 9001, 9002}},
		{"host, either end", Filter{Host: p("69.143.202.28")}, []uint64{5044069116374886360, 4417, 5044103368738397945, 9002}},
		{"host as client", Filter{Host: p("192.168.0.31")}, []uint64{1159843557329870}},
		{"host prefix", Filter{Host: p("193.109.122.0/24")}, []uint64{5044069116374886360, 5044103368738397945, 9002}},
		{"IPv6 host", Filter{Host: p("2001:db8:bad::66")}, []uint64{9001}},
		{"IPv4-mapped host", Filter{Host: p("::ffff:192.168.0.31")}, []uint64{1159843557329870}},
		{"since", Filter{Since: since("2007-03-20 20:00:00")}, []uint64{5044103368738397945, 9001, 9002}},
		{"since a session's end", Filter{Since: since("2007-03-21T10:00:02Z")}, []uint64{9002}},
		{"since a day", Filter{Since: since("2007-03-21")}, []uint64{9001, 9002}},
		{"label", Filter{Label: "backscatter"}, []uint64{5044069116374886360, 5044103368738397945}},
		{"label cc-unanswered", Filter{Label: "cc-unanswered"}, []uint64{1159843557329870, 9002}},
		{"host and label", Filter{Host: p("69.143.202.28"), Label: "cc-unanswered"}, []uint64{9002}},
		{"nothing", Filter{Label: "listed-inbound"}, nil},
	} {
		got := ids(c.f)
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

func TestJSON(t *testing.T) {
	res := readTestdata(t)
	var buf bytes.Buffer
	if err := RenderJSON(&buf, Select(res.Sessions, Filter{Label: "backscatter"})); err != nil {
		t.Fatal(err)
	}
	want := `{"sensor":"cel433","session_id":5044069116374886360,"start_time":"2007-03-20T18:04:19.731091Z","end_time":"2007-03-20T18:04:19.731429Z","proto":"TCP","src_ip":"193.109.122.67","src_port":6667,"dst_ip":"69.143.202.28","dst_port":1024,"src_packets":1,"src_bytes":0,"dst_packets":1,"dst_bytes":0,"src_flags":"***A**S*","dst_flags":"*****R**","src_flag_counts":{"synack":1},"dst_flag_counts":{"rst":1},"listed":["src"],"label":"backscatter","label_note":"answered by RST"}
{"sensor":"cel433","session_id":5044103368738397945,"start_time":"2007-03-20T20:17:14.104882Z","end_time":"2007-03-20T20:17:14.105220Z","proto":"TCP","src_ip":"193.109.122.67","src_port":6667,"dst_ip":"69.143.202.28","dst_port":3072,"src_packets":1,"src_bytes":0,"dst_packets":1,"dst_bytes":0,"src_flags":"***A**S*","dst_flags":"*****R**","src_flag_counts":{"synack":1},"dst_flag_counts":{"rst":1},"listed":["src"],"label":"backscatter","label_note":"answered by RST"}
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := RenderJSON(&buf, Select(res.Sessions, Filter{Label: "cc-unanswered"})); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var ping map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &ping); err != nil {
		t.Fatal(err)
	}
	if ping["icmp_type"] != 8.0 || ping["icmp_code"] != 0.0 || ping["src_port"] != nil || ping["src_flags"] != nil || ping["sensor"] != "cel433" {
		t.Errorf("ICMP session: %v", ping)
	}
}

func TestFlagString(t *testing.T) {
	for fl, want := range map[uint8]string{
		0: "********", 0x12: "***A**S*", 0x04: "*****R**", 0x02: "******S*", 0x11: "***A***F",
		0x18: "***AP***", 0xff: "12UAPRSF", 0x80: "1*******", 0x40: "*2******", 0x20: "**U*****",
	} {
		if got := FlagString(fl); got != want {
			t.Errorf("FlagString(%#x) = %s, want %s", fl, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2007, 3, 21, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                       time.Date(2007, 3, 20, 12, 0, 0, 0, time.UTC),
		"90m":                       time.Date(2007, 3, 21, 10, 30, 0, 0, time.UTC),
		"2007-03-20T18:00:00Z":      time.Date(2007, 3, 20, 18, 0, 0, 0, time.UTC),
		"2007-03-20T14:00:00-04:00": time.Date(2007, 3, 20, 18, 0, 0, 0, time.UTC),
		"2007-03-20 18:00:00":       time.Date(2007, 3, 20, 18, 0, 0, 0, time.UTC),
		"2007-03-20":                time.Date(2007, 3, 20, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2007-13-01"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) succeeded", bad)
		}
	}
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]string{
		"193.109.122.67":      "193.109.122.67/32",
		"193.109.122.67/24":   "193.109.122.0/24",
		"2001:db8::1":         "2001:db8::1/128",
		"::ffff:10.0.0.1":     "10.0.0.1/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
	} {
		got, err := ParseHost(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseHost(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "host", "1.2.3.4/33", "1.2.3"} {
		if _, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) succeeded", bad)
		}
	}
}

// Records of Suricata's shape, without our payload and flag-count fields,
// still make sessions: L3 bytes stand in for payload.
func TestForeignRecords(t *testing.T) {
	in := `{"timestamp":"2024-05-17T08:30:03.251000+0000","flow_id":42,"event_type":"flow","src_ip":"192.0.2.10","src_port":40000,"dest_ip":"198.51.100.66","dest_port":80,"proto":"TCP","flow":{"pkts_toserver":2,"pkts_toclient":1,"bytes_toserver":120,"bytes_toclient":60,"start":"2024-05-17T08:30:01.250000+0000","end":"2024-05-17T08:30:03.251000+0000","age":2,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"16","tcp_flags_ts":"12","tcp_flags_tc":"04"}}
{"event_type":"flow","src_ip":"not an address"}
{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"NOSUCH"}
{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"TCP","flow":{"start":"yesterday"}}
{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"TCP","flow":{"start":"2024-05-17T08:30:01.250000+0000","end":"2024-05-17T08:30:01.250000+0000"},"tcp":{"tcp_flags_ts":"zz"}}
{"event_type":"stats","stats":{}}

not json
`
	res, err := Read(strings.NewReader(in), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 5 || len(res.Sessions) != 1 {
		t.Fatalf("%d sessions, %d skipped", len(res.Sessions), res.Skipped)
	}
	var buf bytes.Buffer
	Render(&buf, res.Sessions)
	want := `------------------------------------------------------------------------
Sensor:s1 Session ID:42
Start Time:2024-05-17 08:30:01 End Time:2024-05-17 08:30:03
192.0.2.10:40000 -> 198.51.100.66:80
Source Packets:2 Bytes:120
Dest Packets:1 Bytes:60
Source Flags:***A**S* ACK SYN
Dest Flags:*****R** RST
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// A flow record without a label gets one from the reader when it touches
// a listed address, rebuilt from the record's counters.
func TestLabelsComputedForUnlabelledRecords(t *testing.T) {
	res := readTestdata(t)
	for _, s := range res.Sessions {
		if s.Flow.FlowID == 5044103368738397945 {
			if s.Flow.Label != "backscatter" || s.Flow.LabelNote != "answered by RST" || s.Flow.FirstTCPFlags != event.TCPSyn|event.TCPAck {
				t.Errorf("%+v", s.Flow)
			}
		}
		if s.Flow.FlowID == 4417 && s.Flow.Label != "" {
			t.Errorf("unlisted flow labelled %q", s.Flow.Label)
		}
	}
}

func TestReadFileErrors(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "eve.json"), ""); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	long := filepath.Join(t.TempDir(), "eve.json")
	os.WriteFile(long, bytes.Repeat([]byte("x"), maxLine+10), 0o644)
	if _, err := ReadFile(long, ""); err == nil || !strings.Contains(err.Error(), long) {
		t.Errorf("overlong line: %v", err)
	}
}

// TestReadsFlagCountsWhereOlderSensorsWroteThem: eve.json written before
// the per-flag counts moved to xdpsensor_flag_counts (tcp.flag_counts,
// IP bytes as bytes_to*) reads as it did.
func TestReadsFlagCountsWhereOlderSensorsWroteThem(t *testing.T) {
	old, err := ReadFile(filepath.Join("testdata", "eve-before-flag-counts-moved.json"), "thishost")
	if err != nil {
		t.Fatal(err)
	}
	now := readTestdata(t)
	if len(old.Sessions) != len(now.Sessions) || len(old.Sessions) == 0 {
		t.Fatalf("%d sessions in the old file, %d in the new", len(old.Sessions), len(now.Sessions))
	}
	for i := range old.Sessions {
		o, n := &old.Sessions[i].Flow, &now.Sessions[i].Flow
		if o.ToServer.FlagCounts != n.ToServer.FlagCounts || o.ToClient.FlagCounts != n.ToClient.FlagCounts ||
			o.ToServer.Bytes != n.ToServer.Bytes || o.ToClient.Bytes != n.ToClient.Bytes || o.Label != n.Label {
			t.Errorf("session %d: old file %+v / %+v, new %+v / %+v", i, o.ToServer, o.ToClient, n.ToServer, n.ToClient)
		}
	}
	if c := old.Sessions[1].Flow.ToServer.FlagCounts; c.SYNACK != 1 {
		t.Errorf("backscatter's SYN-ACK count %d from tcp.flag_counts, want 1", c.SYNACK)
	}
}
