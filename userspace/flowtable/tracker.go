// Package flowtable turns the kernel's flow tables into session records:
// closed flows after a short linger, idle flows after the flow timeout,
// records the kernel sends itself (a tuple reused by a new connection, a
// packet the full table had no room for), and every remaining flow at
// shutdown.
//
// Each flow is written exactly once, or counted. Its entry leaves the
// kernel table only after its record reached the output (Commit, after a
// flush), and a restarted daemon skips flows whose record the output
// already holds (Skip) — so a kill at any moment neither loses nor
// repeats a record. The removal reads the entry as it goes (lookup and
// delete in one call): packets that reached the flow between its record
// and its removal are counted (LatePackets), and a flow that a new
// connection replaced meanwhile is put back.
//
// The tables are plain hashes the kernel never evicts from: the tracker
// sweeps them in slices (a whole pass every SweepPeriod of packet time),
// and when they fill past a high-water mark it shortens the idle timeout
// (emergency mode, as Suricata does) until they drain.
package flowtable

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Defaults: SANCP's and Suricata's idle timeout, the time a closed flow
// waits for its last packets (the final ACK after FIN/FIN), the idle
// timeout while the table is nearly full, and its marks.
const (
	DefaultTimeout          = 120 * time.Second
	DefaultLinger           = 2 * time.Second
	DefaultEmergencyTimeout = 10 * time.Second
	DefaultHighWater        = 0.9
	DefaultLowWater         = 0.7
	// DefaultSweepPeriod is how long one pass over the tables takes, in
	// packet time: a flow is written at most this long after it is due.
	DefaultSweepPeriod = 10 * time.Second
)

// Tracker finalizes flows. Times are on the packet clock (kernel
// monotonic live, capture time in replay).
type Tracker struct {
	Maps    *abi.BpfMaps
	Decoder *Decoder
	Write   func(*event.Flow) error
	// Timeout is the idle timeout; Linger the wait after a close.
	Timeout, Linger time.Duration
	// EmergencyTimeout is the idle timeout of flows seen one way only
	// while the tables are above HighWater of Capacity; flows seen both
	// ways then time out after the larger of it and Timeout/4. Emergency
	// ends below LowWater.
	EmergencyTimeout    time.Duration
	HighWater, LowWater float64
	// Capacity is how many flows the tables hold (both families);
	// CapacityV6 of them in the IPv6 table.
	Capacity, CapacityV6 uint64
	// SweepPeriod is the time of one pass over the tables.
	SweepPeriod time.Duration
	// Quiescent says no packet reaches the tables between a Tick and the
	// Commit after it (a replay runs the program only in between): written
	// flows are removed in batches, without reading them back.
	Quiescent bool
	// Sync makes the records written so far durable (flushes the
	// outputs); a long sweep calls it, then Commit, every commitEvery
	// records. Nil: records wait for the caller's Commit.
	Sync func() error
	// Discard says the tables are dropped after the final Flush (a
	// replay's private instance): what it writes is neither removed from
	// them nor held for removal, and the outputs are not synced on the
	// way. A replay whose flows all end with the capture writes them all
	// here.
	Discard bool

	// Skip holds flow ids already written (by an earlier process): their
	// entries are removed without a second record.
	Skip map[uint64]bool

	Counters Counters

	closing map[abi.BpfFlowKey]closingFlow
	// written flows wait here for Commit to remove them from the kernel.
	uncommitted []written
	inFlight    map[abi.BpfFlowKey]uint64 // key -> first_seen of a written, uncommitted flow
	// discarding: the final Flush of Discard tables is walking them.
	discarding bool

	v4    sweep[abi.BpfFlowKeyV4]
	v6    sweep[abi.BpfFlowKeyV6]
	which int // the table the current pass is in: 0 v4, 1 v6
	// Sweep pacing on the packet clock.
	lastTick uint64
	budget   float64
	lastPass uint64 // Quiescent: the packet time of the last whole pass
	// Occupancy, per family (0 IPv4, 1 IPv6): entries seen in the current
	// pass and at the last one's end, the kernel's new-flow counters when
	// the pass started, entries removed since.
	passSeen, entries, newAtPass, deleted [2]uint64
	// fullAt is the kernel's flow_table_full at the last check: when it
	// moves, a table is full now.
	fullAt uint64
	// resent are flows written from the table that the kernel restarted
	// in place before their removal (a new connection on the tuple, or a
	// packet after the idle split time): it sent their record through the
	// ring too, which Record drops. The value is what the written record
	// counted, each way.
	resent map[flowRef][2]uint32
}

