package loader

// The reference's encapsulations: the same walk as bpf/decap.h, written
// from the headers' specifications with gopacket's decoders where it has
// them (MPLS, PPPoE, GRE, ERSPAN II, VXLAN, Geneve), so the differential
// test and the fuzzer hold the kernel's decapsulation to an independent
// reading of the bytes.

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const (
	refMaxTunnelDepth = 2
	refDecapMaxSteps  = 16
	refDecapMaxOffset = 480
	refVXLANPort      = 4789
	refGenevePort     = 6081
	refTeredoPort     = 3544
)

// refWalk is the walk's state, as struct decap_walk.
type refWalk struct {
	frame   []byte
	off     int
	ipOff   int // -1: no IP header yet
	ipType  layers.EthernetType
	vlans   []uint16
	depth   int
	pending bool
	l2, tun bool // an encapsulation header, a tunnel, was decoded
	tooDeep bool
	// The last IP layer's addresses, and the innermost tunnel's outer ones.
	candSrc, candDst   netip.Addr
	outerSrc, outerDst netip.Addr
	verdict            refVerdict
}

type refStep int

const (
	refStepEthertype refStep = iota
	refStepEthernet
	refStepMPLS
	refStepIPv4
	refStepIPv6
	refStepGRE
	refStepUDP
)

// refMayBeTunnel is may_be_tunnel: an IP packet whose payload the walk
// looks into.
func refMayBeTunnel(r refResult) bool {
	switch r.Proto {
	case 47, 4, 41:
		return !r.Fragment
	case 17:
		return r.HasL4 && (r.DPort == refVXLANPort || r.DPort == refGenevePort || r.SPort == refTeredoPort || r.DPort == refTeredoPort)
	}
	return false
}

// refDecap walks the frame's encapsulations. ok is false when there was
// nothing to decode and the plain decode stands.
func refDecap(frame []byte, plain refResult) (refResult, bool) {
	w := &refWalk{frame: frame, off: 14, ipOff: -1}
	et := layers.EthernetType(binary.BigEndian.Uint16(frame[12:14]))
	step := refStepEthertype
	done := false
	for i := 0; i < refDecapMaxSteps && !done; i++ {
		if w.off > refDecapMaxOffset {
			break
		}
		b := frame[min(w.off, len(frame)):]
		switch step {
		case refStepEthertype:
			step, et, done = w.ethertype(b, et)
		case refStepEthernet:
			if len(b) < 14 {
				done = w.short()
				break
			}
			w.off += 14
			step, et = refStepEthertype, layers.EthernetType(binary.BigEndian.Uint16(b[12:14]))
		case refStepMPLS:
			step, et, done = w.mpls(b)
		case refStepIPv4, refStepIPv6:
			step, done = w.ip(b, step == refStepIPv4)
		case refStepGRE:
			step, done = w.gre(b)
		case refStepUDP:
			step, done = w.udp(b)
		}
	}
	if !done {
		w.finish(w.ipOff >= 0, refBadEncap)
	}
	if w.verdict != refIP {
		return refResult{Verdict: w.verdict}, true
	}
	if !w.l2 && !w.tun && !w.tooDeep && plain.Verdict == refIP {
		return plain, false
	}
	var r refResult
	copy(r.Key.VLAN[:], w.vlans)
	if w.tun {
		r.Tunneled, r.OuterSrc, r.OuterDst = true, w.outerSrc, w.outerDst
	}
	if w.ipOff > refDecapMaxOffset {
		r.Verdict = refBadEncap
		return r, true
	}
	if w.ipType == layers.EthernetTypeIPv4 {
		return refDecode4(frame[w.ipOff:], r), true
	}
	return refDecode6(frame[w.ipOff:], r), true
}

// finish ends the walk at the last IP header when ok, else with verdict.
func (w *refWalk) finish(ok bool, verdict refVerdict) bool {
	w.verdict = refIP
	if !ok {
		w.verdict = verdict
	}
	return true
}

// short: a header cut by the frame's end.
func (w *refWalk) short() bool { return w.finish(w.ipOff >= 0, refBadEncap) }

func (w *refWalk) nonIP() bool { return w.finish(w.ipOff >= 0, refNonIP) }

