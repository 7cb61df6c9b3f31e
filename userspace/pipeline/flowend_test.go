package pipeline

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// segment is one TCP packet of a synthetic capture.
type segment struct {
	at            time.Duration // after the capture's start
	src, dst      string
	sport, dport  uint16
	syn, ack, fin bool
	rst, psh      bool
	zeroWin       bool // advertises a zero window
	payload       string
	// rewind sends this segment that many bytes back in its side's
	// sequence space (a retransmission); skip jumps that many ahead first
	// (bytes the capture missed), or for a SYN moves the ISN (a new
	// connection on the tuple).
	rewind, skip int
}

// tcpEnd is one side of a capture's connection: its ISN and the next
// sequence number it sends.
type tcpEnd struct {
	isn, next uint32
	synSent   bool
}

var captureStart = time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)

// createEthernetPcap creates path as an Ethernet pcap, closed when the
// test ends (the writer does not buffer: what it wrote is in the file).
func createEthernetPcap(t *testing.T, path string) *pcapgo.Writer {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return w
}

// c2s and s2c place segment s of the IRC session between cli:40000 and
// srv:6667 at time at, from the client or from the server.
func c2s(at time.Duration, s segment) segment {
	s.at, s.src, s.dst, s.sport, s.dport = at, cli, srv, 40000, 6667
	return s
}

func s2c(at time.Duration, s segment) segment {
	s.at, s.src, s.dst, s.sport, s.dport = at, srv, cli, 6667, 40000
	return s
}

// ircOpening is the IRC session's first 30 ms: the handshake and NICK.
func ircOpening() []segment {
	ms := time.Millisecond
	return []segment{
		c2s(0, segment{syn: true}),
		s2c(10*ms, segment{syn: true, ack: true}),
		c2s(20*ms, segment{ack: true}),
		c2s(30*ms, segment{ack: true, psh: true, payload: "NICK bot\r\n"}),
	}
}

// writeTCPCapture writes segments as an Ethernet pcap built with gopacket.
func writeTCPCapture(t *testing.T, path string, segs []segment) {
	t.Helper()
	w := createEthernetPcap(t, path)
	// Sequence and acknowledgment numbers as real stacks send them: each
	// side counts its payload, SYN and FIN; a repeated SYN is a
	// retransmission with the same ISN.
	ends := map[string]*tcpEnd{}
	end := func(src string, sport uint16, dst string, dport uint16) *tcpEnd {
		k := fmt.Sprintf("%s:%d>%s:%d", src, sport, dst, dport)
		if ends[k] == nil {
			isn := uint32(1000 + 100000*len(ends))
			ends[k] = &tcpEnd{isn: isn, next: isn}
		}
		return ends[k]
	}
	for i, s := range segs {
		me, peer := end(s.src, s.sport, s.dst, s.dport), end(s.dst, s.dport, s.src, s.sport)
		if s.syn && !s.ack && s.skip > 0 {
			// A new connection attempt on the tuple: a new ISN.
			me.isn += uint32(s.skip)
			me.synSent = false
		} else {
			me.next += uint32(s.skip)
		}
		seq := me.next - uint32(s.rewind)
		if s.syn {
			seq = me.isn
		}
		var ack uint32
		if s.ack {
			ack = peer.next
		}
		if s.rewind == 0 {
			switch {
			case s.syn && !me.synSent:
				me.next = me.isn + 1 + uint32(len(s.payload))
				me.synSent = true
			case s.syn:
			default:
				me.next += uint32(len(s.payload))
				if s.fin {
					me.next++
				}
			}
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(i + 1), Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(s.src), DstIP: net.ParseIP(s.dst)}
		window := uint16(64240)
		if s.zeroWin {
			window = 0
		}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), SYN: s.syn, ACK: s.ack, FIN: s.fin, RST: s.rst, PSH: s.psh, Window: window, Seq: seq, Ack: ack}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(s.at), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	cli = "192.0.2.10"
	srv = "198.51.100.20"
)

