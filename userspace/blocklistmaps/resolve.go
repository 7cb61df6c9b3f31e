package blocklistmaps

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Resolver answers which rules list an address of a flow in the live
// blocklist, as the kernel decides it (bpf/match.h, decide_match): per
// end of the packet, the exact entry's rule if it accepts the flow's other
// address ($HOME_NET/$EXTERNAL_NET, checked against the netvars maps and
// the config's home_net_set/external_mode), else the first of the listed
// prefixes covering the address, longest first and at most PrefixWalkMax
// of them, whose rule does, else none. A flow record names its rules this way: the
// kernel keeps no rule ids per flow. Answers come from the live slot's
// maps and are cached until the generation moves (an edit of the list or
// of the net variables moves it): call Refresh with the generation (once
// per drain round). Not safe for concurrent use.
type Resolver struct {
	Maps *abi.BpfMaps

	gen    uint32 // as the caller last saw it
	opened uint32 // the generation the inner maps were opened for
	ready  bool
	inner  [4]*ebpf.Map // exact v4, exact v6, prefix v4, prefix v6 of the live slot
	cfg    abi.BpfSensorConfig
	// Bounded caches, emptied at each generation: an address's candidate
	// rules, an address's netvar bits (as the other address), a rule's
	// other_net (ruleMissing: no such rule).
	cands    map[netip.Addr]Candidates
	bits     map[netip.Addr]uint32
	otherNet map[uint32]int16
}

// Candidates are the rules the kernel weighs for an address, per end of
// the packet, in its order: the exact entry's (zero where none), then the
// listed prefixes covering the address, longest first, at most
// PrefixWalkMax of them.
type Candidates struct {
	Exact    abi.BpfBlocklistEntry
	Prefixes []abi.BpfBlocklistEntry
	// Cut: more covering prefixes are listed than the kernel tries. When
	// no candidate's rule applies to an end, the kernel counts it in
	// prefix_walk_cut: an enclosing prefix's rule might have.
	Cut bool
}

// Entries are the candidates in the order the kernel weighs them: the
// exact entry, then the prefixes, longest first.
func (c Candidates) Entries() []abi.BpfBlocklistEntry {
	return append([]abi.BpfBlocklistEntry{c.Exact}, c.Prefixes...)
}

// PrefixWalkMax is how many covering prefixes the kernel tries per
// address (PREFIX_WALK_MAX in bpf/xdpsensor.h).
const PrefixWalkMax = int(abi.BpfPrefixWalkPREFIX_WALK_MAX)

// resolverCacheMax bounds each of the resolver's caches.
const resolverCacheMax = 1 << 16

// ruleMissing marks a rule id the rules map does not hold: the kernel
// takes it for a half-written list and refuses it.
const ruleMissing = -1

// Refresh tells the resolver the blocklist generation now.
func (r *Resolver) Refresh(gen uint32) { r.gen = gen }

// Lookup returns the rule ids listing addr in a flow whose other address
// is other, as the kernel decides them, and the generation they belong
// to. Zero ids: addr is not listed in this flow for that end.
func (r *Resolver) Lookup(addr, other netip.Addr) (abi.BpfBlocklistEntry, uint32, error) {
	if err := r.current(); err != nil {
		return abi.BpfBlocklistEntry{}, 0, err
	}
	c, err := r.candidates(addr)
	if err != nil {
		return abi.BpfBlocklistEntry{}, 0, err
	}
	e, err := Decide(c, func(rule uint32) (bool, error) { return r.accepts(rule, other) })
	if err != nil {
		return abi.BpfBlocklistEntry{}, 0, err
	}
	return e, r.gen, nil
}

// Candidates returns the exact entry's and the covering prefixes' rules
// for addr in the live slot, before any $HOME_NET/$EXTERNAL_NET check.
func (r *Resolver) Candidates(addr netip.Addr) (Candidates, error) {
	if err := r.current(); err != nil {
		return Candidates{}, err
	}
	return r.candidates(addr)
}

