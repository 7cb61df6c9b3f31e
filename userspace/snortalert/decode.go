package snortalert

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// IP protocol numbers Snort's IPv6 decoder treats as extension headers
// (decode.c DecodeIPV6Extensions).
const (
	protoHopOpts  = 0
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDstOpts  = 60
)

// maxIP6Extensions is Snort's default max_ip6_extensions.
const maxIP6Extensions = 8

// view is the packet as Snort's decoder presents it to the loggers: the
// values of its GET_IPH_* macros and the bytes its header pointers see.
// It is built from the kernel's header fields and refined from the
// captured frame when there is one.
type view struct {
	v6       bool
	proto    uint8  // GET_IPH_PROTO: for IPv6 the last next-header Snort reached
	id       uint32 // GET_IPH_ID
	hlen     uint32 // IP header length in bytes (IpLen)
	dgmLen   uint32 // GET_IP_DGMLEN
	off      uint16 // GET_IPH_OFF in host order: RB/DF/MF are its top bits
	frag     bool   // p->frag_flag
	fragOff  uint16 // p->frag_offset, in 8-byte units
	fragSize int64  // GET_IP_PAYLEN

	eth    []byte // the outer Ethernet header, when Data decodes
	ipOpts []byte // IPv4 options, when Data decodes
	l4     []byte // captured transport bytes; nil when Data does not reach them
	l4Len  int    // transport length by the IP header (with l4)

	icmpType, icmpCode uint8 // the kernel's, for ICMP without the frame
}

// newView builds the view of p.
func newView(p *event.Packet) view {
	var v view
	v.v6 = isV6(p)
	v.proto = p.Proto
	v.id = uint32(p.IPID)
	v.dgmLen = uint32(p.IPLen)
	v.icmpType, v.icmpCode = p.ICMPType, p.ICMPCode
	if v.v6 {
		// ip6_ret_hlen: always the fixed header, 40 bytes.
		v.hlen = 40
		v.frag = p.Fragment
		v.fragOff = p.FragOffset & 0x1fff
		v.fragSize = int64(p.IPLen) - 40
	} else {
		v.hlen = uint32(p.IPHeaderLen)
		v.off = uint16(p.IPFlags&7)<<13 | p.FragOffset&0x1fff
		v.fragOff = p.FragOffset & 0x1fff
		v.frag = p.IPFlags&event.IPFlagMF != 0 || v.fragOff != 0 || p.Fragment
		v.fragSize = int64(p.IPLen) - int64(p.IPHeaderLen)
	}
	if len(p.Data) > 0 {
		v.fromFrame(p.Data)
	}
	return v
}

func isV6(p *event.Packet) bool {
	if p.Src.IP.IsValid() {
		return !p.Src.IP.Is4()
	}
	return p.Dst.IP.IsValid() && !p.Dst.IP.Is4()
}

func isVLAN(t layers.EthernetType) bool {
	return t == layers.EthernetTypeDot1Q || t == layers.EthernetTypeQinQ || t == 0x9100
}

// fromFrame refines v from the captured frame, Ethernet on, with up to
// three VLAN tags as the kernel parses them. A frame that does not decode
// to an IP header of v's family is ignored.
func (v *view) fromFrame(data []byte) {
	var eth layers.Ethernet
	if eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		return
	}
	et, rest := eth.EthernetType, eth.Payload
	for i := 0; i < 3 && isVLAN(et); i++ {
		var tag layers.Dot1Q
		if tag.DecodeFromBytes(rest, gopacket.NilDecodeFeedback) != nil {
			return
		}
		et, rest = tag.Type, tag.Payload
	}
	switch {
	case et == layers.EthernetTypeIPv4 && !v.v6:
		if !v.fromIPv4(rest) {
			return
		}
	case et == layers.EthernetTypeIPv6 && v.v6:
		if !v.fromIPv6(rest) {
			return
		}
	default:
		return
	}
	v.eth = eth.Contents
}

func (v *view) fromIPv4(b []byte) bool {
	if len(b) < 20 || b[0]>>4 != 4 {
		return false
	}
	ihl := int(b[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || ihl > len(b) || tot < ihl {
		return false
	}
	v.ipOpts = b[20:ihl]
	if v.frag {
		return true
	}
	v.l4 = b[ihl:min(tot, len(b))]
	v.l4Len = tot - ihl
	return true
}

// fromIPv6 walks the extension headers as Snort's DecodeIPV6Extensions
// and DecodeIPV6Options do, which decides the protocol Snort names, the
// ID and flags it prints (read from the fragment header, or from the
// first extension header when there is none) and whether it sees a
// fragment.
func (v *view) fromIPv6(b []byte) bool {
	if len(b) < 40 || b[0]>>4 != 6 {
		return false
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	rest := b[40:min(40+plen, len(b))] // captured
	restLen := plen                    // by the header
	var first, fragHdr []byte
	count := 0
	frag := false
	var fragOff uint16
	stop := false
	for !stop {
		v.proto = next // DecodeIPV6Extensions: p->ip6h->next = next
		switch next {
		case protoHopOpts, protoDstOpts, protoRouting, protoFragment, protoAH:
		default:
			v.l4, v.l4Len = rest, restLen
			stop = true
			continue
		}
		// DecodeIPV6Options
		if restLen < 8 || count >= maxIP6Extensions || len(rest) < 8 {
			break
		}
		hdr := rest
		var hlen int
		switch next {
		case protoFragment:
			if restLen == 8 { // a zero-length fragment: not recorded
				stop = true
				continue
			}
			fragHdr = hdr
			offlg := binary.BigEndian.Uint16(hdr[2:4])
			fragOff = offlg >> 3
			if fragOff != 0 || offlg&1 != 0 {
				frag = true
			}
			hlen = 8
			if frag && (fragOff > 0 || hdr[0] != event.ProtoUDP) {
				// Decoding stops after the fragment header; the
				// protocol stays "fragment".
				if count == 0 {
					first = hdr
				}
				count++
				stop = true
				continue
			}
		case protoAH:
			hlen = 8 + int(hdr[1])<<2
		default:
			hlen = 8 + int(hdr[1])<<3
		}
		if count == 0 {
			first = hdr
		}
		count++
		if hlen > restLen || hlen > len(rest) {
			break
		}
		next, rest, restLen = hdr[0], rest[hlen:], restLen-hlen
	}
	if count > 0 {
		h := first
		if fragHdr != nil {
			h = fragHdr
		}
		v.id = binary.BigEndian.Uint32(h[4:8])
		v.off = binary.BigEndian.Uint16(h[2:4])
	} else {
		v.id, v.off = 0, 0
	}
	v.frag, v.fragOff = frag, fragOff
	v.fragSize = int64(plen)
	v.dgmLen = uint32(plen) + 40
	if v.frag {
		v.l4, v.l4Len = nil, 0
	}
	return true
}

// be16 and be32 read big-endian values, zero past the end of b.
func be16(b []byte, i int) uint16 {
	if i+2 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint16(b[i:])
}

func be32(b []byte, i int) uint32 {
	if i+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[i:])
}

func byteAt(b []byte, i int) byte {
	if i >= len(b) {
		return 0
	}
	return b[i]
}
