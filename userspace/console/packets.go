package console

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/sessions"
)

// Packet is one captured frame as the full-content view shows it: the
// lines `tcpdump -nn -v -S -X -tttt` prints for it (UTC), so the page
// reads like the seed's tcpdump output.
type Packet struct {
	Number  int
	Time    time.Time
	Summary string // the timestamp and IP header line
	Detail  string // the transport line (IPv4 -v puts it on its own line)
	Hex     string // -X: the IP packet in hex and ASCII
}

// decodePacket formats an Ethernet frame captured at t. Frames that are
// not IP get a line naming their EtherType and a hex dump of the frame.
func decodePacket(n int, t time.Time, frame []byte, origLen int) Packet {
	p := Packet{Number: n, Time: t}
	stamp := t.UTC().Format("2006-01-02 15:04:05.000000")
	etype, l3, ok := skipLinkLayer(frame)
	if !ok {
		p.Summary = fmt.Sprintf("%s [|ether], length %d", stamp, origLen)
		p.Hex = hexDump(frame)
		return p
	}
	switch {
	case etype == 0x0800 && len(l3) >= 20 && l3[0]>>4 == 4:
		p.Summary, p.Detail = formatIPv4(l3)
	case etype == 0x86dd && len(l3) >= 40 && l3[0]>>4 == 6:
		p.Summary = formatIPv6(l3)
	default:
		p.Summary = fmt.Sprintf("ethertype 0x%04x, length %d", etype, origLen)
		p.Hex = hexDump(frame)
		p.Summary = stamp + " " + p.Summary
		return p
	}
	p.Summary = stamp + " " + p.Summary
	p.Hex = hexDump(l3) // like tcpdump -X: from the IP header to the end of the capture, padding included
	return p
}

// skipLinkLayer returns the EtherType and payload of an Ethernet frame,
// past up to three VLAN tags (as the kernel program parses them).
func skipLinkLayer(b []byte) (uint16, []byte, bool) {
	if len(b) < 14 {
		return 0, nil, false
	}
	et, rest := binary.BigEndian.Uint16(b[12:14]), b[14:]
	for i := 0; i < 3 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++ {
		if len(rest) < 4 {
			return 0, nil, false
		}
		et, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
	}
	return et, rest, true
}