// Decide is the kernel's choice for one address (decide_end in
// bpf/match.h), per end of the packet: the first rule of the exact entry
// and then the prefixes, longest first, that accepts takes, else 0. Each
// end is decided on its own: an entry without a rule for it, or whose rule
// accepts refuses, does not stop the walk. accepts answers whether a
// rule's $HOME_NET/$EXTERNAL_NET constraint accepts the flow's other
// address.
func Decide(c Candidates, accepts func(rule uint32) (bool, error)) (abi.BpfBlocklistEntry, error) {
	first := func(rule func(abi.BpfBlocklistEntry) uint32) (uint32, error) {
		var refused uint32 // the same rule further out is refused again
		for _, e := range c.Entries() {
			id := rule(e)
			if id == 0 || id == refused {
				continue
			}
			ok, err := accepts(id)
			if err != nil || ok {
				return id, err
			}
			refused = id
		}
		return 0, nil
	}
	src, err := first(func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsSrc })
	if err != nil {
		return abi.BpfBlocklistEntry{}, err
	}
	dst, err := first(func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsDst })
	if err != nil {
		return abi.BpfBlocklistEntry{}, err
	}
	return abi.BpfBlocklistEntry{RuleAsSrc: src, RuleAsDst: dst}, nil
}

// OtherNetOK is the kernel's rule_accepts (bpf/match.h): does a rule whose
// constraint on the packet's other address is otherNet accept an address
// with those netvar bits (NETVAR_HOME, NETVAR_EXTERNAL), under the config's
// home_net_set and external_mode?
func OtherNetOK(otherNet uint8, bits uint32, cfg *abi.BpfSensorConfig) bool {
	home := bits&uint32(abi.BpfNetvarBitsNETVAR_HOME) != 0
	switch abi.BpfRuleOtherNet(otherNet) {
	case abi.BpfRuleOtherNetNET_HOME:
		return cfg.HomeNetSet == 0 || home
	case abi.BpfRuleOtherNetNET_EXTERNAL:
		switch abi.BpfExternalMode(cfg.ExternalMode) {
		case abi.BpfExternalModeEXTERNAL_ANY:
			return true
		case abi.BpfExternalModeEXTERNAL_NOT_HOME:
			return cfg.HomeNetSet != 0 && !home
		}
		return bits&uint32(abi.BpfNetvarBitsNETVAR_EXTERNAL) != 0
	}
	return true
}

// current opens the live slot of the generation last given to Refresh.
func (r *Resolver) current() error {
	if r.ready && r.opened == r.gen {
		return nil
	}
	return r.open(r.gen)
}

// accepts reports whether rule accepts other as the packet's other
// address.
func (r *Resolver) accepts(rule uint32, other netip.Addr) (bool, error) {
	on, err := r.ruleOtherNet(rule)
	if err != nil || on == ruleMissing {
		return false, err
	}
	switch abi.BpfRuleOtherNet(on) {
	case abi.BpfRuleOtherNetNET_HOME, abi.BpfRuleOtherNetNET_EXTERNAL:
	default:
		return true, nil // no constraint: the other address is not looked at
	}
	bits, err := r.netvarBits(other)
	if err != nil {
		return false, err
	}
	return OtherNetOK(uint8(on), bits, &r.cfg), nil
}

// ruleOtherNet is the rule's other_net, ruleMissing when there is no
// such rule.
func (r *Resolver) ruleOtherNet(id uint32) (int16, error) {
	if n, ok := r.otherNet[id]; ok {
		return n, nil
	}
	var kr abi.BpfRule
	n := int16(ruleMissing)
	err := r.Maps.Rules.Lookup(id, &kr)
	switch {
	case err == nil:
		n = int16(kr.OtherNet)
	case !errors.Is(err, ebpf.ErrKeyNotExist):
		return 0, fmt.Errorf("reading rule %#x: %w", id, err)
	}
	if len(r.otherNet) >= resolverCacheMax {
		clear(r.otherNet)
	}
	r.otherNet[id] = n
	return n, nil
}

// netvarBits are the $HOME_NET/$EXTERNAL_NET bits of addr (netvar_bits in
// bpf/match.h).
func (r *Resolver) netvarBits(addr netip.Addr) (uint32, error) {
	if b, ok := r.bits[addr]; ok {
		return b, nil
	}
	var b uint32
	var err error
	if addr.Is4() {
		err = r.Maps.NetvarsV4.Lookup(abi.BpfLpmV4Key{Prefixlen: 32, Addr: addr.As4()}, &b)
	} else {
		err = r.Maps.NetvarsV6.Lookup(abi.BpfLpmV6Key{Prefixlen: 128, Addr: addr.As16()}, &b)
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		b, err = 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the net variables of %s: %w", addr, err)
	}
	if len(r.bits) >= resolverCacheMax {
		clear(r.bits)
	}
	r.bits[addr] = b
	return b, nil
}

