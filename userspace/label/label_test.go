package label

import (
	"slices"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
)

var (
	ep          = eventtest.Endpoint
	botCC       = eventtest.BotCCFlow
	backscatter = eventtest.BackscatterFlow
)

func TestSeeds(t *testing.T) {
	f := botCC()
	Apply(f)
	if f.Label != CCUnanswered || f.LabelNote != "3 SYNs" {
		t.Errorf("bot C&C: %q %q, want cc-unanswered \"3 SYNs\"", f.Label, f.LabelNote)
	}
	f = backscatter()
	Apply(f)
	if f.Label != Backscatter || f.LabelNote != "answered by RST" {
		t.Errorf("backscatter: %q %q, want backscatter \"answered by RST\"", f.Label, f.LabelNote)
	}
}

func TestUnlistedFlowKeepsNoLabel(t *testing.T) {
	f := botCC()
	f.ServerListed = false
	Apply(f)
	if f.Label != "" || f.LabelNote != "" {
		t.Errorf("unlisted flow labelled %q %q", f.Label, f.LabelNote)
	}
	// Apply leaves whatever a flow had when it touches nothing listed.
	f.Label, f.LabelNote = "x", "y"
	Apply(f)
	if f.Label != "x" || f.LabelNote != "y" {
		t.Errorf("Apply changed an unlisted flow's label to %q %q", f.Label, f.LabelNote)
	}
}

// dir builds direction counters.
func dir(pkts, payload uint64, c event.TCPFlagCounts) event.DirectionStats {
	d := event.DirectionStats{Packets: pkts, Bytes: pkts*40 + payload, PayloadBytes: payload, FlagCounts: c}
	if c.SYN > 0 {
		d.TCPFlags |= event.TCPSyn
	}
	if c.SYNACK > 0 {
		d.TCPFlags |= event.TCPSyn | event.TCPAck
	}
	if c.ACK > 0 || payload > 0 {
		d.TCPFlags |= event.TCPAck
	}
	if c.FIN > 0 {
		d.TCPFlags |= event.TCPFin | event.TCPAck
	}
	if c.RST > 0 {
		d.TCPFlags |= event.TCPRst
	}
	if c.PSH > 0 {
		d.TCPFlags |= event.TCPPsh
	}
	return d
}

// tcpFlow is a TCP flow between our 192.0.2.10 and the listed 203.0.113.66;
// ourFirst says who sent the first packet (flags first).
func tcpFlow(ourFirst bool, first uint8, ours, listed event.DirectionStats) *event.Flow {
	f := &event.Flow{Proto: event.ProtoTCP, FirstTCPFlags: first}
	us, them := ep("192.0.2.10", 40000), ep("203.0.113.66", 6667)
	if ourFirst {
		f.Client, f.Server, f.ToServer, f.ToClient, f.ServerListed = us, them, ours, listed, true
	} else {
		f.Client, f.Server, f.ToServer, f.ToClient, f.ClientListed = them, us, listed, ours, true
	}
	return f
}

type counts = event.TCPFlagCounts

const (
	syn    = event.TCPSyn
	synack = event.TCPSyn | event.TCPAck
	ack    = event.TCPAck
	rst    = event.TCPRst
	rstack = event.TCPRst | event.TCPAck
)

