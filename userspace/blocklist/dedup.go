package blocklist

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// item is an entry's prefix as integers, for sorting. IPv4 addresses sit
// in the top 32 bits of hi so both families mask the same way.
type item struct {
	hi, lo uint64
	bits   uint8
	v6     bool
	idx    int32
}

func maskHiLo(hi, lo uint64, bits uint8) (uint64, uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return hi & (^uint64(0) << (64 - bits)), 0
	default:
		return hi, lo & (^uint64(0) << (128 - bits))
	}
}

func compareItems(a, b item) int {
	if a.v6 != b.v6 {
		if a.v6 {
			return 1
		}
		return -1
	}
	if a.hi != b.hi {
		return cmp.Compare(a.hi, b.hi)
	}
	if a.lo != b.lo {
		return cmp.Compare(a.lo, b.lo)
	}
	if a.bits != b.bits {
		return cmp.Compare(a.bits, b.bits)
	}
	return cmp.Compare(a.idx, b.idx)
}

// IPv4 entries are sorted as one uint64 each: address, prefix length and
// entry index, which fits while there are fewer than 1<<v4IdxBits entries.
const (
	v4IdxBits = 26
	v4IdxMask = 1<<v4IdxBits - 1
)

// A finding packs what the sweep found about one entry into a uint64,
// for radix-sorting by entry: the entry index (inner), a duplicate bit,
// and the other entry (the kept entry it repeats, or the innermost CIDR
// containing it). Rare findings about repeats for another direction set
// the details bit instead, with an index into sweeper.details.
const (
	findInnerShift = 33
	findDupBit     = 1 << 32
	findDetailsBit = 1 << 31 // entry indexes are int32: bit 31 is free
)

// finding is a rare finding's details.
type finding struct {
	kind    uint8
	covered Direction // findOtherDir: what the entries kept before covered
	other   int32     // the kept entry cited
	other2  int32     // findDupTwo: the second kept entry cited
}

const (
	findDupTwo   = iota // a repeat of other and other2, which together cover its direction (dropped)
	findOtherDir        // a repeat of other for a direction not covered yet (kept)
)

// dedup drops repeated prefixes whose direction the entries kept for
// the prefix already cover (kept first, in entry order), and returns
// warnings, in entry order, about repeats and about entries inside
// another listed CIDR. It sorts the entries by family, address and
// prefix length, so every enclosing CIDR comes before what it contains
// and repeats come together in entry order, and sweeps them with a stack
// of the enclosing CIDRs (listed prefixes are either nested or
// disjoint): O(n log n), with IPv4 radix-sorted in O(n). Directions are
// only looked at for repeats.
func (l *loader) dedup() []warning {
	return l.dedupPacked(len(l.list.Entries) <= v4IdxMask)
}