// ipProtoNames are the names tcpdump gives the protocols it decodes.
var ipProtoNames = map[uint8]string{1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMP6", 132: "SCTP"}

func protoLabel(p uint8) string {
	if n, ok := ipProtoNames[p]; ok {
		return n
	}
	return "unknown"
}

// formatIPv4 is tcpdump's ip_print with -v: the header in parentheses,
// then the transport on an indented line.
func formatIPv4(b []byte) (summary, detail string) {
	be := binary.BigEndian
	ihl := int(b[0]&0xf) * 4
	total := int(be.Uint16(b[2:4]))
	tos, id, off, ttl, proto := b[1], be.Uint16(b[4:6]), be.Uint16(b[6:8]), b[8], b[9]
	var s strings.Builder
	fmt.Fprintf(&s, "IP (tos 0x%x", tos)
	switch tos & 3 { // ECN, as tcpdump names it
	case 1:
		s.WriteString(",ECT(1)")
	case 2:
		s.WriteString(",ECT(0)")
	case 3:
		s.WriteString(",CE")
	}
	fmt.Fprintf(&s, ", ttl %d, id %d, offset %d, flags [%s], proto %s (%d), length %d", ttl, id, int(off&0x1fff)*8, ipv4Flags(off), protoLabel(proto), proto, total)
	if ihl > 20 && ihl <= len(b) {
		s.WriteString(", options (" + ipv4Options(b[20:ihl]) + ")")
	}
	s.WriteString(")")
	if ihl < 20 || ihl > len(b) {
		return s.String(), "[|ip]"
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	end := min(max(total, ihl), len(b))
	l4 := b[ihl:end]
	l4Len := total - ihl
	if off&0x1fff != 0 {
		return s.String(), fmt.Sprintf("%s > %s: ip-proto-%d", src, dst, proto)
	}
	pseudo := func(l4len int) uint32 {
		return sum16(b[12:20]) + uint32(proto) + uint32(l4len)
	}
	return s.String(), transport(src, dst, proto, l4, l4Len, pseudo, off&0x2000 != 0, false)
}

// ipOptionNames are tcpdump's names of IPv4 options.
var ipOptionNames = map[uint8]string{0: "EOL", 1: "NOP", 7: "RR", 68: "TS", 130: "security", 131: "LSRR", 137: "SSRR", 148: "RA"}

// ipv4Options names the options, as tcpdump does without their values.
func ipv4Options(o []byte) string {
	var parts []string
	for len(o) > 0 {
		name, ok := ipOptionNames[o[0]]
		if !ok {
			name = fmt.Sprintf("unknown %d", o[0])
		}
		parts = append(parts, name)
		if o[0] <= 1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			parts = append(parts, "[|ip]")
			break
		}
		o = o[o[1]:]
	}
	return strings.Join(parts, ",")
}

// ipv4Flags is tcpdump's rendering of the fragment flags: DF, + (MF),
// rsvd, or none.
func ipv4Flags(off uint16) string {
	var parts []string
	if off&0x8000 != 0 {
		parts = append(parts, "rsvd")
	}
	if off&0x4000 != 0 {
		parts = append(parts, "DF")
	}
	if off&0x2000 != 0 {
		parts = append(parts, "+")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// formatIPv6 is tcpdump's ip6_print with -v, transport on the same line.
// Extension headers are walked to reach the transport.
func formatIPv6(b []byte) string {
	be := binary.BigEndian
	flow := be.Uint32(b[0:4]) & 0xfffff
	class := uint8(be.Uint32(b[0:4]) >> 20)
	plen := int(be.Uint16(b[4:6]))
	next, hlim := b[6], b[7]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	var s strings.Builder
	s.WriteString("IP6 (")
	if class != 0 {
		fmt.Fprintf(&s, "class 0x%x, ", class)
	}
	if flow != 0 {
		fmt.Fprintf(&s, "flowlabel 0x%05x, ", flow)
	}
	fmt.Fprintf(&s, "hlim %d, next-header %s (%d) payload length: %d) ", hlim, protoLabel(next), next, plen)
	rest := b[40:min(40+plen, len(b))]
	restLen := plen
	for i := 0; i < 8; i++ {
		var n int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 2 {
				return s.String() + fmt.Sprintf("%s > %s: [|ip6]", src, dst)
			}
			n = (int(rest[1]) + 1) * 8
		case 44: // fragment
			if len(rest) < 8 {
				return s.String() + fmt.Sprintf("%s > %s: [|frag]", src, dst)
			}
			if be.Uint16(rest[2:4])&0xfff8 != 0 {
				return s.String() + fmt.Sprintf("%s > %s: frag (%d|%d)", src, dst, be.Uint16(rest[2:4])&0xfff8, restLen-8)
			}
			n = 8
		case 51: // AH
			if len(rest) < 2 {
				return s.String() + fmt.Sprintf("%s > %s: [|ah]", src, dst)
			}
			n = (int(rest[1]) + 2) * 4
		default:
			pseudo := func(l4len int) uint32 {
				return sum16(b[8:40]) + uint32(next) + uint32(l4len)
			}
			return s.String() + transport(src, dst, next, rest, restLen, pseudo, false, true)
		}
		if n > len(rest) {
			return s.String() + fmt.Sprintf("%s > %s: [|ip6]", src, dst)
		}
		next, rest, restLen = rest[0], rest[n:], restLen-n
	}
	return s.String() + fmt.Sprintf("%s > %s: [|ip6]", src, dst)
}

// transport formats the TCP, UDP or ICMP part. l4 is what was captured,
// l4Len the length by the IP header; pseudo sums the pseudo-header for
// the checksum check (only done when the whole segment was captured).
func transport(src, dst netip.Addr, proto uint8, l4 []byte, l4Len int, pseudo func(int) uint32, moreFragments, v6 bool) string {
	switch proto {
	case 6:
		return formatTCP(src, dst, l4, l4Len, pseudo, moreFragments)
	case 17:
		if len(l4) < 8 {
			return fmt.Sprintf("%s > %s: [|udp]", src, dst)
		}
		sp, dp := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		ulen := int(binary.BigEndian.Uint16(l4[4:6]))
		sum := ""
		// tcpdump -v checks UDP checksums of IPv6 only (IPv4 at -vv).
		if v6 && ulen >= 8 && len(l4) >= ulen {
			field := binary.BigEndian.Uint16(l4[6:8])
			if c := checksum(pseudo(ulen), l4[:ulen]); c == 0 {
				sum = "[udp sum ok] "
			} else {
				sum = fmt.Sprintf("[bad udp cksum 0x%04x -> 0x%04x!] ", field, shouldBe(field, c))
			}
		}
		return fmt.Sprintf("%s.%d > %s.%d: %sUDP, length %d", src, sp, dst, dp, sum, max(ulen-8, 0))
	case 1, 58:
		return formatICMP(src, dst, proto, l4, l4Len)
	}
	return fmt.Sprintf("%s > %s: ip-proto-%d %d", src, dst, proto, l4Len)
}

// tcpFlagLetters are tcpdump's flag letters in its order.
var tcpFlagLetters = [...]struct {
	bit    uint8
	letter byte
}{{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}}

func tcpdumpFlags(fl uint8) string {
	var b []byte
	for _, f := range tcpFlagLetters {
		if fl&f.bit != 0 {
			b = append(b, f.letter)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// formatTCP is tcpdump's tcp_print with -v -S: absolute sequence numbers,
// the checksum verified.
func formatTCP(src, dst netip.Addr, b []byte, l4Len int, pseudo func(int) uint32, moreFragments bool) string {
	be := binary.BigEndian
	if len(b) < 20 {
		return fmt.Sprintf("%s > %s: [|tcp]", src, dst)
	}
	sp, dp := be.Uint16(b[0:2]), be.Uint16(b[2:4])
	seq, ack := be.Uint32(b[4:8]), be.Uint32(b[8:12])
	hlen := int(b[12]>>4) * 4
	flags := b[13]
	win, sum, urp := be.Uint16(b[14:16]), be.Uint16(b[16:18]), be.Uint16(b[18:20])
	var s strings.Builder
	fmt.Fprintf(&s, "%s.%d > %s.%d: Flags [%s]", src, sp, dst, dp, tcpdumpFlags(flags))
	if hlen < 20 {
		fmt.Fprintf(&s, ", bad hdr length %d - too short, < 20", hlen)
		return s.String()
	}
	if len(b) >= l4Len && !moreFragments {
		if c := checksum(pseudo(l4Len), b[:l4Len]); c == 0 {
			fmt.Fprintf(&s, ", cksum 0x%04x (correct)", sum)
		} else {
			fmt.Fprintf(&s, ", cksum 0x%04x (incorrect -> 0x%04x)", sum, shouldBe(sum, c))
		}
	}
	length := l4Len - hlen
	if length > 0 || flags&0x07 != 0 { // data, SYN, FIN or RST
		fmt.Fprintf(&s, ", seq %d", seq)
		if length > 0 {
			fmt.Fprintf(&s, ":%d", seq+uint32(length))
		}
	}
	if flags&0x10 != 0 {
		fmt.Fprintf(&s, ", ack %d", ack)
	}
	fmt.Fprintf(&s, ", win %d", win)
	if flags&0x20 != 0 {
		fmt.Fprintf(&s, ", urg %d", urp)
	}
	if hlen > 20 && hlen <= len(b) {
		s.WriteString(", options [" + tcpOptions(b[20:hlen]) + "]")
	}
	fmt.Fprintf(&s, ", length %d", max(length, 0))
	return s.String()
}

// tcpOptions names options as tcpdump does.
func tcpOptions(o []byte) string {
	var parts []string
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 {
			parts = append(parts, "eol")
			break
		}
		if kind == 1 {
			parts = append(parts, "nop")
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			parts = append(parts, "[|tcp]")
			break
		}
		l, v := int(o[1]), o[2:o[1]]
		switch {
		case kind == 2 && l == 4:
			parts = append(parts, fmt.Sprintf("mss %d", binary.BigEndian.Uint16(v)))
		case kind == 3 && l == 3:
			parts = append(parts, fmt.Sprintf("wscale %d", v[0]))
		case kind == 4 && l == 2:
			parts = append(parts, "sackOK")
		case kind == 5 && (l-2)%8 == 0:
			sack := fmt.Sprintf("sack %d", (l-2)/8)
			for i := 0; i+8 <= len(v); i += 8 {
				sack += fmt.Sprintf(" {%d:%d}", binary.BigEndian.Uint32(v[i:]), binary.BigEndian.Uint32(v[i+4:]))
			}
			parts = append(parts, sack)
		case kind == 8 && l == 10:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[4:8])))
		default:
			parts = append(parts, fmt.Sprintf("unknown-%d", kind))
		}
		o = o[l:]
	}
	return strings.Join(parts, ",")
}

// icmpTypes are the ICMP and ICMPv6 messages named in the summary line.
var icmpTypes = map[uint8]map[uint8]string{
	1:  {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded", 13: "time stamp request", 14: "time stamp reply"},
	58: {1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 128: "echo request", 129: "echo reply", 133: "router solicitation", 134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement"},
}

func formatICMP(src, dst netip.Addr, proto uint8, b []byte, l4Len int) string {
	name := "ICMP"
	if proto == 58 {
		name = "ICMP6"
	}
	if len(b) < 4 {
		return fmt.Sprintf("%s > %s: [|%s]", src, dst, strings.ToLower(name))
	}
	typ, code := b[0], b[1]
	what, ok := icmpTypes[proto][typ]
	if !ok {
		what = fmt.Sprintf("type %d", typ)
	}
	if proto == 1 && typ == 3 && len(b) >= 8+20 && b[8]>>4 == 4 {
		return fmt.Sprintf("%s > %s: ICMP %s, length %d", src, dst, unreachable(code, b[8:]), l4Len)
	}
	if echo := (proto == 1 && (typ == 0 || typ == 8)) || (proto == 58 && (typ == 128 || typ == 129)); echo && len(b) >= 8 {
		return fmt.Sprintf("%s > %s: %s %s, id %d, seq %d, length %d", src, dst, name, what, binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8]), l4Len)
	}
	return fmt.Sprintf("%s > %s: %s %s, code %d, length %d", src, dst, name, what, code, l4Len)
}

// unreachable describes an ICMP destination unreachable from the IPv4
// header it quotes, in tcpdump's words for the common codes.
func unreachable(code uint8, q []byte) string {
	dst := netip.AddrFrom4([4]byte(q[16:20]))
	proto := q[9]
	ihl := int(q[0]&0xf) * 4
	switch code {
	case 0:
		return fmt.Sprintf("net %s unreachable", dst)
	case 1:
		return fmt.Sprintf("host %s unreachable", dst)
	case 2:
		return fmt.Sprintf("%s protocol %d unreachable", dst, proto)
	case 3:
		if ihl >= 20 && len(q) >= ihl+4 {
			port := binary.BigEndian.Uint16(q[ihl+2 : ihl+4])
			switch proto {
			case 6:
				return fmt.Sprintf("%s tcp port %d unreachable", dst, port)
			case 17:
				return fmt.Sprintf("%s udp port %d unreachable", dst, port)
			}
			return fmt.Sprintf("%s protocol %d port %d unreachable", dst, proto, port)
		}
	}
	return fmt.Sprintf("%s unreachable, code %d", dst, code)
}

// sum16 adds b as big-endian 16-bit words (one's complement partial sum).
func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

// checksum folds the Internet checksum of pseudo plus b: 0 when correct.
func checksum(pseudo uint32, b []byte) uint16 {
	s := pseudo + sum16(b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// shouldBe is tcpdump's in_cksum_shouldbe: the checksum field value that
// would have made the sum come out right.
func shouldBe(field, computed uint16) uint16 {
	s := uint32(^field&0xffff) + uint32(^computed&0xffff)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// hexDump is tcpdump -X: offset, 16 bytes in groups of two, and their
// printable ASCII.
func hexDump(b []byte) string {
	var s strings.Builder
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		if off > 0 {
			s.WriteByte('\n')
		}
		fmt.Fprintf(&s, "0x%04x: ", off)
		hex := 0
		for i := 0; i < len(line); i += 2 {
			if i+1 < len(line) {
				fmt.Fprintf(&s, " %02x%02x", line[i], line[i+1])
			} else {
				fmt.Fprintf(&s, " %02x", line[i])
				hex -= 2
			}
			hex += 5
		}
		s.WriteString(strings.Repeat(" ", 40-hex))
		s.WriteString("  ")
		for _, c := range line {
			if c > 0x20 && c < 0x7f { // tcpdump prints a space as '.' too
				s.WriteByte(c)
			} else {
				s.WriteByte('.')
			}
		}
	}
	return s.String()
}

// HeaderView is the alert packet as Sguil's packet pane shows it (the
// backscatter seed's "IPVer=4 hlen=5 ... Flags=*****R** ... Payload:").
type HeaderView struct {
	IP      string // IPVer=4 hlen=5 tos=0 dlen=40 ID=2644 flags=2 offset=0 ttl=64 chksum=58655
	Proto   string // Protocol: 6 sport=1024 -> dport=6667
	L4      string // Seq=... Flags=*****R** ...
	Payload string // hex and ASCII, or "None."
}

// sguilView decodes the frame of an alert for the Sguil pane. Sguil's
// pane printed TCP's urgent pointer and checksum swapped (the seed shows
// urp=54297 chksum=0 for a RST whose checksum is 0xd419); they are shown
// the right way round here.
func sguilView(frame []byte) (HeaderView, bool) {
	be := binary.BigEndian
	etype, l3, ok := skipLinkLayer(frame)
	if !ok {
		return HeaderView{}, false
	}
	var v HeaderView
	var proto uint8
	var l4 []byte
	switch {
	case etype == 0x0800 && len(l3) >= 20 && l3[0]>>4 == 4:
		ihl := int(l3[0]&0xf) * 4
		if ihl < 20 || ihl > len(l3) {
			return HeaderView{}, false
		}
		off := be.Uint16(l3[6:8])
		v.IP = fmt.Sprintf("IPVer=4 hlen=%d tos=%d dlen=%d ID=%d flags=%d offset=%d ttl=%d chksum=%d",
			ihl/4, l3[1], be.Uint16(l3[2:4]), be.Uint16(l3[4:6]), off>>13, off&0x1fff, l3[8], be.Uint16(l3[10:12]))
		proto = l3[9]
		if off&0x1fff == 0 {
			l4 = l3[ihl:min(len(l3), max(int(be.Uint16(l3[2:4])), ihl))]
		}
	case etype == 0x86dd && len(l3) >= 40 && l3[0]>>4 == 6:
		v.IP = fmt.Sprintf("IPVer=6 class=%d flowlabel=%d plen=%d next=%d hlim=%d",
			uint8(be.Uint32(l3[0:4])>>20), be.Uint32(l3[0:4])&0xfffff, be.Uint16(l3[4:6]), l3[6], l3[7])
		proto = l3[6]
		l4 = l3[40:min(len(l3), 40+int(be.Uint16(l3[4:6])))]
	default:
		return HeaderView{}, false
	}
	var payload []byte
	switch {
	case proto == 6 && len(l4) >= 20:
		hlen := int(l4[12]>>4) * 4
		v.Proto = fmt.Sprintf("Protocol: 6 sport=%d -> dport=%d", be.Uint16(l4[0:2]), be.Uint16(l4[2:4]))
		v.L4 = fmt.Sprintf("Seq=%d Ack=%d Off=%d Res=%d Flags=%s Win=%d urp=%d chksum=%d",
			be.Uint32(l4[4:8]), be.Uint32(l4[8:12]), hlen/4, l4[12]&0xf, sessions.FlagString(l4[13]),
			be.Uint16(l4[14:16]), be.Uint16(l4[18:20]), be.Uint16(l4[16:18]))
		if hlen >= 20 && hlen <= len(l4) {
			payload = l4[hlen:]
		}
	case proto == 17 && len(l4) >= 8:
		v.Proto = fmt.Sprintf("Protocol: 17 sport=%d -> dport=%d", be.Uint16(l4[0:2]), be.Uint16(l4[2:4]))
		v.L4 = fmt.Sprintf("len=%d chksum=%d", be.Uint16(l4[4:6]), be.Uint16(l4[6:8]))
		payload = l4[8:]
	case (proto == 1 || proto == 58) && len(l4) >= 4:
		v.Proto = fmt.Sprintf("Protocol: %d", proto)
		v.L4 = fmt.Sprintf("Type=%d Code=%d chksum=%d", l4[0], l4[1], be.Uint16(l4[2:4]))
		payload = l4[4:]
	default:
		v.Proto = fmt.Sprintf("Protocol: %d", proto)
		payload = l4
	}
	v.Payload = "None."
	if len(payload) > 0 {
		v.Payload = hexDump(payload)
	}
	return v, true
}