func TestTCP(t *testing.T) {
	for _, c := range []struct {
		name        string
		f           *event.Flow
		label, note string
	}{
		// Our side first.
		{"one SYN unanswered", tcpFlow(true, syn, dir(1, 0, counts{SYN: 1}), dir(0, 0, counts{})),
			CCUnanswered, "1 SYN"},
		{"SYN answered by RST", tcpFlow(true, syn, dir(2, 0, counts{SYN: 2}), dir(1, 0, counts{RST: 1})),
			CCRejected, "2 SYNs, answered by RST"},
		{"established, no data out", tcpFlow(true, syn, dir(3, 0, counts{SYN: 1, ACK: 2}), dir(2, 312, counts{SYNACK: 1, PSH: 1})),
			CCEstablished, "no-data-out, 312 bytes in"},
		{"established, data both ways", tcpFlow(true, syn, dir(4, 120, counts{SYN: 1, ACK: 1, FIN: 1}), dir(3, 312, counts{SYNACK: 1, FIN: 1})),
			CCEstablished, "data-out=120, 312 bytes in"},
		{"established, nothing sent", tcpFlow(true, syn, dir(2, 0, counts{SYN: 1, ACK: 1}), dir(1, 0, counts{SYNACK: 1})),
			CCEstablished, "no-data-out, 0 bytes in"},
		{"established, reset by listed side", tcpFlow(true, syn, dir(2, 0, counts{SYN: 1, ACK: 1}), dir(2, 0, counts{SYNACK: 1, RST: 1})),
			CCEstablished, "no-data-out, 0 bytes in"},
		{"SYN-ACK, no ACK", tcpFlow(true, syn, dir(1, 0, counts{SYN: 1}), dir(3, 0, counts{SYNACK: 3})),
			CCAccepted, "1 SYN, SYN-ACK, no ACK"},
		{"SYN-ACK, our RST", tcpFlow(true, syn, dir(2, 0, counts{SYN: 1, RST: 1}), dir(1, 0, counts{SYNACK: 1})),
			CCAccepted, "1 SYN, SYN-ACK, reset by our side"},
		{"SYN, data back without SYN-ACK", tcpFlow(true, syn, dir(2, 0, counts{SYN: 1, ACK: 1}), dir(1, 80, counts{})),
			CCEstablished, "SYN-ACK not seen, no-data-out, 80 bytes in"},
		{"SYN, bare ACK back", tcpFlow(true, syn, dir(1, 0, counts{SYN: 1}), dir(1, 0, counts{ACK: 1})),
			CCUnanswered, "1 SYN, no SYN-ACK (listed side sent ACK)"},
		{"our SYN-ACK first", tcpFlow(true, synack, dir(1, 0, counts{SYNACK: 1}), dir(0, 0, counts{})),
			ListedInbound, "listed side's SYN not seen, SYN-ACK unanswered"},
		{"our SYN-ACK first, then data", tcpFlow(true, synack, dir(2, 10, counts{SYNACK: 1}), dir(2, 20, counts{ACK: 1})),
			ListedInbound, "listed side's SYN not seen, data-out=10, 20 bytes in"},
		{"only our RST", tcpFlow(true, rstack, dir(1, 0, counts{RST: 1}), dir(0, 0, counts{})),
			Backscatter, "only our RST seen (the listed side's packet was missed)"},
		{"our RST first, then listed traffic", tcpFlow(true, rst, dir(1, 0, counts{RST: 1}), dir(1, 5, counts{})),
			CCEstablished, "midstream (no handshake seen), no-data-out, 5 bytes in"},
		{"midstream, answered", tcpFlow(true, ack, dir(5, 500, counts{ACK: 2}), dir(4, 900, counts{ACK: 1})),
			CCEstablished, "midstream (no handshake seen), data-out=500, 900 bytes in"},
		{"midstream, no reply", tcpFlow(true, ack, dir(2, 100, counts{}), dir(0, 0, counts{})),
			CCUnanswered, "midstream, 2 packets, no reply"},

		// The listed side first.
		{"backscatter unanswered", tcpFlow(false, synack, dir(0, 0, counts{}), dir(1, 0, counts{SYNACK: 1})),
			Backscatter, "unanswered"},
		{"backscatter, SYN-ACK retransmitted", tcpFlow(false, synack, dir(2, 0, counts{RST: 2}), dir(3, 0, counts{SYNACK: 3})),
			Backscatter, "3 SYN-ACKs, answered by RST"},
		{"backscatter answered by ACK", tcpFlow(false, synack, dir(1, 0, counts{ACK: 1}), dir(1, 0, counts{SYNACK: 1})),
			Backscatter, "answered by ACK"},
		{"SYN-ACK first, then data: our SYN missed", tcpFlow(false, synack, dir(3, 64, counts{ACK: 1}), dir(2, 128, counts{SYNACK: 1})),
			CCEstablished, "our SYN not seen, data-out=64, 128 bytes in"},
		{"RST backscatter", tcpFlow(false, rstack, dir(0, 0, counts{}), dir(1, 0, counts{RST: 1})),
			Backscatter, "RST from listed side, unanswered"},
		{"inbound SYN scan, unanswered", tcpFlow(false, syn, dir(0, 0, counts{}), dir(2, 0, counts{SYN: 2})),
			ListedInbound, "2 SYNs, unanswered"},
		{"inbound SYN, refused", tcpFlow(false, syn, dir(1, 0, counts{RST: 1}), dir(1, 0, counts{SYN: 1})),
			ListedInbound, "1 SYN, refused by RST"},
		{"inbound SYN, accepted, not completed", tcpFlow(false, syn, dir(1, 0, counts{SYNACK: 1}), dir(2, 0, counts{SYN: 1, RST: 1})),
			ListedInbound, "1 SYN, accepted (SYN-ACK), handshake not completed"},
		{"inbound established", tcpFlow(false, syn, dir(3, 0, counts{SYNACK: 1, ACK: 2}), dir(3, 512, counts{SYN: 1, ACK: 1})),
			ListedInbound, "established, no-data-out, 512 bytes in"},
		{"inbound SYN answered by ACK", tcpFlow(false, syn, dir(1, 0, counts{ACK: 1}), dir(1, 0, counts{SYN: 1})),
			ListedInbound, "1 SYN, answered by ACK"},
		{"inbound midstream, unanswered", tcpFlow(false, ack, dir(0, 0, counts{}), dir(3, 30, counts{ACK: 1})),
			ListedInbound, "midstream (no SYN seen), 3 packets, unanswered"},
		{"inbound midstream, answered", tcpFlow(false, ack, dir(1, 0, counts{ACK: 1}), dir(1, 30, counts{})),
			ListedInbound, "midstream (no SYN seen), no-data-out, 30 bytes in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, note := Classify(c.f)
			if l != c.label || note != c.note {
				t.Errorf("got %q %q, want %q %q", l, note, c.label, c.note)
			}
			if !slices.Contains(All, l) {
				t.Errorf("label %q not in All", l)
			}
		})
	}
}

