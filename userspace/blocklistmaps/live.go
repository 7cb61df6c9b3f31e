package blocklistmaps

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/loader/pinlock"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// Operations on the live blocklist of a running (pinned) sensor: a single
// address or prefix added or removed in place, expiry, and a snapshot for
// list/check/diff. In-place edits move the generation by two (the live
// slot stays), so that every flow decides again on its next packet.

// Lock serializes writers (the daemon and CLI commands) of one pinned
// sensor with flock(2) on its pin directory (pinlock). Unpinned
// instances need none.
func (b *Blocklist) Lock() (unlock func(), err error) {
	return pinlock.Lock(b.PinDir)
}

// LiveEntry is one address or prefix of the live blocklist.
type LiveEntry struct {
	Prefix    netip.Prefix
	RuleAsSrc uint32 // rule ids, 0 for none
	RuleAsDst uint32
	// Sources are the entry's own "file:line"s as its load recorded them
	// (see EntrySource), nil when they are its rules'.
	Sources []string
}

// Snapshot is the live blocklist as the kernel holds it.
type Snapshot struct {
	Generation uint32
	Rules      map[uint32]abi.BpfRule // the live slot's rules
	Entries    []LiveEntry            // sorted by prefix
}

func liveSlot(gen uint32) uint32 { return gen & 1 }

// live reads the sensor config and its live slot.
func (b *Blocklist) live() (abi.BpfSensorConfig, uint32, error) {
	cfg, err := b.Maps.ReadConfig()
	return cfg, liveSlot(cfg.Generation), err
}

// Snapshot reads the live slot.
func (b *Blocklist) Snapshot() (*Snapshot, error) {
	cfg, err := b.Maps.ReadConfig()
	if err != nil {
		return nil, err
	}
	slot := liveSlot(cfg.Generation)
	snap := &Snapshot{Generation: cfg.Generation, Rules: map[uint32]abi.BpfRule{}}
	var id uint32
	var r abi.BpfRule
	it := b.Maps.Rules.Iterate()
	for it.Next(&id, &r) {
		if id>>ruleSlotShift == slot {
			snap.Rules[id] = r
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	add := func(p netip.Prefix, e abi.BpfBlocklistEntry) {
		snap.Entries = append(snap.Entries, LiveEntry{Prefix: p, RuleAsSrc: e.RuleAsSrc, RuleAsDst: e.RuleAsDst})
	}
	if err := walkInner(b.Maps.BlocklistV4Slots, slot, func(k abi.BpfIpv4Addr, e abi.BpfBlocklistEntry) {
		add(netip.PrefixFrom(netip.AddrFrom4(k.Octets), 32), e)
	}); err != nil {
		return nil, err
	}
	if err := walkInner(b.Maps.BlocklistV6Slots, slot, func(k [16]byte, e abi.BpfBlocklistEntry) {
		add(netip.PrefixFrom(netip.AddrFrom16(k), 128), e)
	}); err != nil {
		return nil, err
	}
	if err := walkInner(b.Maps.BlocklistPrefixV4Slots, slot, func(k abi.BpfLpmV4Key, e abi.BpfPrefixEntry) {
		add(netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen)), entryOf(e))
	}); err != nil {
		return nil, err
	}
	if err := walkInner(b.Maps.BlocklistPrefixV6Slots, slot, func(k abi.BpfLpmV6Key, e abi.BpfPrefixEntry) {
		add(netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen)), entryOf(e))
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(snap.Entries, func(a, b LiveEntry) int { return comparePrefix(a.Prefix, b.Prefix) })
	if srcs := b.readSources(cfg.Generation); srcs != nil {
		for i := range snap.Entries {
			snap.Entries[i].Sources = srcs[snap.Entries[i].Prefix]
		}
	}
	return snap, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// innerMap opens outer[slot], nil when the slot is empty.
func innerMap(outer *ebpf.Map, slot uint32) (*ebpf.Map, error) {
	var id uint32
	if err := outer.Lookup(slot, &id); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s[%d]: %w", outer, slot, err)
	}
	m, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return nil, fmt.Errorf("opening inner map %d: %w", id, err)
	}
	return m, nil
}

