package eve

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCases are the records whose exact text testdata/golden holds.
var goldenCases = []struct {
	name  string
	opts  Options
	alert func() *event.Alert
	flow  func() *event.Flow
}{
	{name: "seed-alert", alert: seedAlert},
	{name: "seed-flow", flow: seedFlow},
	{name: "backscatter-alert", alert: backscatterAlert},
	{name: "backscatter-rst-alert", alert: backscatterRSTAlert},
	{name: "backscatter-flow", flow: backscatterFlow},
	{name: "icmp-alert", alert: icmpAlert},
	{name: "icmp-flow", flow: icmpFlow},
	{name: "icmp-unreachable-flow", flow: icmpUnreachableFlow},
	{name: "ipv6-alert", opts: Options{SensorName: "sensor-1"}, alert: ipv6Alert},
	{name: "ipv6-flow", flow: ipv6Flow},
	{name: "ipv6-flow-compressed", opts: Options{CompressIPv6: true, SensorName: "sensor-1"}, flow: ipv6Flow},
	{name: "icmp6-flow", flow: icmp6Flow},
	{name: "vlan-alert", alert: vlanAlert},
	{name: "vlan-flow", flow: vlanFlow},
	{name: "fragment-alert", alert: fragmentAlert},
	{name: "gre-flow", flow: greFlow},
}

// encodeLine writes one event through a Writer and returns its line.
func encodeLine(t *testing.T, opts Options, a *event.Alert, f *event.Flow) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	var err error
	if a != nil {
		err = w.WriteAlert(a)
	} else {
		err = w.WriteFlow(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	line := buf.Bytes()
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	return line
}

func TestGolden(t *testing.T) {
	subset := compileSchema(t, "testdata/eve-subset.schema.json")
	suricata := suricataSchema(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			var a *event.Alert
			var f *event.Flow
			if c.alert != nil {
				a = c.alert()
			} else {
				f = c.flow()
			}
			got := encodeLine(t, c.opts, a, f)

			path := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}

			// The appenders give the same text, without the newline.
			var again []byte
			if a != nil {
				again = AppendAlert(nil, a, c.opts)
			} else {
				again = AppendFlow(nil, f, c.opts)
			}
			if !bytes.Equal(append(again, '\n'), got) {
				t.Errorf("Append* differs from the Writer:\n%s", again)
			}

			validate(t, subset, suricata, got)
		})
	}
}

// TestGoldenAll writes every golden event through one Writer, as a
// sensor would, and checks the lines come out in order.
func TestGoldenAll(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{})
	var want []string
	for _, c := range goldenCases {
		if c.opts.SensorName != "" || c.opts.CompressIPv6 {
			continue
		}
		if c.alert != nil {
			if err := w.WriteAlert(c.alert()); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := w.WriteFlow(c.flow()); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(filepath.Join("testdata", "golden", c.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(b))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != strings.Join(want, "") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, ""))
	}
}

// TestSeedAlertAndFlowShareFlowID: an alert and its flow's record carry
// one flow_id and one community_id.
func TestSeedAlertAndFlowShareFlowID(t *testing.T) {
	var alert, flow struct {
		FlowID      uint64 `json:"flow_id"`
		CommunityID string `json:"community_id"`
	}
	if err := json.Unmarshal(AppendAlert(nil, seedAlert(), Options{}), &alert); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(AppendFlow(nil, seedFlow(), Options{}), &flow); err != nil {
		t.Fatal(err)
	}
	if alert != flow || alert.FlowID != seedFlowID || alert.CommunityID == "" {
		t.Errorf("alert %+v, flow %+v", alert, flow)
	}
	// The backscatter SYN-ACK travels client to server, and so does the
	// flow record's tuple: same Community ID either way round.
	alert.CommunityID, flow.CommunityID = "", ""
	json.Unmarshal(AppendAlert(nil, backscatterAlert(), Options{}), &alert)
	json.Unmarshal(AppendFlow(nil, backscatterFlow(), Options{}), &flow)
	if alert.CommunityID != flow.CommunityID || alert.CommunityID == "" {
		t.Errorf("backscatter: alert %q, flow %q", alert.CommunityID, flow.CommunityID)
	}
}

