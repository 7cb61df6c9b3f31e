package zeek

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
	"unicode"

	"github.com/xdpsensor/xdpsensor/userspace/communityid"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Conn is a flow as a Zeek conn.log line describes it: oriented the way
// Zeek orients it (Orig is Zeek's originator, which is the flow's Server
// when Zeek flipped the connection), with Zeek's history and conn_state.
type Conn struct {
	TS          time.Time
	UID         string
	Orig, Resp  event.Endpoint // for ICMP the ports are the type and the counterpart type or code
	Proto       string         // tcp, udp, icmp or unknown_transport
	IPProto     uint8
	Duration    time.Duration // 0: unset (Zeek logs duration and bytes only when positive)
	DurationEnd time.Time     // where the duration ends: the last packet before both sides closed
	OrigBytes   uint64        // payload bytes, from TCP sequence numbers
	RespBytes   uint64
	ConnState   string
	MissedBytes uint64 // content gaps, both ways
	History     string // "" when Zeek would leave it unset
	OrigPkts    uint64
	OrigIPBytes uint64
	RespPkts    uint64
	RespIPBytes uint64
	Flipped     bool // Orig is the flow's Server
	CommunityID string
	Label       string
	LabelNote   string
}

// Describe computes f's conn.log record. Only opts.LikelyServerPort is
// consulted.
func Describe(f *event.Flow, opts Options) Conn {
	likely := opts.LikelyServerPort
	if likely == nil {
		likely = DefaultLikelyServerPort
	}
	c := Conn{
		TS:        f.Start,
		UID:       UID(f.FlowID),
		IPProto:   f.Proto,
		Label:     f.Label,
		LabelNote: f.LabelNote,
	}
	orig, resp := &f.ToServer, &f.ToClient // what Zeek's orig and resp sent
	origEnd, respEnd := f.Client, f.Server
	switch f.Proto {
	case event.ProtoTCP:
		c.Proto = "tcp"
		s := simulateTCP(f, likely)
		c.Flipped, c.History, c.ConnState = s.flipped(), string(s.hist), s.connState(f)
	case event.ProtoUDP:
		c.Proto = "udp"
		// UDPAnalyzer::WantConnection: the source port is a likely
		// server port and the destination port is not (DNS, NTP, DHCP
		// replies seen first).
		c.Flipped = likely(f.Proto, f.Client.Port) && !likely(f.Proto, f.Server.Port) && !isBroadcast(f.Server.IP)
		c.History = udpHistory(f, c.Flipped)
	case event.ProtoICMP, event.ProtoICMPv6:
		c.Proto = "icmp"
		origEnd.Port = uint16(f.ICMPType)
		respEnd.Port = icmpCounterpart(f.Proto, f.ICMPType, f.ICMPCode)
	default:
		c.Proto = "unknown_transport"
		origEnd.Port, respEnd.Port = 0, 0
	}
	if c.Flipped {
		orig, resp = resp, orig
		origEnd, respEnd = respEnd, origEnd
	}
	c.Orig, c.Resp = origEnd, respEnd
	if f.Proto == event.ProtoUDP {
		c.ConnState = udpConnState(orig.Packets > 0, resp.Packets > 0)
	} else if f.Proto != event.ProtoTCP {
		c.ConnState = "OTH"
	}

	// Zeek's duration ends at the last packet before both sides
	// closed: the final ACK after the FINs is not in it. It logs
	// duration, orig_bytes and resp_bytes only when the duration is
	// positive (set_conn in base/protocols/conn/main.zeek).
	end := f.ActiveEnd
	if end.IsZero() {
		end = f.End
	}
	// Microseconds, as Zeek's timestamps from a capture have them.
	if d := micros(end) - micros(f.Start); d > 0 {
		c.Duration, c.DurationEnd = time.Duration(d)*time.Microsecond, end
		if c.Proto != "unknown_transport" { // Zeek counts no payload for these
			c.OrigBytes, c.RespBytes = orig.PayloadBytes, resp.PayloadBytes
		}
	}
	// content_gap events add up both directions' gaps.
	c.MissedBytes = f.ToServer.MissedBytes + f.ToClient.MissedBytes
	c.OrigPkts, c.OrigIPBytes = orig.Packets, orig.Bytes
	c.RespPkts, c.RespIPBytes = resp.Packets, resp.Bytes

	// Zeek computes the Community ID from the connection's id once it
	// is created; every direction gives the same ID except for one-way
	// ICMP types, whose direction is the first packet's, as here.
	var buf [communityid.Len]byte
	if f.Proto == event.ProtoICMP || f.Proto == event.ProtoICMPv6 {
		c.CommunityID = string(communityid.Append(buf[:0], 0, f.Client.IP, f.Server.IP, uint16(f.ICMPType), uint16(f.ICMPCode), f.Proto))
	} else {
		c.CommunityID = string(communityid.Append(buf[:0], 0, f.Client.IP, f.Server.IP, f.Client.Port, f.Server.Port, f.Proto))
	}
	return c
}

