package pipeline

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// datagram is one UDP packet of a synthetic capture.
type datagram struct {
	at           time.Duration // after udpStart
	src, dst     string
	sport, dport uint16
	payload      int
}

var udpStart = captureStart.Add(time.Minute)

// writeUDPCapture writes datagrams as an Ethernet pcap.
func writeUDPCapture(t *testing.T, path string, dgs []datagram) {
	t.Helper()
	w := createEthernetPcap(t, path)
	for i, d := range dgs {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(i + 1), Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(d.src), DstIP: net.ParseIP(d.dst)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(d.sport), DstPort: layers.UDPPort(d.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, udp, gopacket.Payload(strings.Repeat("u", d.payload))); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: udpStart.Add(d.at), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// connLog reads a TSV conn.log into records keyed by the originator's port.
func connLog(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	out := map[string]map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cols := strings.Split(line, "\t")
		if cols[0] == "#fields" {
			fields = cols[1:]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		rec := map[string]string{}
		for i, name := range fields {
			rec[name] = cols[i]
		}
		out[rec["id.orig_p"]+"/"+rec["proto"]] = rec
	}
	return out
}

// TestZeekSemanticsThroughTheKernel: sessions whose packets call for
// Zeek's t, g and ^ history letters, missed_bytes, sequence-space
// orig_bytes/resp_bytes and a duration that stops before the final ACK,
// replayed through the kernel program; conn.log must say what Zeek says,
// in TSV and in JSON (--zeek-json), and EVE what Suricata says.
func TestZeekSemanticsThroughTheKernel(t *testing.T) {
	const c, s = "192.0.2.10", "198.51.100.20"
	ms := time.Millisecond
	out := func(at time.Duration, sport, dport uint16, sg segment) segment {
		sg.at, sg.src, sg.dst, sg.sport, sg.dport = at, c, s, sport, dport
		return sg
	}
	in := func(at time.Duration, sport, dport uint16, sg segment) segment {
		sg.at, sg.src, sg.dst, sg.sport, sg.dport = at, s, c, sport, dport
		return sg
	}
	dir := t.TempDir()
	tcpPcap, udpPcap := filepath.Join(dir, "tcp.pcap"), filepath.Join(dir, "udp.pcap")
	writeTCPCapture(t, tcpPcap, []segment{
		// 40001 -> 8080: a retransmitted segment (T), 500 bytes of the
		// server's the sensor never saw but the client acknowledged (g),
		// both FINs, then the last ACK 300 ms later.
		out(0, 40001, 8080, segment{syn: true}),
		in(1*ms, 8080, 40001, segment{syn: true, ack: true}),
		out(2*ms, 40001, 8080, segment{ack: true}),
		out(3*ms, 40001, 8080, segment{ack: true, psh: true, payload: strings.Repeat("a", 100)}),
		in(4*ms, 8080, 40001, segment{ack: true}),
		out(5*ms, 40001, 8080, segment{ack: true, psh: true, payload: strings.Repeat("a", 100), rewind: 100}),
		out(6*ms, 40001, 8080, segment{ack: true, psh: true, payload: strings.Repeat("b", 100)}),
		in(7*ms, 8080, 40001, segment{ack: true, psh: true, payload: strings.Repeat("c", 200)}),
		in(8*ms, 8080, 40001, segment{ack: true, psh: true, payload: strings.Repeat("d", 300), skip: 500}),
		out(9*ms, 40001, 8080, segment{ack: true}),
		out(10*ms, 40001, 8080, segment{ack: true, fin: true}),
		in(11*ms, 8080, 40001, segment{ack: true, fin: true}),
		out(311*ms, 40001, 8080, segment{ack: true}),
		// 40002 <- 50000: a SYN-ACK first, from no likely server port
		// (a stealth scan's answer, for all Zeek knows), then an ACK:
		// Zeek flips it then; the SYN-ACK's sender, now the responder,
		// retransmits.
		in(20*ms, 50000, 40002, segment{syn: true, ack: true}),
		out(21*ms, 40002, 50000, segment{ack: true}),
		out(22*ms, 40002, 50000, segment{ack: true, psh: true, payload: "hi"}),
		in(23*ms, 50000, 40002, segment{ack: true, psh: true, payload: "ho"}),
		in(24*ms, 50000, 40002, segment{ack: true, psh: true, payload: "ho", rewind: 2}), // the responder's retransmission: t
		// 40003 <- 443: picked up mid-stream, the server's data first.
		in(30*ms, 443, 40003, segment{ack: true, psh: true, payload: strings.Repeat("e", 50)}),
		out(31*ms, 40003, 443, segment{ack: true}),
		// 40004 <- 6667: backscatter, a SYN-ACK from a likely server
		// port answered by RST.
		in(40*ms, 6667, 40004, segment{syn: true, ack: true}),
		out(41*ms, 40004, 6667, segment{rst: true}),
	})
	writeUDPCapture(t, udpPcap, []datagram{
		{0, "198.51.100.53", c, 53, 40010, 60},      // a DNS answer seen before its query
		{1 * ms, c, "198.51.100.53", 40010, 53, 30}, // then a query
		{10 * ms, "198.51.100.123", c, 123, 40011, 48},
		{20 * ms, "198.51.100.1", "255.255.255.255", 67, 68, 300}, // a DHCP offer, broadcast
		{30 * ms, "198.51.100.1", c, 67, 68, 300},                 // and one to the client's address
	})

	replay := func(zeekJSON bool) string {
		outDir := filepath.Join(dir, "out")
		if zeekJSON {
			outDir += "-json"
		}
		if _, err := Replay(context.Background(), Config{OutDir: outDir, HomeNet: "192.0.2.0/24", FlowTableSize: 1024, RingSize: 1 << 20,
			ZeekJSON: zeekJSON}, []string{tcpPcap, udpPcap}); err != nil {
			t.Fatalf("%+v", err)
		}
		return outDir
	}
	outDir := replay(false)
	conns := connLog(t, filepath.Join(outDir, "conn.log"))

	type want struct {
		origH, respH, respP, state, history string
		duration, origBytes, respBytes      string
		missed                              string
	}
	wants := map[string]want{
		// Zeek's orig_bytes is the sequence space: 200, the
		// retransmission once; resp_bytes 1000, the gap included;
		// the duration ends at the server's FIN (11 ms), not the ACK.
		"40001/tcp": {c, s, "8080", "SF", "ShADaTdgFf", "0.011000", "200", "1000", "500"},
		"40002/tcp": {c, s, "50000", "OTH", "^hADdt", "0.004000", "2", "2", "0"},
		"40003/tcp": {c, s, "443", "OTH", "^dA", "0.001000", "0", "50", "0"},
		"40004/tcp": {c, s, "6667", "RSTO", "^hR", "0.001000", "0", "0", "0"},
		"40010/udp": {c, "198.51.100.53", "53", "SF", "^dD", "0.001000", "30", "60", "0"},
		"40011/udp": {c, "198.51.100.123", "123", "SHR", "^d", "-", "-", "-", "0"},
		"67/udp":    {"198.51.100.1", "255.255.255.255", "68", "S0", "D", "-", "-", "-", "0"},
		"68/udp":    {c, "198.51.100.1", "67", "SHR", "^d", "-", "-", "-", "0"},
	}
	if len(conns) != len(wants) {
		t.Errorf("%d conn.log lines, want %d: %v", len(conns), len(wants), conns)
	}
	for key, w := range wants {
		r := conns[key]
		got := want{r["id.orig_h"], r["id.resp_h"], r["id.resp_p"], r["conn_state"], r["history"], r["duration"], r["orig_bytes"], r["resp_bytes"], r["missed_bytes"]}
		if got != w {
			t.Errorf("%s:\n got %+v\nwant %+v", key, got, w)
		}
	}

	// The JSON variant says the same, with Zeek's JSON field names.
	jsonDir := replay(true)
	data, err := os.ReadFile(filepath.Join(jsonDir, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(wants) {
		t.Fatalf("%d JSON lines, want %d", len(lines), len(wants))
	}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		key := jsonString(rec["id.orig_p"]) + "/" + jsonString(rec["proto"])
		tsv := conns[key]
		for _, name := range []string{"uid", "id.orig_h", "id.resp_h", "id.resp_p", "conn_state", "history", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "resp_ip_bytes"} {
			got := jsonString(rec[name])
			if rec[name] == nil {
				got = "-"
			}
			if got != tsv[name] {
				t.Errorf("%s %s: JSON %v, TSV %s", key, name, rec[name], tsv[name])
			}
		}
	}

	// EVE: the first session's TCP state, its gap on the server's
	// side, and Suricata's client (whoever sent first) for the others.
	_, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	seen := map[int]int{} // the client port of each session checked
	for _, f := range flows {
		switch {
		case f.SrcPort == 40001:
			seen[40001]++
			if f.TCP.State != "closed" || f.Flow.State != "closed" {
				t.Errorf("session 40001: tcp.state %q flow.state %q", f.TCP.State, f.Flow.State)
			}
		case f.DestPort == 40002 || f.DestPort == 40003 || f.DestPort == 40004:
			seen[f.DestPort]++
			if f.SrcIP != s || f.TCP.State != "" || f.Flow.State != "new" {
				t.Errorf("mid-stream session to %d: client %s, tcp.state %q flow.state %q", f.DestPort, f.SrcIP, f.TCP.State, f.Flow.State)
			}
		}
	}
	for _, port := range []int{40001, 40002, 40003, 40004} {
		if seen[port] != 1 {
			t.Errorf("session %d: %d EVE flow records, want 1", port, seen[port])
		}
	}
	eve, err := os.ReadFile(filepath.Join(outDir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(eve), `"state":"closed","tc_gap":true}`) {
		t.Errorf("no tc_gap for the server's missed bytes:\n%s", eve)
	}
}

func jsonString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}
