package zeek

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
)

var ep = eventtest.Endpoint

var t0 = time.Date(2024, 5, 17, 8, 30, 1, 250000000, time.UTC)

// tcp builds the TCP flow the kernel records for an exchange between a
// client 10.1.1.5:40001 and a server 198.51.100.7:8443 (no likely server
// port: no flip) whose history letters are h (client upper case), with
// the flag counters and payload those letters imply.
func tcp(h string) *event.Flow {
	return tcpPorts(h, 40001, 8443)
}

// flowID gives each test flow its own id (and so its own uid).
func flowID(h string, cport, sport uint16) uint64 {
	fh := fnv.New64a()
	fmt.Fprintf(fh, "%s %d %d", h, cport, sport)
	return fh.Sum64() >> 11
}

func tcpPorts(h string, cport, sport uint16) *event.Flow {
	f := &event.Flow{
		FlowID:  flowID(h, cport, sport),
		Proto:   event.ProtoTCP,
		Client:  ep("10.1.1.5", cport),
		Server:  ep("198.51.100.7", sport),
		Start:   t0,
		End:     t0.Add(1500 * time.Millisecond),
		History: h,
	}
	for i := 0; i < len(h); i++ {
		d := &f.ToServer
		c := h[i]
		if c >= 'a' && c <= 'z' {
			d = &f.ToClient
			c -= 'a' - 'A'
		}
		d.Packets++
		d.Bytes += 40
		switch c {
		case 'S':
			d.FlagCounts.SYN++
			d.TCPFlags |= event.TCPSyn
		case 'H':
			d.FlagCounts.SYNACK++
			d.TCPFlags |= event.TCPSyn | event.TCPAck
		case 'A':
			d.FlagCounts.ACK++
			d.TCPFlags |= event.TCPAck
		case 'D':
			d.Bytes += 100
			d.PayloadBytes += 100
			d.FlagCounts.PSH++
			d.TCPFlags |= event.TCPAck | event.TCPPsh
		case 'F':
			d.FlagCounts.FIN++
			d.TCPFlags |= event.TCPFin | event.TCPAck
		case 'R':
			d.FlagCounts.RST++
			d.TCPFlags |= event.TCPRst
		}
		if i == 0 {
			f.FirstTCPFlags = letterFlags(h[0])
		}
	}
	return f
}

