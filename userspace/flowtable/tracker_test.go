package flowtable

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

const sec = uint64(time.Second)

// newTracker loads a private sensor with tables of size flows (IPv6 a
// quarter) and a tracker over them that records what it writes.
func newTracker(t *testing.T, size uint32) (*Tracker, *[]*event.Flow) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the tracker's tests load the kernel maps: run as root (make test does)")
	}
	s, err := loader.Load(loader.Config{FlowTableSize: size, FlowTableSizeV6: size / 4, RingSize: 1 << 16})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { s.Close() })
	var written []*event.Flow
	tr := &Tracker{
		Maps:       s.Maps(),
		Capacity:   s.Config.FlowCapacity(),
		CapacityV6: uint64(s.Config.FlowTableSizeV6),
		Decoder:    &Decoder{Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }},
		Write:      func(f *event.Flow) error { written = append(written, f); return nil },
	}
	return tr, &written
}

// putFlows puts n one-way TCP flows in the IPv4 table, last seen at
// lastSeen (first seen one second before).
func putFlows(t *testing.T, tr *Tracker, from, n int, lastSeen uint64) {
	t.Helper()
	keys := make([]abi.BpfFlowKeyV4, n)
	vals := make([]abi.BpfFlowValue, n)
	for i := range keys {
		binary.BigEndian.PutUint32(keys[i].AddrLo[:], 0x0a000000+uint32(from+i))
		binary.BigEndian.PutUint32(keys[i].AddrHi[:], 0x0b000001)
		keys[i].PortLo, keys[i].PortHi, keys[i].ZoneProto = 40000, 80, 6
		vals[i].FirstSeenNs = lastSeen - sec
		vals[i].LastSeenUs = 1_000_000
		vals[i].Dir[0].Packets = 1
	}
	if _, err := tr.Maps.FlowsV4.BatchUpdate(keys, vals, nil); err != nil {
		t.Fatal(err)
	}
}

func tableLen(t *testing.T, tr *Tracker) int {
	t.Helper()
	n := 0
	var k abi.BpfFlowKeyV4
	var v abi.BpfFlowValue
	it := tr.Maps.FlowsV4.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterating the IPv4 flows: %v", err)
	}
	return n
}

// Past the high-water mark, flows seen one way only time out after the
// emergency timeout; the mode ends below the low-water mark.
func TestEmergencyMode(t *testing.T) {
	tr, written := newTracker(t, 4096)
	start := 1000 * sec
	putFlows(t, tr, 0, 3500, start) // 85% of the IPv4 table: below the mark
	if err := tr.Tick(start + 11*sec); err != nil {
		t.Fatal(err)
	}
	if tr.Counters.InEmergency || len(*written) != 0 {
		t.Fatalf("at 85%%: emergency %v, %d written", tr.Counters.InEmergency, len(*written))
	}
	putFlows(t, tr, 3500, 300, start+25*sec) // 92% full
	// A pass counts them: emergency.
	if err := tr.Tick(start + 21*sec); err != nil {
		t.Fatal(err)
	}
	if !tr.Counters.InEmergency || tr.Counters.EmergencyEntered != 1 || len(*written) != 0 {
		t.Fatalf("92%% full: emergency %v (entered %d), %d written", tr.Counters.InEmergency, tr.Counters.EmergencyEntered, len(*written))
	}
	// The next pass: one-way flows idle 10 s go.
	if err := tr.Tick(start + 31*sec); err != nil {
		t.Fatal(err)
	}
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := tr.Counters.Emergency; got != 3500 {
		t.Errorf("%d emergency records, want the 3500 flows idle past 10 s", got)
	}
	if n := tableLen(t, tr); n != 300 {
		t.Errorf("%d flows left, want the 300 younger ones", n)
	}
	if len(*written) != 3500 {
		t.Fatalf("%d records written, want one for each of the 3500 flows idle past 10 s", len(*written))
	}
	for _, f := range *written {
		if f.Reason != event.EndEmergency {
			t.Fatalf("record reason %q", f.Reason)
		}
	}
	// Another pass: 7% full.
	if err := tr.Tick(start + 32*sec); err != nil {
		t.Fatal(err)
	}
	if tr.Counters.InEmergency {
		t.Error("still in emergency mode below the low-water mark")
	}
	if len(*written) != 3500 {
		t.Errorf("%d records written after the last pass, want still 3500 (the 300 flows are idle 7 s)", len(*written))
	}
}

