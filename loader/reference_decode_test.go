package loader

// The reference: an independent userspace model of the kernel datapath's
// parsing (here) and matching (reference_match_test.go), built on
// gopacket. The differential test runs every frame through both and
// requires the same answer. It exists for the tests only.

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// refVerdict is what the datapath makes of a frame.
type refVerdict int

const (
	refIP refVerdict = iota // an IP packet: a flow, or a later fragment
	refNonIP
	refBadL2
	refBadVLAN
	refBadL3
	refBadIHL
	refBadIPLen
	refBadIPv6Ext
	refBadL4
	refBadTCPDoff
	refBadEncap
)

var refVerdictNames = [...]string{"ip", "non-ip", "malformed_l2", "malformed_vlan", "malformed_l3",
	"malformed_ihl", "malformed_ip_len", "malformed_ipv6_ext", "malformed_l4", "malformed_tcp_doff", "malformed_encap"}

func (v refVerdict) String() string { return refVerdictNames[v] }

// refKey is a canonical flow key, laid out as the kernel's.
type refKey struct {
	AddrLo, AddrHi [16]byte
	PortLo, PortHi uint16
	VLAN           [3]uint16
	Proto          uint8
	Family         uint8 // 4 or 6
}

// refResult is the reference decode of one frame.
type refResult struct {
	Verdict  refVerdict
	Key      refKey
	Side     uint8 // sender: 0 = lo, 1 = hi
	Src, Dst netip.Addr
	Proto    uint8
	Fragment bool // a fragment after the first
	L3Len    uint64
	Payload  uint64
	TCPFlags uint8
	HasL4    bool
	ICMPType uint8
	ICMPCode uint8
	// SPort, DPort are the ports in packet order; FirstFrag marks a
	// datagram's first fragment (more follow, offset 0).
	SPort, DPort uint16
	FirstFrag    bool
	// Tunneled: the packet came through a tunnel whose outer header
	// carried OuterSrc and OuterDst (the innermost tunnel's).
	Tunneled           bool
	OuterSrc, OuterDst netip.Addr
}

const refMaxExtHeaders = 8

// refDecode parses an Ethernet frame as the kernel program does: the
// plain parse, then the encapsulations when it found no IP or an IP
// packet that may carry a tunnel (reference_decap_test.go).
func refDecode(frame []byte) refResult {
	r := refDecodePlain(frame)
	if r.Verdict == refNonIP || r.Verdict == refIP && refMayBeTunnel(r) {
		if d, ok := refDecap(frame, r); ok {
			return d
		}
	}
	return r
}

// refDecodePlain parses Ethernet, up to three VLAN tags, and IP.
func refDecodePlain(frame []byte) refResult {
	var r refResult
	var eth layers.Ethernet
	if len(frame) < 14 || eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback) != nil {
		r.Verdict = refBadL2
		return r
	}
	et := eth.EthernetType
	rest := eth.Payload
	for i := 0; i < 3 && refIsVLAN(et); i++ {
		var tag layers.Dot1Q
		if len(rest) < 4 || tag.DecodeFromBytes(rest, gopacket.NilDecodeFeedback) != nil {
			r.Verdict = refBadVLAN
			return r
		}
		r.Key.VLAN[i] = tag.VLANIdentifier
		et = tag.Type
		rest = tag.Payload
	}
	if refIsVLAN(et) {
		r.Verdict = refBadVLAN
		return r
	}
	switch et {
	case layers.EthernetTypeIPv4:
		return refDecode4(rest, r)
	case layers.EthernetTypeIPv6:
		return refDecode6(rest, r)
	}
	r.Verdict = refNonIP
	return r
}

func refIsVLAN(et layers.EthernetType) bool {
	return et == layers.EthernetTypeDot1Q || et == layers.EthernetTypeQinQ || et == 0x9100
}

func refDecode4(b []byte, r refResult) refResult {
	if len(b) < 20 || b[0]>>4 != 4 {
		r.Verdict = refBadL3
		return r
	}
	ihl := int(b[0]&0xf) * 4
	if ihl < 20 {
		r.Verdict = refBadIHL
		return r
	}
	if ihl > len(b) {
		r.Verdict = refBadL3
		return r
	}
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if tot == 0 {
		tot = len(b) // captured before segmentation offload: the frame says
	}
	if tot < ihl || tot > len(b) {
		r.Verdict = refBadIPLen
		return r
	}
	r.Key.Family = 4
	r.Src = netip.AddrFrom4([4]byte(b[12:16]))
	r.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	r.Proto = b[9]
	r.L3Len = uint64(tot)
	frag := binary.BigEndian.Uint16(b[6:8])
	r.Fragment = frag&0x1fff != 0
	r.FirstFrag = frag&0x3fff == 0x2000
	return refL4(b[ihl:tot], r)
}

