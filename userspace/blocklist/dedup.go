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
// for radix-sorting by entry: inner entry index, a duplicate bit, and the
// other entry (the first listing of a duplicate, or the innermost CIDR
// containing the entry).
const (
	findInnerShift = 33
	findDupBit     = 1 << 32
)

// dedup drops repeated prefixes (keeping the first, in entry order) and
// returns warnings, in entry order, about them and about entries inside
// another listed CIDR. It sorts the entries by family, address and prefix
// length, so every enclosing CIDR comes before what it contains, and
// sweeps them with a stack of the enclosing CIDRs (listed prefixes are
// either nested or disjoint): O(n log n), with IPv4 radix-sorted in O(n).
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

	var s sweeper
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
		inner, other := int32(f>>findInnerShift), int32(uint32(f))
		e, o := entries[inner], entries[other]
		// "e.Source: prefix already listed at o.Source (kept the first)"
		// "e.Source: prefix is inside prefix listed at o.Source (both kept)"
		a := &l.arena
		start := a.reserve(len(e.Source) + len(o.Source) + 2*maxPrefixLen + 40)
		a.b.WriteString(e.Source)
		a.b.WriteString(": ")
		a.writePrefix(e.Prefix)
		if f&findDupBit != 0 {
			drop[inner] = true
			a.b.WriteString(" already listed at ")
			a.b.WriteString(o.Source)
			a.b.WriteString(" (kept the first)")
		} else {
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
// current one.
type sweeper struct {
	found   []uint64 // findings, see findInnerShift
	stack   []item
	first   item // first of the current run of equal prefixes
	started bool
}

func (s *sweeper) reset() {
	s.stack = s.stack[:0]
	s.started = false
}

func (s *sweeper) next(it item) {
	if s.started {
		f := s.first
		if f.v6 == it.v6 && f.hi == it.hi && f.lo == it.lo && f.bits == it.bits {
			s.found = append(s.found, uint64(it.idx)<<findInnerShift|findDupBit|uint64(f.idx))
			return
		}
	}
	s.first, s.started = it, true
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
