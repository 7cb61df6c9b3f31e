// Package label reads a flow that touches a blocklisted address the way
// an analyst reads its session record, and names what happened: the
// infected host calling its C&C and getting no answer (the 2007 "Bot C&C"
// seed), a listed IRC server's SYN-ACK to an address it never heard from,
// answered by our RST (the "Backscatter Detected" seed), and so on.
//
// "Our side" is the end that is not listed, "the listed side" the listed
// one. When both ends are listed, the flow is read from its initiator's
// point of view (the initiator is "our side", as a host on our network
// being listed itself is the likelier story), except when the first packet
// is an unsolicited answer — a SYN-ACK or RST, or an ICMP error or reply —
// which makes the initiator the listed side; the note then starts with
// "both ends listed; ".
//
// The labels:
//
//	backscatter     the listed side's first packet answers something our
//	                side never sent: a SYN-ACK or a RST (TCP), an ICMP
//	                echo/timestamp/info/mask reply; or, seen from our
//	                side, a bare RST we sent to the listed side first.
//	                Note: "answered by RST", "unanswered", "2 SYN-ACKs,
//	                answered by RST", "RST from listed side, unanswered".
//	cc-unanswered   our side tried (TCP SYNs, UDP or other datagrams, ICMP
//	                queries) and nothing came back. Note: "3 SYNs",
//	                "2 packets, no reply".
//	cc-rejected     the listed side refused: RST to our SYN (note "1 SYN,
//	                answered by RST"), or an ICMP error (unreachable, time
//	                exceeded...) from the listed side, which is most often
//	                the answer to our traffic in another flow (note "ICMP
//	                type 3 code 1 from listed side"). We cannot correlate
//	                flows, so such an error could also be backscatter of
//	                traffic sent in our name.
//	cc-accepted     the listed side answered our SYN with a SYN-ACK but our
//	                side never completed the handshake (no ACK, maybe a
//	                RST): the C&C is alive and listening. Note "1 SYN,
//	                SYN-ACK, no ACK" or "1 SYN, SYN-ACK, reset by our side".
//	cc-established  our side's handshake completed (SYN, SYN-ACK, then an
//	                ACK or data from our side), or a two-way UDP/other
//	                exchange, or an answered ICMP query. The note gives
//	                the payload bytes each way: "no-data-out, 312 bytes in"
//	                when our side sent no payload, "data-out=120, 312
//	                bytes in" otherwise. Flows whose start was not seen
//	                carry "midstream (no handshake seen), ...".
//	listed-inbound  the listed side initiated towards us: a SYN, an ICMP
//	                query, a UDP or other datagram, or midstream TCP.
//	                Note: "2 SYNs, unanswered", "1 SYN, refused by RST",
//	                "established, no-data-out, 512 bytes in", "answered,
//	                data-out=48, 0 bytes in".
//
// Flows that touch no listed address get no label.
package label