// flowRef names one flow: its tuple and its start.
type flowRef struct {
	key   abi.BpfFlowKey
	first uint64
}

// Counters are what the tracker wrote and could not, for stats.
type Counters struct {
	Written, Timeout, Emergency, Closed, Shutdown, FromRing uint64
	// LatePackets reached a flow between its record and its removal:
	// counted in the kernel, in no record.
	LatePackets uint64
	// Split counts flows removed while a new connection had replaced
	// them and that could not be put back: written as two records.
	Split uint64
	// ExtrasOrphaned counts extensions whose flow was gone, removed.
	ExtrasOrphaned uint64
	// Entries is the tables' occupancy at the last pass (an estimate
	// between passes); InEmergency says the high-water mark was crossed,
	// EmergencyEntered how often.
	Entries          uint64
	InEmergency      bool
	EmergencyEntered uint64
}

type written struct {
	key     abi.BpfFlowKey
	first   uint64    // the flow's first_seen: a newer flow on the key is not ours
	packets [2]uint32 // as written: what arrives later is late
	extra   bool      // the flow has an extension to remove
	table   bool      // the record came from the table (not the ring)
}

// commitEvery is how many written flows a long sweep or the final flush
// holds before it syncs the outputs and removes them from the kernel. The
// written flows, their records and the in-flight set stay in memory until
// then, and fresh memory is dear (a 4 KB page fault costs ~12 µs on this
// VM): at 65,536 a replay whose 65,536 flows all end at the last packet
// took 4,000 more page faults and ~70 ms more than at 8,192.
const commitEvery = 8192

type closingFlow struct {
	first  uint64 // first_seen of the flow that closed
	reason event.EndReason
	due    uint64
}

// sweep walks one table in slices.
type sweep[K any] struct {
	cursor ebpf.MapBatchCursor
	keys   []K
	vals   []abi.BpfFlowValue
}