// TestFlowStateAndReason: flow.state and tcp.state follow Suricata's TCP
// session (none without a client's SYN: midstream pick-up is off by
// default), other protocols are established once both sides sent;
// flow.reason is Suricata's, xdpsensor_end ours.
func TestFlowStateAndReason(t *testing.T) {
	for _, c := range []struct {
		history       string
		first         uint8
		lastACK       bool // a packet came after both FINs
		reason        event.EndReason
		state, tcp    string
		suricataEnded string
	}{
		{"S", event.TCPSyn, false, event.EndTimeout, "new", "syn_sent", "timeout"},
		{"Sh", event.TCPSyn, false, event.EndTimeout, "new", "syn_recv", "timeout"},
		{"ShA", event.TCPSyn, false, event.EndShutdown, "established", "established", "shutdown"},
		{"ShADd", event.TCPSyn, false, event.EndTimeout, "established", "established", "timeout"},
		{"ShADdF", event.TCPSyn, false, event.EndTimeout, "established", "fin_wait2", "timeout"},
		{"ShADdf", event.TCPSyn, false, event.EndTimeout, "established", "close_wait", "timeout"},
		{"ShADdFf", event.TCPSyn, false, event.EndFIN, "closed", "time_wait", "timeout"},
		{"ShADdfF", event.TCPSyn, false, event.EndFIN, "closed", "last_ack", "timeout"},
		{"ShADdFf", event.TCPSyn, true, event.EndFIN, "closed", "closed", "timeout"},
		{"Sr", event.TCPSyn, false, event.EndRST, "closed", "closed", "timeout"},
		{"ShADR", event.TCPSyn, false, event.EndRST, "closed", "closed", "timeout"},
		{"SF", event.TCPSyn, false, event.EndTimeout, "new", "syn_sent", "timeout"},
		// No session: a SYN-ACK first (backscatter), or mid-stream.
		{"Hr", event.TCPSyn | event.TCPAck, false, event.EndRST, "new", "", "timeout"},
		{"Dd", event.TCPAck, false, event.EndTimeout, "new", "", "timeout"},
		{"", 0, false, "", "new", "", "unknown"},
	} {
		f := seedFlow()
		f.History, f.FirstTCPFlags, f.Reason = c.history, c.first, c.reason
		f.ActiveEnd = f.End
		if c.lastACK {
			f.ActiveEnd = f.End.Add(-time.Millisecond)
		}
		var rec struct {
			Flow struct {
				State  string `json:"state"`
				Reason string `json:"reason"`
				End    string `json:"xdpsensor_end"`
			} `json:"flow"`
			TCP map[string]any `json:"tcp"`
		}
		if err := json.Unmarshal(AppendFlow(nil, f, Options{}), &rec); err != nil {
			t.Fatal(err)
		}
		tcpState, _ := rec.TCP["state"].(string)
		if rec.Flow.State != c.state || tcpState != c.tcp || rec.Flow.Reason != c.suricataEnded || rec.Flow.End != string(c.reason) {
			t.Errorf("history %q: flow.state %q, tcp.state %q, reason %q, xdpsensor_end %q; want %q %q %q %q",
				c.history, rec.Flow.State, tcpState, rec.Flow.Reason, rec.Flow.End, c.state, c.tcp, c.suricataEnded, c.reason)
		}
	}
	// Suricata's words for the ends it has: an emergency timeout is a
	// timeout marked emergency; a table-full record is none of its ends.
	for _, c := range []struct {
		reason    event.EndReason
		suricata  string
		emergency bool
	}{
		{event.EndEmergency, "timeout", true},
		{event.EndTimeout, "timeout", false},
		{event.EndTableFull, "unknown", false},
		{event.EndActive, "forced", false},
		{event.EndShutdown, "shutdown", false},
	} {
		f := seedFlow()
		f.Reason = c.reason
		var rec struct {
			Flow map[string]any `json:"flow"`
		}
		if err := json.Unmarshal(AppendFlow(nil, f, Options{}), &rec); err != nil {
			t.Fatal(err)
		}
		em, has := rec.Flow["emergency"]
		if rec.Flow["reason"] != c.suricata || has != c.emergency || (has && em != true) || rec.Flow["xdpsensor_end"] != string(c.reason) {
			t.Errorf("%s: reason %v, emergency %v (%v), xdpsensor_end %v; want %q, emergency %v", c.reason, rec.Flow["reason"], em, has, rec.Flow["xdpsensor_end"], c.suricata, c.emergency)
		}
	}
	udp := vlanFlow()
	for _, c := range []struct {
		toClient uint64
		state    string
	}{{0, "new"}, {1, "established"}} {
		udp.ToClient.Packets = c.toClient
		var rec struct {
			Flow struct{ State string } `json:"flow"`
		}
		if err := json.Unmarshal(AppendFlow(nil, udp, Options{}), &rec); err != nil || rec.Flow.State != c.state {
			t.Errorf("UDP with %d packets back: state %q (%v), want %q", c.toClient, rec.Flow.State, err, c.state)
		}
	}
}