func walkInner[K, V any](outer *ebpf.Map, slot uint32, fn func(K, V)) error {
	m, err := innerMap(outer, slot)
	if err != nil || m == nil {
		return err
	}
	defer m.Close()
	var k K
	var e V
	it := m.Iterate()
	for it.Next(&k, &e) {
		fn(k, e)
	}
	return it.Err()
}

// Matches lists every entry containing addr (exact and prefixes), most
// specific first.
func (s *Snapshot) Matches(addr netip.Addr) []LiveEntry {
	var out []LiveEntry
	for _, e := range s.Entries {
		if e.Prefix.Contains(addr) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b LiveEntry) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	return out
}

// AddOptions describe a manually listed address.
type AddOptions struct {
	Rule    blocklist.Rule // msg, sid, direction...
	Expires time.Time      // zero: never
	// Override replaces the rule a loaded list gave the address (for the
	// directions added) instead of refusing: the kernel keeps one rule per
	// address and side, so until the next load the feed's rule is gone for
	// those directions, and a Del removes the address altogether.
	Override bool
}

// ManualSource is the Source of rules that Add writes.
const ManualSource = "xdpsensor blocklist add"

// ListedError is Add's refusal to replace the rule a loaded list gave an
// address.
type ListedError struct {
	Prefix netip.Prefix
	Side   string // "source", "destination" or "either end"
	Rule   blocklist.Rule
}

func (e *ListedError) Error() string {
	r := e.Rule
	return fmt.Sprintf("%s is already listed as %s by [%d:%d:%d] %s (%s): adding would replace that rule until the next load, "+
		"and a later del would remove the feed's listing too; give --override to do it anyway", e.Prefix, e.Side, r.GID, r.SID, r.Rev, r.Msg, r.Source)
}

// feedRuleFor returns the rule a loaded list (not Add) gives p in the
// live slot for the directions of dir, if any.
func (b *Blocklist) feedRuleFor(slot uint32, p netip.Prefix, dir blocklist.Direction) (*ListedError, error) {
	outer, key := b.entryMap(p)
	m, err := innerMap(outer, slot)
	if err != nil || m == nil {
		return nil, err
	}
	defer m.Close()
	cur, err := readEntry(m, key, p)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var found *ListedError
	for _, side := range []struct {
		bit  blocklist.Direction
		id   uint32
		name string
	}{{blocklist.ListedAsSrc, cur.RuleAsSrc, "source"}, {blocklist.ListedAsDst, cur.RuleAsDst, "destination"}} {
		if dir&side.bit == 0 || side.id == 0 {
			continue
		}
		var kr abi.BpfRule
		if err := b.Maps.Rules.Lookup(side.id, &kr); err != nil {
			continue
		}
		r := abi.RuleFromKernel(&kr)
		if r.Source == ManualSource {
			continue
		}
		if found != nil && found.Rule.Source == r.Source && found.Rule.SID == r.SID {
			found.Side = "either end"
			continue
		}
		if found == nil {
			found = &ListedError{Prefix: p, Side: side.name, Rule: r}
		}
	}
	return found, nil
}

// Add lists one address or prefix in the live slot, in place. A slot
// without room is rebuilt through Replace (still atomic): then what the
// rebuild installed is returned (its ThresholdsDropped too), nil when the
// address went in in place.
func (b *Blocklist) Add(p netip.Prefix, opts AddOptions) (*InstallStats, error) {
	p = p.Masked()
	cfg, slot, err := b.live()
	if err != nil {
		return nil, err
	}
	if opts.Rule.Source == "" {
		opts.Rule.Source = ManualSource
	}
	if dir := opts.Rule.Direction; !opts.Override {
		if dir == 0 {
			dir = blocklist.ListedAsAny
		}
		listed, err := b.feedRuleFor(slot, p, dir)
		if err != nil {
			return nil, err
		}
		if listed != nil {
			return nil, listed
		}
	}
	id, err := b.newRuleID(slot)
	if err != nil {
		return nil, err
	}
	kr := abi.KernelRule(opts.Rule, cfg.Generation+2, b.now())
	if !opts.Expires.IsZero() {
		kr.ExpiresUnix = uint64(opts.Expires.Unix())
	}
	if err := b.Maps.Rules.Put(id, &kr); err != nil {
		return nil, fmt.Errorf("writing rule: %w", err)
	}
	dir := opts.Rule.Direction
	if dir == 0 {
		dir = blocklist.ListedAsAny
	}
	fits, added, err := b.putEntry(slot, p, func(e abi.BpfBlocklistEntry) abi.BpfBlocklistEntry {
		// A manual entry overrides what the list said for its directions.
		if dir&blocklist.ListedAsSrc != 0 {
			e.RuleAsSrc = id
		}
		if dir&blocklist.ListedAsDst != 0 {
			e.RuleAsDst = id
		}
		return e
	})
	if err != nil {
		b.Maps.Rules.Delete(id)
		return nil, err
	}
	if !fits {
		b.Maps.Rules.Delete(id)
		return b.rebuildWith(p, opts)
	}
	delta := 0
	if added {
		delta = 1
	}
	return nil, b.bumpGeneration(slot, p, delta)
}

