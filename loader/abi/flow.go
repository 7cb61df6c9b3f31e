package abi

import (
	"encoding/binary"
	"net/netip"
)

// Addr reads an address of a flow key or packet fields: IPv4 in the
// first 4 bytes.
func Addr(b [16]uint8, family uint8) netip.Addr {
	if family == uint8(BpfAddrFamilyFAMILY_IPV4) {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// VLANs reads the VLAN ids of packet fields or a zone, outermost first;
// the kernel ends the list with a zero.
func VLANs(v [3]uint16) []uint16 {
	var out []uint16
	for _, id := range v {
		if id == 0 {
			break
		}
		out = append(out, id)
	}
	return out
}

// Zones below this are a single VLAN id (0: untagged); above, ids the
// kernel interned in the zones map.
const (
	ZoneMaxVLAN  = 4095
	ZoneOverflow = 1<<24 - 1 // the zones map was full
)

// FlowKeyV4 is the IPv4 flow table's compact key of a canonical key.
func FlowKeyV4(k *BpfFlowKey) BpfFlowKeyV4 {
	return BpfFlowKeyV4{AddrLo: [4]uint8(k.AddrLo[:4]), AddrHi: [4]uint8(k.AddrHi[:4]),
		PortLo: k.PortLo, PortHi: k.PortHi, ZoneProto: k.Zone<<8 | uint32(k.Proto)}
}

// FlowKeyV6 is the IPv6 flow table's compact key of a canonical key.
func FlowKeyV6(k *BpfFlowKey) BpfFlowKeyV6 {
	return BpfFlowKeyV6{AddrLo: k.AddrLo, AddrHi: k.AddrHi,
		PortLo: k.PortLo, PortHi: k.PortHi, ZoneProto: k.Zone<<8 | uint32(k.Proto)}
}

// KeyFromV4 is the canonical key of an IPv4 flow table key.
func KeyFromV4(k *BpfFlowKeyV4) BpfFlowKey {
	out := BpfFlowKey{PortLo: k.PortLo, PortHi: k.PortHi, Zone: k.ZoneProto >> 8,
		Proto: uint8(k.ZoneProto), Family: uint8(BpfAddrFamilyFAMILY_IPV4)}
	copy(out.AddrLo[:], k.AddrLo[:])
	copy(out.AddrHi[:], k.AddrHi[:])
	return out
}

// KeyFromV6 is the canonical key of an IPv6 flow table key.
func KeyFromV6(k *BpfFlowKeyV6) BpfFlowKey {
	return BpfFlowKey{AddrLo: k.AddrLo, AddrHi: k.AddrHi, PortLo: k.PortLo, PortHi: k.PortHi,
		Zone: k.ZoneProto >> 8, Proto: uint8(k.ZoneProto), Family: uint8(BpfAddrFamilyFAMILY_IPV6)}
}

// FlowID names a flow by its canonical key and start time, so that an
// alert and the flow's record computed apart agree. It fits in 53 bits
// for JSON consumers that read numbers as doubles.
func FlowID(key *BpfFlowKey, startNs uint64) uint64 {
	var buf [50]byte
	copy(buf[0:16], key.AddrLo[:])
	copy(buf[16:32], key.AddrHi[:])
	binary.BigEndian.PutUint16(buf[32:], key.PortLo)
	binary.BigEndian.PutUint16(buf[34:], key.PortHi)
	binary.BigEndian.PutUint32(buf[36:], key.Zone)
	buf[40] = key.Proto
	buf[41] = key.Family
	binary.BigEndian.PutUint64(buf[42:], startNs)
	return jsonSafe(fnv64a(fnvOffset, buf[:]))
}

// AlertID names an alert: its flow, its packet's time and its rule.
func AlertID(key *BpfFlowKey, flowStart, ts uint64, rule uint32) uint64 {
	return AlertIDOf(FlowID(key, flowStart), ts, rule)
}

// AlertIDOf is AlertID of a flow whose FlowID is known.
func AlertIDOf(flowID, ts uint64, rule uint32) uint64 {
	var buf [20]byte
	binary.BigEndian.PutUint64(buf[0:], flowID)
	binary.BigEndian.PutUint64(buf[8:], ts)
	binary.BigEndian.PutUint32(buf[16:], rule)
	return jsonSafe(fnv64a(fnvOffset, buf[:]))
}

// FNV-1a, 64 bits (hash/fnv's New64a), without its interface: ids are
// made for every alert a drain decodes.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// jsonSafe keeps an id within a double's 53-bit mantissa, never 0.
func jsonSafe(h uint64) uint64 {
	id := h & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return id
}