// dedupPacked is dedup, radix-sorting IPv4 entries if packV4 is set (it
// needs fewer than 1<<v4IdxBits entries) or sorting all with the IPv6.
func (l *loader) dedupPacked(packV4 bool) []warning {
	entries := l.list.Entries
	n := len(entries)
	if n == 0 {
		return nil
	}
	var v4 []uint64
	var items []item
	if packV4 {
		v4 = make([]uint64, 0, n) // a list is mostly IPv4: one allocation, no regrowth
	} else {
		items = make([]item, 0, n)
	}
	for i, e := range entries {
		a := e.Prefix.Addr()
		if a.Is4() {
			b := a.As4()
			addr := uint64(binary.BigEndian.Uint32(b[:]))
			if packV4 {
				v4 = append(v4, addr<<32|uint64(e.Prefix.Bits())<<v4IdxBits|uint64(i))
				continue
			}
			items = append(items, item{hi: addr << 32, bits: uint8(e.Prefix.Bits()), idx: int32(i)})
			continue
		}
		b := a.As16()
		items = append(items, item{
			hi:   binary.BigEndian.Uint64(b[:8]),
			lo:   binary.BigEndian.Uint64(b[8:]),
			bits: uint8(e.Prefix.Bits()),
			v6:   true,
			idx:  int32(i),
		})
	}
	radixSort(v4)
	slices.SortFunc(items, compareItems)

	rules := l.list.Rules
	s := sweeper{dir: func(i int32) Direction { return rules[entries[i].Rule].Direction }}
	for _, k := range v4 {
		s.next(item{hi: k >> 32 << 32, bits: uint8(k >> v4IdxBits & 63), idx: int32(k & v4IdxMask)})
	}
	s.reset()
	for _, it := range items {
		s.next(it)
	}
	if len(s.found) == 0 {
		return nil
	}
	radixSort(s.found)

	warnings := make([]warning, len(s.found))
	drop := make([]bool, n)
	for i, f := range s.found {
		inner := int32(f >> findInnerShift)
		var d finding
		if f&findDetailsBit != 0 {
			d = s.details[uint32(f)&^findDetailsBit]
		} else {
			d.other = int32(uint32(f))
		}
		e, o := entries[inner], entries[d.other]
		// "e.Source: prefix already listed at o.Source (kept the first)"
		// "e.Source: prefix already listed at o.Source and at o2.Source (kept those)"
		// "e.Source: prefix also listed at o.Source for the other direction (kept both)"
		// "e.Source: prefix is inside prefix listed at o.Source (both kept)"
		a := &l.arena
		extra := 0
		if f&findDetailsBit != 0 && d.kind == findDupTwo {
			extra = len(entries[d.other2].Source) + 8
		}
		start := a.reserve(len(e.Source) + len(o.Source) + extra + 2*maxPrefixLen + 60)
		a.b.WriteString(e.Source)
		a.b.WriteString(": ")
		a.writePrefix(e.Prefix)
		switch {
		case f&findDupBit != 0:
			drop[inner] = true
			a.b.WriteString(" already listed at ")
			a.b.WriteString(o.Source)
			a.b.WriteString(" (kept the first)")
		case f&findDetailsBit != 0 && d.kind == findDupTwo:
			drop[inner] = true
			a.b.WriteString(" already listed at ")
			a.b.WriteString(o.Source)
			a.b.WriteString(" and at ")
			a.b.WriteString(entries[d.other2].Source)
			a.b.WriteString(" (kept those)")
		case f&findDetailsBit != 0:
			a.b.WriteString(" also listed at ")
			a.b.WriteString(o.Source)
			switch {
			case d.covered&s.dir(inner) == 0:
				a.b.WriteString(" for the other direction (kept both)")
			case d.covered == ListedAsSrc:
				a.b.WriteString(" for the source only (kept both)")
			default:
				a.b.WriteString(" for the destination only (kept both)")
			}
		default:
			a.b.WriteString(" is inside ")
			a.writePrefix(o.Prefix)
			a.b.WriteString(" listed at ")
			a.b.WriteString(o.Source)
			a.b.WriteString(" (both kept)")
		}
		warnings[i] = warning{at: l.entryPos[inner], text: a.b.String()[start:]}
	}
	kept := entries[:0]
	for i, e := range entries {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	clear(entries[len(kept):])
	l.list.Entries = kept
	return warnings
}

// sweeper walks sorted items, keeping the chain of CIDRs that enclose the
// current one and the entries kept for the current prefix.
type sweeper struct {
	found   []uint64 // findings, see findInnerShift
	details []finding
	stack   []item
	first   item // first of the current run of equal prefixes
	started bool
	dir     func(int32) Direction // an entry's rule's direction

	// Kept entries of the current run, filled at its first repeat.
	kept    []int32
	covered Direction
}

func (s *sweeper) reset() {
	s.stack = s.stack[:0]
	s.started = false
}

// record notes a finding with details.
func (s *sweeper) record(inner int32, f finding) {
	s.found = append(s.found, uint64(inner)<<findInnerShift|findDetailsBit|uint64(len(s.details)))
	s.details = append(s.details, f)
}

func (s *sweeper) next(it item) {
	if s.started {
		f := s.first
		if f.v6 == it.v6 && f.hi == it.hi && f.lo == it.lo && f.bits == it.bits {
			s.repeat(it.idx)
			return
		}
	}
	s.first, s.started = it, true
	s.kept = s.kept[:0]
	for len(s.stack) > 0 {
		top := s.stack[len(s.stack)-1]
		if top.v6 == it.v6 {
			if hi, lo := maskHiLo(it.hi, it.lo, top.bits); hi == top.hi && lo == top.lo {
				break
			}
		}
		s.stack = s.stack[:len(s.stack)-1]
	}
	if len(s.stack) > 0 {
		s.found = append(s.found, uint64(it.idx)<<findInnerShift|uint64(s.stack[len(s.stack)-1].idx))
	}
	maxBits := uint8(32)
	if it.v6 {
		maxBits = 128
	}
	if it.bits < maxBits {
		s.stack = append(s.stack, it)
	}
}

// repeat handles an entry that lists the current run's prefix again.
func (s *sweeper) repeat(idx int32) {
	if len(s.kept) == 0 {
		s.kept = append(s.kept, s.first.idx)
		s.covered = s.dir(s.first.idx)
	}
	d := s.dir(idx)
	if d&^s.covered != 0 {
		s.record(idx, finding{kind: findOtherDir, covered: s.covered, other: s.first.idx})
		s.covered |= d
		s.kept = append(s.kept, idx)
		return
	}
	// Covered: cite the first kept entry that covers it alone, else the
	// first for each end.
	src, dst := int32(-1), int32(-1)
	for _, k := range s.kept {
		dk := s.dir(k)
		if dk&d == d {
			s.found = append(s.found, uint64(idx)<<findInnerShift|findDupBit|uint64(k))
			return
		}
		if src < 0 && dk&ListedAsSrc != 0 {
			src = k
		}
		if dst < 0 && dk&ListedAsDst != 0 {
			dst = k
		}
	}
	s.record(idx, finding{kind: findDupTwo, other: min(src, dst), other2: max(src, dst)})
}

// radixSort sorts a in place: least significant digit first, 16 bits a
// pass, skipping passes where every key has the same digit.
func radixSort(a []uint64) {
	if len(a) < 1024 {
		slices.Sort(a)
		return
	}
	buf := make([]uint64, len(a))
	count := make([]int, 1<<16)
	src, dst := a, buf
	for shift := 0; shift < 64; shift += 16 {
		clear(count)
		for _, k := range src {
			count[k>>shift&0xffff]++
		}
		if count[src[0]>>shift&0xffff] == len(src) {
			continue
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range src {
			d := k >> shift & 0xffff
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
