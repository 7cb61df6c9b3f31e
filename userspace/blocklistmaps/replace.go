// Package blocklistmaps puts a parsed blocklist (userspace/blocklist) into
// the kernel's maps and edits the live one: an atomic Replace through two
// slots of inner maps, in-place Add/Del/Expire, the exact-address
// pre-filter, $HOME_NET/$EXTERNAL_NET, and snapshots for list, check and
// diff. It works on the maps of a loaded sensor (loader.Sensor.Maps) or
// of a pinned one (loader.OpenPinned).
package blocklistmaps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// Capacity bounds what a blocklist may hold; the kernel maps of each load
// are sized to the list itself (plus room for live additions), never more.
type Capacity struct {
	ExactV4, ExactV6, PrefixV4, PrefixV6, Rules int
}

// DefaultCapacity is what the sensor accepts unless configured otherwise.
var DefaultCapacity = Capacity{
	ExactV4:  1 << 20,
	ExactV6:  1 << 20,
	PrefixV4: 256 << 10,
	PrefixV6: 256 << 10,
	Rules:    1 << 16,
}

const (
	ruleSlotShift   = 24
	prefixFilterLen = 2048 // 32-bit words per slot: one bit per IPv4 /16
)

// Blocklist installs lists into a sensor's maps, live or pinned.
type Blocklist struct {
	Maps *abi.BpfMaps
	// Now is the clock for expiries (time.Now when nil).
	Now      func() time.Time
	PinDir   string // where the live inner maps are pinned for bpftool; "" for none
	Capacity Capacity
}

// New returns an installer for a sensor's maps; pinDir is where the
// sensor is pinned ("" for an unpinned instance).
func New(m *abi.BpfMaps, pinDir string) (*Blocklist, error) {
	return &Blocklist{Maps: m, PinDir: pinDir, Capacity: DefaultCapacity}, nil
}

func (b *Blocklist) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// InstallStats describes what a Replace put in the kernel.
type InstallStats struct {
	Generation                           uint32
	Rules                                int
	ExactV4, ExactV6, PrefixV4, PrefixV6 int
	Took                                 time.Duration
	// ThresholdsDropped are threshold windows of unchanged rules that the
	// full thresholds table could not carry over: those rules count
	// afresh for those addresses.
	ThresholdsDropped int
}

// slotImage is one slot's worth of kernel entries, built before any map is
// touched so that a bad list changes nothing.
type slotImage struct {
	rules    map[uint32]abi.BpfRule
	exactV4  entries[abi.BpfIpv4Addr, abi.BpfBlocklistEntry]
	exactV6  entries[[16]byte, abi.BpfBlocklistEntry]
	prefixV4 entries[abi.BpfLpmV4Key, abi.BpfPrefixEntry]
	prefixV6 entries[abi.BpfLpmV6Key, abi.BpfPrefixEntry]
	filter   [prefixFilterLen]uint32
}

// entries are one kernel map's contents as parallel slices, the shape
// batch updates take.
type entries[K, V any] struct {
	keys []K
	vals []V
}

func (e *entries[K, V]) len() int { return len(e.keys) }

func (e *entries[K, V]) grow(n int) {
	e.keys = slices.Grow(e.keys, n)
	e.vals = slices.Grow(e.vals, n)
}

func (e *entries[K, V]) add(k K, v V) {
	e.keys = append(e.keys, k)
	e.vals = append(e.vals, v)
}