func (w *refWalk) ethertype(b []byte, et layers.EthernetType) (refStep, layers.EthernetType, bool) {
	next := func(n int, et layers.EthernetType) (refStep, layers.EthernetType, bool) {
		w.off += n
		return refStepEthertype, et, false
	}
	switch et {
	case layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ, 0x9100:
		var tag layers.Dot1Q
		if len(b) < 4 || tag.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil {
			return 0, 0, w.short()
		}
		if len(w.vlans) >= 3 {
			return 0, 0, w.finish(false, refBadVLAN)
		}
		w.vlans = append(w.vlans, tag.VLANIdentifier)
		return next(4, tag.Type)
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
		w.l2 = true
		return refStepMPLS, 0, false
	case layers.EthernetTypePPPoESession:
		// Read by hand: gopacket also holds the length field to the frame.
		if len(b) < 8 {
			return 0, 0, w.short()
		}
		if b[0] != 0x11 || layers.PPPoECode(b[1]) != layers.PPPoECodeSession {
			return 0, 0, w.finish(false, refBadEncap)
		}
		w.l2 = true
		switch binary.BigEndian.Uint16(b[6:8]) {
		case 0x0021:
			return next(8, layers.EthernetTypeIPv4)
		case 0x0057:
			return next(8, layers.EthernetTypeIPv6)
		}
		return 0, 0, w.finish(false, refNonIP)
	case 0x88e7: // 802.1ah I-TAG: I-SID, the customer's addresses, their ethertype
		if len(b) < 18 {
			return 0, 0, w.short()
		}
		w.l2 = true
		return next(18, layers.EthernetType(binary.BigEndian.Uint16(b[16:18])))
	case 0x8926: // VN-Tag
		if len(b) < 6 {
			return 0, 0, w.short()
		}
		w.l2 = true
		return next(6, layers.EthernetType(binary.BigEndian.Uint16(b[4:6])))
	case 0x893f: // E-Tag
		if len(b) < 8 {
			return 0, 0, w.short()
		}
		w.l2 = true
		return next(8, layers.EthernetType(binary.BigEndian.Uint16(b[6:8])))
	case 0x894f: // NSH
		if len(b) < 8 {
			return 0, 0, w.short()
		}
		n := int(b[1]&0x3f) * 4
		if b[0]>>6 != 0 || n < 8 {
			return 0, 0, w.finish(false, refBadEncap)
		}
		w.l2 = true
		switch b[3] {
		case 1:
			return next(n, layers.EthernetTypeIPv4)
		case 2:
			return next(n, layers.EthernetTypeIPv6)
		case 3:
			w.off += n
			return refStepEthernet, 0, false
		case 5:
			return next(n, layers.EthernetTypeMPLSUnicast)
		}
		return 0, 0, w.finish(false, refNonIP)
	case layers.EthernetTypeIPv4:
		return refStepIPv4, 0, false
	case layers.EthernetTypeIPv6:
		return refStepIPv6, 0, false
	case layers.EthernetTypeTransparentEthernetBridging:
		return refStepEthernet, 0, false
	}
	return 0, 0, w.nonIP()
}

func (w *refWalk) mpls(b []byte) (refStep, layers.EthernetType, bool) {
	if len(b) < 4 {
		return 0, 0, w.short()
	}
	// RFC 3032: label (20 bits), traffic class, bottom of stack, TTL.
	label, bottom := uint32(b[0])<<12|uint32(b[1])<<4|uint32(b[2])>>4, b[2]&1 != 0
	w.off += 4
	if !bottom {
		return refStepMPLS, 0, false
	}
	switch label {
	case 0:
		return refStepEthertype, layers.EthernetTypeIPv4, false
	case 2:
		return refStepEthertype, layers.EthernetTypeIPv6, false
	}
	if len(b) < 5 {
		return 0, 0, w.short()
	}
	switch b[4] >> 4 {
	case 4:
		return refStepEthertype, layers.EthernetTypeIPv4, false
	case 6:
		return refStepEthertype, layers.EthernetTypeIPv6, false
	case 0: // a pseudowire control word, then Ethernet
		w.off += 4
		return refStepEthernet, 0, false
	}
	return 0, 0, w.nonIP()
}

// enter is a tunnel header of n bytes, whose inner headers follow.
func (w *refWalk) enter(n int, next refStep) (refStep, bool) {
	if w.depth >= refMaxTunnelDepth {
		w.tooDeep = true
		return 0, w.finish(true, 0)
	}
	w.pending = true
	w.off += n
	return next, false
}