// TestConnStates: one flow for each of Zeek's conn_state values, as the
// kernel records the packet exchange the state describes.
func TestConnStates(t *testing.T) {
	for _, c := range []struct {
		doc            string
		f              *event.Flow
		state, history string
		orig, resp     uint16 // Zeek's orig and resp ports
	}{
		{"S0: SYNs, no reply", tcp("S"), "S0", "S", 40001, 8443},
		{"S1: established, not terminated", tcp("ShADad"), "S1", "ShADad", 40001, 8443},
		{"SF: established, both FINs", tcp("ShADadFf"), "SF", "ShADadFf", 40001, 8443},
		{"SF: FIN, RST, then the peer's FIN", tcp("ShADFRf"), "SF", "ShADFRf", 40001, 8443},
		{"SF: both FINs, then a RST", tcp("ShADadfFr"), "SF", "ShADadfFr", 40001, 8443},
		{"REJ: SYN answered by RST", tcp("Sr"), "REJ", "Sr", 40001, 8443},
		{"REJ: SYN, RST, then the originator's RST", tcp("SrR"), "REJ", "SrR", 40001, 8443},
		{"S2: originator's FIN unanswered", tcp("ShADadF"), "S2", "ShADadF", 40001, 8443},
		{"S3: responder's FIN unanswered", tcp("ShADadf"), "S3", "ShADadf", 40001, 8443},
		{"RSTO: originator aborted", tcp("ShADadR"), "RSTO", "ShADadR", 40001, 8443},
		{"RSTO: reset right after the handshake", tcp("ShR"), "RSTO", "ShR", 40001, 8443},
		{"RSTR: responder aborted", tcp("ShADadr"), "RSTR", "ShADadr", 40001, 8443},
		{"RSTOS0: SYN then RST, no SYN-ACK", tcp("SR"), "RSTOS0", "SR", 40001, 8443},
		{"RSTOS0: SYN, data, RST", tcp("SDR"), "RSTOS0", "SDR", 40001, 8443},
		{"RSTRH: SYN-ACK then RST from a likely server", tcpPorts("HR", 80, 51000), "RSTRH", "^hr", 51000, 80},
		{"RSTRH: a lone RST from a likely server", tcpPorts("R", 80, 1576), "RSTRH", "^r", 1576, 80},
		{"RSTRH: midstream data, RST", tcp("Dr"), "RSTRH", "Dr", 40001, 8443},
		{"SH: SYN then FIN", tcp("SF"), "SH", "SF", 40001, 8443},
		{"SH: SYN, ACK, data, FIN, no answer", tcp("SADF"), "SH", "SADF", 40001, 8443},
		{"SH: midstream FIN answered by an ACK", tcp("Fa"), "SH", "Fa", 40001, 8443},
		{"SHR: SYN-ACK then FIN from a likely server", tcpPorts("HF", 443, 50123), "SHR", "^hf", 50123, 443},
		{"SHR: FIN from a likely server, our ACK", tcpPorts("Fa", 80, 1577), "SHR", "^fA", 1577, 80},
		{"SHR: SYN-ACK, data, FIN", tcpPorts("HDAF", 443, 50123), "SHR", "^hdaf", 50123, 443},
		{"OTH: midstream both ways", tcp("Dd"), "OTH", "Dd", 40001, 8443},
		{"OTH: a lone SYN-ACK, no flip", tcp("H"), "OTH", "H", 40001, 8443},
		{"OTH: a lone SYN-ACK from a likely server", tcpPorts("H", 6667, 1024), "OTH", "^h", 1024, 6667},
		{"OTH: SYN-ACK then RST from an unlikely port", tcp("HR"), "OTH", "HR", 40001, 8443},
		{"OTH: midstream data from a likely server", tcpPorts("D", 443, 49392), "OTH", "^d", 49392, 443},
		{"S1: missed SYN, SYN-ACK and ACK establish", tcpPorts("HadD", 80, 40000), "S1", "^hADd", 40000, 80},
		{"SF: missed SYN", tcpPorts("HadADfF", 80, 40000), "SF", "^hADadFf", 40000, 80},
		{"SF: SYN-ACK before the SYN it answers (reversal)", tcp("HsaDFf"), "SF", "Hs^AdfF", 8443, 40001},
		{"S2: Q (SYN+FIN) from the originator, then a SYN-ACK", tcpQ("QhA", event.TCPFlagCounts{SYN: 1, FIN: 1}), "S2", "QhA", 40001, 8443},
		{"OTH: a lone Q (SYN+RST)", tcpQ("Q", event.TCPFlagCounts{SYN: 1, RST: 1}), "OTH", "Q", 40001, 8443},
		{"W letters are copied", tcp("ShAWaW"), "S1", "ShAWaW", 40001, 8443},
	} {
		t.Run(c.doc, func(t *testing.T) {
			got := Describe(c.f, Options{})
			if got.ConnState != c.state || got.History != c.history {
				t.Errorf("%q: conn_state %s history %q, want %s %q", c.f.History, got.ConnState, got.History, c.state, c.history)
			}
			if got.Orig.Port != c.orig || got.Resp.Port != c.resp {
				t.Errorf("orig port %d resp port %d, want %d %d", got.Orig.Port, got.Resp.Port, c.orig, c.resp)
			}
			if got.Flipped != (strings.Count(c.history, "^")%2 == 1) {
				t.Errorf("flipped %v for history %q", got.Flipped, c.history)
			}
		})
	}
}