// Del removes one address or prefix from the live slot.
func (b *Blocklist) Del(p netip.Prefix) error {
	_, err := b.DelManual(p)
	return err
}

// DelManual removes one address or prefix from the live slot. When Add
// listed it for one direction and a loaded list for the other, only Add's
// listing goes and kept describes the list's rule that still holds it.
func (b *Blocklist) DelManual(p netip.Prefix) (kept *ListedError, err error) {
	p = p.Masked()
	_, slot, err := b.live()
	if err != nil {
		return nil, err
	}
	outer, key := b.entryMap(p)
	m, err := innerMap(outer, slot)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("%s is not on the blocklist", p)
	}
	defer m.Close()
	if cur, err := readEntry(m, key, p); err == nil {
		manual := func(id uint32) bool {
			var kr abi.BpfRule
			return id != 0 && b.Maps.Rules.Lookup(id, &kr) == nil && abi.CString(kr.Source[:]) == ManualSource
		}
		srcManual, dstManual := manual(cur.RuleAsSrc), manual(cur.RuleAsDst)
		srcFeed, dstFeed := cur.RuleAsSrc != 0 && !srcManual, cur.RuleAsDst != 0 && !dstManual
		if (srcManual || dstManual) && (srcFeed || dstFeed) {
			next := cur
			if srcManual {
				next.RuleAsSrc = 0
			}
			if dstManual {
				next.RuleAsDst = 0
			}
			if err := writeEntry(m, key, p, next); err != nil {
				return nil, fmt.Errorf("writing %s: %w", p, err)
			}
			kept, err = b.feedRuleFor(slot, p, blocklist.ListedAsAny)
			if err != nil {
				return nil, err
			}
			return kept, b.bumpGeneration(slot, p, 0)
		}
	}
	return nil, b.delEntry(m, key, slot, p)
}

func (b *Blocklist) delEntry(m *ebpf.Map, key any, slot uint32, p netip.Prefix) error {
	if err := m.Delete(key); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("%s is not on the blocklist", p)
		}
		return fmt.Errorf("deleting %s: %w", p, err)
	}
	// The pre-filter keeps its bits: a stale bit only costs a lookup.
	return b.bumpGeneration(slot, p, -1)
}

// Expire removes entries whose rules expired at now, and reports how many.
func (b *Blocklist) Expire(now time.Time) (int, error) {
	snap, err := b.Snapshot()
	if err != nil {
		return 0, err
	}
	expired := map[uint32]bool{}
	for id, r := range snap.Rules {
		if r.ExpiresUnix != 0 && int64(r.ExpiresUnix) <= now.Unix() {
			expired[id] = true
		}
	}
	if len(expired) == 0 {
		return 0, nil
	}
	slot := liveSlot(snap.Generation)
	removed := 0
	for _, e := range snap.Entries {
		if !expired[e.RuleAsSrc] && !expired[e.RuleAsDst] {
			continue
		}
		next := abi.BpfBlocklistEntry{RuleAsSrc: e.RuleAsSrc, RuleAsDst: e.RuleAsDst}
		if expired[next.RuleAsSrc] {
			next.RuleAsSrc = 0
		}
		if expired[next.RuleAsDst] {
			next.RuleAsDst = 0
		}
		outer, key := b.entryMap(e.Prefix)
		m, err := innerMap(outer, slot)
		if err != nil || m == nil {
			return removed, err
		}
		if next.RuleAsSrc == 0 && next.RuleAsDst == 0 {
			err = m.Delete(key)
			if err == nil {
				removed++
				err = b.adjustCount(slot, e.Prefix, -1)
			}
		} else {
			err = writeEntry(m, key, e.Prefix, next)
		}
		m.Close()
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return removed, fmt.Errorf("expiring %s: %w", e.Prefix, err)
		}
	}
	return removed, b.bumpGeneration(slot, netip.Prefix{}, 0)
}