// Replace installs list into the idle slot and then flips the live
// generation to it in one write: packets see the old list or the new one,
// never a mix, and addresses on both lists never stop matching.
func (b *Blocklist) Replace(list *blocklist.List) (InstallStats, error) {
	start := time.Now()
	var cfg abi.BpfSensorConfig
	if err := b.Maps.Config.Lookup(uint32(0), &cfg); err != nil {
		return InstallStats{}, fmt.Errorf("reading sensor config: %w", err)
	}
	slot := (cfg.Generation + 1) & 1
	gen := cfg.Generation + 1

	img, err := b.build(list, slot, gen)
	if err != nil {
		return InstallStats{}, err
	}

	if err := b.deleteSlotRules(slot); err != nil {
		return InstallStats{}, err
	}
	flipped := false
	defer func() {
		if !flipped {
			// Nothing of a failed load stays in the rules map: a full map
			// would fail the next load and `blocklist add` too.
			b.deleteSlotRules(slot)
		}
	}()
	if err := b.writeRules(img.rules); err != nil {
		return InstallStats{}, err
	}
	thresholdsDropped, err := b.carryThresholds(cfg.Generation&1, img.rules)
	if err != nil {
		return InstallStats{}, err
	}
	// The maps of the idle slot are independent: fill them side by side.
	var (
		inner      [4]*ebpf.Map
		filterLog2 uint32
		errs       [6]error
		wg         sync.WaitGroup
	)
	defer func() {
		for _, m := range inner {
			if m != nil {
				m.Close()
			}
		}
	}()
	run := func(i int, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	run(0, func() error {
		return fillSlot(b, slot, "blocklist_v4_slots", b.Maps.BlocklistV4Slots, &img.exactV4, 2, &inner[0])
	})
	run(1, func() error {
		return fillSlot(b, slot, "blocklist_v6_slots", b.Maps.BlocklistV6Slots, &img.exactV6, 1, &inner[1])
	})
	run(2, func() error {
		return fillSlot(b, slot, "blocklist_prefix_v4_slots", b.Maps.BlocklistPrefixV4Slots, &img.prefixV4, 1, &inner[2])
	})
	run(3, func() error {
		return fillSlot(b, slot, "blocklist_prefix_v6_slots", b.Maps.BlocklistPrefixV6Slots, &img.prefixV6, 1, &inner[3])
	})
	run(4, func() error { return b.writeFilter(slot, &img.filter) })
	run(5, func() (err error) {
		filterLog2, err = b.fillFilter(slot, img)
		return err
	})
	// The entries' sources are written beside, renamed into place once
	// the new generation is live (a million lines take as long as a map).
	sources := make(chan func(), 1)
	go func() { sources <- b.writeSources(gen, list) }()
	wg.Wait()
	commitSources := <-sources
	defer func() {
		if !flipped {
			commitSources = nil
			b.dropSources()
		}
	}()
	if err := errors.Join(errs[:]...); err != nil {
		return InstallStats{}, err
	}

	cfg.Slots[slot] = abi.BpfSlotCounts{
		ExactV4:        uint32(img.exactV4.len()),
		ExactV6:        uint32(img.exactV6.len()),
		PrefixV4:       uint32(img.prefixV4.len()),
		PrefixV6:       uint32(img.prefixV6.len()),
		FilterBitsLog2: filterLog2,
	}
	// Counts first, generation last: the flip is the single word packets
	// read to pick a slot.
	staged := cfg
	staged.Generation = cfg.Generation
	if err := b.Maps.Config.Put(uint32(0), &staged); err != nil {
		return InstallStats{}, fmt.Errorf("writing sensor config: %w", err)
	}
	cfg.Generation = gen
	if err := b.Maps.Config.Put(uint32(0), &cfg); err != nil {
		return InstallStats{}, fmt.Errorf("switching to generation %d: %w", gen, err)
	}
	flipped = true
	// Best effort: without it, `blocklist list` shows each rule's line.
	commitSources()
	if err := b.pinLive(inner); err != nil {
		return InstallStats{}, err
	}
	return InstallStats{
		Generation: gen,
		Rules:      len(img.rules),
		ExactV4:    img.exactV4.len(),
		ExactV6:    img.exactV6.len(),
		PrefixV4:   img.prefixV4.len(),
		PrefixV6:   img.prefixV6.len(),
		Took:       time.Since(start),

		ThresholdsDropped: thresholdsDropped,
	}, nil
}

func (b *Blocklist) build(list *blocklist.List, slot, gen uint32) (*slotImage, error) {
	img := &slotImage{rules: make(map[uint32]abi.BpfRule, len(list.Rules))}
	if len(list.Rules) > b.Capacity.Rules {
		return nil, fmt.Errorf("blocklist has %d rules, more than the capacity of %d", len(list.Rules), b.Capacity.Rules)
	}
	ids := make([]uint32, len(list.Rules))
	for i, r := range list.Rules {
		id := slot<<ruleSlotShift | uint32(i+1)
		ids[i] = id
		img.rules[id] = abi.KernelRule(r, gen, b.now())
	}
	// IPv4 keys are packed into integers and sorted (a million entries sort
	// in tens of milliseconds, where a Go map costs hundreds); duplicates,
	// which the parser keeps only when they add a direction, merge.
	// Sized for the whole list up front: regrowing slices of a million
	// entries cost a blocklist load a tenth of its time.
	v4 := make([]uint64, 0, len(list.Entries))
	var p4 []uint64
	v6 := map[[16]byte]abi.BpfBlocklistEntry{}
	p6 := map[abi.BpfLpmV6Key]abi.BpfBlocklistEntry{}
	for i, e := range list.Entries {
		if e.Rule < 0 || e.Rule >= len(list.Rules) {
			return nil, fmt.Errorf("%s: entry %s names rule %d of %d", e.Source, e.Prefix, e.Rule, len(list.Rules))
		}
		p := e.Prefix.Masked()
		a := p.Addr()
		switch {
		case a.Is4():
			a4 := a.As4()
			u := uint64(a4[0])<<24 | uint64(a4[1])<<16 | uint64(a4[2])<<8 | uint64(a4[3])
			if e.Exact() {
				v4 = append(v4, u<<32|uint64(i))
			} else {
				// address, prefix length, entry index: 32+6+26 bits.
				p4 = append(p4, u<<32|uint64(p.Bits())<<26|uint64(i))
				img.markPrefixV4(p)
			}
		case e.Exact():
			k := a.As16()
			v6[k] = mergeEntry(v6[k], list.Rules[e.Rule].Direction, ids[e.Rule])
		default:
			k := abi.BpfLpmV6Key{Prefixlen: uint32(p.Bits()), Addr: a.As16()}
			p6[k] = mergeEntry(p6[k], list.Rules[e.Rule].Direction, ids[e.Rule])
		}
	}
	if len(list.Entries) >= 1<<26 {
		return nil, fmt.Errorf("blocklist has %d entries, more than xdpsensor can index", len(list.Entries))
	}
	merge := func(val abi.BpfBlocklistEntry, packed uint64, mask uint64) abi.BpfBlocklistEntry {
		e := list.Entries[packed&mask]
		return mergeEntry(val, list.Rules[e.Rule].Direction, ids[e.Rule])
	}
	// Sorted, equal keys (the bits above shift) are neighbours: merge each run.
	eachRun := func(packed []uint64, shift uint, add func(head uint64, val abi.BpfBlocklistEntry)) {
		slices.Sort(packed)
		for i := 0; i < len(packed); {
			head := packed[i] >> shift
			var val abi.BpfBlocklistEntry
			for ; i < len(packed) && packed[i]>>shift == head; i++ {
				val = merge(val, packed[i], 1<<shift-1)
			}
			add(head, val)
		}
	}
	img.exactV4.grow(len(v4))
	img.prefixV4.grow(len(p4))
	eachRun(v4, 32, func(addr uint64, val abi.BpfBlocklistEntry) {
		var k abi.BpfIpv4Addr
		binary.BigEndian.PutUint32(k.Octets[:], uint32(addr))
		img.exactV4.add(k, val)
	})
	eachRun(p4, 26, func(head uint64, val abi.BpfBlocklistEntry) {
		k := abi.BpfLpmV4Key{Prefixlen: uint32(head & 63)}
		binary.BigEndian.PutUint32(k.Addr[:], uint32(head>>6))
		img.prefixV4.add(k, prefixEntry(val, k.Prefixlen))
	})
	for k, v := range v6 {
		img.exactV6.add(k, v)
	}
	for k, v := range p6 {
		img.prefixV6.add(k, prefixEntry(v, k.Prefixlen))
	}
	c := b.Capacity
	for _, chk := range []struct {
		what      string
		have, max int
	}{
		{"exact IPv4 addresses", img.exactV4.len(), c.ExactV4},
		{"exact IPv6 addresses", img.exactV6.len(), c.ExactV6},
		{"IPv4 prefixes", img.prefixV4.len(), c.PrefixV4},
		{"IPv6 prefixes", img.prefixV6.len(), c.PrefixV6},
	} {
		if chk.have > chk.max {
			return nil, fmt.Errorf("blocklist has %d %s, more than the capacity of %d", chk.have, chk.what, chk.max)
		}
	}
	return img, nil
}

// prefixEntry is a prefix trie's value: the rules, and the prefix's own
// length, from which the kernel finds the next enclosing prefix.
func prefixEntry(e abi.BpfBlocklistEntry, bits uint32) abi.BpfPrefixEntry {
	return abi.BpfPrefixEntry{RuleAsSrc: e.RuleAsSrc, RuleAsDst: e.RuleAsDst, Prefixlen: bits}
}

// mergeEntry keeps the first rule that lists an address for each end.
func mergeEntry(e abi.BpfBlocklistEntry, dir blocklist.Direction, id uint32) abi.BpfBlocklistEntry {
	if dir&blocklist.ListedAsSrc != 0 && e.RuleAsSrc == 0 {
		e.RuleAsSrc = id
	}
	if dir&blocklist.ListedAsDst != 0 && e.RuleAsDst == 0 {
		e.RuleAsDst = id
	}
	return e
}

// markPrefixV4 sets the pre-filter bit of every /16 the prefix touches.
func (img *slotImage) markPrefixV4(p netip.Prefix) {
	a4 := p.Addr().As4()
	first := uint32(a4[0])<<8 | uint32(a4[1])
	n := uint32(1)
	if p.Bits() < 16 {
		n = 1 << (16 - p.Bits())
	}
	for i := first; i < first+n; i++ {
		img.filter[i>>5] |= 1 << (i & 31)
	}
}

// deleteSlotRules drops the rules of the generation that used this slot
// before: two loads ago, long drained from the ring.
func (b *Blocklist) deleteSlotRules(slot uint32) error {
	var stale []uint32
	// Keys only: a rule is ~800 bytes, and the map may hold 196,608.
	var key any // nil: the first key
	var id uint32
	for {
		err := b.Maps.Rules.NextKey(key, &id)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("listing rules: %w", err)
		}
		if id>>ruleSlotShift == slot {
			stale = append(stale, id)
		}
		next := id
		key = &next
	}
	for _, id := range stale {
		if err := b.Maps.Rules.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting rule %d: %w", id, err)
		}
	}
	return nil
}