// A flow a new connection replaced between its record and its removal
// is put back; packets that reached the written flow meanwhile are
// counted as late.
func TestCommitIsExact(t *testing.T) {
	tr, written := newTracker(t, 4096)
	start := 1000 * sec
	putFlows(t, tr, 0, 2, start)
	if err := tr.Tick(start + 200*sec); err != nil { // both idle past 120 s
		t.Fatal(err)
	}
	if len(*written) != 2 {
		t.Fatalf("%d written", len(*written))
	}
	var k0, k1 abi.BpfFlowKeyV4
	binary.BigEndian.PutUint32(k0.AddrLo[:], 0x0a000000)
	binary.BigEndian.PutUint32(k1.AddrLo[:], 0x0a000001)
	for _, k := range []*abi.BpfFlowKeyV4{&k0, &k1} {
		binary.BigEndian.PutUint32(k.AddrHi[:], 0x0b000001)
		k.PortLo, k.PortHi, k.ZoneProto = 40000, 80, 6
	}
	var v abi.BpfFlowValue
	// Flow 0 got 3 more packets; flow 1's tuple now holds a new flow.
	if err := tr.Maps.FlowsV4.Lookup(&k0, &v); err != nil {
		t.Fatalf("flow 0 before Commit: %v", err)
	}
	v.Dir[0].Packets += 3
	if err := tr.Maps.FlowsV4.Put(&k0, &v); err != nil {
		t.Fatal(err)
	}
	fresh := abi.BpfFlowValue{FirstSeenNs: start + 199*sec}
	fresh.Dir[1].Packets = 1
	if err := tr.Maps.FlowsV4.Put(&k1, &fresh); err != nil {
		t.Fatal(err)
	}
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	if tr.Counters.LatePackets != 3 || tr.Counters.Split != 0 {
		t.Errorf("late packets %d, split %d; want 3, 0", tr.Counters.LatePackets, tr.Counters.Split)
	}
	if err := tr.Maps.FlowsV4.Lookup(&k0, &v); err == nil {
		t.Error("the written flow is still in the table")
	}
	if err := tr.Maps.FlowsV4.Lookup(&k1, &v); err != nil || v.FirstSeenNs != fresh.FirstSeenNs {
		t.Errorf("the new flow on the tuple was not put back: %v %+v", err, v)
	}
}

// Extensions whose flow is gone are removed once old, and counted.
func TestOrphanedExtensionsRemoved(t *testing.T) {
	tr, _ := newTracker(t, 4096)
	now := 10_000 * sec
	put := func(firstSeen uint64, port uint16) {
		k := abi.BpfFlowExtraKey{Key: abi.BpfFlowKey{PortLo: port, Proto: 6, Family: 4}, FirstSeenNs: firstSeen}
		if err := tr.Maps.FlowExtras.Put(&k, &abi.BpfFlowExtra{}); err != nil {
			t.Fatal(err)
		}
	}
	put(now-3600*sec, 1) // its flow gone an hour ago
	put(now-10*sec, 2)   // its record may still be in the ring
	if err := tr.Tick(now); err != nil {
		t.Fatal(err)
	}
	if tr.Counters.ExtrasOrphaned != 1 {
		t.Errorf("%d orphans removed, want 1", tr.Counters.ExtrasOrphaned)
	}
	n := 0
	var k abi.BpfFlowExtraKey
	var x abi.BpfFlowExtra
	it := tr.Maps.FlowExtras.Iterate()
	for it.Next(&k, &x) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterating the extensions: %v", err)
	}
	if n != 1 {
		t.Errorf("%d extensions left, want the young one", n)
	}
}

// A record the kernel sent through the ring carries the entry only: its
// history past the entry's 12 letters, and the count of letters lost past
// the extension's room, come from the extension in the map. When that
// extension is gone, the letters it held are counted as lost, not made
// up.
func TestRecordFromRingCountsHistoryLost(t *testing.T) {
	tr, written := newTracker(t, 64)
	ev := abi.BpfFlowEvent{Type: uint8(abi.BpfEventTypeEVENT_FLOW_RECORD), Reason: uint8(abi.BpfFlowEndReasonFLOW_END_RST),
		Family: uint8(abi.BpfAddrFamilyFAMILY_IPV4)}
	ev.Key = abi.BpfFlowKey{AddrLo: [16]byte{192, 0, 2, 10}, AddrHi: [16]byte{198, 51, 100, 20}, PortLo: 40000, PortHi: 80,
		Proto: event.ProtoTCP, Family: uint8(abi.BpfAddrFamilyFAMILY_IPV4)}
	ev.Value.FirstSeenNs = 5 * sec
	ev.Value.State = uint8(abi.BpfFlowStateBitsSTATE_EXTRA)
	ev.Value.HistoryLen = 40 // the entry's 12 codes are 0: the client's S
	ev.Value.Dir[0].HistoryDropped = 2
	ev.Value.Dir[1].HistoryDropped = 1
	x := abi.BpfFlowExtra{HistoryLost: 5}
	for i := range x.History {
		x.History[i] = uint8(abi.BpfHistoryLetterHIST_RST | abi.BpfHistoryLetterHISTORY_SIDE_HI) // the server's r
	}
	ek := abi.BpfFlowExtraKey{Key: ev.Key, FirstSeenNs: ev.Value.FirstSeenNs}
	if err := tr.Maps.FlowExtras.Put(&ek, &x); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record(&ev); err != nil {
		t.Fatal(err)
	}
	// The same record once its extension is gone.
	if err := tr.Maps.FlowExtras.Delete(&ek); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record(&ev); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 2 {
		t.Fatalf("%d records written, want 2", len(*written))
	}
	for i, want := range []struct {
		history string
		lost    uint64
	}{
		{strings.Repeat("S", 12) + strings.Repeat("r", 28), 5 + 2 + 1},
		{strings.Repeat("S", 12), 28 + 2 + 1},
	} {
		f := (*written)[i]
		if f.History != want.history || f.HistoryLost != want.lost {
			t.Errorf("record %d: history %q, %d lost; want %q, %d lost", i, f.History, f.HistoryLost, want.history, want.lost)
		}
	}
}