func (t *Tracker) linger() uint64 { return uint64(orDefault(t.Linger, DefaultLinger)) }
func (t *Tracker) timeout() uint64 {
	return uint64(orDefault(t.Timeout, DefaultTimeout))
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Closed records a close hint; the record is written after Linger.
func (t *Tracker) Closed(ev *abi.BpfFlowEvent, now uint64) {
	if t.closing == nil {
		t.closing = map[abi.BpfFlowKey]closingFlow{}
	}
	last := ev.Value.FirstSeenNs + uint64(ev.Value.LastSeenUs)*1000
	t.closing[ev.Key] = closingFlow{
		first:  ev.Value.FirstSeenNs,
		reason: endReason(ev.Reason),
		due:    max(now, last) + t.linger(),
	}
}

// Record writes a finished flow the kernel sent through the ring: one
// whose tuple a new connection reused, one idle past the replay's split
// time when its next packet came, or a packet the full table had no room
// for. The table does not hold it; its extension, if any, goes.
func (t *Tracker) Record(ev *abi.BpfFlowEvent) error {
	ref := flowRef{ev.Key, ev.Value.FirstSeenNs}
	if counted, ok := t.resent[ref]; ok {
		// Written from the table already: what reached it after that
		// record is late, as for a flow removed after its record.
		delete(t.resent, ref)
		t.Counters.LatePackets += latePackets(&ev.Value, counted)
		return nil
	}
	x, hasExtra := t.extra(&ev.Key, &ev.Value)
	t.Counters.FromRing++
	if ev.Reason == uint8(abi.BpfFlowEndReasonFLOW_END_TIMEOUT) {
		t.Counters.Timeout++
	}
	return t.write(&ev.Key, &ev.Value, x, endReason(ev.Reason), hasExtra, false)
}

// extra reads a flow's extension.
func (t *Tracker) extra(key *abi.BpfFlowKey, v *abi.BpfFlowValue) (*abi.BpfFlowExtra, bool) {
	if v.State&uint8(abi.BpfFlowStateBitsSTATE_EXTRA) == 0 {
		return nil, false
	}
	var x abi.BpfFlowExtra
	ek := abi.BpfFlowExtraKey{Key: *key, FirstSeenNs: v.FirstSeenNs}
	if err := t.Maps.FlowExtras.Lookup(&ek, &x); err != nil {
		return nil, false
	}
	return &x, true
}

// Tick writes closed flows whose linger has passed and sweeps a slice of
// the tables for idle flows.
func (t *Tracker) Tick(now uint64) error {
	for k, c := range t.closing {
		if now < c.due {
			continue
		}
		delete(t.closing, k)
		if err := t.finishClosed(&k, c); err != nil {
			return err
		}
	}
	return t.sweepSlice(now)
}

// finishClosed writes a closed flow from its table entry, which also has
// the packets after the close. A flow no longer in the table was written
// already (its tuple reused: the kernel sent its record).
func (t *Tracker) finishClosed(k *abi.BpfFlowKey, c closingFlow) error {
	v, ok := t.lookup(k)
	if !ok || v.FirstSeenNs != c.first || t.isInFlight(k, &v) {
		return nil
	}
	t.Counters.Closed++
	x, hasExtra := t.extra(k, &v)
	return t.write(k, &v, x, c.reason, hasExtra, true)
}

func (t *Tracker) lookup(k *abi.BpfFlowKey) (abi.BpfFlowValue, bool) {
	var v abi.BpfFlowValue
	var err error
	if k.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV4) {
		ck := abi.FlowKeyV4(k)
		err = t.Maps.FlowsV4.Lookup(&ck, &v)
	} else {
		ck := abi.FlowKeyV6(k)
		err = t.Maps.FlowsV6.Lookup(&ck, &v)
	}
	return v, err == nil
}

func (t *Tracker) isInFlight(k *abi.BpfFlowKey, v *abi.BpfFlowValue) bool {
	first, ok := t.inFlight[*k]
	return ok && first == v.FirstSeenNs
}

// due picks the flows a sweep writes now, and why.
func (t *Tracker) due(k *abi.BpfFlowKey, v *abi.BpfFlowValue, now uint64) (event.EndReason, bool) {
	if _, pending := t.closing[*k]; pending {
		return "", false
	}
	if t.isInFlight(k, v) {
		return "", false
	}
	last := v.FirstSeenNs + uint64(v.LastSeenUs)*1000
	if v.Marks&uint8(abi.BpfListedBitsMARK_LONG) != 0 {
		if x, ok := t.extra(k, v); ok && x.LastSeenNs > last {
			last = x.LastSeenNs
		}
	}
	if now < last {
		return "", false
	}
	idle := now - last
	if v.State&uint8(abi.BpfFlowStateBitsSTATE_CLOSED) != 0 && idle >= t.linger() {
		return closeReason(v), true // its close hint was lost
	}
	if idle >= t.timeout() {
		return event.EndTimeout, true
	}
	if t.Counters.InEmergency {
		limit := uint64(orDefault(t.EmergencyTimeout, DefaultEmergencyTimeout))
		if v.Dir[0].Packets != 0 && v.Dir[1].Packets != 0 {
			limit = max(limit, t.timeout()/4)
		}
		if idle >= limit {
			return event.EndEmergency, true
		}
	}
	return "", false
}

