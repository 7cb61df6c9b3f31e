package eve

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/communityid"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// memo is what one encoder remembers of recent records, for the parts
// that repeat: a flow's Community ID (its alerts and its record share
// it; its SHA-1 costs more than the rest of an alert), a rule's alert
// object (every alert of the rule writes the same one; escaping its
// message and resolving its references were a quarter of an alert) and
// the day of the last timestamp. A memo serves one Options; a nil memo
// computes everything each time.
type memo struct {
	ids   [idSlots]idSlot
	rules [ruleSlots]ruleSlot
	date  dateText
}

// Both tables are direct-mapped: a miss costs one computation.
const (
	idSlots   = 1024
	ruleSlots = 256
)

type idSlot struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	n            uint8 // bytes of id; 0: empty, or an ID that cannot be made
	id           [communityid.Len]byte
}

// communityID appends the Community ID of the tuple to b.
func (m *memo) communityID(b []byte, src, dst netip.Addr, sport, dport uint16, proto uint8) []byte {
	if m == nil {
		return communityid.Append(b, 0, src, dst, sport, dport, proto)
	}
	h := uint64(sport)<<24 ^ uint64(dport)<<8 ^ uint64(proto)
	for _, a := range [2]netip.Addr{src, dst} {
		x := a.As16()
		h = (h ^ binary.LittleEndian.Uint64(x[0:]) ^ binary.LittleEndian.Uint64(x[8:])*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	}
	s := &m.ids[(h>>40)%idSlots]
	if s.n != 0 && s.src == src && s.dst == dst && s.sport == sport && s.dport == dport && s.proto == proto {
		return append(b, s.id[:s.n]...)
	}
	id := communityid.Append(s.id[:0], 0, src, dst, sport, dport, proto)
	*s = idSlot{src: src, dst: dst, sport: sport, dport: dport, proto: proto, n: uint8(len(id)), id: s.id}
	return append(b, id...)
}

type ruleSlot struct {
	from *event.Rule // the rule last written from this slot: rules are shared and read only
	rule event.Rule  // what appendRule reads of it; References a copy
	json []byte      // its alert object as appendRule writes it; nil: empty
}

// rule appends r's alert object (appendRule) to b.
func (m *memo) rule(b []byte, r *event.Rule, opts *Options) []byte {
	if m == nil {
		return appendRule(b, r, opts)
	}
	s := &m.rules[(uint64(r.SID)^uint64(r.GID)<<32^uint64(r.Rev)<<48)*0x9e3779b97f4a7c15>>56%ruleSlots]
	if s.json != nil && (s.from == r || sameAlertObject(&s.rule, r)) {
		s.from = r
		return append(b, s.json...)
	}
	s.json = appendRule(s.json[:0], r, opts)
	s.from = r
	s.rule = *r
	s.rule.References = append([]string(nil), r.References...)
	return append(b, s.json...)
}

// sameAlertObject: a and b give the same alert object, comparing every
// field appendRule reads.
func sameAlertObject(a, b *event.Rule) bool {
	return a.GID == b.GID && a.SID == b.SID && a.Rev == b.Rev && a.Priority == b.Priority &&
		a.Msg == b.Msg && a.Category == b.Category && slices.Equal(a.References, b.References)
}

// time appends t as appendTime does, the date from the memo's day.
func (m *memo) time(b []byte, t time.Time) []byte {
	if m == nil {
		return appendTime(b, t)
	}
	return appendTimeDated(b, t, &m.date)
}
