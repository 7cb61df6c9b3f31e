package loader

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// nestedList builds a list of rules, each listing its prefixes.
type nestedList struct{ blocklist.List }

func (l *nestedList) rule(sid uint32, dir blocklist.Direction, other blocklist.NetVar, prefixes ...string) {
	l.Rules = append(l.Rules, blocklist.Rule{GID: 1, SID: sid, Rev: 1, Msg: fmt.Sprintf("rule %d", sid), Direction: dir, OtherNet: other})
	for _, p := range prefixes {
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: netip.MustParsePrefix(p), Rule: len(l.Rules) - 1})
	}
}

// synFrom is one TCP SYN from src to dst.
func synFrom(src, dst string) []byte {
	frame := frameSpec{l4: tcpSeg{sport: 40000, dport: 443, flags: event.TCPSyn}}
	if netip.MustParseAddr(src).Is4() {
		frame.v4 = &ip4{src: src, dst: dst, proto: 6}
	} else {
		frame.v6 = &ip6{src: src, dst: dst, proto: 6}
	}
	return frame.build()
}

// alertSIDs runs a fresh flow's first packet and returns the sids of the
// alerts it raised, with which end each listed ("src", "dst"), and what
// prefix_walk_cut moved by.
func (h *harness) alertSIDs(src, dst string) (sids []string, cut uint64) {
	h.t.Helper()
	h.clearFlows()
	h.events()
	before := h.stats()
	h.run(synFrom(src, dst))
	alerts, _ := h.events()
	for _, a := range alerts {
		var r abi.BpfRule
		if err := h.s.Objects.Rules.Lookup(a.RuleId, &r); err != nil {
			h.t.Fatalf("rule %#x: %v", a.RuleId, err)
		}
		end := "src"
		if a.Listed == uint8(abi.BpfRuleDirectionRULE_LISTED_DST) {
			end = "dst"
		}
		sids = append(sids, fmt.Sprintf("%d/%s", r.Sid, end))
	}
	return sids, h.stats().PrefixWalkCut - before.PrefixWalkCut
}

// Nested prefixes are each tried, longest first, for each end of the
// packet: an inner prefix without a rule for the end, or whose rule
// refuses the other address, does not hide an enclosing prefix whose rule
// applies (Suricata evaluates every rule).
func TestNestedPrefixesEachTried(t *testing.T) {
	h := newHarness(t, Config{})
	var l nestedList
	// $HOME_NET any -> [10.0.0.0/8]
	l.rule(100, blocklist.ListedAsDst, blocklist.NetHome, "10.0.0.0/8", "2001:db8:a::/48")
	// [10.1.0.0/16] any -> $HOME_NET
	l.rule(101, blocklist.ListedAsSrc, blocklist.NetHome, "10.1.0.0/16", "2001:db8:a:1::/64")
	// $EXTERNAL_NET any -> [10.2.0.0/16]
	l.rule(102, blocklist.ListedAsDst, blocklist.NetExternal, "10.2.0.0/16", "2001:db8:a:2::/64")
	// [10.2.3.0/24] any -> any: no rule for it as a destination
	l.rule(103, blocklist.ListedAsSrc, blocklist.NetAny, "10.2.3.0/24", "2001:db8:a:2:3::/80")
	h.block(&l.List)
	if err := blocklistmaps.SetNetVars(h.s.Maps(), blocklistmaps.NetVars{
		Home: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}, ExternalNotHome: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, src, dst string
		want           string
	}{
		// 1. Direction: the /16 lists 10.1.2.3 only as a source.
		{"direction", "192.0.2.10", "10.1.2.3", "100/dst"},
		{"direction v6", "2001:db8:1::10", "2001:db8:a:1::5", "100/dst"},
		// ... and as a source, the /16's own rule.
		{"direction, other way", "10.1.2.3", "192.0.2.10", "101/src"},
		// 2. Constraint: the /16's rule wants an external source.
		{"constraint", "192.0.2.10", "10.2.9.9", "100/dst"},
		{"constraint v6", "2001:db8:1::10", "2001:db8:a:2:9::9", "100/dst"},
		{"constraint met", "198.51.100.5", "10.2.9.9", "102/dst"},
		// Three levels: the /24 has no destination rule, the /16's
		// refuses a home source, the /8's takes it.
		{"three levels", "192.0.2.10", "10.2.3.4", "100/dst"},
		{"three levels v6", "2001:db8:1::10", "2001:db8:a:2:3::4", "100/dst"},
		{"three levels, middle", "198.51.100.5", "10.2.3.4", "102/dst"},
		// No rule of any level applies.
		{"none", "198.51.100.5", "10.1.2.3", ""},
	} {
		sids, cut := h.alertSIDs(c.src, c.dst)
		want := []string{}
		if c.want != "" {
			want = []string{c.want}
		}
		if fmt.Sprint(sids) != fmt.Sprint(want) || cut != 0 {
			t.Errorf("%s: %s -> %s: alerts %v, prefix_walk_cut +%d; want %v, +0", c.name, c.src, c.dst, sids, cut, want)
		}
	}
}