// A complete session: the record is written once both FINs are seen and the
// linger has passed, and it counts the final ACK that came after them.
func TestFlowEndsWithFINAndCountsTheLastACK(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "session.pcap")
	ms := time.Millisecond
	writeTCPCapture(t, pcap, append(ircOpening(),
		s2c(40*ms, segment{ack: true, psh: true, payload: ":irc 001 bot :Welcome\r\n"}),
		c2s(50*ms, segment{ack: true, fin: true}),
		s2c(60*ms, segment{ack: true, fin: true}),
		c2s(70*ms, segment{ack: true}),
		// A later, unrelated packet moves the capture clock past the linger.
		segment{at: 10 * time.Second, src: "192.0.2.11", dst: srv, sport: 1, dport: 2, syn: true},
	))
	lines := replayFiles(t, nil, pcap)
	_, flows := split(lines)
	if len(flows) != 2 {
		t.Fatalf("%d flows, want 2", len(flows))
	}
	f := flows[0] // written first: at the linger, before the shutdown flush
	if f.SrcPort != 40000 || f.Flow.End2 != "fin" || f.Flow.State != "closed" || f.TCP.State != "closed" {
		t.Fatalf("first record: %+v %+v", f.eveLineHeader(), *f.Flow)
	}
	if f.Flow.PktsToServer != 5 || f.Flow.PktsToClient != 3 {
		t.Errorf("packets %d/%d, want 5/3 (the ACK after both FINs included)", f.Flow.PktsToServer, f.Flow.PktsToClient)
	}
	ts, tc := f.FlagCounts["toserver"], f.FlagCounts["toclient"]
	if ts["syn"] != 1 || ts["ack"] != 2 || ts["psh"] != 1 || ts["fin"] != 1 || tc["synack"] != 1 || tc["psh"] != 1 || tc["fin"] != 1 {
		t.Errorf("flag counts toserver %v toclient %v", ts, tc)
	}
	if f.TCP.FlagsTS != "1b" || f.TCP.FlagsTC != "1b" {
		t.Errorf("tcp flags ts %s tc %s, want 1b 1b", f.TCP.FlagsTS, f.TCP.FlagsTC)
	}
	if f.Flow.End != "2007-02-21T10:00:00.070000+0000" {
		t.Errorf("end %s", f.Flow.End)
	}
	if flows[1].Flow.End2 != "shutdown" {
		t.Errorf("second record ended by %q, want shutdown", flows[1].Flow.End2)
	}
}

// Idle past --flow-timeout on the capture's own clock: "timeout".
func TestFlowTimeoutOnCaptureClock(t *testing.T) {
	lines := replayFiles(t, seedRule, "bot-cc-syn.pcap", "backscatter.pcap")
	_, flows := split(lines)
	if len(flows) != 3 {
		t.Fatalf("%d flows, want 3", len(flows))
	}
	var cc *eveLine
	for i := range flows {
		if flows[i].DestIP == "161.53.178.240" {
			cc = &flows[i]
		}
	}
	if cc == nil || cc.Flow.End2 != "timeout" || cc.Flow.Reason != "timeout" || cc.Flow.PktsToServer != 3 {
		t.Fatalf("C&C flow: %+v", cc)
	}
	// It was written when the backscatter capture's clock passed its
	// timeout, before the backscatter flows.
	if flows[0].DestIP != "161.53.178.240" {
		t.Errorf("first record is %s, want the timed-out C&C flow", flows[0].DestIP)
	}
}

func (l eveLine) eveLineHeader() string {
	return l.SrcIP + " -> " + l.DestIP
}

// Captures taken on hosts hold jumbo and GRO-merged frames far beyond a
// page: replay runs them as multi-buffer frames and counts every byte.
func TestReplayLargeFrames(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "gro.pcap")
	big := func(n int) string { return strings.Repeat("z", n) }
	writeTCPCapture(t, pcap, []segment{
		{at: 0, src: cli, dst: srv, sport: 40000, dport: 443, syn: true},
		{at: time.Millisecond, src: srv, dst: cli, sport: 443, dport: 40000, syn: true, ack: true},
		{at: 2 * time.Millisecond, src: cli, dst: srv, sport: 40000, dport: 443, ack: true},
		{at: 3 * time.Millisecond, src: srv, dst: cli, sport: 443, dport: 40000, ack: true, psh: true, payload: big(8948)},  // a jumbo frame
		{at: 4 * time.Millisecond, src: srv, dst: cli, sport: 443, dport: 40000, ack: true, psh: true, payload: big(40000)}, // GRO-merged
	})
	lines := replayFiles(t, nil, pcap)
	_, flows := split(lines)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	f := flows[0]
	// Frame bytes: each IP packet plus its 14-byte Ethernet header, the
	// SYN-ACK padded to Ethernet's 60-byte minimum.
	if f.Flow.PktsToClient != 3 || f.Flow.BytesToClient != 60+(54+8948)+(54+40000) {
		t.Fatalf("to client: %d packets, %d bytes", f.Flow.PktsToClient, f.Flow.BytesToClient)
	}
}
