package blocklistmaps

import (
	"errors"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// Resolver answers which rules list an address in the live blocklist, as
// the kernel decides it (the exact entry first, then the longest prefix),
// by looking the address up in the live slot's maps. A flow record names
// its rules this way: the kernel keeps no rule ids per flow. Answers are
// cached until the generation moves: call Refresh with the generation
// (once per drain round). Not safe for concurrent use.
type Resolver struct {
	Maps *abi.BpfMaps

	gen    uint32 // as the caller last saw it
	opened uint32 // the generation the inner maps were opened for
	ready  bool
	cache  map[netip.Addr]abi.BpfBlocklistEntry
	inner  [4]*ebpf.Map // exact v4, exact v6, prefix v4, prefix v6 of the live slot
}

// Refresh tells the resolver the blocklist generation now.
func (r *Resolver) Refresh(gen uint32) { r.gen = gen }

// Lookup returns the rule ids listing addr and the generation they belong to.
func (r *Resolver) Lookup(addr netip.Addr) (abi.BpfBlocklistEntry, uint32, error) {
	if !r.ready || r.opened != r.gen {
		if err := r.open(r.gen); err != nil {
			return abi.BpfBlocklistEntry{}, 0, err
		}
	}
	if e, ok := r.cache[addr]; ok {
		return e, r.gen, nil
	}
	var out, e abi.BpfBlocklistEntry
	var err error
	merge := func(m *ebpf.Map, key any) error {
		if m == nil {
			return nil
		}
		err := m.Lookup(key, &e)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if out.RuleAsSrc == 0 {
			out.RuleAsSrc = e.RuleAsSrc
		}
		if out.RuleAsDst == 0 {
			out.RuleAsDst = e.RuleAsDst
		}
		return nil
	}
	if addr.Is4() {
		a4 := addr.As4()
		err = errors.Join(merge(r.inner[0], abi.BpfIpv4Addr{Octets: a4}), merge(r.inner[2], abi.BpfLpmV4Key{Prefixlen: 32, Addr: a4}))
	} else {
		a16 := addr.As16()
		err = errors.Join(merge(r.inner[1], a16), merge(r.inner[3], abi.BpfLpmV6Key{Prefixlen: 128, Addr: a16}))
	}
	if err != nil {
		return abi.BpfBlocklistEntry{}, 0, err
	}
	if len(r.cache) > 1<<16 {
		clear(r.cache)
	}
	r.cache[addr] = out
	return out, r.gen, nil
}

// open takes the live slot's inner maps of generation gen.
func (r *Resolver) open(gen uint32) error {
	r.Close()
	slot := liveSlot(gen)
	for i, outer := range []*ebpf.Map{r.Maps.BlocklistV4Slots, r.Maps.BlocklistV6Slots, r.Maps.BlocklistPrefixV4Slots, r.Maps.BlocklistPrefixV6Slots} {
		m, err := innerMap(outer, slot)
		if err != nil {
			r.Close()
			return err
		}
		r.inner[i] = m
	}
	r.opened, r.ready, r.cache = gen, true, map[netip.Addr]abi.BpfBlocklistEntry{}
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
