package abi

import (
	"encoding/binary"
	"hash/fnv"
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

// VLANs reads the VLAN ids of a flow key or packet fields, outermost
// first; the kernel ends the list with a zero.
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

// FlowID names a flow by its canonical key and start time, so that an
// alert and the flow's record computed apart agree. It fits in 53 bits
// for JSON consumers that read numbers as doubles.
func FlowID(key *BpfFlowKey, startNs uint64) uint64 {
	h := fnv.New64a()
	var buf [48]byte
	copy(buf[0:16], key.AddrLo[:])
	copy(buf[16:32], key.AddrHi[:])
	binary.BigEndian.PutUint16(buf[32:], key.PortLo)
	binary.BigEndian.PutUint16(buf[34:], key.PortHi)
	binary.BigEndian.PutUint16(buf[36:], key.Vlan[0])
	binary.BigEndian.PutUint16(buf[38:], key.Vlan[1])
	binary.BigEndian.PutUint16(buf[40:], key.Vlan[2])
	buf[42] = key.Proto
	buf[43] = key.Family
	h.Write(buf[:44])
	binary.BigEndian.PutUint64(buf[:8], startNs)
	h.Write(buf[:8])
	return jsonSafe(h.Sum64())
}

// AlertID names an alert: its flow, its packet's time and its rule.
func AlertID(key *BpfFlowKey, flowStart, ts uint64, rule uint32) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], FlowID(key, flowStart))
	h.Write(buf[:])
	binary.BigEndian.PutUint64(buf[:], ts)
	h.Write(buf[:])
	binary.BigEndian.PutUint32(buf[:4], rule)
	h.Write(buf[:4])
	return jsonSafe(h.Sum64())
}

// jsonSafe keeps an id within a double's 53-bit mantissa, never 0.
func jsonSafe(h uint64) uint64 {
	id := h & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return id
}