// isBroadcast is Zeek's IPAddr::IsBroadcast: 255.255.255.255. A new
// connection to it is never flipped (IPBasedAnalyzer::NewConn): a DHCP
// server's broadcast reply keeps its server as the originator.
func isBroadcast(a netip.Addr) bool {
	return a.Unmap() == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// micros rounds t to microseconds, the precision Zeek logs.
func micros(t time.Time) int64 {
	s, ns := t.Unix(), int64(t.Nanosecond())
	return s*1e6 + (ns+500)/1000
}

// UID derives a Zeek-style connection uid from a flow id: "C" and the
// base62 of a 96-bit value, written as Zeek's UID::Base62 writes it (a
// 32-bit then a 64-bit word, each least significant digit first, no
// padding), so it is usually 18 characters long. The value is a hash of
// the flow id: the same flow gets the same uid on every run.
func UID(flowID uint64) string {
	var in [8]byte
	binary.BigEndian.PutUint64(in[:], flowID)
	sum := sha256.Sum256(in[:])
	words := [2]uint64{binary.BigEndian.Uint64(sum[0:8]) >> 32, binary.BigEndian.Uint64(sum[8:16])}
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 1, 1+6+11)
	b[0] = 'C'
	for _, v := range words {
		for {
			b = append(b, digits[v%62])
			v /= 62
			if v == 0 {
				break
			}
		}
	}
	return string(b)
}

// icmpCounterpart is Zeek's ICMP4_counterpart/ICMP6_counterpart: the
// reply type of a request (or request of a reply), else the code.
func icmpCounterpart(proto, typ, code uint8) uint16 {
	pairs := map[uint8]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
	if proto == event.ProtoICMPv6 {
		pairs = map[uint8]uint8{128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
			130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
	}
	if t, ok := pairs[typ]; ok {
		return uint16(t)
	}
	return uint16(code)
}

// udpHistory is the history Zeek's UDP analyzer writes: D for the
// originator's datagrams, d for the responder's, once each, after the '^'
// of a flip. The flow's client sent first.
func udpHistory(f *event.Flow, flipped bool) string {
	var h []byte
	client, server := byte('D'), byte('d')
	if flipped {
		h = append(h, '^')
		client, server = 'd', 'D'
	}
	if f.ToServer.Packets > 0 {
		h = append(h, client)
	}
	if f.ToClient.Packets > 0 {
		h = append(h, server)
	}
	return string(h)
}

// udpConnState is conn_state() of base/protocols/conn/main.zeek for UDP.
func udpConnState(origActive, respActive bool) string {
	switch {
	case origActive && respActive:
		return "SF"
	case origActive:
		return "S0"
	case respActive:
		return "SHR"
	}
	return "OTH"
}

// TCP endpoint states, as Zeek's TCP_Endpoint has them.
type tcpState uint8

const (
	tcpInactive tcpState = iota
	tcpSynSent
	tcpSynAckSent
	tcpPartial
	tcpEstablished
	tcpClosed
	tcpReset
)

type tcpEndpoint struct{ state, prev tcpState }

// set is TCP_Endpoint::SetState: the previous state changes only with
// the state.
func (e *tcpEndpoint) set(s tcpState) {
	if s != e.state {
		e.prev, e.state = e.state, s
	}
}

// segment is one packet of the replay: its flags and whether it carries
// payload.
type segment struct {
	syn, ack, fin, rst, data bool
}

// tcpSim replays a flow's history letters through the endpoint state
// machine of Zeek's TCPSessionAdapter (UpdateStateMachine and the
// Update*State functions of src/packet_analysis/protocol/tcp/
// TCPSessionAdapter.cc), writing the history as Zeek writes it.
type tcpSim struct {
	ep   [2]tcpEndpoint // by flow side: 0 client, 1 server
	orig int            // the side that is Zeek's originator
	hist []byte
	// buf is hist's first backing: most histories are a few letters
	// (the kernel keeps at most 40), so most never allocate apart.
	buf [24]byte
}

func (s *tcpSim) flipped() bool { return s.orig == 1 }

// flip is Connection::FlipRoles: the roles swap and history gets a '^'.
func (s *tcpSim) flip() {
	s.orig = 1 - s.orig
	s.hist = append(s.hist, '^')
}

// simulateTCP orients f as Zeek would and replays its history.
func simulateTCP(f *event.Flow, likely func(uint8, uint16) bool) *tcpSim {
	s := &tcpSim{}
	s.hist = s.buf[:0]
	letters := f.History
	if letters == "" {
		letters = synthesizeHistory(f)
	}
	first := f.FirstTCPFlags
	if first == 0 && letters != "" {
		first = letterFlags(letters[0])
	}
	// TCPAnalyzer::WantConnection: a connection whose first packet is not
	// a plain SYN is partial, and its roles flip when the source port is
	// a likely server port and the destination port is not (or both are,
	// the packet is no SYN-ACK and the source port is the lower); never
	// toward a broadcast address (IPBasedAnalyzer::NewConn).
	if (first&event.TCPSyn == 0 || first&event.TCPAck != 0) && !isBroadcast(f.Server.IP) {
		sp, dp := f.Client.Port, f.Server.Port
		if likely(event.ProtoTCP, sp) {
			if likely(event.ProtoTCP, dp) {
				if first&event.TCPSyn == 0 && sp < dp {
					s.flip()
				}
			} else {
				s.flip()
			}
		}
	}
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		side := 0
		if unicode.IsLower(rune(c)) {
			side = 1
		}
		upper := byte(unicode.ToUpper(rune(c)))
		var seg segment
		switch upper {
		case 'S':
			seg.syn = true
		case 'H':
			seg.syn, seg.ack = true, true
		case 'A':
			seg.ack = true
		case 'D':
			seg.ack, seg.data = true, true
		case 'F':
			seg.fin, seg.ack = true, true
		case 'R':
			seg.rst = true
		case 'Q':
			seg = multiFlag(f, side, letters)
		case 'I':
			seg.fin, seg.rst, seg.ack = true, true, true
		case 'W', 'T', 'G':
			// Zero windows, retransmissions and content gaps: each side's
			// counts as Zeek scales them (1, 10, 100...), no state.
			s.letter(side, upper)
			continue
		default:
			continue
		}
		s.letter(side, upper)
		s.packet(side, seg)
	}
	return s
}

