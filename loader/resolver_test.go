package loader

import (
	"net/netip"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// resolverList lists addresses exactly and by a covering prefix, under
// rules with every $HOME_NET/$EXTERNAL_NET constraint, in both families.
func resolverList() *blocklist.List {
	l := &nestedList{}
	rule := l.rule
	// 203.0.113.66 and 2001:db8:66::66: exact entries refusing what the
	// covering prefix accepts, and the other way round.
	rule(30, blocklist.ListedAsDst, blocklist.NetHome, "203.0.113.66/32", "2001:db8:66::66/128")
	rule(31, blocklist.ListedAsSrc, blocklist.NetExternal, "203.0.113.66/32", "2001:db8:66::66/128")
	rule(32, blocklist.ListedAsDst, blocklist.NetExternal, "203.0.113.0/24", "2001:db8:66::/48")
	rule(33, blocklist.ListedAsSrc, blocklist.NetHome, "203.0.113.0/24", "2001:db8:66::/48")
	// 203.0.113.77: an exact entry for one end only, constrained; the
	// prefix's rules for the other.
	rule(34, blocklist.ListedAsDst, blocklist.NetHome, "203.0.113.77/32", "2001:db8:66::77/128")
	// 203.0.113.88: the same rule on the exact entry and the prefix
	// (the kernel checks it once).
	rule(35, blocklist.ListedAsAny, blocklist.NetHome, "203.0.113.88/32", "203.0.113.80/28")
	// A longer prefix inside the /24 with no constraint.
	rule(36, blocklist.ListedAsSrc, blocklist.NetAny, "203.0.113.80/28")
	// Nested prefixes whose rules differ in direction: the inner one
	// lists its addresses only as sources, the outer one as destinations.
	rule(40, blocklist.ListedAsDst, blocklist.NetHome, "172.16.0.0/12", "2001:db8:40::/48")
	rule(41, blocklist.ListedAsSrc, blocklist.NetAny, "172.16.1.0/24", "2001:db8:40:1::/64")
	// Three levels whose rules differ in constraint: the innermost wants
	// an external other address as a destination, the middle one a home
	// one either way, the outermost any.
	rule(42, blocklist.ListedAsAny, blocklist.NetAny, "198.18.0.0/15", "2001:db8:18::/44")
	rule(43, blocklist.ListedAsAny, blocklist.NetHome, "198.18.5.0/24", "2001:db8:18:5::/64")
	rule(44, blocklist.ListedAsDst, blocklist.NetExternal, "198.18.5.128/25", "2001:db8:18:5:8000::/65")
	return &l.List
}

// The Resolver (which names a flow record's rules) decides each end of a
// flow as the kernel does: for every pair of addresses and every setting
// of the net variables, the ends the kernel marks listed are those the
// Resolver finds rules for, and the rule the kernel's alert raises is the
// one the Resolver picks (destination first, then source).
func TestResolverDecidesAsTheKernel(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(resolverList())
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	home := pfx("192.0.2.0/24", "2001:db8:1::/64")
	settings := []struct {
		name string
		nv   blocklistmaps.NetVars
	}{
		{"home set, external !home", blocklistmaps.NetVars{Home: home, ExternalNotHome: true}},
		{"home set, external listed", blocklistmaps.NetVars{Home: home, External: pfx("198.51.100.0/24", "2001:db8:2::/64")}},
		{"home any, external any", blocklistmaps.NetVars{HomeAny: true, ExternalAny: true}},
		{"home any, external !home", blocklistmaps.NetVars{HomeAny: true, ExternalNotHome: true}},
	}
	v4 := []string{"203.0.113.66", "203.0.113.77", "203.0.113.88", "203.0.113.9", "192.0.2.10", "198.51.100.5", "100.64.0.1",
		"172.16.1.5", "172.16.2.5", "198.18.5.200", "198.18.5.9", "198.18.9.9"}
	v6 := []string{"2001:db8:66::66", "2001:db8:66::77", "2001:db8:66::9", "2001:db8:1::10", "2001:db8:2::5", "2001:db8:3::1",
		"2001:db8:40:1::5", "2001:db8:40:2::5", "2001:db8:18:5:8000::1", "2001:db8:18:5::9", "2001:db8:18:9::9"}
	sid := func(id uint32) uint32 {
		if id == 0 {
			return 0
		}
		var r abi.BpfRule
		if err := h.s.Objects.Rules.Lookup(id, &r); err != nil {
			t.Fatalf("rule %#x: %v", id, err)
		}
		return r.Sid
	}
	var listedEnds, alerts, fallbacks, refused, outer int
	for _, set := range settings {
		if err := blocklistmaps.SetNetVars(h.s.Maps(), set.nv); err != nil {
			t.Fatal(err)
		}
		cfg, err := h.s.Maps().ReadConfig()
		if err != nil {
			t.Fatal(err)
		}
		r := &blocklistmaps.Resolver{Maps: h.s.Maps()}
		defer r.Close()
		r.Refresh(cfg.Generation)
		for _, pool := range [][]string{v4, v6} {
			for _, src := range pool {
				for _, dst := range pool {
					if src == dst {
						continue
					}
					h.clearFlows()
					h.events()
					frame := frameSpec{l4: tcpSeg{sport: 40000, dport: 6667, flags: event.TCPSyn}}
					if netip.MustParseAddr(src).Is4() {
						frame.v4 = &ip4{src: src, dst: dst, proto: 6}
					} else {
						frame.v6 = &ip6{src: src, dst: dst, proto: 6}
					}
					h.run(frame.build())
					key, flow := h.onlyFlow()
					lo, hi := abi.Addr(key.AddrLo, key.Family), abi.Addr(key.AddrHi, key.Family)
					for _, end := range []struct {
						addr, other netip.Addr
						bit         abi.BpfListedBits
					}{{lo, hi, abi.BpfListedBitsLISTED_LO}, {hi, lo, abi.BpfListedBitsLISTED_HI}} {
						e, gen, err := r.Lookup(end.addr, end.other)
						if err != nil || gen != cfg.Generation {
							t.Fatalf("%s: Lookup(%s, %s): gen %d, %v", set.name, end.addr, end.other, gen, err)
						}
						kernel := flow.Marks&uint8(end.bit) != 0
						if resolved := e.RuleAsSrc != 0 || e.RuleAsDst != 0; resolved != kernel {
							t.Errorf("%s: %s -> %s: the kernel marks %s listed: %v; the Resolver finds rules %d (as src) %d (as dst)",
								set.name, src, dst, end.addr, kernel, sid(e.RuleAsSrc), sid(e.RuleAsDst))
						}
						if kernel {
							listedEnds++
						}
						c, err := r.Candidates(end.addr)
						if err != nil {
							t.Fatal(err)
						}
						for _, rule := range []func(abi.BpfBlocklistEntry) uint32{
							func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsSrc },
							func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsDst },
						} {
							exact, picked := rule(c.Exact), rule(e)
							var longest uint32
							if len(c.Prefixes) > 0 {
								longest = rule(c.Prefixes[0])
							}
							switch {
							case exact != 0 && picked != 0 && picked != exact:
								fallbacks++
							case exact != 0 && picked == 0:
								refused++
							}
							if picked != 0 && picked != exact && picked != longest {
								outer++ // an enclosing prefix's rule, past the longest
							}
						}
					}
					// The alert: the destination's as-destination rule,
					// else the source's as-source rule.
					s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
					ed, _, _ := r.Lookup(d, s)
					es, _, _ := r.Lookup(s, d)
					want := ed.RuleAsDst
					if want == 0 {
						want = es.RuleAsSrc
					}
					got, _ := h.events()
					switch {
					case want == 0 && len(got) != 0:
						t.Errorf("%s: %s -> %s: the kernel raised sid %d, the Resolver names none", set.name, src, dst, sid(got[0].RuleId))
					case want != 0 && (len(got) != 1 || got[0].RuleId != want):
						var g uint32
						if len(got) > 0 {
							g = sid(got[0].RuleId)
						}
						t.Errorf("%s: %s -> %s: %d alerts (sid %d), the Resolver names sid %d", set.name, src, dst, len(got), g, sid(want))
					case want != 0:
						alerts++
					}
				}
			}
		}
	}
	// The cases must exercise what they are about: listed ends, alerts,
	// rules taken from the prefix because the exact entry's was refused,
	// and exact entries refused with nothing to fall back on.
	t.Logf("%d listed ends, %d alerts, %d fallbacks to a prefix, %d exact rules refused without one, %d rules of an enclosing prefix past the longest",
		listedEnds, alerts, fallbacks, refused, outer)
	if listedEnds == 0 || alerts == 0 || fallbacks == 0 || refused == 0 || outer == 0 {
		t.Fatalf("the cases exercise too little: %d listed ends, %d alerts, %d fallbacks, %d refused, %d enclosing", listedEnds, alerts, fallbacks, refused, outer)
	}
}