// sweepSlice continues the current pass by as many entries as the packet
// time since the last tick earns (a whole pass per SweepPeriod).
func (t *Tracker) sweepSlice(now uint64) error {
	if t.Quiescent {
		return t.sweepWhole(now)
	}
	period := float64(t.sweepPeriod())
	capacity := float64(max(t.Capacity, 1))
	switch {
	case t.lastTick == 0:
		// The first tick sweeps everything: the tables may hold flows
		// an earlier run left, or a whole capture's batch.
		t.startPass()
		t.budget = capacity
	case now < t.lastTick:
		// The packet clock went back (captures out of order): no budget.
	default:
		t.budget = min(t.budget+capacity*float64(now-t.lastTick)/period, capacity)
	}
	first := t.lastTick == 0
	t.lastTick = max(t.lastTick, now)
	t.updateEmergency()
	defer func() {
		if first {
			// The first pass was given, not earned: what it left is not
			// budget for another right after.
			t.budget = 0
		}
	}()
	for t.budget >= 1 {
		// A batch must hold a whole hash bucket: never fewer than 256.
		n, err := t.sweepBatch(now, int(max(min(t.budget, 4096), 256)))
		if err != nil {
			return err
		}
		t.budget -= float64(max(n, 1))
		if t.which > 1 {
			t.endPass(now)
			break
		}
	}
	return nil
}

// sweepPeriod is the packet time of a pass: SweepPeriod, half that while
// the tables are nearly full.
func (t *Tracker) sweepPeriod() time.Duration {
	period := orDefault(t.SweepPeriod, DefaultSweepPeriod)
	if t.Counters.InEmergency {
		period /= 2
	}
	return period
}

// sweepWhole is a replay's sweep: its tables hold still between ticks, so
// a whole pass is made at once, one per period of packet time (the first
// tick's at once). Paced in slices of the capacity, as live, a replay's
// tables, mostly empty, were passed over many times a period.
func (t *Tracker) sweepWhole(now uint64) error {
	first := t.lastTick == 0
	t.lastTick = max(t.lastTick, now)
	t.updateEmergency()
	if !first && now < t.lastPass+uint64(t.sweepPeriod()) {
		return nil
	}
	if first {
		t.startPass()
	}
	for t.which <= 1 {
		if _, err := t.sweepBatch(now, 4096); err != nil {
			return err
		}
	}
	t.endPass(now)
	t.lastPass = now
	return nil
}

// sweepBatch reads up to n entries of the current table.
func (t *Tracker) sweepBatch(now uint64, n int) (int, error) {
	pick := func(k *abi.BpfFlowKey, v *abi.BpfFlowValue) (event.EndReason, bool) { return t.due(k, v, now) }
	var got int
	var done bool
	var err error
	if t.which == 0 {
		got, done, err = sweepTable(t, &t.v4, t.Maps.FlowsV4, n, abi.KeyFromV4, pick)
	} else {
		got, done, err = sweepTable(t, &t.v6, t.Maps.FlowsV6, n, abi.KeyFromV6, pick)
	}
	if t.which < 2 {
		t.passSeen[t.which] += uint64(got)
	}
	if done {
		t.which++
	}
	return got, err
}

func sweepTable[K any](t *Tracker, s *sweep[K], m *ebpf.Map, n int, wide func(*K) abi.BpfFlowKey,
	pick func(*abi.BpfFlowKey, *abi.BpfFlowValue) (event.EndReason, bool)) (int, bool, error) {
	if len(s.keys) < n {
		s.keys = make([]K, n)
		s.vals = make([]abi.BpfFlowValue, n)
	}
	got, err := m.BatchLookup(&s.cursor, s.keys[:n], s.vals[:n], nil)
	for i := 0; i < got; i++ {
		k := wide(&s.keys[i])
		if reason, ok := pick(&k, &s.vals[i]); ok {
			if reason == event.EndTimeout {
				t.Counters.Timeout++
			} else if reason == event.EndEmergency {
				t.Counters.Emergency++
			}
			x, hasExtra := t.extra(&k, &s.vals[i])
			if werr := t.write(&k, &s.vals[i], x, reason, hasExtra, true); werr != nil {
				return got, false, werr
			}
		}
	}
	if cerr := t.commitIfLong(); cerr != nil {
		return got, false, cerr
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		s.cursor = ebpf.MapBatchCursor{}
		return got, true, nil
	}
	if err != nil {
		return got, false, fmt.Errorf("reading flow table: %w", err)
	}
	return got, false, nil
}