// letter appends a history letter as update_history does: upper case
// when the sender is the originator at the time.
func (s *tcpSim) letter(side int, upper byte) {
	if (upper == 'A' || upper == 'D') && string(s.hist) == "H" {
		// TCP_Endpoint::CheckHistory: a connection that began with a
		// SYN-ACK (not flipped: no likely server port said so, as in a
		// stealth scan) now carries an ACK or data, which a scan's
		// SYN-ACK would not draw: Zeek flips it then, and rewrites the
		// history as "^h".
		s.orig = 1 - s.orig
		s.hist = append(s.hist[:0], '^', 'h')
	}
	if side != s.orig {
		upper += 'a' - 'A'
	}
	s.hist = append(s.hist, upper)
}

// multiFlag reconstructs the packet behind a Q (SYN with FIN or RST):
// the kernel counted it among the side's FINs or RSTs, and among its
// SYNs or SYN-ACKs; the flag whose count no letter of its own explains
// is the one it carried.
func multiFlag(f *event.Flow, side int, letters string) segment {
	d, own := &f.ToServer, func(c byte) bool { return containsByte(letters, c) }
	if side == 1 {
		d = &f.ToClient
		own = func(c byte) bool { return containsByte(letters, c+'a'-'A') }
	}
	seg := segment{syn: true}
	seg.ack = d.FlagCounts.SYNACK > 0 && (!own('H') || d.FlagCounts.SYN == 0)
	switch {
	case d.FlagCounts.FIN > 0 && !own('F'):
		seg.fin = true
	case d.FlagCounts.RST > 0 && !own('R'):
		seg.rst = true
	case d.TCPFlags&event.TCPRst != 0:
		seg.rst = true
	default:
		seg.fin = true
	}
	return seg
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func letterFlags(c byte) uint8 {
	switch unicode.ToUpper(rune(c)) {
	case 'S':
		return event.TCPSyn
	case 'H':
		return event.TCPSyn | event.TCPAck
	case 'R':
		return event.TCPRst
	case 'F':
		return event.TCPFin | event.TCPAck
	case 'Q':
		return event.TCPSyn | event.TCPRst
	}
	return event.TCPAck
}

// synthesizeHistory builds history letters from the counters of a flow
// recorded without them, in the order of a textbook exchange: the first
// packet's letter, the server's SYN-ACK, pure ACKs and data each way,
// FINs, then RSTs.
func synthesizeHistory(f *event.Flow) string {
	var h []byte
	add := func(side int, c byte) {
		if side == 1 {
			c += 'a' - 'A'
		}
		if !containsByte(string(h), c) {
			h = append(h, c)
		}
	}
	cs, sc := &f.ToServer, &f.ToClient
	if cs.Packets == 0 && sc.Packets == 0 {
		return ""
	}
	if cs.FlagCounts.SYN > 0 {
		add(0, 'S')
	} else if cs.FlagCounts.SYNACK > 0 {
		add(0, 'H')
	}
	if sc.FlagCounts.SYNACK > 0 {
		add(1, 'H')
	} else if sc.FlagCounts.SYN > 0 {
		add(1, 'S')
	}
	for side, d := range [2]*event.DirectionStats{cs, sc} {
		if d.FlagCounts.ACK > 0 {
			add(side, 'A')
		}
		if d.PayloadBytes > 0 {
			add(side, 'D')
		}
	}
	for side, d := range [2]*event.DirectionStats{cs, sc} {
		if d.FlagCounts.FIN > 0 {
			add(side, 'F')
		}
	}
	for side, d := range [2]*event.DirectionStats{cs, sc} {
		if d.FlagCounts.RST > 0 {
			add(side, 'R')
		}
	}
	return string(h)
}

// packet is TCPSessionAdapter::UpdateStateMachine for one segment from
// side.
func (s *tcpSim) packet(side int, seg segment) {
	e, peer := &s.ep[side], &s.ep[1-side]
	switch e.state {
	case tcpInactive:
		s.inactive(side, seg)
	case tcpSynSent, tcpSynAckSent:
		// UpdateSYN_SentState
		if seg.fin {
			e.set(tcpClosed)
		}
		if seg.rst {
			e.set(tcpReset)
		}
	case tcpEstablished, tcpPartial:
		// UpdateEstablishedState
		if seg.syn && e.state == tcpPartial && peer.state == tcpInactive && !seg.ack {
			e.set(tcpSynSent)
		}
		if seg.fin && !seg.rst {
			e.set(tcpClosed)
			if peer.state == tcpReset && peer.prev == tcpClosed {
				// The peer's FIN and RST were a normal close.
				peer.set(tcpClosed)
			}
		}
		if seg.rst {
			e.set(tcpReset)
		}
	case tcpClosed:
		// UpdateClosedState
		if seg.rst && peer.state != tcpClosed {
			e.set(tcpReset)
		}
	case tcpReset:
		// UpdateResetState changes nothing.
	}
}

// inactive is TCPSessionAdapter::UpdateInactiveState.
func (s *tcpSim) inactive(side int, seg segment) {
	isOrig := side == s.orig
	e, peer := &s.ep[side], &s.ep[1-side]
	if seg.syn {
		if isOrig {
			if seg.ack {
				e.set(tcpSynAckSent)
			} else {
				e.set(tcpSynSent)
			}
		} else {
			if !seg.ack && peer.state == tcpSynAckSent {
				// A SYN/SYN-ACK reversal: the SYN-ACK was captured
				// before the SYN it answers. Zeek's sequence number test
				// (the SYN's seq equals the start the SYN-ACK's ack
				// implied) always holds here, as the endpoint's start
				// sequence was just taken from this very SYN.
				s.flip()
				peer.set(tcpEstablished)
			}
			if peer.state == tcpSynSent {
				peer.set(tcpEstablished)
			}
			e.set(tcpEstablished)
		}
	}
	if seg.fin {
		e.set(tcpClosed)
	}
	if seg.rst {
		e.set(tcpReset)
	}
	if e.state == tcpInactive { // no control flags changed the state
		switch {
		case side != s.orig && !seg.data && peer.state == tcpSynSent:
			// An ACK of the SYN ahead of the SYN-ACK: not partial.
		case seg.ack && peer.state == tcpEstablished:
			// The SYN was missed; the SYN-ACK and this ACK establish.
			e.set(tcpEstablished)
		default:
			e.set(tcpPartial)
		}
	}
}

// connState is conn_state() of base/protocols/conn/main.zeek for TCP.
func (s *tcpSim) connState(f *event.Flow) string {
	os, rs := s.ep[s.orig].state, s.ep[1-s.orig].state
	origSize, respSize := f.ToServer.PayloadBytes, f.ToClient.PayloadBytes
	if s.flipped() {
		origSize, respSize = respSize, origSize
	}
	oInactive := os == tcpInactive || os == tcpPartial
	rInactive := rs == tcpInactive || rs == tcpPartial
	switch {
	case rs == tcpReset:
		switch {
		case os == tcpSynSent || os == tcpSynAckSent || os == tcpReset && origSize == 0 && respSize == 0:
			return "REJ"
		case oInactive:
			return "RSTRH"
		default:
			return "RSTR"
		}
	case os == tcpReset:
		if rInactive {
			if rstos0(string(s.hist)) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == tcpClosed && os == tcpClosed:
		return "SF"
	case os == tcpClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == tcpClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == tcpSynSent && rs == tcpInactive:
		return "S0"
	case os == tcpEstablished && rs == tcpEstablished:
		return "S1"
	}
	return "OTH"
}

// rstos0 is Zeek's /\^?S[^HAFGIQ]*R.*/ == history: an exact match.
func rstos0(h string) bool {
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for i := 1; i < len(h); i++ {
		switch h[i] {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}
