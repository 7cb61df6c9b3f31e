package blocklistmaps

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// NetVars are the rule variables $HOME_NET and $EXTERNAL_NET.
type NetVars struct {
	HomeAny bool           // $HOME_NET is any
	Home    []netip.Prefix // otherwise these prefixes
	// External: any (default), !$HOME_NET, or these prefixes.
	ExternalAny     bool
	ExternalNotHome bool
	External        []netip.Prefix
}

// SetNetVars replaces the $HOME_NET/$EXTERNAL_NET maps and config bits.
// It rewrites the config entry: on a pinned sensor, hold its lock
// (pinlock, Blocklist.Lock).
func SetNetVars(m *abi.BpfMaps, nv NetVars) error {
	v4 := map[abi.BpfLpmV4Key]uint32{}
	v6 := map[abi.BpfLpmV6Key]uint32{}
	add := func(ps []netip.Prefix, bit uint32) {
		for _, p := range ps {
			p = p.Masked()
			if p.Addr().Is4() {
				k := abi.BpfLpmV4Key{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}
				v4[k] |= bit
			} else {
				k := abi.BpfLpmV6Key{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}
				v6[k] |= bit
			}
		}
	}
	if !nv.HomeAny {
		add(nv.Home, uint32(abi.BpfNetvarBitsNETVAR_HOME))
	}
	mode := abi.BpfExternalModeEXTERNAL_ANY
	switch {
	case nv.ExternalNotHome:
		mode = abi.BpfExternalModeEXTERNAL_NOT_HOME
	case !nv.ExternalAny:
		mode = abi.BpfExternalModeEXTERNAL_LIST
		add(nv.External, uint32(abi.BpfNetvarBitsNETVAR_EXTERNAL))
	}
	if err := replaceAll(m.NetvarsV4, v4); err != nil {
		return fmt.Errorf("writing netvars_v4: %w", err)
	}
	if err := replaceAll(m.NetvarsV6, v6); err != nil {
		return fmt.Errorf("writing netvars_v6: %w", err)
	}
	var cfg abi.BpfSensorConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("reading sensor config: %w", err)
	}
	cfg.HomeNetSet = 0
	if !nv.HomeAny {
		cfg.HomeNetSet = 1
	}
	cfg.ExternalMode = uint8(mode)
	// A changed variable changes which flows match: move the generation on
	// by two (same slot) so every flow decides again, and the live rules
	// with it, as a blocklist edit does: alerts carry the generation, and
	// a rule of another one is not theirs.
	cfg.Generation += 2
	if err := m.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("writing sensor config: %w", err)
	}
	if err := retagRules(m, liveSlot(cfg.Generation), cfg.Generation); err != nil {
		return fmt.Errorf("moving the rules to generation %d: %w", cfg.Generation, err)
	}
	return nil
}

// replaceAll makes m hold exactly entries.
func replaceAll[K comparable, V any](m *ebpf.Map, entries map[K]V) error {
	var k K
	var v V
	var stale []K
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, keep := entries[k]; !keep {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	for k, v := range entries {
		if err := m.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}