func TestBothEndsListed(t *testing.T) {
	// The initiator is read as our side...
	f := botCC()
	f.ClientListed = true
	if l, note := Classify(f); l != CCUnanswered || note != "both ends listed; 3 SYNs" {
		t.Errorf("SYNs between listed hosts: %q %q", l, note)
	}
	// ...unless its first packet answers something it never got.
	f = backscatter()
	f.ServerListed = true
	if l, note := Classify(f); l != Backscatter || note != "both ends listed; answered by RST" {
		t.Errorf("backscatter between listed hosts: %q %q", l, note)
	}
	f = &event.Flow{Proto: event.ProtoICMP, ICMPType: 0, ClientListed: true, ServerListed: true,
		Client: ep("198.51.100.1", 0), Server: ep("198.51.100.2", 0),
		ToServer: event.DirectionStats{Packets: 1, Bytes: 84, PayloadBytes: 56}}
	if l, note := Classify(f); l != Backscatter || note != "both ends listed; ICMP type 0 code 0 from listed side, unanswered" {
		t.Errorf("echo reply between listed hosts: %q %q", l, note)
	}
	f.ICMPType = 8
	if l, note := Classify(f); l != CCUnanswered || note != "both ends listed; ICMP type 8 code 0, 1 packet, no reply" {
		t.Errorf("echo request between listed hosts: %q %q", l, note)
	}
}

func datagramFlow(proto uint8, ourFirst bool, ours, listed event.DirectionStats) *event.Flow {
	f := &event.Flow{Proto: proto}
	us, them := ep("2001:db8:1::10", 5353), ep("2001:db8:bad::66", 53)
	if ourFirst {
		f.Client, f.Server, f.ToServer, f.ToClient, f.ServerListed = us, them, ours, listed, true
	} else {
		f.Client, f.Server, f.ToServer, f.ToClient, f.ClientListed = them, us, listed, ours, true
	}
	return f
}

