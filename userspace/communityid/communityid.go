// Package communityid computes Community ID v1 flow hashes, as specified
// by Corelight's community-id-spec and written by Zeek and Suricata in
// their `community_id` fields.
//
// A Community ID is "1:" followed by the base64 (standard alphabet, with
// padding) of the SHA-1 of
//
//	seed(2) . saddr(4|16) . daddr(4|16) . proto(1) . 0(1) . sport(2) . dport(2)
//
// in network byte order, where the endpoints are ordered so that the
// smaller address (then port) comes first, so both directions of a flow
// hash alike. The ports are left out for protocols that have none. For
// ICMP and ICMPv6 the ports are the type and, for types with a
// request/reply counterpart, the counterpart type, else the code; the
// "one-way" types (those without a counterpart) keep the packet's
// direction instead of being ordered.
package communityid

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers with special treatment.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// Prefix is the version tag every v1 Community ID starts with.
const Prefix = "1:"

// Len is the length of a v1 Community ID string: "1:" and 28 base64 characters.
const Len = len(Prefix) + 28

// Hash returns the Community ID v1 of a flow or packet.
//
// For TCP, UDP and SCTP, sport and dport are the ports. For ICMP (1) and
// ICMPv6 (58), sport and dport are the ICMP type and code, mapped as
// HashICMP does. For every other protocol the ports are ignored.
// src and dst must be of the same family; the empty string is returned
// otherwise (the spec allows an empty ID for what it does not cover).
func Hash(seed uint16, src, dst netip.Addr, sport, dport uint16, proto uint8) string {
	var buf [Len]byte
	b := Append(buf[:0], seed, src, dst, sport, dport, proto)
	return string(b)
}

// HashICMP returns the Community ID v1 of an ICMP (proto 1) or ICMPv6
// (proto 58) packet or flow from its first message's type and code.
func HashICMP(seed uint16, src, dst netip.Addr, typ, code uint8, proto uint8) string {
	return Hash(seed, src, dst, uint16(typ), uint16(code), proto)
}

// Append appends the Community ID of Hash to b, allocating nothing when b
// has room for Len more bytes. It appends nothing when src and dst are
// invalid or of different families.
func Append(b []byte, seed uint16, src, dst netip.Addr, sport, dport uint16, proto uint8) []byte {
	if !src.IsValid() || src.Is4() != dst.Is4() || src.Is6() != dst.Is6() {
		return b
	}
	hasPorts := true
	oneWay := false
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
	case protoICMP:
		sport, dport, oneWay = icmpPorts(icmp4Pairs, uint8(sport), uint8(dport))
	case protoICMPv6:
		sport, dport, oneWay = icmpPorts(icmp6Pairs, uint8(sport), uint8(dport))
	default:
		hasPorts = false
		sport, dport = 0, 0
	}

	if !oneWay && !less(src, dst, sport, dport) {
		src, dst = dst, src
		sport, dport = dport, sport
	}

	// seed . saddr . daddr . proto . pad . sport . dport: at most 40 bytes.
	var in [2 + 16 + 16 + 2 + 4]byte
	n := 0
	binary.BigEndian.PutUint16(in[n:], seed)
	n += 2
	n += copy(in[n:], src.AsSlice())
	n += copy(in[n:], dst.AsSlice())
	in[n] = proto
	in[n+1] = 0
	n += 2
	if hasPorts {
		binary.BigEndian.PutUint16(in[n:], sport)
		binary.BigEndian.PutUint16(in[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(in[:n])

	b = append(b, Prefix...)
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

// less reports whether the endpoint (a, ap) orders before (b, bp):
// addresses compare as big-endian byte strings, ports break ties.
func less(a, b netip.Addr, ap, bp uint16) bool {
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return ap < bp
}

// The request/reply type pairs of Zeek's ICMP4_counterpart and
// ICMP6_counterpart.
var (
	icmp4Pairs = [][2]uint8{
		{8, 0},   // echo request / reply
		{13, 14}, // timestamp request / reply
		{15, 16}, // information request / reply
		{10, 9},  // router solicitation / advertisement
		{17, 18}, // address mask request / reply
	}
	icmp6Pairs = [][2]uint8{
		{128, 129}, // echo request / reply
		{133, 134}, // router solicitation / advertisement
		{135, 136}, // neighbor solicitation / advertisement
		{130, 131}, // multicast listener query / report
		{139, 140}, // node information query / response
		{144, 145}, // home agent address discovery request / reply
	}
)

// icmpPorts maps an ICMP type and code to port equivalents, as Zeek
// does: a type of a request/reply pair pairs with its counterpart type,
// all others are one-way and use the code.
func icmpPorts(pairs [][2]uint8, typ, code uint8) (sport, dport uint16, oneWay bool) {
	for _, p := range pairs {
		switch typ {
		case p[0]:
			return uint16(typ), uint16(p[1]), false
		case p[1]:
			return uint16(typ), uint16(p[0]), false
		}
	}
	return uint16(typ), uint16(code), true
}