func (w *refWalk) ip(b []byte, v4 bool) (refStep, bool) {
	n := 40
	if v4 {
		n = 20
	}
	if len(b) < n {
		return 0, w.short()
	}
	if w.pending {
		w.pending = false
		w.depth++
		w.tun = true
		w.outerSrc, w.outerDst = w.candSrc, w.candDst
	}
	w.ipOff = w.off
	w.ipType = layers.EthernetTypeIPv6
	var proto uint8
	if v4 {
		w.ipType = layers.EthernetTypeIPv4
		if b[0]>>4 != 4 || b[0]&0xf < 5 || binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
			return 0, w.finish(true, 0)
		}
		n, proto = int(b[0]&0xf)*4, b[9]
		w.candSrc, w.candDst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	} else {
		if b[0]>>4 != 6 {
			return 0, w.finish(true, 0)
		}
		proto = b[6]
		w.candSrc, w.candDst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	}
	switch proto {
	case 47:
		w.off += n
		return refStepGRE, false
	case 17:
		w.off += n
		return refStepUDP, false
	case 4:
		return w.enter(n, refStepIPv4)
	case 41:
		return w.enter(n, refStepIPv6)
	}
	return 0, w.finish(true, 0)
}

// gre reads GRE by hand: gopacket's decoder also reads RFC 1701's
// acknowledgment bit, which version 0 reserves and the kernel ignores.
func (w *refWalk) gre(b []byte) (refStep, bool) {
	if len(b) < 4 {
		return 0, w.finish(true, 0)
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	if flags&0x4007 != 0 { // routing, or a version other than 0
		return 0, w.finish(true, 0)
	}
	hl := 4
	for _, bit := range []uint16{0x8000, 0x2000, 0x1000} {
		if flags&bit != 0 {
			hl += 4
		}
	}
	if len(b) < hl {
		return 0, w.finish(true, 0)
	}
	switch layers.EthernetType(binary.BigEndian.Uint16(b[2:4])) {
	case layers.EthernetTypeIPv4:
		return w.enter(hl, refStepIPv4)
	case layers.EthernetTypeIPv6:
		return w.enter(hl, refStepIPv6)
	case layers.EthernetTypeTransparentEthernetBridging:
		return w.enter(hl, refStepEthernet)
	case layers.EthernetTypeMPLSUnicast:
		return w.enter(hl, refStepMPLS)
	case layers.EthernetTypeERSPAN:
		if flags&0x1000 == 0 { // type I: no sequence number
			return w.enter(hl, refStepEthernet)
		}
		var e layers.ERSPANII
		if len(b) < hl+8 || e.DecodeFromBytes(b[hl:], gopacket.NilDecodeFeedback) != nil || e.Version != 1 {
			return 0, w.finish(true, 0)
		}
		return w.enter(hl+8, refStepEthernet)
	case 0x22eb: // ERSPAN type III: version 2, and the platform subheader when O is set
		if len(b) < hl+12 || b[hl]>>4 != 2 {
			return 0, w.finish(true, 0)
		}
		n := hl + 12
		if b[hl+11]&1 != 0 {
			n += 8
		}
		return w.enter(n, refStepEthernet)
	}
	return 0, w.finish(true, 0)
}

func (w *refWalk) udp(b []byte) (refStep, bool) {
	if len(b) < 16 {
		return 0, w.finish(true, 0)
	}
	sport, dport := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	switch {
	case dport == refVXLANPort:
		var v layers.VXLAN
		if v.DecodeFromBytes(b[8:], gopacket.NilDecodeFeedback) != nil || !v.ValidIDFlag {
			return 0, w.finish(true, 0)
		}
		return w.enter(16, refStepEthernet)
	case dport == refGenevePort:
		if b[8]>>6 != 0 {
			return 0, w.finish(true, 0)
		}
		n := 16 + int(b[8]&0x3f)*4
		switch layers.EthernetType(binary.BigEndian.Uint16(b[10:12])) {
		case layers.EthernetTypeTransparentEthernetBridging:
			return w.enter(n, refStepEthernet)
		case layers.EthernetTypeIPv4:
			return w.enter(n, refStepIPv4)
		case layers.EthernetTypeIPv6:
			return w.enter(n, refStepIPv6)
		}
		return 0, w.finish(true, 0)
	case sport == refTeredoPort || dport == refTeredoPort:
		// The authentication and origin indication before a whole IPv6 packet.
		p := 8
		if b[8] == 0 && b[9] == 1 {
			p += 13 + int(b[10]) + int(b[11])
			if p > 24 {
				return 0, w.finish(true, 0)
			}
		}
		if len(b) < p+8 {
			return 0, w.finish(true, 0)
		}
		if b[p] == 0 && b[p+1] == 0 {
			p += 8
			if len(b) < p+8 {
				return 0, w.finish(true, 0)
			}
		}
		if b[p]>>4 != 6 || int(binary.BigEndian.Uint16(b[p+4:p+6]))+40+p != int(binary.BigEndian.Uint16(b[4:6])) {
			return 0, w.finish(true, 0)
		}
		return w.enter(p, refStepIPv6)
	}
	return 0, w.finish(true, 0)
}
