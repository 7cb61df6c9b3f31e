package loader

import (
	"encoding/binary"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// The kernel-side dump hands over every entry of both flow tables, each
// key widened and each value as the table holds it: 40,000 IPv4 flows
// (more than one run's ring holds, so runs resume where the last
// stopped) and 3,000 IPv6 flows, against the tables' own iteration.
func TestFlowDumpHandsOverEveryEntry(t *testing.T) {
	h := newHarness(t, Config{FlowTableSize: 65536, FlowTableSizeV6: 4096})
	const n4, n6 = 40000, 3000
	k4 := make([]abi.BpfFlowKeyV4, n4)
	v4 := make([]abi.BpfFlowValue, n4)
	for i := range k4 {
		binary.BigEndian.PutUint32(k4[i].AddrLo[:], 0xc6336400+uint32(i>>8))
		binary.BigEndian.PutUint32(k4[i].AddrHi[:], 0xcb007100+uint32(i&0xff))
		k4[i].PortLo, k4[i].PortHi, k4[i].ZoneProto = uint16(i), 80, 6
		v4[i].FirstSeenNs = uint64(i) * 1000
		v4[i].Dir[0].Packets = uint32(i + 1)
		v4[i].History = uint64(i) << 3
	}
	if _, err := h.s.Objects.FlowsV4.BatchUpdate(k4, v4, nil); err != nil {
		t.Fatal(err)
	}
	k6 := make([]abi.BpfFlowKeyV6, n6)
	v6 := make([]abi.BpfFlowValue, n6)
	for i := range k6 {
		k6[i].AddrLo = [16]uint8{0x20, 0x01, 0x0d, 0xb8, 15: 1}
		k6[i].AddrHi = [16]uint8{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}
		k6[i].PortLo, k6[i].PortHi, k6[i].ZoneProto = 443, uint16(i), 17
		v6[i].FirstSeenNs = uint64(i) + 7
		v6[i].Dir[1].FrameBytes = uint32(i * 3)
	}
	if _, err := h.s.Objects.FlowsV6.BatchUpdate(k6, v6, nil); err != nil {
		t.Fatal(err)
	}
	want := map[abi.BpfFlowKey]abi.BpfFlowValue{}
	for i := range k4 {
		want[abi.KeyFromV4(&k4[i])] = v4[i]
	}
	for i := range k6 {
		want[abi.KeyFromV6(&k6[i])] = v6[i]
	}

	d, err := NewFlowDump(h.s)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer d.Close()
	got := map[abi.BpfFlowKey]abi.BpfFlowValue{}
	v6Seen := false
	if err := d.Each(func(k *abi.BpfFlowKey, v *abi.BpfFlowValue) error {
		if _, dup := got[*k]; dup {
			t.Errorf("entry %+v handed over twice", *k)
		}
		if k.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV6) {
			v6Seen = true
		} else if v6Seen {
			t.Error("an IPv4 entry after the IPv6 ones")
		}
		got[*k] = *v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries handed over, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("entry %+v: %+v, want %+v", k, got[k], v)
		}
	}
}