// commitIfLong syncs and commits when many records are pending. Removing
// entries behind the batch cursor does not disturb the walk: the cursor
// is a bucket.
func (t *Tracker) commitIfLong() error {
	if t.Sync == nil || t.discarding || len(t.uncommitted) < commitEvery {
		return nil
	}
	if err := t.Sync(); err != nil {
		return err
	}
	return t.Commit()
}

func (t *Tracker) startPass() {
	t.which, t.passSeen, t.deleted = 0, [2]uint64{}, [2]uint64{}
	if st, err := t.Maps.ReadStats(); err == nil {
		t.newAtPass = [2]uint64{st.FlowsNew - st.FlowsNewV6, st.FlowsNewV6}
	}
}

func (t *Tracker) endPass(now uint64) {
	t.entries = t.passSeen
	t.Counters.Entries = t.entries[0] + t.entries[1]
	t.removeOrphanedExtras(now)
	t.startPass()
	t.updateEmergency() // a pass's count is the best estimate there is
}

// removeOrphanedExtras removes flow extensions whose flow is gone without
// a record taking them along (its record was lost to a full ring, or a
// daemon died between writing a record and removing the extension). Only
// those older than two timeouts: a young one's record may still be in
// the ring.
func (t *Tracker) removeOrphanedExtras(now uint64) {
	if t.Maps.FlowExtras == nil {
		return
	}
	var gone []abi.BpfFlowExtraKey
	var k abi.BpfFlowExtraKey
	var x abi.BpfFlowExtra
	it := t.Maps.FlowExtras.Iterate()
	for it.Next(&k, &x) {
		if k.FirstSeenNs+2*t.timeout() > now {
			continue
		}
		if v, ok := t.lookup(&k.Key); ok && v.FirstSeenNs == k.FirstSeenNs {
			continue
		}
		if _, pending := t.inFlight[k.Key]; pending {
			continue
		}
		gone = append(gone, k)
	}
	for i := range gone {
		if err := t.Maps.FlowExtras.Delete(&gone[i]); err == nil {
			t.Counters.ExtrasOrphaned++
		}
	}
}

// updateEmergency estimates each table's occupancy (the last pass's count,
// plus flows made since, less those removed) and enters emergency mode
// when one passes the high-water mark or the kernel had to send a packet
// as a record of its own because a table was full; it leaves once both
// are below the low-water mark and none was full since the last check.
func (t *Tracker) updateEmergency() {
	if t.Capacity == 0 {
		return
	}
	st, err := t.Maps.ReadStats()
	if err != nil {
		return
	}
	made := [2]uint64{st.FlowsNew - st.FlowsNewV6, st.FlowsNewV6}
	size := [2]uint64{t.Capacity - t.CapacityV6, t.CapacityV6}
	high, low := t.HighWater, t.LowWater
	if high == 0 {
		high = DefaultHighWater
	}
	if low == 0 {
		low = DefaultLowWater
	}
	var fill float64
	var total uint64
	for i := range made {
		est := t.entries[i]
		if made[i] >= t.newAtPass[i] {
			est += made[i] - t.newAtPass[i]
		}
		est -= min(est, t.deleted[i])
		est = min(est, size[i])
		total += est
		if size[i] > 0 {
			fill = max(fill, float64(est)/float64(size[i]))
		}
	}
	t.Counters.Entries = total
	full := st.FlowTableFull != t.fullAt
	t.fullAt = st.FlowTableFull
	switch {
	case !t.Counters.InEmergency && (fill >= high || full):
		t.Counters.InEmergency = true
		t.Counters.EmergencyEntered++
	case t.Counters.InEmergency && fill < low && !full:
		t.Counters.InEmergency = false
	}
}