// candidates looks addr up in the live slot's exact map, and walks its
// prefix trie as the kernel does: a lookup one bit shorter than the
// prefix found finds the next enclosing one.
func (r *Resolver) candidates(addr netip.Addr) (Candidates, error) {
	if c, ok := r.cands[addr]; ok {
		return c, nil
	}
	var c Candidates
	found := func(err error) (bool, error) {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	trie, key := r.inner[3], func(bits uint32) any { return abi.BpfLpmV6Key{Prefixlen: bits, Addr: addr.As16()} }
	exact, exactKey := r.inner[1], any(addr.As16())
	if addr.Is4() {
		trie, key = r.inner[2], func(bits uint32) any { return abi.BpfLpmV4Key{Prefixlen: bits, Addr: addr.As4()} }
		exact, exactKey = r.inner[0], abi.BpfIpv4Addr{Octets: addr.As4()}
	}
	if exact != nil {
		var e abi.BpfBlocklistEntry
		if ok, err := found(exact.Lookup(exactKey, &e)); err != nil {
			return Candidates{}, err
		} else if ok {
			c.Exact = e
		}
	}
	for bits := uint32(addr.BitLen()); trie != nil; {
		var e abi.BpfPrefixEntry
		ok, err := found(trie.Lookup(key(bits), &e))
		if err != nil {
			return Candidates{}, err
		}
		if !ok {
			break
		}
		if len(c.Prefixes) == PrefixWalkMax {
			c.Cut = true
			break
		}
		c.Prefixes = append(c.Prefixes, entryOf(e))
		if e.Prefixlen == 0 || e.Prefixlen > bits {
			break
		}
		bits = e.Prefixlen - 1
	}
	if len(r.cands) >= resolverCacheMax {
		clear(r.cands)
	}
	r.cands[addr] = c
	return c, nil
}

// open takes the live slot's inner maps of generation gen, and the
// config's net variable settings.
func (r *Resolver) open(gen uint32) error {
	r.Close()
	cfg, err := r.Maps.ReadConfig()
	if err != nil {
		return err
	}
	slot := liveSlot(gen)
	for i, outer := range []*ebpf.Map{r.Maps.BlocklistV4Slots, r.Maps.BlocklistV6Slots, r.Maps.BlocklistPrefixV4Slots, r.Maps.BlocklistPrefixV6Slots} {
		m, err := innerMap(outer, slot)
		if err != nil {
			r.Close()
			return err
		}
		r.inner[i] = m
	}
	r.opened, r.ready, r.cfg = gen, true, cfg
	r.cands, r.bits, r.otherNet = map[netip.Addr]Candidates{}, map[netip.Addr]uint32{}, map[uint32]int16{}
	return nil
}

// Close releases the inner maps.
func (r *Resolver) Close() {
	for i, m := range r.inner {
		if m != nil {
			m.Close()
			r.inner[i] = nil
		}
	}
	r.ready = false
}

// RuleNames resolves kernel rule ids of a blocklist generation
// (ringbuf.KernelRules).
type RuleNames interface {
	Rule(id, gen uint32) (*event.Rule, bool)
}

// Rules names the rules listing addr in a flow with other, as the kernel
// decided them: the rule for addr as a packet source, then (when another)
// as a destination. A flow record names its rules this way. unknown
// counts the rule ids names no longer holds (replaced by a reload since
// the look-up): left out.
func (r *Resolver) Rules(addr, other netip.Addr, names RuleNames) (rules []event.Rule, unknown int, err error) {
	e, gen, err := r.Lookup(addr, other)
	if err != nil {
		return nil, 0, err
	}
	var last uint32
	for _, id := range []uint32{e.RuleAsSrc, e.RuleAsDst} {
		if id == 0 || id == last {
			continue
		}
		last = id
		if rule, ok := names.Rule(id, gen); ok {
			rules = append(rules, *rule)
		} else {
			unknown++
		}
	}
	return rules, unknown, nil
}