// entryMap picks the outer map and key type for a prefix.
func (b *Blocklist) entryMap(p netip.Prefix) (*ebpf.Map, any) {
	a := p.Addr()
	switch {
	case a.Is4() && p.Bits() == 32:
		return b.Maps.BlocklistV4Slots, abi.BpfIpv4Addr{Octets: a.As4()}
	case a.Is4():
		return b.Maps.BlocklistPrefixV4Slots, abi.BpfLpmV4Key{Prefixlen: uint32(p.Bits()), Addr: a.As4()}
	case p.Bits() == 128:
		return b.Maps.BlocklistV6Slots, a.As16()
	default:
		return b.Maps.BlocklistPrefixV6Slots, abi.BpfLpmV6Key{Prefixlen: uint32(p.Bits()), Addr: a.As16()}
	}
}

// readEntry reads p's entry from m, the inner map entryMap picked for it
// (with key): a prefix trie's value holds the prefix's length beside the
// rules.
func readEntry(m *ebpf.Map, key any, p netip.Prefix) (abi.BpfBlocklistEntry, error) {
	if p.Bits() == p.Addr().BitLen() {
		var e abi.BpfBlocklistEntry
		err := m.Lookup(key, &e)
		return e, err
	}
	var e abi.BpfPrefixEntry
	err := m.Lookup(key, &e)
	return entryOf(e), err
}

// writeEntry writes p's entry into m, as readEntry reads it.
func writeEntry(m *ebpf.Map, key any, p netip.Prefix, e abi.BpfBlocklistEntry) error {
	if p.Bits() == p.Addr().BitLen() {
		return m.Put(key, &e)
	}
	v := prefixEntry(e, uint32(p.Bits()))
	return m.Put(key, &v)
}

// entryOf is a prefix trie value's rules.
func entryOf(e abi.BpfPrefixEntry) abi.BpfBlocklistEntry {
	return abi.BpfBlocklistEntry{RuleAsSrc: e.RuleAsSrc, RuleAsDst: e.RuleAsDst}
}

// putEntry updates (or inserts) an entry in the live slot's inner map;
// fits is false when the map is absent or full, added when the entry is new.
func (b *Blocklist) putEntry(slot uint32, p netip.Prefix, update func(abi.BpfBlocklistEntry) abi.BpfBlocklistEntry) (fits, added bool, err error) {
	outer, key := b.entryMap(p)
	m, err := innerMap(outer, slot)
	if err != nil || m == nil {
		return false, false, err
	}
	defer m.Close()
	cur, err := readEntry(m, key, p)
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		added = true
	case err != nil:
		return false, false, err
	}
	next := update(cur)
	if err := writeEntry(m, key, p, next); err != nil {
		if errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.ENOSPC) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("writing %s: %w", p, err)
	}
	if err := b.markAdded(slot, p); err != nil {
		return false, false, err
	}
	return true, added, nil
}

// markAdded sets the pre-filter bits a new entry needs.
func (b *Blocklist) markAdded(slot uint32, p netip.Prefix) error {
	a := p.Addr()
	if p.Bits() == a.BitLen() {
		cfg, err := b.Maps.ReadConfig()
		if err != nil {
			return err
		}
		log2 := cfg.Slots[slot].FilterBitsLog2
		if log2 == 0 {
			return nil // no filter: every address goes to the map
		}
		m, err := innerMap(b.Maps.ExactFilterSlots, slot)
		if err != nil || m == nil {
			return err
		}
		defer m.Close()
		h := addrHash(a.AsSlice())
		mask := uint32(1)<<log2 - 1
		for _, i := range [2]uint32{uint32(h) & mask, uint32(h>>32) & mask} {
			var w uint64
			if err := m.Lookup(i>>6, &w); err != nil {
				return err
			}
			w |= 1 << (i & 63)
			if err := m.Put(i>>6, w); err != nil {
				return err
			}
		}
		return nil
	}
	if !a.Is4() {
		return nil
	}
	var img slotImage
	img.markPrefixV4(p)
	for i, w := range img.filter {
		if w == 0 {
			continue
		}
		key := slot*prefixFilterLen + uint32(i)
		var cur uint32
		if err := b.Maps.PrefixV4Filter.Lookup(key, &cur); err != nil {
			return err
		}
		if err := b.Maps.PrefixV4Filter.Put(key, cur|w); err != nil {
			return err
		}
	}
	return nil
}