// tcpQ is tcp with explicit counters for the Q letter's packet.
func tcpQ(h string, client event.TCPFlagCounts) *event.Flow {
	f := tcp(h)
	f.ToServer.FlagCounts = client
	f.ToServer.FlagCounts.ACK = 1
	f.FirstTCPFlags = event.TCPSyn | event.TCPFin
	return f
}

// TestZeekObserved replays flows shaped like connections in Zeek's own
// test baselines (testing/btest/Baseline/*/conn.log): the kernel's letters
// are Zeek's history without repeats, in the flow's client/server case;
// Zeek's conn_state and history must come back.
func TestZeekObserved(t *testing.T) {
	for _, c := range []struct {
		kernel       string
		cport, sport uint16
		state, zeek  string
	}{
		{"ShADadFf", 49285, 80, "SF", "ShADadFf"},
		{"ShAdDaFf", 55210, 443, "SF", "ShAdDaFf"},
		{"ShADadFRf", 49285, 80, "SF", "ShADadFRf"},
		{"ShADadfFr", 49285, 80, "SF", "ShADadfFr"},
		{"ShAdDfFa", 55210, 443, "SF", "ShAdDfFa"},
		{"DaFfA", 40000, 50000, "SF", "DaFfA"},
		{"ShADadR", 49285, 80, "RSTO", "ShADadR"},
		{"ShAdDaFR", 49285, 80, "RSTO", "ShAdDaFR"},
		{"ShADdFar", 49285, 80, "RSTR", "ShADdFar"},
		{"ShADadFr", 49285, 80, "RSTR", "ShADadFr"},
		{"Dr", 60293, 502, "RSTRH", "Dr"},
		{"Sr", 45000, 80, "REJ", "Sr"},
		{"SAD", 45000, 80, "S0", "SAD"},
		{"DAF", 45000, 80, "SH", "DAF"},
		{"ADF", 45000, 80, "SH", "ADF"},
		{"Sh", 45000, 80, "S1", "Sh"},
		{"ShAaDd", 45000, 80, "S1", "ShAaDd"},
		{"DdA", 45000, 80, "OTH", "DdA"},
		{"Da", 45000, 80, "OTH", "Da"},
		{"R", 45000, 80, "OTH", "R"},
		// Zeek saw the SYN-ACK first, from the likely server port, and
		// flipped; cport and sport are Zeek's orig_p and resp_p.
		{"hdaf", 50123, 443, "SHR", "^hdaf"},
		{"hadf", 50123, 443, "SHR", "^hadf"},
		{"hADadFf", 40000, 1080, "SF", "^hADadFf"},
	} {
		f := tcpPorts(c.kernel, c.cport, c.sport)
		if c.zeek[0] == '^' {
			// The kernel's client is the SYN-ACK's sender: swap the
			// case so the first letter is the client's.
			f = tcpPorts(swapCase(c.kernel), c.sport, c.cport)
		}
		got := Describe(f, Options{})
		if got.ConnState != c.state || got.History != c.zeek {
			t.Errorf("kernel %q (%d->%d): %s %q, Zeek wrote %s %q", f.History, f.Client.Port, f.Server.Port, got.ConnState, got.History, c.state, c.zeek)
		}
	}
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// TestFlipHeuristic: TCPAnalyzer::WantConnection's port rules.
func TestFlipHeuristic(t *testing.T) {
	for _, c := range []struct {
		h            string
		cport, sport uint16
		flip         bool
	}{
		{"S", 80, 40000, false},    // a plain SYN is never flipped
		{"H", 80, 40000, true},     // SYN-ACK from a likely server port
		{"H", 40000, 50000, false}, // neither port likely
		{"H", 80, 443, false},      // both likely: a SYN-ACK is not flipped
		{"D", 80, 443, true},       // both likely, no SYN, source port lower
		{"D", 443, 80, false},      // both likely, source port higher
		{"A", 22, 50000, true},     // midstream ACK from ssh
		{"R", 6667, 1024, true},    // a RST from irc
		{"D", 40000, 80, false},    // the destination is the likely server
	} {
		got := Describe(tcpPorts(c.h, c.cport, c.sport), Options{})
		if got.Flipped != c.flip {
			t.Errorf("%q %d->%d: flipped %v, want %v", c.h, c.cport, c.sport, got.Flipped, c.flip)
		}
	}
	// Options.LikelyServerPort replaces the default set.
	f := tcpPorts("H", 40000, 50000)
	got := Describe(f, Options{LikelyServerPort: func(p uint8, port uint16) bool { return p == event.ProtoTCP && port == 40000 }})
	if !got.Flipped || got.History != "^h" {
		t.Errorf("custom likely ports: %+v", got)
	}
}

// TestSynthesizedHistory: a TCP flow recorded without history letters
// gets them from its counters.
func TestSynthesizedHistory(t *testing.T) {
	f := tcp("ShADadFf")
	f.History = ""
	got := Describe(f, Options{})
	if got.History != "ShADadFf" || got.ConnState != "SF" {
		t.Errorf("%s %q", got.ConnState, got.History)
	}
	f = tcp("Sr")
	f.History = ""
	f.FirstTCPFlags = 0
	if got := Describe(f, Options{}); got.History != "Sr" || got.ConnState != "REJ" {
		t.Errorf("%s %q", got.ConnState, got.History)
	}
	f = tcp("S")
	f.History, f.ToServer = "", event.DirectionStats{}
	if got := Describe(f, Options{}); got.History != "" || got.ConnState != "OTH" {
		t.Errorf("empty flow: %s %q", got.ConnState, got.History)
	}
}

func udp(cport, sport uint16, toServer, toClient uint64) *event.Flow {
	return &event.Flow{
		FlowID:   flowID("udp", cport, sport),
		Proto:    event.ProtoUDP,
		Client:   ep("10.1.1.5", cport),
		Server:   ep("198.51.100.53", sport),
		Start:    t0,
		End:      t0.Add(20 * time.Millisecond),
		ToServer: event.DirectionStats{Packets: toServer, Bytes: toServer * 60, PayloadBytes: toServer * 32},
		ToClient: event.DirectionStats{Packets: toClient, Bytes: toClient * 120, PayloadBytes: toClient * 92},
	}
}

func TestUDP(t *testing.T) {
	for _, c := range []struct {
		f              *event.Flow
		state, history string
		flipped        bool
	}{
		{udp(53000, 53, 1, 1), "SF", "Dd", false},
		{udp(53000, 53, 2, 0), "S0", "D", false},
		{udp(53, 53000, 1, 0), "SHR", "^d", true},    // a DNS answer whose query was not seen
		{udp(53, 53000, 1, 1), "SF", "^dD", true},    // answer first, then a query
		{udp(53, 123, 1, 0), "S0", "D", false},       // both likely: no flip
		{udp(40000, 50000, 1, 3), "SF", "Dd", false}, // neither likely
		{udp(68, 67, 1, 0), "S0", "D", false},        // dhcp client to server
		{udp(67, 68, 1, 0), "SHR", "^d", true},       // dhcp server first
	} {
		got := Describe(c.f, Options{})
		if got.ConnState != c.state || got.History != c.history || got.Flipped != c.flipped {
			t.Errorf("%d->%d: %s %q flipped %v, want %s %q %v", c.f.Client.Port, c.f.Server.Port, got.ConnState, got.History, got.Flipped, c.state, c.history, c.flipped)
		}
	}
	got := Describe(udp(53, 53000, 1, 1), Options{})
	if got.OrigBytes != 92 || got.RespBytes != 32 || got.OrigPkts != 1 || got.OrigIPBytes != 120 || got.Orig.Port != 53000 {
		t.Errorf("flipped UDP counters: %+v", got)
	}
}

func icmp(proto, typ, code uint8) *event.Flow {
	client, server := ep("2001:db8:1::10", 0), ep("2001:db8:bad::66", 0)
	if proto != event.ProtoICMPv6 {
		client, server = ep("192.0.2.10", 0), ep("198.51.100.66", 0)
	}
	return &event.Flow{
		FlowID:   flowID("icmp", uint16(proto), uint16(typ)<<8|uint16(code)),
		Proto:    proto,
		Client:   client,
		Server:   server,
		Start:    t0,
		End:      t0.Add(2001 * time.Millisecond),
		ToServer: event.DirectionStats{Packets: 3, Bytes: 252, PayloadBytes: 168},
		ICMPType: typ,
		ICMPCode: code,
	}
}

func TestICMPAndOthers(t *testing.T) {
	for _, c := range []struct {
		f          *event.Flow
		proto      string
		orig, resp uint16
	}{
		{icmp(event.ProtoICMP, 8, 0), "icmp", 8, 0},
		{icmp(event.ProtoICMP, 0, 0), "icmp", 0, 8},
		{icmp(event.ProtoICMP, 3, 3), "icmp", 3, 3},
		{icmp(event.ProtoICMP, 13, 0), "icmp", 13, 14},
		{icmp(event.ProtoICMP, 10, 0), "icmp", 10, 9},
		{icmp(event.ProtoICMP, 17, 0), "icmp", 17, 18},
		{icmp(event.ProtoICMPv6, 128, 0), "icmp", 128, 129},
		{icmp(event.ProtoICMPv6, 135, 0), "icmp", 135, 136},
		{icmp(event.ProtoICMPv6, 1, 4), "icmp", 1, 4},
		{icmp(event.ProtoICMPv6, 144, 0), "icmp", 144, 145},
		{icmp(47, 0, 0), "unknown_transport", 0, 0},
		{icmp(132, 0, 0), "unknown_transport", 0, 0},
	} {
		got := Describe(c.f, Options{})
		if got.Proto != c.proto || got.Orig.Port != c.orig || got.Resp.Port != c.resp || got.ConnState != "OTH" || got.History != "" {
			t.Errorf("proto %d type %d: %+v", c.f.Proto, c.f.ICMPType, got)
		}
		if got.IPProto != c.f.Proto {
			t.Errorf("ip_proto %d, want %d", got.IPProto, c.f.Proto)
		}
	}
	if got := Describe(icmp(event.ProtoICMP, 8, 0), Options{}); got.OrigBytes != 168 || got.Duration != 2001*time.Millisecond {
		t.Errorf("ICMP payload %d duration %v", got.OrigBytes, got.Duration)
	}
	if got := Describe(icmp(47, 0, 0), Options{}); got.OrigBytes != 0 || got.Duration == 0 {
		t.Errorf("unknown transport: Zeek counts no payload: %+v", got)
	}
}

func TestRSTOS0Pattern(t *testing.T) {
	for h, want := range map[string]bool{
		"SR": true, "^SR": true, "ShR": true, // the class is upper case only
		"SDR": true, "SWR": true, "SRr": true, "SsR": true,
		"SHR": false, "SAR": false, "SFR": false, "SQR": false, "S": false, "R": false, "": false, "^": false, "DSR": false,
	} {
		if got := rstos0(h); got != want {
			t.Errorf("rstos0(%q) = %v", h, got)
		}
	}
}

func TestUID(t *testing.T) {
	seen := map[string]bool{}
	for id := uint64(1); id < 2000; id++ {
		u := UID(id)
		if u != UID(id) {
			t.Fatal("not deterministic")
		}
		if u[0] != 'C' || len(u) < 3 || len(u) > 18 {
			t.Fatalf("UID(%d) = %q", id, u)
		}
		for _, c := range u[1:] {
			if !strings.ContainsRune("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", c) {
				t.Fatalf("UID(%d) = %q", id, u)
			}
		}
		if seen[u] {
			t.Fatalf("UID(%d) = %q repeats", id, u)
		}
		seen[u] = true
	}
	if got := UID(5044069116374886360); got != "C9i5U024ZIh3ljSUbd" {
		t.Errorf("UID of the backscatter seed's flow: %q", got)
	}
}

func TestDurationAndBytesUnsetForInstantFlows(t *testing.T) {
	f := tcp("S")
	f.End = f.Start
	if got := Describe(f, Options{}); got.Duration != 0 || got.OrigBytes != 0 {
		t.Errorf("%+v", got)
	}
	f.End = f.Start.Add(-time.Second)
	if got := Describe(f, Options{}); got.Duration != 0 {
		t.Errorf("negative duration: %+v", got)
	}
	// Sub-microsecond differences round away, as Zeek's microsecond
	// timestamps would.
	f.End = f.Start.Add(400 * time.Nanosecond)
	if got := Describe(f, Options{}); got.Duration != 0 {
		t.Errorf("400ns: %v", got.Duration)
	}
}

// TestMultiFlag: the packet behind a Q letter, rebuilt from the side's
// counters.
func TestMultiFlag(t *testing.T) {
	withCounts := func(h string, client, server event.TCPFlagCounts, clientFlags uint8) *event.Flow {
		f := tcp(h)
		f.ToServer.FlagCounts, f.ToClient.FlagCounts = client, server
		f.ToServer.TCPFlags = clientFlags
		f.FirstTCPFlags = letterFlags(h[0])
		return f
	}
	for _, c := range []struct {
		doc            string
		f              *event.Flow
		state, history string
	}{
		{"server's SYN+ACK+RST", withCounts("Sq", event.TCPFlagCounts{SYN: 1}, event.TCPFlagCounts{SYNACK: 1, RST: 1}, event.TCPSyn), "RSTR", "Sq"},
		{"server's SYN+RST", withCounts("Sq", event.TCPFlagCounts{SYN: 1}, event.TCPFlagCounts{SYN: 1, RST: 1}, event.TCPSyn), "RSTR", "Sq"},
		{"server's SYN+ACK+RST after its SYN-ACK", withCounts("Shq", event.TCPFlagCounts{SYN: 1}, event.TCPFlagCounts{SYNACK: 2, RST: 1}, event.TCPSyn), "RSTR", "Shq"},
		{"letters explain FIN and RST: the RST flag decides", withCounts("QFR", event.TCPFlagCounts{SYN: 1, FIN: 1, RST: 1}, event.TCPFlagCounts{}, event.TCPSyn|event.TCPFin|event.TCPRst), "OTH", "QFR"},
		{"letters explain FIN: no RST flag means FIN", withCounts("QF", event.TCPFlagCounts{SYN: 1, FIN: 2}, event.TCPFlagCounts{}, event.TCPSyn|event.TCPFin), "SH", "QF"},
	} {
		if got := Describe(c.f, Options{}); got.ConnState != c.state || got.History != c.history {
			t.Errorf("%s: %s %q, want %s %q", c.doc, got.ConnState, got.History, c.state, c.history)
		}
	}
	if udpConnState(false, false) != "OTH" {
		t.Error("UDP with nothing active")
	}
}

// TestSynAckFirstFlipsOnAckOrData: Zeek flips a connection that began
// with a SYN-ACK (no likely server port said which end serves) as soon
// as it carries a pure ACK or data, and rewrites its history as "^h"
// (TCP_Endpoint::CheckHistory); a RST does not flip it (a stealth
// scan's answer).
func TestSynAckFirstFlipsOnAckOrData(t *testing.T) {
	for _, c := range []struct {
		kernel, zeek, state string
		origPort            uint16
	}{
		{"Ha", "^hA", "OTH", 8443},        // the SYN-ACK's receiver ACKs: it is the originator
		{"HA", "^ha", "OTH", 8443},        // the SYN-ACK's sender ACKs again
		{"Hd", "^hD", "OTH", 8443},        // data from the receiver
		{"HadD", "^hADd", "OTH", 8443},    // the SYN-ACK's sender stays in SYN_ACK_SENT
		{"HR", "HR", "OTH", 40001},        // a RST: no flip
		{"Hr", "Hr", "REJ", 40001},        // nor the peer's: a rejected SYN-ACK
		{"HsaDFf", "Hs^AdfF", "SF", 8443}, // the SYN/SYN-ACK reversal flips first
	} {
		got := Describe(tcp(c.kernel), Options{})
		if got.History != c.zeek || got.ConnState != c.state || got.Orig.Port != c.origPort {
			t.Errorf("kernel %q: history %q %s orig port %d, want %q %s %d", c.kernel, got.History, got.ConnState, got.Orig.Port, c.zeek, c.state, c.origPort)
		}
	}
}

// TestRetransmissionsGapsAndMissedBytes: the kernel's T, G and I letters
// reach the history in Zeek's orientation; missed_bytes adds up both
// sides' gaps; orig_bytes and resp_bytes are the kernel's sequence-space
// payload.
func TestRetransmissionsGapsAndMissedBytes(t *testing.T) {
	f := tcp("ShADTadgFf")
	f.ToServer.PayloadBytes, f.ToClient.PayloadBytes = 1200, 5000
	f.ToClient.MissedBytes = 1448
	got := Describe(f, Options{})
	if got.History != "ShADTadgFf" || got.ConnState != "SF" || got.MissedBytes != 1448 || got.OrigBytes != 1200 || got.RespBytes != 5000 {
		t.Errorf("%+v", got)
	}
	// Flipped at the start (a SYN-ACK from a likely server port): the
	// client's letters are the responder's.
	f = tcpPorts("HaTDdG", 80, 40000)
	f.ToServer.MissedBytes, f.ToClient.MissedBytes = 100, 20
	if got := Describe(f, Options{}); got.History != "^hAtdDg" || got.MissedBytes != 120 || got.Orig.Port != 40000 {
		t.Errorf("flipped: %q missed %d orig port %d", got.History, got.MissedBytes, got.Orig.Port)
	}
	// FIN and RST in one packet: I, and the sender reset.
	if got := Describe(tcp("ShADaI"), Options{}); got.History != "ShADaI" || got.ConnState != "RSTO" {
		t.Errorf("I: %q %s", got.History, got.ConnState)
	}
}

// TestUDPFlipsAsZeek: UDPAnalyzer::WantConnection flips when the source
// port is a likely server port and the destination port is not, never
// toward the broadcast address (a DHCP server's broadcast offer).
func TestUDPFlipsAsZeek(t *testing.T) {
	for _, c := range []struct {
		doc            string
		f              *event.Flow
		history, state string
	}{
		{"NTP reply first", udp(123, 40000, 1, 0), "^d", "SHR"},
		{"NTP symmetric", udp(123, 123, 1, 1), "Dd", "SF"},
		{"DNS reply first", udp(53, 40000, 1, 1), "^dD", "SF"},
		{"DHCP offer to the broadcast address", func() *event.Flow {
			f := udp(67, 68, 1, 0)
			f.Server = ep("255.255.255.255", 68)
			return f
		}(), "D", "S0"},
		{"DHCP reply to the client's address", udp(67, 68, 1, 0), "^d", "SHR"},
	} {
		got := Describe(c.f, Options{})
		if got.History != c.history || got.ConnState != c.state {
			t.Errorf("%s: %q %s, want %q %s", c.doc, got.History, got.ConnState, c.history, c.state)
		}
	}
}

// TestDurationEndsWhereZeekEndsIt: the final ACK after both FINs is not
// in the duration.
func TestDurationEndsWhereZeekEndsIt(t *testing.T) {
	f := tcp("ShADadFf")
	f.ActiveEnd, f.End = f.Start.Add(1200*time.Millisecond), f.Start.Add(1500*time.Millisecond)
	if got := Describe(f, Options{}); got.Duration != 1200*time.Millisecond {
		t.Errorf("duration %v, want 1.2s", got.Duration)
	}
	line := string(AppendConn(nil, f, Options{}))
	if !strings.Contains(line, "\ttcp\t-\t1.200000\t") {
		t.Errorf("%s", line)
	}
}
