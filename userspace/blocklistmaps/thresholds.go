package blocklistmaps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

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
func (b *Blocklist) carryThresholds(liveSlot uint32, next map[uint32]abi.BpfRule) error {
	if b.Maps.Thresholds == nil {
		return nil
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
		return fmt.Errorf("reading rules: %w", err)
	}
	var stale []abi.BpfThresholdKey
	var keys []abi.BpfThresholdKey
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
			k.RuleId = nid
			keys = append(keys, k)
			vals = append(vals, v)
		}
	}
	if err := ti.Err(); err != nil {
		return fmt.Errorf("reading threshold windows: %w", err)
	}
	for _, k := range stale {
		if err := b.Maps.Thresholds.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("dropping old threshold windows: %w", err)
		}
	}
	// The idle slot's ids are not matched until the flip: nothing else
	// writes these keys meanwhile.
	for i := range keys {
		if err := b.Maps.Thresholds.Put(keys[i], vals[i]); err != nil {
			return fmt.Errorf("carrying threshold windows over: %w", err)
		}
	}
	return nil
}