func TestAge(t *testing.T) {
	f := seedFlow() // 10:17:54.366236 to 10:18:03.381802
	var rec struct {
		Flow struct{ Age int } `json:"flow"`
	}
	check := func(want int) {
		t.Helper()
		if err := json.Unmarshal(AppendFlow(nil, f, Options{}), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Flow.Age != want {
			t.Errorf("age %d, want %d", rec.Flow.Age, want)
		}
	}
	check(9)
	// Like Suricata, whole seconds of end minus whole seconds of start.
	f.End = at(f.Start, "700ms") // 10:17:55.066236
	check(1)
	f.End = f.Start.Add(-1)
	check(0)
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and backslash \`, "tab\tnewline\ncr\r",
		"\x00\x01\x1f\x7f", "\b\f", "<html> & co", "café ☕ 🚀",
		"bad \xff utf8 \xc3", "line sep \u2028 para sep \u2029",
		"BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, s)
		if string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want.String())
		}
	}
}

func TestReference(t *testing.T) {
	custom := map[string]string{"url": "http://", "ticket": "https://tickets.example/"}
	for _, c := range []struct {
		ref     string
		systems map[string]string
		want    string
	}{
		{"url,www.shadowserver.org", DefaultReferenceSystems, "https://www.shadowserver.org"},
		{"url,www.shadowserver.org", custom, "http://www.shadowserver.org"},
		{"URL, www.shadowserver.org", DefaultReferenceSystems, "https://www.shadowserver.org"},
		{"url,http://doc.example/x?y=1", DefaultReferenceSystems, "http://doc.example/x?y=1"},
		{"cve,2007-1234", DefaultReferenceSystems, "https://cve.mitre.org/cgi-bin/cvename.cgi?name=2007-1234"},
		{"arachNIDS,123", DefaultReferenceSystems, "https://www.whitehats.com/info/IDS123"},
		{"ticket,42", custom, "https://tickets.example/42"},
		{"nosuchsystem,abc", DefaultReferenceSystems, "nosuchsystem,abc"},
		{"no comma", DefaultReferenceSystems, "no comma"},
	} {
		if got := Reference(c.ref, c.systems); got != c.want {
			t.Errorf("Reference(%q) = %q, want %q", c.ref, got, c.want)
		}
	}
}

func TestReferencesOption(t *testing.T) {
	a := seedAlert()
	a.Rule.References = []string{"url,www.shadowserver.org", "ticket,42", "weird,\"quoted\""}
	got := string(AppendAlert(nil, a, Options{ReferenceSystems: map[string]string{"url": "http://", "ticket": "T#"}}))
	if want := `"references":["http://www.shadowserver.org","T#42","weird,\"quoted\""]`; !strings.Contains(got, want) {
		t.Errorf("got %s\nwant it to contain %s", got, want)
	}
}

func TestProtoName(t *testing.T) {
	if len(protoNames) != 144 {
		t.Fatalf("%d protocol names, want 144 (0-143)", len(protoNames))
	}
	for p, want := range map[uint8]string{
		0: "HOPOPT", 1: "ICMP", 2: "IGMP", 4: "IP-in-IP", 6: "TCP", 17: "UDP",
		41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH", 58: "IPv6-ICMP", 89: "OSPF",
		103: "PIM", 112: "VRRP", 132: "SCTP", 136: "UDPLite", 143: "Ethernet",
		144: "144", 253: "253", 255: "255",
	} {
		if got := ProtoName(p); got != want {
			t.Errorf("ProtoName(%d) = %q, want %q", p, got, want)
		}
		if got := string(appendProto(nil, p)); got != want {
			t.Errorf("appendProto(%d) = %q, want %q", p, got, want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	if got := string(appendTime(nil, seedTime)); got != "2007-02-21T10:17:54.366236+0000" {
		t.Errorf("got %s", got)
	}
	// Any zone is written in UTC; nanoseconds are truncated.
	ny := seedTime.Add(999).In(mustZone(t, "America/New_York"))
	if got := string(appendTime(nil, ny)); got != "2007-02-21T10:17:54.366236+0000" {
		t.Errorf("got %s", got)
	}
}

func TestTimestampMatchesAppendFormat(t *testing.T) {
	for _, tm := range []time.Time{
		{}, seedTime, time.Unix(0, 0), time.Unix(1<<31, 999999999),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 1, 2, 3, 4000, time.FixedZone("x", -3600*7)),
	} {
		want := tm.UTC().Format("2006-01-02T15:04:05.000000-0700")
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	// Every day from 1970 to 2100 (leap years, century rules), at a
	// second and microsecond that move, and random instants to year 9999.
	day := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; day.Year() < 2101; i++ {
		tm := day.Add(time.Duration(i%86400)*time.Second + time.Duration(i%1000000)*time.Microsecond + 999)
		if got, want := string(appendTime(nil, tm)), tm.Format("2006-01-02T15:04:05.000000-0700"); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		day = day.AddDate(0, 0, 1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		tm := time.Unix(rng.Int64N(unixYear10000), rng.Int64N(1e9))
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000000-0700"); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skip(err)
	}
	return loc
}

type closeRecorder struct {
	bytes.Buffer
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestWriterBuffersAndCloses(t *testing.T) {
	var out closeRecorder
	w := NewWriter(&out, Options{})
	if err := w.WriteAlert(seedAlert()); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Error("written before Flush")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	n := out.Len()
	if n == 0 {
		t.Error("nothing written by Flush")
	}
	if err := w.WriteFlow(seedFlow()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed != 1 || out.Len() <= n {
		t.Errorf("closed %d times, %d bytes", out.closed, out.Len())
	}
	if err := w.WriteAlert(seedAlert()); err == nil {
		t.Error("WriteAlert after Close succeeded")
	}
	if err := w.Close(); err == nil || out.closed != 1 {
		t.Error("second Close succeeded or closed again")
	}
}

type failWriter struct{}

var errFail = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestWriterErrors(t *testing.T) {
	w := NewWriter(failWriter{}, Options{})
	if err := w.WriteAlert(seedAlert()); err != nil {
		t.Fatal(err) // buffered
	}
	if err := w.Close(); !errors.Is(err, errFail) {
		t.Errorf("Close: %v, want %v", err, errFail)
	}
}

func TestOpenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.json")
	for i := 0; i < 2; i++ {
		w, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteAlert(seedAlert()); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFlow(seedFlow()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid JSON: %s", l)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", perm)
	}
}

// TestFlowLabel: flow.xdpsensor_label and _note are written when set,
// escaped as every string, and left out when empty.
func TestFlowLabel(t *testing.T) {
	f := seedFlow()
	f.LabelNote = `say "hi"`
	got := string(AppendFlow(nil, f, Options{}))
	if want := `"xdpsensor_listed":["server"],"xdpsensor_label":"cc-unanswered","xdpsensor_label_note":"say \"hi\""}`; !strings.Contains(got, want) {
		t.Errorf("got %s\nwant it to contain %s", got, want)
	}
	f.Label, f.LabelNote = "", ""
	if got := string(AppendFlow(nil, f, Options{})); strings.Contains(got, "xdpsensor_label") {
		t.Errorf("empty label written: %s", got)
	}
	f.Label = "cc-unanswered"
	if got := string(AppendFlow(nil, f, Options{})); !strings.Contains(got, `"xdpsensor_label":"cc-unanswered"}`) {
		t.Errorf("label without note: %s", got)
	}
}

// TestFlowHistoryLost: flow.xdpsensor_history_lost is written, last in
// the flow object, only when the kernel lost history letters.
func TestFlowHistoryLost(t *testing.T) {
	f := seedFlow()
	if got := string(AppendFlow(nil, f, Options{})); strings.Contains(got, "xdpsensor_history_lost") {
		t.Errorf("no letters lost, yet written: %s", got)
	}
	f.HistoryLost = 7
	got := string(AppendFlow(nil, f, Options{}))
	if want := `"xdpsensor_label_note":"3 SYNs","xdpsensor_history_lost":7},`; !strings.Contains(got, want) {
		t.Errorf("got %s\nwant it to contain %s", got, want)
	}
	var rec struct {
		Flow struct {
			HistoryLost uint64 `json:"xdpsensor_history_lost"`
		} `json:"flow"`
	}
	if err := json.Unmarshal([]byte(got), &rec); err != nil || rec.Flow.HistoryLost != 7 {
		t.Errorf("flow.xdpsensor_history_lost %d (%v), want 7", rec.Flow.HistoryLost, err)
	}
}
