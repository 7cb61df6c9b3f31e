package snortalert

import (
	"encoding/binary"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// ICMP types Snort's decoder and logger know (decode.h).
const (
	icmpEchoReply      = 0
	icmpDestUnreach    = 3
	icmpSourceQuench   = 4
	icmpRedirect       = 5
	icmpEcho           = 8
	icmpRouterAdvert   = 9
	icmpRouterSolicit  = 10
	icmpTimeExceeded   = 11
	icmpParamProb      = 12
	icmpTimestamp      = 13
	icmpTimestampReply = 14
	icmpInfoRequest    = 15
	icmpInfoReply      = 16
	icmpAddress        = 17
	icmpAddressReply   = 18
)

var unreachCodes = [...]string{
	"NET UNREACHABLE", "HOST UNREACHABLE", "PROTOCOL UNREACHABLE", "PORT UNREACHABLE",
	"", // 4: FRAGMENTATION NEEDED, printed with the MTU
	"SOURCE ROUTE FAILED", "NET UNKNOWN", "HOST UNKNOWN", "HOST ISOLATED",
	"ADMINISTRATIVELY PROHIBITED NETWORK FILTERED", "ADMINISTRATIVELY PROHIBITED HOST FILTERED",
	"NET UNREACHABLE FOR TOS", "HOST UNREACHABLE FOR TOS",
	"ADMINISTRATIVELY PROHIBITED,\nPACKET FILTERED", "PREC VIOLATION", "PREC CUTOFF",
}

var redirectCodes = [...]string{" NET", " HOST", " TOS NET", " TOS HOST"}

// icmpMinLen is the length decode.c DecodeICMP requires of each type; a
// shorter message leaves p->icmph NULL.
func icmpMinLen(t uint8) int {
	switch t {
	case icmpTimestamp, icmpTimestampReply:
		return 20
	case icmpAddress, icmpAddressReply:
		return 12
	case icmpSourceQuench, icmpDestUnreach, icmpRedirect, icmpTimeExceeded, icmpParamProb,
		icmpEchoReply, icmpEcho, icmpRouterAdvert, icmpRouterSolicit, icmpInfoRequest, icmpInfoReply:
		return 8
	}
	return 4
}

// appendICMP is log_text.c LogICMPHeader. Without the frame (v.l4 nil)
// the type, code and Snort's words for them are printed, and the values
// only the message holds (identifiers, MTU, gateway, the quoted
// datagram) are left out.
func appendICMP(b []byte, v *view, dataLink bool) []byte {
	if v.v6 {
		// Snort's IPv6 decoder does not decode ICMPv4 (protocol 1).
		return append(b, "ICMP header truncated\n"...)
	}
	m := v.l4
	have := m != nil
	var typ, code uint8
	if have {
		if v.l4Len < 4 || v.l4Len < icmpMinLen(byteAt(m, 0)) || len(m) < 2 {
			return append(b, "ICMP header truncated\n"...)
		}
		typ, code = m[0], m[1]
	} else {
		typ, code = v.icmpType, v.icmpCode
	}
	b = append(b, "Type:"...)
	b = appendUint(b, uint64(typ))
	b = append(b, "  Code:"...)
	b = appendUint(b, uint64(code))
	b = append(b, "  "...)
	switch typ {
	case icmpEchoReply:
		if have {
			b = appendIDSeq(b, m, "ID:", "  Seq:")
		}
		b = append(b, "ECHO REPLY"...)
	case icmpDestUnreach:
		b = append(b, "DESTINATION UNREACHABLE: "...)
		switch {
		case code == 4:
			b = append(b, "FRAGMENTATION NEEDED, DF SET"...)
			if have {
				b = append(b, "\nNEXT LINK MTU: "...)
				b = appendUint(b, uint64(be16(m, 6)))
			}
		case int(code) < len(unreachCodes):
			b = append(b, unreachCodes[code]...)
		default:
			b = append(b, "UNKNOWN"...)
		}
		b = appendEmbedded(b, v, dataLink)
	case icmpSourceQuench:
		b = append(b, "SOURCE QUENCH"...)
		b = appendEmbedded(b, v, dataLink)
	case icmpRedirect:
		b = append(b, "REDIRECT"...)
		if int(code) < len(redirectCodes) {
			b = append(b, redirectCodes[code]...)
		}
		if have {
			b = append(b, " NEW GW: "...)
			var gw [4]byte
			copy(gw[:], m[min(4, len(m)):min(8, len(m))])
			b = appendIPv4(b, gw[:])
		}
		b = appendEmbedded(b, v, dataLink)
	case icmpEcho:
		if have {
			b = appendIDSeq(b, m, "ID:", "   Seq:")
		}
		b = append(b, "ECHO"...)
	case icmpRouterAdvert:
		b = append(b, "ROUTER ADVERTISMENT: "...)
		if have {
			b = append(b, "Num addrs: "...)
			b = appendUint(b, uint64(byteAt(m, 4)))
			b = append(b, " Addr entry size: "...)
			b = appendUint(b, uint64(byteAt(m, 5)))
			b = append(b, " Lifetime: "...)
			b = appendUint(b, uint64(be16(m, 6)))
		}
	case icmpRouterSolicit:
		b = append(b, "ROUTER SOLICITATION"...)
	case icmpTimeExceeded:
		b = append(b, "TTL EXCEEDED"...)
		switch code {
		case 0:
			b = append(b, " IN TRANSIT"...)
		case 1:
			b = append(b, " TIME EXCEEDED IN FRAG REASSEMBLY"...)
		}
		b = appendEmbedded(b, v, dataLink)
	case icmpParamProb:
		b = append(b, "PARAMETER PROBLEM"...)
		switch code {
		case 0:
			b = append(b, ": BAD IP HEADER BYTE"...)
			if have {
				b = append(b, ' ')
				b = appendUint(b, uint64(byteAt(m, 4)))
			}
		case 1:
			b = append(b, ": OPTION MISSING"...)
		case 2:
			b = append(b, ": BAD LENGTH"...)
		}
		b = appendEmbedded(b, v, dataLink)
	case icmpTimestamp, icmpTimestampReply, icmpInfoRequest, icmpInfoReply, icmpAddress, icmpAddressReply:
		if have {
			b = appendIDSeq(b, m, "ID: ", "  Seq: ")
		}
		b = append(b, idSeqLabels[typ]...)
		if !have {
			break
		}
		switch typ {
		case icmpTimestampReply:
			// Snort prints the three times without ntohl: as a
			// little-endian (x86) host reads them.
			le := func(i int) uint64 {
				if i+4 > len(m) {
					return 0
				}
				return uint64(binary.LittleEndian.Uint32(m[i:]))
			}
			b = append(b, "\nOrig: "...)
			b = appendUint(b, le(8))
			b = append(b, " Rtime: "...)
			b = appendUint(b, le(12))
			b = append(b, "  Ttime: "...)
			b = appendUint(b, le(16))
		case icmpAddressReply:
			b = append(b, ": 0x"...)
			b = appendHexPad(b, uint64(be32(m, 8)), 8)
		}
	default:
		b = append(b, "UNKNOWN"...)
	}
	return append(b, '\n')
}

// idSeqLabels names the ICMP types Snort prints after their ID and Seq.
var idSeqLabels = map[uint8]string{
	icmpTimestamp:      "TIMESTAMP REQUEST",
	icmpTimestampReply: "TIMESTAMP REPLY:",
	icmpInfoRequest:    "INFO REQUEST",
	icmpInfoReply:      "INFO REPLY",
	icmpAddress:        "ADDRESS REQUEST",
	icmpAddressReply:   "ADDRESS REPLY",
}

// appendIDSeq writes the identifier and sequence number of an ICMP
// query, with the labels (and their spacing) Snort uses for its type,
// and two spaces after.
func appendIDSeq(b, m []byte, id, seq string) []byte {
	b = append(b, id...)
	b = appendUint(b, uint64(be16(m, 4)))
	b = append(b, seq...)
	b = appendUint(b, uint64(be16(m, 6)))
	return append(b, "  "...)
}

// appendEmbedded is log_text.c LogICMPEmbeddedIP over what decode.c
// DecodeICMPEmbeddedIP makes of an ICMP error's quoted datagram.
func appendEmbedded(b []byte, v *view, dataLink bool) []byte {
	if v.l4 == nil {
		return b
	}
	m := v.l4[min(8, len(v.l4)):]
	dsize := v.l4Len - 8
	if dsize < 20 || len(m) < 20 || m[0]>>4 != 4 || dsize < int(m[0]&0xf)*4 {
		return append(b, "\nORIGINAL DATAGRAM TRUNCATED"...)
	}
	hlen := int(m[0]&0xf) * 4
	proto := m[9]
	l4 := m[min(hlen, len(m)):]
	// The quoted transport header is decoded only from the first
	// fragment, and only when 8 bytes of it were quoted.
	decoded := be16(m, 6)&0x1fff == 0 && dsize-hlen >= 8
	var sp, dp uint16
	if decoded && (proto == event.ProtoTCP || proto == event.ProtoUDP) {
		sp, dp = be16(l4, 0), be16(l4, 2)
	}
	b = append(b, "\n** ORIGINAL DATAGRAM DUMP:\n"...)
	// LogIPHeader on the quoted header: never a fragment, no options.
	b = appendIPv4(b, m[12:16])
	withPorts := proto == event.ProtoTCP || proto == event.ProtoUDP
	if withPorts {
		b = append(b, ':')
		b = appendUint(b, uint64(sp))
	}
	b = append(b, " -> "...)
	b = appendIPv4(b, m[16:20])
	if withPorts {
		b = append(b, ':')
		b = appendUint(b, uint64(dp))
	}
	if dataLink {
		b = append(b, ' ')
	} else {
		b = append(b, '\n')
	}
	b = appendProto(b, proto)
	b = append(b, " TTL:"...)
	b = appendUint(b, uint64(m[8]))
	b = append(b, " TOS:0x"...)
	b = appendHex(b, uint64(m[1]))
	b = append(b, " ID:"...)
	b = appendUint(b, uint64(be16(m, 4)))
	b = append(b, " IpLen:"...)
	b = appendUint(b, uint64(hlen))
	b = append(b, " DgmLen:"...)
	b = appendUint(b, uint64(be16(m, 2)))
	b = appendFragBits(b, be16(m, 6))
	b = append(b, '\n')
	switch proto {
	case event.ProtoTCP:
		if decoded {
			b = append(b, "Seq: 0x"...)
			b = appendHex(b, uint64(be32(l4, 4)))
			b = append(b, '\n')
		}
	case event.ProtoUDP:
		if decoded {
			b = append(b, "Len: "...)
			b = appendInt(b, int64(be16(l4, 4))-8)
			b = append(b, "  Csum: "...)
			b = appendUint(b, uint64(be16(l4, 6)))
			b = append(b, '\n')
		}
	case event.ProtoICMP:
		if decoded {
			b = appendEmbeddedICMP(b, l4)
		}
	default:
		b = append(b, "Protocol: 0x"...)
		b = appendHex(b, uint64(proto))
		b = append(b, " (unknown or header truncated)"...)
	}
	if dsize-hlen > 8 {
		b = append(b, '(')
		b = appendInt(b, int64(dsize-hlen-8))
		b = append(b, " more bytes of original packet)\n"...)
	}
	return append(b, "** END OF DUMP"...)
}

// appendEmbeddedICMP is log_text.c LogEmbeddedICMPHeader.
func appendEmbeddedICMP(b []byte, h []byte) []byte {
	t := byteAt(h, 0)
	b = append(b, "Type: "...)
	b = appendUint(b, uint64(t))
	b = append(b, "  Code: "...)
	b = appendUint(b, uint64(byteAt(h, 1)))
	b = append(b, "  Csum: "...)
	b = appendUint(b, uint64(be16(h, 2)))
	switch t {
	case icmpParamProb:
		if byteAt(h, 1) == 0 {
			b = append(b, "  Ptr: "...)
			b = appendUint(b, uint64(byteAt(h, 4)))
		}
	case icmpEcho, icmpEchoReply, icmpTimestamp, icmpTimestampReply,
		icmpInfoRequest, icmpInfoReply, icmpAddress, icmpAddressReply:
		b = append(b, "  Id: "...)
		b = appendUint(b, uint64(be16(h, 4)))
		b = append(b, "  SeqNo: "...)
		b = appendUint(b, uint64(be16(h, 6)))
	case icmpRouterAdvert:
		b = append(b, "  Addrs: "...)
		b = appendUint(b, uint64(byteAt(h, 4)))
		b = append(b, "  Size: "...)
		b = appendUint(b, uint64(byteAt(h, 5)))
		b = append(b, "  Lifetime: "...)
		b = appendUint(b, uint64(be16(h, 6)))
	}
	return append(b, '\n')
}