// adjustCount changes the live slot's entry count for p's kind.
func (b *Blocklist) adjustCount(slot uint32, p netip.Prefix, delta int) error {
	cfg, err := b.Maps.ReadConfig()
	if err != nil {
		return err
	}
	c := &cfg.Slots[slot]
	a := p.Addr()
	var n *uint32
	switch {
	case a.Is4() && p.Bits() == 32:
		n = &c.ExactV4
	case a.Is4():
		n = &c.PrefixV4
	case p.Bits() == 128:
		n = &c.ExactV6
	default:
		n = &c.PrefixV6
	}
	*n = uint32(max(int(*n)+delta, 0))
	return b.Maps.Config.Put(uint32(0), &cfg)
}

// bumpGeneration records a count change (when p is valid) and moves the
// generation on by two: same slot, every flow decides again.
func (b *Blocklist) bumpGeneration(slot uint32, p netip.Prefix, delta int) error {
	if p.IsValid() && delta != 0 {
		if err := b.adjustCount(slot, p, delta); err != nil {
			return err
		}
	}
	cfg, err := b.Maps.ReadConfig()
	if err != nil {
		return err
	}
	cfg.Generation += 2
	if err := b.Maps.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("moving the blocklist generation: %w", err)
	}
	return retagRules(b.Maps, slot, cfg.Generation)
}