// Flush writes every flow still known: lingering ones with their close
// reason, the rest as shutdown.
func (t *Tracker) Flush() error {
	for k, c := range t.closing {
		delete(t.closing, k)
		if err := t.finishClosed(&k, c); err != nil {
			return err
		}
	}
	// The closed flows just written stay in flight: the walk skips them.
	t.discarding = t.Discard
	pick := func(k *abi.BpfFlowKey, v *abi.BpfFlowValue) (event.EndReason, bool) {
		if t.isInFlight(k, v) {
			return "", false
		}
		if v.State&uint8(abi.BpfFlowStateBitsSTATE_CLOSED) != 0 {
			t.Counters.Closed++
			return closeReason(v), true
		}
		t.Counters.Shutdown++
		return event.EndShutdown, true
	}
	if err := flushTable(t, t.Maps.FlowsV4, abi.KeyFromV4, pick); err != nil {
		return err
	}
	if err := flushTable(t, t.Maps.FlowsV6, abi.KeyFromV6, pick); err != nil {
		return err
	}
	t.Counters.Entries = 0 // every flow written: they leave at Commit
	return nil
}

// flushTable writes every flow of a table pick selects.
func flushTable[K any](t *Tracker, m *ebpf.Map, wide func(*K) abi.BpfFlowKey,
	pick func(*abi.BpfFlowKey, *abi.BpfFlowValue) (event.EndReason, bool)) error {
	var s sweep[K]
	for {
		_, done, err := sweepTable(t, &s, m, 4096, wide, pick)
		if done || err != nil {
			return err
		}
	}
}

func (t *Tracker) write(k *abi.BpfFlowKey, v *abi.BpfFlowValue, x *abi.BpfFlowExtra, reason event.EndReason, hasExtra, fromTable bool) error {
	if !t.discarding {
		t.hold(k, v, hasExtra, fromTable)
	}
	f := t.Decoder.Flow(k, v, x, reason)
	if t.Skip[f.FlowID] {
		return nil // an earlier process wrote it, then stopped before removing it
	}
	t.Counters.Written++
	return t.Write(f)
}

// hold keeps a written flow for Commit to remove, and out of later walks
// until then.
func (t *Tracker) hold(k *abi.BpfFlowKey, v *abi.BpfFlowValue, hasExtra, fromTable bool) {
	t.uncommitted = append(t.uncommitted, written{key: *k, first: v.FirstSeenNs,
		packets: [2]uint32{v.Dir[0].Packets, v.Dir[1].Packets}, extra: hasExtra, table: fromTable})
	if fromTable {
		if t.inFlight == nil {
			t.inFlight = map[abi.BpfFlowKey]uint64{}
		}
		t.inFlight[*k] = v.FirstSeenNs
	}
}

// Commit removes the flows written so far from the kernel; call it once
// their records are flushed to the output. After the final Flush of
// Discard tables there is nothing to remove: the tables go whole.
func (t *Tracker) Commit() error {
	if t.discarding {
		t.uncommitted = t.uncommitted[:0]
		clear(t.inFlight)
		return nil
	}
	if t.Quiescent {
		if err := t.removeQuiet(); err != nil {
			return err
		}
	}
	for i := range t.uncommitted {
		w := &t.uncommitted[i]
		if w.table && !t.Quiescent {
			if err := t.remove(w); err != nil {
				return err
			}
		}
		if w.extra {
			ek := abi.BpfFlowExtraKey{Key: w.key, FirstSeenNs: w.first}
			if err := t.Maps.FlowExtras.Delete(&ek); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("removing a written flow's extension: %w", err)
			}
		}
	}
	t.uncommitted = t.uncommitted[:0]
	clear(t.inFlight)
	return nil
}

