package loader

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Frame builders for encapsulations and tunnels: gopacket serializes the
// headers it has layers for (MPLS, PPPoE/PPP, GRE, ERSPAN II, VXLAN,
// Geneve); the rest (PBB, VN-Tag, E-Tag, NSH, ERSPAN I/III, Teredo's
// indicators) are written from their specifications' layouts.

// The inner conversation every tunnel case carries: a SYN to a listed
// C&C address, and its IPv6 twin.
const (
	innerSrc   = "10.1.0.1"
	innerDst   = "203.0.113.66"
	innerSrc6  = "2001:db8:1::1"
	innerDst6  = "2001:db8:bad::66"
	innerSport = 40000
	innerDport = 6667
	vtepA      = "198.51.100.1"
	vtepB      = "198.51.100.2"
	vtepA6     = "2001:db8:100::1"
	vtepB6     = "2001:db8:100::2"
)

// innerIP4 is the inner IPv4 packet (no link layer).
func innerIP4() []byte {
	return frameSpec{v4: &ip4{src: innerSrc, dst: innerDst, proto: 6},
		l4: tcpSeg{sport: innerSport, dport: innerDport, flags: event.TCPSyn}}.build()[14:]
}

// innerIP6 is the inner IPv6 packet (UDP, as Teredo carries).
func innerIP6() []byte {
	return frameSpec{v6: &ip6{src: innerSrc6, dst: innerDst6, proto: 17},
		l4: udpDgram{sport: innerSport, dport: innerDport, payload: []byte("hello")}}.build()[14:]
}

// innerEth is the inner packet as an Ethernet frame, with VLAN tags.
func innerEth(vlans ...vlanTag) []byte {
	return frameSpec{vlans: vlans, v4: &ip4{src: innerSrc, dst: innerDst, proto: 6},
		l4: tcpSeg{sport: innerSport, dport: innerDport, flags: event.TCPSyn}}.build()
}

// ethFrame is an Ethernet header of ethertype, VLAN tags, then payload.
func ethFrame(ethertype uint16, vlans []vlanTag, payload []byte) []byte {
	return frameSpec{vlans: vlans, ethertype: ethertype, raw: payload}.build()
}

// ser serializes gopacket layers, lengths fixed, then payload.
func ser(payload []byte, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	ls = append(ls, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// outer4 and outer6 wrap payload in an outer IP header.
func outer4(src, dst string, proto uint8, payload []byte) []byte {
	return (&ip4{src: src, dst: dst, proto: proto}).bytes(rawL4(payload))
}

func outer6(src, dst string, proto uint8, payload []byte) []byte {
	return (&ip6{src: src, dst: dst, proto: proto}).bytes(rawL4(payload))
}

func udpBytes(sport, dport uint16, payload []byte) []byte {
	return udpDgram{sport: sport, dport: dport, payload: payload}.bytes(netipZero, netipZero, 17)
}

func mplsLabel(label uint32, bottom bool) *layers.MPLS {
	return &layers.MPLS{Label: label, StackBottom: bottom, TTL: 64}
}

func pppoe(pppType layers.PPPType, payload []byte) []byte {
	return ser(payload, &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x1234},
		&layers.PPP{PPPType: pppType, HasPPTPHeader: false})
}

func gre(proto layers.EthernetType, key *uint32, seq bool, payload []byte) []byte {
	g := &layers.GRE{Protocol: proto, SeqPresent: seq, Seq: 7}
	if key != nil {
		g.KeyPresent, g.Key = true, *key
	}
	return ser(payload, g)
}

func erspan2(session uint16, mirrored []byte) []byte {
	return ser(mirrored, &layers.ERSPANII{Version: 1, SessionID: session, Index: 3})
}

// erspan3 is an ERSPAN type III header (version 2) with the optional
// platform subheader.
func erspan3(session uint16, subheader bool, mirrored []byte) []byte {
	b := make([]byte, 12)
	b[0] = 2 << 4
	binary.BigEndian.PutUint16(b[2:], session&0x3ff)
	binary.BigEndian.PutUint32(b[4:], 0x01020304) // timestamp
	if subheader {
		b[11] |= 1
		b = append(b, make([]byte, 8)...)
	}
	return append(b, mirrored...)
}

func vxlan(vni uint32, inner []byte) []byte {
	return ser(inner, &layers.VXLAN{ValidIDFlag: true, VNI: vni})
}

func geneve(vni uint32, proto layers.EthernetType, optWords int, inner []byte) []byte {
	b := make([]byte, 8+4*optWords)
	b[0] = uint8(optWords)
	binary.BigEndian.PutUint16(b[2:], uint16(proto))
	b[4], b[5], b[6] = uint8(vni>>16), uint8(vni>>8), uint8(vni)
	for i := 0; i < optWords; i += 2 { // options of one data word each
		o := b[8+4*i:]
		binary.BigEndian.PutUint16(o, 0x0102)
		o[2] = 0x80
		o[3] = 1
	}
	return append(b, inner...)
}

// pbb is an 802.1ah I-TAG (I-SID) and the customer's addresses.
func pbb(isid uint32, ethertype uint16, payload []byte) []byte {
	b := make([]byte, 18)
	binary.BigEndian.PutUint32(b, isid&0xffffff)
	copy(b[4:], macB)
	copy(b[10:], macA)
	binary.BigEndian.PutUint16(b[16:], ethertype)
	return append(b, payload...)
}

func vntag(ethertype uint16, payload []byte) []byte {
	b := []byte{0x80, 0x05, 0x00, 0x07, 0, 0}
	binary.BigEndian.PutUint16(b[4:], ethertype)
	return append(b, payload...)
}

func etag(ethertype uint16, payload []byte) []byte {
	b := []byte{0x00, 0x00, 0x10, 0x05, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[6:], ethertype)
	return append(b, payload...)
}

// nsh is an MD type 2 NSH header with no metadata: base and service path
// headers (2 words), next protocol np (1 IPv4, 2 IPv6, 3 Ethernet).
func nsh(np uint8, payload []byte) []byte {
	b := []byte{0x0f, 0xc2, 0x02, np, 0, 0, 1, 0xff}
	return append(b, payload...)
}

// teredo prefixes an origin indication to an IPv6 packet.
func teredoOrigin(ip6 []byte) []byte {
	return append([]byte{0, 0, 0x8d, 0x4b, 0x3f, 0x57, 0xfe, 0xcc}, ip6...)
}

var netipZero = netip.IPv4Unspecified()

// gopacketDecodes reports whether gopacket finds inner's TCP or UDP
// ports in frame: a check of the builders against an independent decoder.
func gopacketDecodes(frame []byte) (sport, dport uint16, ok bool) {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var tl gopacket.Layer
	for _, l := range p.Layers() {
		if l.LayerType() == layers.LayerTypeTCP || l.LayerType() == layers.LayerTypeUDP {
			tl = l // the innermost
		}
	}
	switch t := tl.(type) {
	case *layers.TCP:
		return uint16(t.SrcPort), uint16(t.DstPort), true
	case *layers.UDP:
		return uint16(t.SrcPort), uint16(t.DstPort), true
	}
	return 0, 0, false
}