// retagRules marks the live slot's rules with the new generation, so that
// alerts (which carry it) still find their rule.
func retagRules(m *abi.BpfMaps, slot, gen uint32) error {
	var id uint32
	var r abi.BpfRule
	var ids []uint32
	var rules []abi.BpfRule
	it := m.Rules.Iterate()
	for it.Next(&id, &r) {
		if id>>ruleSlotShift == slot && r.Generation != gen {
			r.Generation = gen
			ids = append(ids, id)
			rules = append(rules, r)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for i := range ids {
		if err := m.Rules.Put(ids[i], &rules[i]); err != nil {
			return err
		}
	}
	return nil
}

// newRuleID finds a free rule id in the slot.
func (b *Blocklist) newRuleID(slot uint32) (uint32, error) {
	var id, maxIdx uint32
	var r abi.BpfRule
	it := b.Maps.Rules.Iterate()
	for it.Next(&id, &r) {
		if id>>ruleSlotShift == slot {
			maxIdx = max(maxIdx, id&(1<<ruleSlotShift-1))
		}
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	if maxIdx+1 >= 1<<ruleSlotShift {
		return 0, errors.New("no free rule id: reload the blocklist")
	}
	return slot<<ruleSlotShift | (maxIdx + 1), nil
}

// rebuildWith reinstalls the live list plus p through Replace, for when
// the live maps have no room, and returns what Replace installed.
func (b *Blocklist) rebuildWith(p netip.Prefix, opts AddOptions) (*InstallStats, error) {
	snap, err := b.Snapshot()
	if err != nil {
		return nil, err
	}
	list := snap.List()
	rule := opts.Rule
	if rule.Direction == 0 {
		rule.Direction = blocklist.ListedAsAny
	}
	list.Rules = append(list.Rules, rule)
	list.Entries = append(list.Entries, blocklist.Entry{Prefix: p, Rule: len(list.Rules) - 1, Source: "xdpsensor blocklist add"})
	st, err := b.Replace(list)
	if err != nil {
		return nil, err
	}
	if opts.Expires.IsZero() {
		return &st, nil
	}
	// Replace computed expiries from fwsam; a manual expiry is set on the rule.
	cfg, err := b.Maps.ReadConfig()
	if err != nil {
		return nil, err
	}
	id := liveSlot(cfg.Generation)<<ruleSlotShift | uint32(len(list.Rules))
	var kr abi.BpfRule
	if err := b.Maps.Rules.Lookup(id, &kr); err != nil {
		return nil, err
	}
	kr.ExpiresUnix = uint64(opts.Expires.Unix())
	// The rebuild is live even when its expiry could not be set.
	return &st, b.Maps.Rules.Put(id, &kr)
}

// List turns a snapshot back into a blocklist model (for rebuilds).
func (s *Snapshot) List() *blocklist.List {
	l := &blocklist.List{}
	index := map[uint32]int{}
	ids := make([]uint32, 0, len(s.Rules))
	for id := range s.Rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := s.Rules[id]
		index[id] = len(l.Rules)
		l.Rules = append(l.Rules, abi.RuleFromKernel(&r))
	}
	for _, e := range s.Entries {
		for _, id := range []uint32{e.RuleAsSrc, e.RuleAsDst} {
			if i, ok := index[id]; ok && id != 0 {
				l.Entries = append(l.Entries, blocklist.Entry{Prefix: e.Prefix, Rule: i, Source: l.Rules[i].Source})
				if e.RuleAsSrc == e.RuleAsDst {
					break
				}
			}
		}
	}
	return l
}

// MemoryUse reports the kernel memory (the maps' own memlock accounting)
// of the live slot's maps, by name.
func (b *Blocklist) MemoryUse() (map[string]uint64, error) {
	cfg, err := b.Maps.ReadConfig()
	if err != nil {
		return nil, err
	}
	slot := liveSlot(cfg.Generation)
	out := map[string]uint64{}
	for name, outer := range map[string]*ebpf.Map{
		"blocklist_v4": b.Maps.BlocklistV4Slots, "blocklist_v6": b.Maps.BlocklistV6Slots,
		"blocklist_prefix_v4": b.Maps.BlocklistPrefixV4Slots, "blocklist_prefix_v6": b.Maps.BlocklistPrefixV6Slots,
		"exact_filter": b.Maps.ExactFilterSlots,
	} {
		m, err := innerMap(outer, slot)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			return nil, err
		}
		if ml, ok := info.Memlock(); ok {
			out[name] = ml
		}
	}
	return out, nil
}

// Change is one line of a blocklist diff.
type Change struct {
	Op     byte // '+', '-' or '~'
	Prefix netip.Prefix
	What   string
}

// Diff compares the live list with a parsed one, entry by entry: what a
// Replace would add, remove or re-attribute (same prefix, other rule).
func Diff(snap *Snapshot, list *blocklist.List) []Change {
	type ruleRef struct{ src, dst string }
	describe := func(gid, sid, rev uint32, msg string) string {
		return fmt.Sprintf("[%d:%d:%d] %s", gid, sid, rev, msg)
	}
	live := map[netip.Prefix]ruleRef{}
	for _, e := range snap.Entries {
		var r ruleRef
		if kr, ok := snap.Rules[e.RuleAsSrc]; ok && e.RuleAsSrc != 0 {
			r.src = describe(kr.Gid, kr.Sid, kr.Rev, abi.CString(kr.Msg[:]))
		}
		if kr, ok := snap.Rules[e.RuleAsDst]; ok && e.RuleAsDst != 0 {
			r.dst = describe(kr.Gid, kr.Sid, kr.Rev, abi.CString(kr.Msg[:]))
		}
		live[e.Prefix] = r
	}
	next := map[netip.Prefix]ruleRef{}
	for _, e := range list.Entries {
		r := list.Rules[e.Rule]
		ref := next[e.Prefix.Masked()]
		d := describe(r.GID, r.SID, r.Rev, r.Msg)
		if r.Direction&blocklist.ListedAsSrc != 0 && ref.src == "" {
			ref.src = d
		}
		if r.Direction&blocklist.ListedAsDst != 0 && ref.dst == "" {
			ref.dst = d
		}
		next[e.Prefix.Masked()] = ref
	}
	show := func(r ruleRef) string {
		switch {
		case r.src == r.dst:
			return r.src + " (either end)"
		case r.src == "":
			return r.dst + " (as destination)"
		case r.dst == "":
			return r.src + " (as source)"
		}
		return r.dst + " (as destination); " + r.src + " (as source)"
	}
	var out []Change
	for p, r := range next {
		old, ok := live[p]
		switch {
		case !ok:
			out = append(out, Change{'+', p, show(r)})
		case old != r:
			out = append(out, Change{'~', p, show(old) + " -> " + show(r)})
		}
	}
	for p, r := range live {
		if _, ok := next[p]; !ok {
			out = append(out, Change{'-', p, show(r)})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}