func refDecode6(b []byte, r refResult) refResult {
	if len(b) < 40 || b[0]>>4 != 6 {
		r.Verdict = refBadL3
		return r
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		plen = len(b) - 40 // a jumbogram or an offloaded segment: the frame says
	}
	if 40+plen > len(b) {
		r.Verdict = refBadIPLen
		return r
	}
	// The fixed header is read directly: gopacket's IPv6 decoder also
	// validates hop-by-hop options (for jumbograms), which the sensor does
	// not. The extension chain is walked with gopacket's extension layers
	// below, under the kernel's limits.
	r.Key.Family = 6
	r.Src = netip.AddrFrom16([16]byte(b[8:24]))
	r.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	r.L3Len = uint64(40 + plen)
	rest := b[40 : 40+plen]
	next := layers.IPProtocol(b[6])
	for i := 0; i < refMaxExtHeaders; i++ {
		switch next {
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
			if len(rest) < 4 {
				r.Verdict = refBadIPv6Ext
				return r
			}
			var ext layers.IPv6ExtensionSkipper
			n := (int(rest[1]) + 1) * 8
			if n > len(rest) || ext.DecodeFromBytes(rest, gopacket.NilDecodeFeedback) != nil {
				r.Verdict = refBadIPv6Ext
				return r
			}
			next, rest = ext.NextHeader, rest[n:]
		case layers.IPProtocolAH:
			if len(rest) < 4 {
				r.Verdict = refBadIPv6Ext
				return r
			}
			n := (int(rest[1]) + 2) * 4
			if n > len(rest) {
				r.Verdict = refBadIPv6Ext
				return r
			}
			next, rest = layers.IPProtocol(rest[0]), rest[n:]
		case layers.IPProtocolIPv6Fragment:
			var frag layers.IPv6Fragment
			if len(rest) < 8 || frag.DecodeFromBytes(rest, gopacket.NilDecodeFeedback) != nil {
				r.Verdict = refBadIPv6Ext
				return r
			}
			next, rest = frag.NextHeader, rest[8:]
			r.FirstFrag = frag.FragmentOffset == 0 && frag.MoreFragments
			if frag.FragmentOffset != 0 {
				r.Fragment = true
				r.Proto = uint8(next)
				return refL4(rest, r)
			}
		default:
			r.Proto = uint8(next)
			return refL4(rest, r)
		}
	}
	switch next {
	case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination,
		layers.IPProtocolAH, layers.IPProtocolIPv6Fragment:
		r.Verdict = refBadIPv6Ext
		return r
	}
	r.Proto = uint8(next)
	return refL4(rest, r)
}

// refL4 reads the transport header from the IP payload (padding excluded).
func refL4(b []byte, r refResult) refResult {
	if r.Fragment {
		r.Payload = uint64(len(b))
		return refFinish(r)
	}
	var hdr int
	// A first fragment too short for its L4 header is a flow without
	// ports, which its later fragments join.
	badL4 := func() refResult {
		if r.FirstFrag {
			// TCP's payload is its sequence space, unknown here.
			if r.Proto != uint8(layers.IPProtocolTCP) {
				r.Payload = uint64(len(b))
			}
			return refFinish(r)
		}
		r.Verdict = refBadL4
		return r
	}
	switch r.Proto {
	case uint8(layers.IPProtocolTCP):
		if len(b) < 20 {
			return badL4()
		}
		doff := int(b[12]>>4) * 4
		if doff < 20 {
			r.Verdict = refBadTCPDoff
			return r
		}
		var tcp layers.TCP
		if doff > len(b) || tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
			return badL4()
		}
		r.Key.PortLo, r.Key.PortHi = uint16(tcp.SrcPort), uint16(tcp.DstPort)
		r.TCPFlags = b[13]
		hdr = doff
	case uint8(layers.IPProtocolUDP):
		// The ports only: like the kernel, the reference does not judge
		// the UDP length field (gopacket rejects lengths below 8).
		if len(b) < 8 {
			return badL4()
		}
		r.Key.PortLo, r.Key.PortHi = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
		hdr = 8
	case uint8(layers.IPProtocolICMPv4), uint8(layers.IPProtocolICMPv6):
		if len(b) < 8 {
			return badL4()
		}
		r.ICMPType, r.ICMPCode = b[0], b[1]
		// Flows key ICMP by type and counterpart type (or code), as
		// Zeek, Suricata and Community ID do; the table is the address
		// family's, as the kernel picks it (ICMPv4 inside IPv6 takes
		// ICMPv6's).
		r.Key.PortLo, r.Key.PortHi = uint16(b[0]), uint16(b[1])
		if cp, ok := refICMPCounterpart(r.Key.Family == 4, b[0]); ok {
			r.Key.PortHi = uint16(cp)
		}
		hdr = 8
	default:
		r.Payload = uint64(len(b))
		return refFinish(r)
	}
	r.HasL4 = true
	r.Payload = uint64(len(b) - hdr)
	return refFinish(r)
}

// refICMPCounterpart is Zeek's table of ICMP request/reply pairs.
func refICMPCounterpart(v4 bool, typ uint8) (uint8, bool) {
	pairs := map[uint8]uint8{8: 0, 13: 14, 15: 16, 10: 9, 17: 18}
	if !v4 {
		pairs = map[uint8]uint8{128: 129, 133: 134, 135: 136, 130: 131, 139: 140, 144: 145}
	}
	for a, b := range pairs {
		if typ == a {
			return b, true
		}
		if typ == b {
			return a, true
		}
	}
	return 0, false
}

// refFinish orders the key canonically: the (address, port) that sorts lower first.
func refFinish(r refResult) refResult {
	r.Verdict = refIP
	sport, dport := r.Key.PortLo, r.Key.PortHi
	r.SPort, r.DPort = sport, dport
	var src, dst [16]byte
	copy(src[:], r.Src.AsSlice())
	copy(dst[:], r.Dst.AsSlice())
	r.Key.Proto = r.Proto
	c := bytes.Compare(src[:], dst[:])
	if c > 0 || c == 0 && sport > dport {
		r.Side = 1
		r.Key.AddrLo, r.Key.AddrHi = dst, src
		r.Key.PortLo, r.Key.PortHi = dport, sport
	} else {
		r.Key.AddrLo, r.Key.AddrHi = src, dst
		r.Key.PortLo, r.Key.PortHi = sport, dport
	}
	return r
}
