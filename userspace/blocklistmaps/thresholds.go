package blocklistmaps

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// ruleIdentity is what makes a reloaded rule the same rule for its
// threshold windows: its id and its threshold.
type ruleIdentity struct {
	gid, sid, rev       uint32
	thType, thTrack     uint8
	thCount, thSeconds  uint32
	direction, otherNet uint8
	msg                 string
}

func identityOf(r *abi.BpfRule) ruleIdentity {
	return ruleIdentity{gid: r.Gid, sid: r.Sid, rev: r.Rev, thType: r.ThresholdType, thTrack: r.ThresholdTrack,
		thCount: r.ThresholdCount, thSeconds: r.ThresholdSeconds, direction: r.Direction, otherNet: r.OtherNet,
		msg: abi.CString(r.Msg[:])}
}

// carryThresholds gives the rules of a new generation the threshold
// windows their identical predecessors in the live slot had: the kernel
// keys windows by rule id, which a reload changes, so an unchanged rule
// would otherwise start counting afresh (a "limit 1 per hour" rule would
// alert again at every reload). The windows of the rules that held the
// idle slot's ids before (two loads ago) are dropped: ids are reused, and
// a new rule must not inherit an old one's window.
//
// Returns how many windows it could not carry: a full table whose room a
// packet took while a window was being moved.
func (b *Blocklist) carryThresholds(liveSlot uint32, next map[uint32]abi.BpfRule) (dropped int, err error) {
	if b.Maps.Thresholds == nil {
		return 0, nil
	}
	byIdentity := map[ruleIdentity]uint32{}
	for id, r := range next {
		if r.ThresholdType != 0 {
			byIdentity[identityOf(&r)] = id
		}
	}
	renamed := map[uint32]uint32{} // live rule id -> new rule id
	var id uint32
	var r abi.BpfRule
	it := b.Maps.Rules.Iterate()
	for it.Next(&id, &r) {
		if id>>ruleSlotShift != liveSlot || r.ThresholdType == 0 {
			continue
		}
		if nid, ok := byIdentity[identityOf(&r)]; ok {
			renamed[id] = nid
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("reading rules: %w", err)
	}
	var stale []abi.BpfThresholdKey
	var keys, olds []abi.BpfThresholdKey // new and old ids of the carried windows
	var vals []abi.BpfThresholdState
	var k abi.BpfThresholdKey
	var v abi.BpfThresholdState
	ti := b.Maps.Thresholds.Iterate()
	for ti.Next(&k, &v) {
		if k.RuleId>>ruleSlotShift != liveSlot {
			stale = append(stale, k)
			continue
		}
		if nid, ok := renamed[k.RuleId]; ok {
			olds = append(olds, k)
			k.RuleId = nid
			keys = append(keys, k)
			vals = append(vals, v)
		}
	}
	if err := ti.Err(); err != nil {
		return 0, fmt.Errorf("reading threshold windows: %w", err)
	}
	for _, k := range stale {
		if err := b.Maps.Thresholds.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, fmt.Errorf("dropping old threshold windows: %w", err)
		}
	}
	// The idle slot's ids are not matched until the flip: nothing else
	// writes these keys meanwhile. A full table (the kernel never evicts)
	// makes room by moving the window rather than copying it: its old rule
	// starts afresh for the moment until the flip, not the new one for
	// the rest of the window.
	for i := range keys {
		err := b.Maps.Thresholds.Put(keys[i], vals[i])
		if errors.Is(err, unix.E2BIG) {
			if derr := b.Maps.Thresholds.Delete(olds[i]); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
				return 0, fmt.Errorf("making room to carry a threshold window over: %w", derr)
			}
			err = b.Maps.Thresholds.Put(keys[i], vals[i])
			if errors.Is(err, unix.E2BIG) {
				dropped++ // a packet took the room meanwhile
				continue
			}
		}
		if err != nil {
			return 0, fmt.Errorf("carrying threshold windows over: %w", err)
		}
	}
	return dropped, nil
}

// thresholdSweepBatch is how many windows one read of the table returns.
const thresholdSweepBatch = 1024

// ExpireThresholds removes the threshold windows that ended by now, on
// the packet clock (kernel monotonic live, capture time in replay), and
// those of rules no longer loaded (the kernel ignores them): the table is
// a plain hash the kernel never evicts from, so the windows of sources
// that went quiet would fill it. A window the kernel restarted between
// the read and the removal is put back. Returns how many it removed.
func ExpireThresholds(m *abi.BpfMaps, now uint64) (int, error) {
	if m.Thresholds == nil {
		return 0, nil
	}
	windows := map[uint32]uint64{} // rule id -> its window in ns; 0: no rule (or none to keep)
	ended := func(k *abi.BpfThresholdKey, v *abi.BpfThresholdState) (bool, error) {
		w, ok := windows[k.RuleId]
		if !ok {
			var r abi.BpfRule
			err := m.Rules.Lookup(k.RuleId, &r)
			if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return false, fmt.Errorf("reading rule %#x: %w", k.RuleId, err)
			}
			if err == nil {
				w = uint64(r.ThresholdSeconds) * uint64(time.Second)
			}
			windows[k.RuleId] = w
		}
		// A window started after now (a packet after the daemon read its
		// clock) has not ended: unlike the kernel, this side is behind.
		return w == 0 || (v.WindowStartNs <= now && now-v.WindowStartNs >= w), nil
	}
	var (
		cursor ebpf.MapBatchCursor
		keys   = make([]abi.BpfThresholdKey, thresholdSweepBatch)
		vals   = make([]abi.BpfThresholdState, thresholdSweepBatch)
		due    []abi.BpfThresholdKey
	)
	for {
		n, err := m.Thresholds.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			over, eerr := ended(&keys[i], &vals[i])
			if eerr != nil {
				return 0, eerr
			}
			if over {
				due = append(due, keys[i])
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading threshold windows: %w", err)
		}
	}
	removed := 0
	for i := range due {
		var v abi.BpfThresholdState
		err := m.Thresholds.LookupAndDelete(&due[i], &v)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("removing an ended threshold window: %w", err)
		}
		if over, _ := ended(&due[i], &v); !over {
			// Restarted meanwhile: back it goes, unless a packet made a
			// new one in that instant (then that one counts on).
			if err := m.Thresholds.Update(&due[i], &v, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
				return removed, fmt.Errorf("putting back a restarted threshold window: %w", err)
			}
			continue
		}
		removed++
	}
	return removed, nil
}