// The final flush of tables that go with it (Discard: a replay's private
// instance) writes every flow once, a closed one with its close reason,
// and neither syncs the outputs on the way nor removes the entries; a
// flush of tables that stay removes each written flow and syncs every
// commitEvery records.
func TestDiscardFlushWritesEachFlowOnce(t *testing.T) {
	const n = commitEvery + 1808 // past one sync
	for _, discard := range []bool{true, false} {
		tr, written := newTracker(t, 16384)
		tr.Quiescent, tr.Discard = true, discard
		syncs := 0
		tr.Sync = func() error { syncs++; return nil }
		start := 1000 * sec
		putFlows(t, tr, 0, n, start)
		// Flow 7 closed (FIN) and lingers: its record has the close reason.
		var k abi.BpfFlowKeyV4
		binary.BigEndian.PutUint32(k.AddrLo[:], 0x0a000000+7)
		binary.BigEndian.PutUint32(k.AddrHi[:], 0x0b000001)
		k.PortLo, k.PortHi, k.ZoneProto = 40000, 80, 6
		ev := abi.BpfFlowEvent{Reason: uint8(abi.BpfFlowEndReasonFLOW_END_FIN), Key: abi.KeyFromV4(&k)}
		if err := tr.Maps.FlowsV4.Lookup(&k, &ev.Value); err != nil {
			t.Fatal(err)
		}
		tr.Closed(&ev, start)
		if err := tr.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Commit(); err != nil {
			t.Fatal(err)
		}
		ids := map[uint64]int{}
		var fin int
		for _, f := range *written {
			ids[f.FlowID]++
			if f.Reason == event.EndFIN {
				fin++
			}
		}
		if len(*written) != n || len(ids) != n || fin != 1 {
			t.Errorf("discard %v: %d records of %d flows (%d with reason FIN); want %d of %d, 1", discard, len(*written), len(ids), fin, n, n)
		}
		if tr.Counters.Closed != 1 || tr.Counters.Shutdown != n-1 {
			t.Errorf("discard %v: counted %d closed, %d shutdown; want 1, %d", discard, tr.Counters.Closed, tr.Counters.Shutdown, n-1)
		}
		wantLeft, wantSyncs := n, 0
		if !discard {
			wantLeft, wantSyncs = 0, 1
		}
		if got := tableLen(t, tr); got != wantLeft || syncs != wantSyncs {
			t.Errorf("discard %v: %d entries left, %d syncs; want %d, %d", discard, got, syncs, wantLeft, wantSyncs)
		}
	}
}