// The walk tries PREFIX_WALK_MAX prefixes per address: a rule on the
// last of them still alerts; one past them does not, and the flow end is
// counted in prefix_walk_cut. The Resolver stops where the kernel does.
func TestNestedPrefixesWalkBound(t *testing.T) {
	h := newHarness(t, Config{})
	walkMax := int(abi.BpfPrefixWalkPREFIX_WALK_MAX)
	for _, levels := range []int{walkMax, walkMax + 1, walkMax + 3} {
		// The outermost prefix lists 10.0.0.1 as a destination; each
		// of the levels-1 inside it lists it only as a source.
		var l nestedList
		l.rule(200, blocklist.ListedAsDst, blocklist.NetAny, "10.0.0.0/8", "2001:db8::/32")
		var inner []string
		for i := 1; i < levels; i++ {
			inner = append(inner, fmt.Sprintf("10.0.0.0/%d", 8+i), fmt.Sprintf("2001:db8::/%d", 32+i))
		}
		l.rule(201, blocklist.ListedAsSrc, blocklist.NetAny, inner...)
		h.block(&l.List)
		cfg, err := h.s.Maps().ReadConfig()
		if err != nil {
			t.Fatal(err)
		}
		r := &blocklistmaps.Resolver{Maps: h.s.Maps()}
		defer r.Close()
		r.Refresh(cfg.Generation)
		for _, p := range [][2]string{{"198.51.100.5", "10.0.0.1"}, {"2001:db8:ffff::5", "2001:db8::1"}} {
			sids, cut := h.alertSIDs(p[0], p[1])
			want, wantCut := "[200/dst]", uint64(0)
			if levels > walkMax {
				want, wantCut = "[]", 1
			}
			if fmt.Sprint(sids) != want || cut != wantCut {
				t.Errorf("%d levels: %s -> %s: alerts %v, prefix_walk_cut +%d; want %s, +%d", levels, p[0], p[1], sids, cut, want, wantCut)
			}
			dst := netip.MustParseAddr(p[1])
			c, err := r.Candidates(dst)
			if err != nil {
				t.Fatal(err)
			}
			e, _, err := r.Lookup(dst, netip.MustParseAddr(p[0]))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Prefixes) != min(levels, walkMax) || c.Cut != (levels > walkMax) || (e.RuleAsDst != 0) != (levels <= walkMax) {
				t.Errorf("%d levels: Resolver: %d prefixes, cut %v, rule as destination %#x", levels, len(c.Prefixes), c.Cut, e.RuleAsDst)
			}
		}
	}
}

// A flow end decided before the bound is not cut, however many listed
// prefixes enclose the one that decided it: the innermost of eleven lists
// the address for both ends of the packet.
func TestNestedPrefixesDecidedEarlyNotCut(t *testing.T) {
	h := newHarness(t, Config{})
	var l nestedList
	var outer []string
	for i := 0; i < 10; i++ {
		outer = append(outer, fmt.Sprintf("10.0.0.0/%d", 8+i), fmt.Sprintf("2001:db8::/%d", 32+i))
	}
	l.rule(210, blocklist.ListedAsDst, blocklist.NetAny, outer...)
	l.rule(211, blocklist.ListedAsAny, blocklist.NetAny, "10.0.0.0/18", "2001:db8::/42")
	h.block(&l.List)
	for _, p := range [][2]string{{"198.51.100.5", "10.0.0.1"}, {"2001:db8:ffff::5", "2001:db8::1"}} {
		if sids, cut := h.alertSIDs(p[0], p[1]); fmt.Sprint(sids) != "[211/dst]" || cut != 0 {
			t.Errorf("%s -> %s: alerts %v, prefix_walk_cut +%d; want [211/dst], +0", p[0], p[1], sids, cut)
		}
	}
}
