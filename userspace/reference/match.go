package reference

import (
	"net/netip"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// Matcher decides alerts as the kernel does: an exact entry beats a
// prefix, the longest prefix wins, the first rule listing an address for
// an end of the packet wins, and the destination is checked first.
type Matcher struct {
	list     *blocklist.List
	exact    map[netip.Addr]entry
	prefixes map[netip.Prefix]entry
	// HomeNet, when set, limits $HOME_NET; ExternalNotHome makes
	// $EXTERNAL_NET !$HOME_NET (otherwise it is any).
	HomeNet         []netip.Prefix
	ExternalNotHome bool
}

type entry struct{ asSrc, asDst int } // rule index + 1, 0 for none

// NewMatcher indexes a list.
func NewMatcher(list *blocklist.List) *Matcher {
	m := &Matcher{list: list, exact: map[netip.Addr]entry{}, prefixes: map[netip.Prefix]entry{}}
	for _, e := range list.Entries {
		dir := list.Rules[e.Rule].Direction
		p := e.Prefix.Masked()
		if e.Exact() {
			m.exact[p.Addr()] = merge(m.exact[p.Addr()], dir, e.Rule+1)
		} else {
			m.prefixes[p] = merge(m.prefixes[p], dir, e.Rule+1)
		}
	}
	return m
}

func merge(e entry, dir blocklist.Direction, id int) entry {
	if dir&blocklist.ListedAsSrc != 0 && e.asSrc == 0 {
		e.asSrc = id
	}
	if dir&blocklist.ListedAsDst != 0 && e.asDst == 0 {
		e.asDst = id
	}
	return e
}

func (m *Matcher) lookup(a netip.Addr) entry {
	e := m.exact[a]
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if pe, ok := m.prefixes[p]; ok {
			if e.asSrc == 0 {
				e.asSrc = pe.asSrc
			}
			if e.asDst == 0 {
				e.asDst = pe.asDst
			}
			break
		}
	}
	return e
}

func (m *Matcher) otherOK(rule int, other netip.Addr) bool {
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
func (m *Matcher) Alert(r Result) (rule int, listed string, ok bool) {
	if r.Verdict != IP {
		return 0, "", false
	}
	src, dst := m.lookup(r.Src), m.lookup(r.Dst)
	if dst.asDst != 0 && m.otherOK(dst.asDst, r.Src) {
		return dst.asDst - 1, "dst", true
	}
	if src.asSrc != 0 && m.otherOK(src.asSrc, r.Dst) {
		return src.asSrc - 1, "src", true
	}
	return 0, "", false
}
