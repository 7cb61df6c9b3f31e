package abi

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

// TestIDsAreFNV1a: flow and alert ids stay what hash/fnv's FNV-1a made of
// the same bytes (they name flows across outputs and restarts).
func TestIDsAreFNV1a(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var k BpfFlowKey
		for i := range k.AddrLo {
			k.AddrLo[i], k.AddrHi[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		k.PortLo, k.PortHi, k.Zone, k.Proto, k.Family = uint16(r.Uint32()), uint16(r.Uint32()), r.Uint32(), uint8(r.Uint32()), 4
		start, ts, rule := r.Uint64(), r.Uint64(), r.Uint32()

		h := fnv.New64a()
		var buf [48]byte
		copy(buf[0:16], k.AddrLo[:])
		copy(buf[16:32], k.AddrHi[:])
		binary.BigEndian.PutUint16(buf[32:], k.PortLo)
		binary.BigEndian.PutUint16(buf[34:], k.PortHi)
		binary.BigEndian.PutUint32(buf[36:], k.Zone)
		buf[40], buf[41] = k.Proto, k.Family
		h.Write(buf[:42])
		binary.BigEndian.PutUint64(buf[:8], start)
		h.Write(buf[:8])
		flow := jsonSafe(h.Sum64())
		if got := FlowID(&k, start); got != flow {
			t.Fatalf("FlowID %d, FNV-1a %d", got, flow)
		}
		h = fnv.New64a()
		binary.BigEndian.PutUint64(buf[:8], flow)
		h.Write(buf[:8])
		binary.BigEndian.PutUint64(buf[:8], ts)
		h.Write(buf[:8])
		binary.BigEndian.PutUint32(buf[:4], rule)
		h.Write(buf[:4])
		if got, want := AlertID(&k, start, ts, rule), jsonSafe(h.Sum64()); got != want {
			t.Fatalf("AlertID %d, FNV-1a %d", got, want)
		}
	}
}