func TestUDPAndOtherProtocols(t *testing.T) {
	for _, c := range []struct {
		name        string
		f           *event.Flow
		label, note string
	}{
		{"UDP to listed, no reply", datagramFlow(event.ProtoUDP, true, dir(3, 90, counts{}), dir(0, 0, counts{})),
			CCUnanswered, "3 packets, no reply"},
		{"UDP exchange", datagramFlow(event.ProtoUDP, true, dir(1, 40, counts{}), dir(1, 120, counts{})),
			CCEstablished, "data-out=40, 120 bytes in"},
		{"UDP from listed, unanswered", datagramFlow(event.ProtoUDP, false, dir(0, 0, counts{}), dir(1, 48, counts{})),
			ListedInbound, "1 packet, unanswered"},
		{"UDP from listed, answered", datagramFlow(event.ProtoUDP, false, dir(1, 48, counts{}), dir(1, 0, counts{})),
			ListedInbound, "answered, data-out=48, 0 bytes in"},
		{"GRE to listed", datagramFlow(47, true, dir(2, 200, counts{}), dir(0, 0, counts{})),
			CCUnanswered, "2 packets, no reply"},
		{"SCTP exchange", datagramFlow(132, true, dir(1, 0, counts{}), dir(1, 0, counts{})),
			CCEstablished, "no-data-out, 0 bytes in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if l, note := Classify(c.f); l != c.label || note != c.note {
				t.Errorf("got %q %q, want %q %q", l, note, c.label, c.note)
			}
		})
	}
}

func icmpFlow(proto, typ, code uint8, ourFirst bool, ours, listed uint64) *event.Flow {
	f := datagramFlow(proto, ourFirst, dir(ours, ours*56, counts{}), dir(listed, listed*56, counts{}))
	f.Client.Port, f.Server.Port = 0, 0
	f.ICMPType, f.ICMPCode = typ, code
	return f
}

func TestICMP(t *testing.T) {
	for _, c := range []struct {
		name        string
		f           *event.Flow
		label, note string
	}{
		{"ping to listed, no reply", icmpFlow(event.ProtoICMP, 8, 0, true, 3, 0),
			CCUnanswered, "ICMP type 8 code 0, 3 packets, no reply"},
		{"ping to listed, answered", icmpFlow(event.ProtoICMP, 8, 0, true, 1, 1),
			CCEstablished, "ICMP type 8 code 0, answered, data-out=56, 56 bytes in"},
		{"ICMPv6 echo to listed, answered", icmpFlow(event.ProtoICMPv6, 128, 0, true, 2, 2),
			CCEstablished, "ICMP type 128 code 0, answered, data-out=112, 112 bytes in"},
		{"unreachable from listed", icmpFlow(event.ProtoICMP, 3, 3, false, 0, 1),
			CCRejected, "ICMP type 3 code 3 from listed side"},
		{"ICMPv6 unreachable from listed", icmpFlow(event.ProtoICMPv6, 1, 4, false, 0, 1),
			CCRejected, "ICMP type 1 code 4 from listed side"},
		{"time exceeded from listed", icmpFlow(event.ProtoICMP, 11, 0, false, 0, 2),
			CCRejected, "ICMP type 11 code 0 from listed side"},
		{"echo reply from listed (smurf backscatter)", icmpFlow(event.ProtoICMP, 0, 0, false, 0, 4),
			Backscatter, "ICMP type 0 code 0 from listed side, unanswered"},
		{"ICMPv6 echo reply from listed", icmpFlow(event.ProtoICMPv6, 129, 0, false, 0, 1),
			Backscatter, "ICMP type 129 code 0 from listed side, unanswered"},
		{"ping from listed, unanswered", icmpFlow(event.ProtoICMP, 8, 0, false, 0, 2),
			ListedInbound, "ICMP type 8 code 0, 2 packets, unanswered"},
		{"ping from listed, answered", icmpFlow(event.ProtoICMP, 8, 0, false, 1, 1),
			ListedInbound, "ICMP type 8 code 0, answered"},
		{"our unreachable to listed", icmpFlow(event.ProtoICMP, 3, 3, true, 1, 0),
			ListedInbound, "our ICMP type 3 code 3 to listed side (answers traffic not in this flow)"},
		{"router advert from listed", icmpFlow(event.ProtoICMPv6, 134, 0, false, 0, 1),
			ListedInbound, "ICMP type 134 code 0, 1 packet, unanswered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if l, note := Classify(c.f); l != c.label || note != c.note {
				t.Errorf("got %q %q, want %q %q", l, note, c.label, c.note)
			}
		})
	}
}

func TestFlagWords(t *testing.T) {
	if got := flagWords(0); got != "no flags" {
		t.Errorf("flagWords(0) = %q", got)
	}
	if got := flagWords(0xff); got != "SYN FIN RST PSH ACK URG ECE CWR" {
		t.Errorf("flagWords(0xff) = %q", got)
	}
}
