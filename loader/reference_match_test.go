package loader

import (
	"net/netip"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// refMatcher decides alerts as the kernel does: an exact entry beats a
// prefix unless its rule refuses the packet's other address, then the
// covering prefixes are tried longest first, each end of the packet on its
// own (the bound on their number is left to the kernel tests), the first
// rule listing an address for an end of the packet wins, and the
// destination is checked first.
type refMatcher struct {
	list     *blocklist.List
	exact    map[netip.Addr]refEntry
	prefixes map[netip.Prefix]refEntry
	// HomeNet, when set, limits $HOME_NET; ExternalNotHome makes
	// $EXTERNAL_NET !$HOME_NET (otherwise it is any).
	HomeNet         []netip.Prefix
	ExternalNotHome bool
}

type refEntry struct{ asSrc, asDst int } // rule index + 1, 0 for none

// newRefMatcher indexes a list.
func newRefMatcher(list *blocklist.List) *refMatcher {
	m := &refMatcher{list: list, exact: map[netip.Addr]refEntry{}, prefixes: map[netip.Prefix]refEntry{}}
	for _, e := range list.Entries {
		dir := list.Rules[e.Rule].Direction
		p := e.Prefix.Masked()
		if e.Exact() {
			m.exact[p.Addr()] = refMerge(m.exact[p.Addr()], dir, e.Rule+1)
		} else {
			m.prefixes[p] = refMerge(m.prefixes[p], dir, e.Rule+1)
		}
	}
	return m
}

func refMerge(e refEntry, dir blocklist.Direction, id int) refEntry {
	if dir&blocklist.ListedAsSrc != 0 && e.asSrc == 0 {
		e.asSrc = id
	}
	if dir&blocklist.ListedAsDst != 0 && e.asDst == 0 {
		e.asDst = id
	}
	return e
}

// lookup returns the exact entry and then every prefix listing a,
// longest first.
func (m *refMatcher) lookup(a netip.Addr) []refEntry {
	out := []refEntry{m.exact[a]}
	for bits := a.BitLen() - 1; bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if pe, ok := m.prefixes[p]; ok {
			out = append(out, pe)
		}
	}
	return out
}

// pick is the first of the entries' rules for one end (rule; 0: none)
// that accepts other.
func (m *refMatcher) pick(entries []refEntry, rule func(refEntry) int, other netip.Addr) int {
	for _, e := range entries {
		if r := rule(e); r != 0 && m.otherOK(r, other) {
			return r
		}
	}
	return 0
}

func (m *refMatcher) otherOK(rule int, other netip.Addr) bool {
	inHome := func() bool {
		for _, p := range m.HomeNet {
			if p.Contains(other) {
				return true
			}
		}
		return false
	}
	switch m.list.Rules[rule-1].OtherNet {
	case blocklist.NetHome:
		return len(m.HomeNet) == 0 || inHome()
	case blocklist.NetExternal:
		if !m.ExternalNotHome {
			return true
		}
		return len(m.HomeNet) > 0 && !inHome()
	}
	return true
}

// Alert returns the index of the rule the packet raises and which of its
// addresses is listed ("src" or "dst"); ok is false when none.
func (m *refMatcher) Alert(r refResult) (rule int, listed string, ok bool) {
	if r.Verdict != refIP {
		return 0, "", false
	}
	if rule := m.pick(m.lookup(r.Dst), func(e refEntry) int { return e.asDst }, r.Src); rule != 0 {
		return rule - 1, "dst", true
	}
	if rule := m.pick(m.lookup(r.Src), func(e refEntry) int { return e.asSrc }, r.Dst); rule != 0 {
		return rule - 1, "src", true
	}
	return 0, "", false
}