// removeQuiet removes the written flows in batches: the tables held still
// since they were read, so the entries are the ones written.
func (t *Tracker) removeQuiet() error {
	var v4 []abi.BpfFlowKeyV4
	var v6 []abi.BpfFlowKeyV6
	for i := range t.uncommitted {
		w := &t.uncommitted[i]
		if !w.table {
			continue
		}
		if w.key.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV4) {
			v4 = append(v4, abi.FlowKeyV4(&w.key))
		} else {
			v6 = append(v6, abi.FlowKeyV6(&w.key))
		}
	}
	n4, err := batchDelete(t.Maps.FlowsV4, v4)
	t.deleted[0] += uint64(n4)
	if err != nil {
		return err
	}
	n6, err := batchDelete(t.Maps.FlowsV6, v6)
	t.deleted[1] += uint64(n6)
	return err
}

func batchDelete[K any](m *ebpf.Map, keys []K) (int, error) {
	deleted := 0
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 4096)]
		n, err := m.BatchDelete(chunk, nil)
		deleted += n
		switch {
		case err == nil:
			keys = keys[len(chunk):]
		case errors.Is(err, ebpf.ErrKeyNotExist):
			keys = keys[n+1:] // chunk[n] was gone already
		default:
			return deleted, fmt.Errorf("removing written flows: %w", err)
		}
	}
	return deleted, nil
}

// remove takes a written flow out of its table, reading what it held at
// that moment.
func (t *Tracker) remove(w *written) error {
	var now abi.BpfFlowValue
	var err error
	var putBack func() error
	if w.key.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV4) {
		ck := abi.FlowKeyV4(&w.key)
		err = t.Maps.FlowsV4.LookupAndDelete(&ck, &now)
		putBack = func() error { return t.Maps.FlowsV4.Update(&ck, &now, ebpf.UpdateNoExist) }
	} else {
		ck := abi.FlowKeyV6(&w.key)
		err = t.Maps.FlowsV6.LookupAndDelete(&ck, &now)
		putBack = func() error { return t.Maps.FlowsV6.Update(&ck, &now, ebpf.UpdateNoExist) }
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing a written flow: %w", err)
	}
	fam := 0
	if w.key.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV6) {
		fam = 1
	}
	t.deleted[fam]++
	if now.FirstSeenNs != w.first {
		// A new connection took the tuple after the record was written:
		// that flow is not ours to remove, and the kernel sent the
		// written one's record as it restarted the entry.
		if t.resent == nil {
			t.resent = map[flowRef][2]uint32{}
		}
		t.resent[flowRef{w.key, w.first}] = w.packets
		if perr := putBack(); perr != nil {
			// Yet another flow took its place: this one is written as
			// it stands, cut short.
			t.Counters.Split++
			t.Counters.Written++
			x, _ := t.extra(&w.key, &now)
			return t.Write(t.Decoder.Flow(&w.key, &now, x, event.EndShutdown))
		}
		t.deleted[fam]--
		return nil
	}
	t.Counters.LatePackets += latePackets(&now, w.packets)
	return nil
}

// Snapshot decodes every flow the tables hold now, as active records,
// without changing them (the `flows` command, tests).
func Snapshot(maps *abi.BpfMaps, dec *Decoder) ([]*event.Flow, error) {
	t := &Tracker{Maps: maps, Decoder: dec}
	var out []*event.Flow
	t.Write = func(f *event.Flow) error { out = append(out, f); return nil }
	all := func(*abi.BpfFlowKey, *abi.BpfFlowValue) (event.EndReason, bool) { return event.EndActive, true }
	if err := flushTable(t, maps.FlowsV4, abi.KeyFromV4, all); err != nil {
		return nil, err
	}
	if err := flushTable(t, maps.FlowsV6, abi.KeyFromV6, all); err != nil {
		return nil, err
	}
	return out, nil
}

// latePackets are the packets v counts beyond what a written record
// counted each way (the narrow counters wrap).
func latePackets(v *abi.BpfFlowValue, written [2]uint32) uint64 {
	return uint64(v.Dir[0].Packets-written[0]) + uint64(v.Dir[1].Packets-written[1])
}