import (
	"fmt"
	"strings"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// The labels Classify returns.
const (
	Backscatter   = "backscatter"
	CCUnanswered  = "cc-unanswered"
	CCRejected    = "cc-rejected"
	CCAccepted    = "cc-accepted"
	CCEstablished = "cc-established"
	ListedInbound = "listed-inbound"
)

// All lists every label, for validating filters.
var All = []string{Backscatter, CCUnanswered, CCRejected, CCAccepted, CCEstablished, ListedInbound}

// Apply sets f.Label and f.LabelNote for a flow that touches a listed
// address (ClientListed or ServerListed), and leaves other flows alone.
func Apply(f *event.Flow) {
	if l, note := Classify(f); l != "" {
		f.Label, f.LabelNote = l, note
	}
}

// Classify returns the label and note Apply would set, or two empty
// strings for a flow that touches no listed address.
func Classify(f *event.Flow) (label, note string) {
	if !f.ClientListed && !f.ServerListed {
		return "", ""
	}
	both := f.ClientListed && f.ServerListed
	// ourIsClient: our side sent the flow's first packet.
	ourIsClient := f.ServerListed
	if both {
		ourIsClient = !unsolicitedAnswer(f)
	}
	v := view{f: f, ourFirst: ourIsClient}
	if ourIsClient {
		v.out, v.in = &f.ToServer, &f.ToClient
	} else {
		v.out, v.in = &f.ToClient, &f.ToServer
	}
	switch f.Proto {
	case event.ProtoTCP:
		label, note = v.tcp()
	case event.ProtoICMP, event.ProtoICMPv6:
		label, note = v.icmp()
	default:
		label, note = v.datagram()
	}
	if both {
		note = "both ends listed; " + note
	}
	return label, note
}

// unsolicitedAnswer reports whether the flow's first packet answers
// something its sender never received in this flow.
func unsolicitedAnswer(f *event.Flow) bool {
	switch f.Proto {
	case event.ProtoTCP:
		fl := f.FirstTCPFlags
		return fl&event.TCPSyn != 0 && fl&event.TCPAck != 0 || fl&(event.TCPSyn|event.TCPRst) == event.TCPRst
	case event.ProtoICMP, event.ProtoICMPv6:
		k := icmpKind(f.Proto, f.ICMPType)
		return k == icmpError || k == icmpReply
	}
	return false
}

// view is a flow seen from our side: out is what our side sent, in what
// the listed side sent.
type view struct {
	f        *event.Flow
	ourFirst bool // our side sent the first packet
	out, in  *event.DirectionStats
}

func (v *view) tcp() (string, string) {
	first := v.f.FirstTCPFlags
	out, in := v.out, v.in
	syn := first&event.TCPSyn != 0
	ack := first&event.TCPAck != 0
	rstOnly := first&(event.TCPSyn|event.TCPRst) == event.TCPRst

	if !v.ourFirst {
		switch {
		case syn && ack:
			// A SYN-ACK out of the blue. If data flowed, our SYN was
			// merely missed: a connection of ours, seen midstream.
			if out.PayloadBytes > 0 || in.PayloadBytes > 0 {
				return CCEstablished, "our SYN not seen, " + dataNote(out, in)
			}
			note := answer(out)
			if n := in.FlagCounts.SYNACK; n > 1 {
				note = count(n, "SYN-ACK") + ", " + note
			}
			return Backscatter, note
		case rstOnly:
			return Backscatter, "RST from listed side, " + answer(out)
		case syn:
			synNote := count(in.FlagCounts.SYN, "SYN")
			switch {
			case out.Packets == 0:
				return ListedInbound, synNote + ", unanswered"
			case out.FlagCounts.SYNACK > 0 && (in.FlagCounts.ACK > 0 || in.PayloadBytes > 0 || out.PayloadBytes > 0):
				return ListedInbound, "established, " + dataNote(out, in)
			case out.FlagCounts.SYNACK > 0:
				return ListedInbound, synNote + ", accepted (SYN-ACK), handshake not completed"
			case out.FlagCounts.RST > 0:
				return ListedInbound, synNote + ", refused by RST"
			default:
				return ListedInbound, synNote + ", answered by " + flagWords(out.TCPFlags)
			}
		default:
			if out.Packets == 0 {
				return ListedInbound, fmt.Sprintf("midstream (no SYN seen), %s, unanswered", count(in.Packets, "packet"))
			}
			return ListedInbound, "midstream (no SYN seen), " + dataNote(out, in)
		}
	}

	switch {
	case syn && !ack:
		synNote := count(out.FlagCounts.SYN, "SYN")
		handshake := out.FlagCounts.ACK > 0 || out.PayloadBytes > 0 || in.PayloadBytes > 0
		switch {
		case in.Packets == 0:
			return CCUnanswered, synNote
		case in.FlagCounts.SYNACK > 0 && handshake:
			return CCEstablished, dataNote(out, in)
		case in.FlagCounts.SYNACK > 0 && out.FlagCounts.RST > 0:
			return CCAccepted, synNote + ", SYN-ACK, reset by our side"
		case in.FlagCounts.SYNACK > 0:
			return CCAccepted, synNote + ", SYN-ACK, no ACK"
		case in.FlagCounts.RST > 0:
			return CCRejected, synNote + ", answered by RST"
		case in.PayloadBytes > 0:
			return CCEstablished, "SYN-ACK not seen, " + dataNote(out, in)
		default:
			return CCUnanswered, synNote + ", no SYN-ACK (listed side sent " + flagWords(in.TCPFlags) + ")"
		}
	case syn && ack:
		// Our SYN-ACK first: the listed side's SYN was not seen.
		if in.Packets == 0 && out.PayloadBytes == 0 {
			return ListedInbound, "listed side's SYN not seen, SYN-ACK unanswered"
		}
		return ListedInbound, "listed side's SYN not seen, " + dataNote(out, in)
	case rstOnly && in.Packets == 0:
		return Backscatter, "only our RST seen (the listed side's packet was missed)"
	default:
		if in.Packets == 0 {
			return CCUnanswered, fmt.Sprintf("midstream, %s, no reply", count(out.Packets, "packet"))
		}
		return CCEstablished, "midstream (no handshake seen), " + dataNote(out, in)
	}
}

// datagram labels UDP and protocols without sessions (GRE, ESP, SCTP...).
func (v *view) datagram() (string, string) {
	out, in := v.out, v.in
	if v.ourFirst {
		if in.Packets == 0 {
			return CCUnanswered, count(out.Packets, "packet") + ", no reply"
		}
		return CCEstablished, dataNote(out, in)
	}
	if out.Packets == 0 {
		return ListedInbound, count(in.Packets, "packet") + ", unanswered"
	}
	return ListedInbound, "answered, " + dataNote(out, in)
}

func (v *view) icmp() (string, string) {
	f := v.f
	kind := icmpKind(f.Proto, f.ICMPType)
	what := fmt.Sprintf("ICMP type %d code %d", f.ICMPType, f.ICMPCode)
	if v.ourFirst {
		switch kind {
		case icmpQuery, icmpOther:
			if v.in.Packets == 0 {
				return CCUnanswered, fmt.Sprintf("%s, %s, no reply", what, count(v.out.Packets, "packet"))
			}
			return CCEstablished, what + ", answered, " + dataNote(v.out, v.in)
		default:
			// Our error or reply: the listed side sent us something
			// this flow does not hold.
			return ListedInbound, "our " + what + " to listed side (answers traffic not in this flow)"
		}
	}
	switch kind {
	case icmpError:
		return CCRejected, what + " from listed side"
	case icmpReply:
		return Backscatter, what + " from listed side, " + icmpAnswer(v.out)
	default:
		if v.out.Packets == 0 {
			return ListedInbound, fmt.Sprintf("%s, %s, unanswered", what, count(v.in.Packets, "packet"))
		}
		return ListedInbound, what + ", answered"
	}
}

type icmpClass int

const (
	icmpOther icmpClass = iota
	icmpQuery
	icmpReply
	icmpError
)

// icmpKind sorts ICMP and ICMPv6 message types into queries, the replies
// to them, and errors (RFC 792, 950, 4443).
func icmpKind(proto, typ uint8) icmpClass {
	if proto == event.ProtoICMPv6 {
		switch {
		case typ < 128:
			return icmpError // 1 unreachable, 2 too big, 3 time exceeded, 4 parameter problem
		case typ == 128:
			return icmpQuery
		case typ == 129:
			return icmpReply
		}
		return icmpOther
	}
	switch typ {
	case 8, 13, 15, 17:
		return icmpQuery
	case 0, 14, 16, 18:
		return icmpReply
	case 3, 4, 5, 11, 12:
		return icmpError
	}
	return icmpOther
}

// answer says how our side answered an unsolicited TCP segment.
func answer(out *event.DirectionStats) string {
	switch {
	case out.Packets == 0:
		return "unanswered"
	case out.FlagCounts.RST > 0 && out.FlagCounts.ACK == 0 && out.FlagCounts.SYN == 0 && out.PayloadBytes == 0:
		return "answered by RST"
	default:
		return "answered by " + flagWords(out.TCPFlags)
	}
}

func icmpAnswer(out *event.DirectionStats) string {
	if out.Packets == 0 {
		return "unanswered"
	}
	return "answered"
}

// dataNote gives the payload bytes each way, from our side's view.
func dataNote(out, in *event.DirectionStats) string {
	var b strings.Builder
	if out.PayloadBytes == 0 {
		b.WriteString("no-data-out")
	} else {
		fmt.Fprintf(&b, "data-out=%d", out.PayloadBytes)
	}
	fmt.Fprintf(&b, ", %d bytes in", in.PayloadBytes)
	return b.String()
}

func count[N uint32 | uint64](n N, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// flagWords names the TCP flags in or, as tcpdump orders them.
func flagWords(or uint8) string {
	var names []string
	for _, fl := range [...]struct {
		bit  uint8
		name string
	}{
		{event.TCPSyn, "SYN"}, {event.TCPFin, "FIN"}, {event.TCPRst, "RST"}, {event.TCPPsh, "PSH"},
		{event.TCPAck, "ACK"}, {event.TCPUrg, "URG"}, {event.TCPEce, "ECE"}, {event.TCPCwr, "CWR"},
	} {
		if or&fl.bit != 0 {
			names = append(names, fl.name)
		}
	}
	if len(names) == 0 {
		return "no flags"
	}
	return strings.Join(names, " ")
}