func (b *Blocklist) writeRules(rules map[uint32]abi.BpfRule) error {
	if err := batchPut(b.Maps.Rules, rules); err != nil {
		return fmt.Errorf("writing rules: %w", err)
	}
	return nil
}

// batchPut writes a whole map in batches (one syscall per 64k entries),
// falling back to single updates on kernels without batch support.
func batchPut[K comparable, V any](m *ebpf.Map, entries map[K]V) error {
	if len(entries) == 0 {
		return nil
	}
	keys := make([]K, 0, len(entries))
	vals := make([]V, 0, len(entries))
	for k, v := range entries {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return batchPutSlices(m, keys, vals)
}

func batchPutSlices[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	const chunk = 1 << 16
	for i := 0; i < len(keys); i += chunk {
		j := min(i+chunk, len(keys))
		if _, err := m.BatchUpdate(keys[i:j], vals[i:j], nil); err != nil {
			if !errors.Is(err, ebpf.ErrNotSupported) {
				return err
			}
			for n := i; n < j; n++ {
				if err := m.Put(keys[n], vals[n]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// innerSpec returns the template of an outer map's inner maps, sized.
func innerSpec(outer string, entries int) (*ebpf.MapSpec, error) {
	spec, err := abi.InnerMapSpec(outer)
	if err != nil {
		return nil, err
	}
	spec.Name = strings.TrimSuffix(outer, "_slots")
	spec.MaxEntries = uint32(innerCapacity(entries))
	return spec, nil
}

// innerCapacity leaves room for live additions (`blocklist add`) without
// a rebuild: an eighth more, but not past the next power of two when that
// still leaves 2% — a hash map's bucket array is sized to the power of two
// above max_entries, 16 bytes a bucket, so crossing one costs 16 bytes for
// every entry.
func innerCapacity(n int) int {
	want := max(n+n/8, 64)
	next := 1 << bits.Len(uint(n))
	if want > next && next-n >= n/50 {
		return next
	}
	return want
}

// setSlot puts inner into outer[slot], or empties the slot when inner is nil.
func setSlot(outer *ebpf.Map, slot uint32, inner *ebpf.Map) error {
	if inner == nil {
		if err := outer.Delete(slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
		return nil
	}
	if err := outer.Put(slot, inner); err != nil {
		if errors.Is(err, unix.EINVAL) {
			// The kernel compares an inner map with the template the
			// outer map was made with: an old build's, pinned.
			return fmt.Errorf("the pinned map was made for inner maps of another layout, by another xdpsensor build (`xdpsensor run` with this build replaces it): %w", err)
		}
		return err
	}
	return nil
}

// fillFilter builds the slot's exact-address pre-filter and returns its
// size for the slot counts (0: no filter, every lookup goes to the maps).
func (b *Blocklist) fillFilter(slot uint32, img *slotImage) (uint32, error) {
	n := img.exactV4.len() + img.exactV6.len()
	if n == 0 {
		return 0, setSlot(b.Maps.ExactFilterSlots, slot, nil)
	}
	f := newExactFilter(n)
	for _, k := range img.exactV4.keys {
		f.add(k.Octets[:])
	}
	for _, k := range img.exactV6.keys {
		f.add(k[:])
	}
	spec, err := abi.InnerMapSpec("exact_filter_slots")
	if err != nil {
		return 0, err
	}
	spec.Name = "exact_filter"
	spec.MaxEntries = uint32(len(f.words))
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return 0, fmt.Errorf("creating exact_filter: %w", err)
	}
	defer m.Close()
	keys := make([]uint32, len(f.words))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if err := batchPutSlices(m, keys, f.words); err != nil {
		return 0, fmt.Errorf("filling exact_filter: %w", err)
	}
	if err := setSlot(b.Maps.ExactFilterSlots, slot, m); err != nil {
		return 0, fmt.Errorf("installing exact_filter[%d]: %w", slot, err)
	}
	return f.log2, nil
}

// fillSlot creates an inner map sized for e, fills it (with parallel
// batches: hash maps lock per bucket, so two writers nearly halve the time)
// and puts it in the slot; nothing to fill empties the slot. The map is
// stored in into, for the caller to close.
func fillSlot[K, V any](b *Blocklist, slot uint32, outerName string, outer *ebpf.Map, e *entries[K, V], writers int, into **ebpf.Map) error {
	if e.len() == 0 {
		if err := setSlot(outer, slot, nil); err != nil {
			return fmt.Errorf("emptying %s[%d]: %w", outerName, slot, err)
		}
		return nil
	}
	spec, err := innerSpec(outerName, e.len())
	if err != nil {
		return err
	}
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return fmt.Errorf("creating map for %s: %w", outerName, err)
	}
	part := (e.len() + writers - 1) / writers
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		lo, hi := min(w*part, e.len()), min((w+1)*part, e.len())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = batchPutSlices(m, e.keys[lo:hi], e.vals[lo:hi])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		m.Close()
		return fmt.Errorf("filling %s: %w", outerName, err)
	}
	if err := setSlot(outer, slot, m); err != nil {
		m.Close()
		return fmt.Errorf("installing %s[%d]: %w", outerName, slot, err)
	}
	*into = m
	return nil
}

func (b *Blocklist) writeFilter(slot uint32, words *[prefixFilterLen]uint32) error {
	keys := make([]uint32, prefixFilterLen)
	for i := range keys {
		keys[i] = slot*prefixFilterLen + uint32(i)
	}
	if err := batchPutSlices(b.Maps.PrefixV4Filter, keys, words[:]); err != nil {
		return fmt.Errorf("writing prefix filter: %w", err)
	}
	return nil
}

// livePinNames are where the live slot's inner maps appear for bpftool.
var livePinNames = [4]string{"blocklist_v4", "blocklist_v6", "blocklist_prefix_v4", "blocklist_prefix_v6"}

// pinLive pins the now-live inner maps under stable names, replacing the
// previous ones atomically with rename(2); empty ones are unpinned.
func (b *Blocklist) pinLive(inner [4]*ebpf.Map) error {
	if b.PinDir == "" {
		return nil
	}
	for i, m := range inner {
		path := filepath.Join(b.PinDir, livePinNames[i])
		if m == nil {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("unpinning %s: %w", path, err)
			}
			continue
		}
		tmp := path + "_new" // bpffs refuses dots in names
		_ = os.Remove(tmp)
		if err := m.Pin(tmp); err != nil {
			return fmt.Errorf("pinning %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("pinning %s: %w", path, err)
		}
	}
	return nil
}