// The first tick sweeps the whole table; from then on each tick reads as
// many entries as packet time earned (a pass per SweepPeriod). What the
// first pass left of its budget is not spent on more passes right after
// (a replay's tables, nearly empty at its first batch, were read whole
// tick after tick until a table's capacity had been read). 300 flows due
// in a table of 20,480 swept once per 10 s: ticks 1 ms apart earn 2
// entries each; the first read (256 entries at the least) takes some of
// the flows, the rest wait until about 256 more are earned.
func TestSweepAfterTheFirstPassIsEarned(t *testing.T) {
	tr, written := newTracker(t, 16384)
	tr.SweepPeriod = 10 * time.Second
	start := 1000 * sec
	if err := tr.Tick(start); err != nil { // the first tick's whole pass, over nothing
		t.Fatal(err)
	}
	putFlows(t, tr, 0, 300, start-300*sec)
	now := start
	tick := func(n int) {
		for range n {
			now += uint64(time.Millisecond)
			if err := tr.Tick(now); err != nil {
				t.Fatal(err)
			}
			if err := tr.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tick(1)
	first := len(*written)
	if first == 0 || first == 300 {
		t.Fatalf("%d flows written at the first tick after the pass; want one read's worth (256 entries at the least), not none or all 300", first)
	}
	tick(99)
	if len(*written) != first {
		t.Errorf("%d flows written after 100 ticks that earned 204 entries; want still %d (the first read overdrew the budget)", len(*written), first)
	}
	tick(200)
	if len(*written) != 300 || tableLen(t, tr) != 0 {
		t.Errorf("%d flows written, %d left after 300 ticks; want 300, 0", len(*written), tableLen(t, tr))
	}
}

// A replay's tracker (Quiescent: the tables hold still between ticks)
// makes a whole pass at once, one per SweepPeriod of packet time, the
// first at its first tick: 300 flows due after that pass wait for the
// next, 10 s on, and are all written then.
func TestQuiescentSweepPassesOncePerPeriod(t *testing.T) {
	tr, written := newTracker(t, 16384)
	tr.Quiescent = true
	tr.SweepPeriod = 10 * time.Second
	start := 1000 * sec
	if err := tr.Tick(start); err != nil {
		t.Fatal(err)
	}
	putFlows(t, tr, 0, 300, start-300*sec)
	for _, c := range []struct {
		at   uint64
		want int
	}{{start + uint64(time.Millisecond), 0}, {start + 9*sec, 0}, {start + 10*sec, 300}} {
		if err := tr.Tick(c.at); err != nil {
			t.Fatal(err)
		}
		if err := tr.Commit(); err != nil {
			t.Fatal(err)
		}
		if len(*written) != c.want {
			t.Errorf("%v after the first pass: %d flows written, want %d", time.Duration(c.at-start), len(*written), c.want)
		}
	}
	if n := tableLen(t, tr); n != 0 {
		t.Errorf("%d entries left, want 0", n)
	}
}

// A flow the sweep wrote that the kernel restarts in place before its
// removal (a new connection on the tuple, or a packet past the idle split
// time) comes through the ring too: that record is dropped, what reached
// the flow after the written record counted as late; the new flow stays
// in the table. Another flow's record from the ring is written.
func TestKernelRecordOfAWrittenFlowIsDropped(t *testing.T) {
	tr, written := newTracker(t, 16384)
	start := 1000 * sec
	putFlows(t, tr, 0, 1, start-300*sec)
	if err := tr.Tick(start); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 1 {
		t.Fatalf("%d flows written by the sweep, want 1", len(*written))
	}
	// The kernel restarts the entry: it sends the old flow (one packet
	// more than written) and counts the new one's first packet.
	var k abi.BpfFlowKeyV4
	binary.BigEndian.PutUint32(k.AddrLo[:], 0x0a000000)
	binary.BigEndian.PutUint32(k.AddrHi[:], 0x0b000001)
	k.PortLo, k.PortHi, k.ZoneProto = 40000, 80, 6
	var old abi.BpfFlowValue
	if err := tr.Maps.FlowsV4.Lookup(&k, &old); err != nil {
		t.Fatal(err)
	}
	resent := abi.BpfFlowEvent{Reason: uint8(abi.BpfFlowEndReasonFLOW_END_TIMEOUT), Key: abi.KeyFromV4(&k), Value: old}
	resent.Value.Dir[0].Packets++
	fresh := abi.BpfFlowValue{FirstSeenNs: start + sec}
	fresh.Dir[0].Packets = 1
	if err := tr.Maps.FlowsV4.Put(&k, &fresh); err != nil {
		t.Fatal(err)
	}
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record(&resent); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 1 || tr.Counters.LatePackets != 1 || tr.Counters.FromRing != 0 {
		t.Errorf("after the kernel's copy: %d records, %d late packets, %d from the ring; want 1, 1, 0",
			len(*written), tr.Counters.LatePackets, tr.Counters.FromRing)
	}
	var now abi.BpfFlowValue
	if err := tr.Maps.FlowsV4.Lookup(&k, &now); err != nil || now.FirstSeenNs != start+sec {
		t.Errorf("the new flow: %v, first seen %d; want it in the table from %d", err, now.FirstSeenNs, start+sec)
	}
	// The same flow's record again, or another's, is written.
	other := resent
	other.Value.FirstSeenNs = start - 500*sec
	if err := tr.Record(&other); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 2 || tr.Counters.FromRing != 1 || tr.Counters.Timeout != 2 {
		t.Errorf("another flow's record: %d records, %d from the ring, %d timeouts; want 2, 1, 2", len(*written), tr.Counters.FromRing, tr.Counters.Timeout)
	}
}
