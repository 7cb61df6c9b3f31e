package blocklist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// randomEntries returns n entries drawn from a small address space, so
// that duplicates and nesting are frequent, in both families, each of
// one of testRules (so of a random direction).
func randomEntries(r *rand.Rand, n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		var p netip.Prefix
		if r.IntN(4) == 0 {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			a[2] = byte(r.IntN(4))
			a[15] = byte(r.IntN(8))
			bits := []int{0, 16, 18, 24, 120, 126, 127, 128, 128, 128}[r.IntN(10)]
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
		} else {
			a := [4]byte{10, byte(r.IntN(3)), byte(r.IntN(3)), byte(r.IntN(8))}
			bits := []int{0, 8, 9, 16, 24, 29, 30, 31, 32, 32, 32}[r.IntN(11)]
			p = netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		}
		out[i] = Entry{Prefix: p, Rule: r.IntN(len(testRules)), Source: "f:" + strconv.Itoa(i+1)}
	}
	return out
}

// testRules are rules of every direction, the plain lists' (any) twice
// so that it is the most common.
var testRules = []Rule{{Direction: ListedAsSrc}, {Direction: ListedAsDst}, {Direction: ListedAsAny}, {Direction: ListedAsAny}}

// naiveDedup is the O(n²) definition of dedup's warnings and result: a
// repeat is dropped when the entries kept for its prefix cover its
// rule's direction, citing the first kept entry that covers it alone or
// else the first for each end; otherwise it is kept, citing the first
// entry of the prefix. The first entry of each prefix is warned about
// when inside another listed CIDR (the longest such).
func naiveDedup(entries []Entry, rules []Rule) (kept []Entry, warnings []string) {
	type state struct {
		kept    []Entry
		covered Direction
	}
	dir := func(e Entry) Direction { return rules[e.Rule].Direction }
	st := map[netip.Prefix]*state{}
	var firsts []Entry
	warn := make([]string, len(entries))
	first := make([]bool, len(entries))
	for i, e := range entries {
		d := dir(e)
		s := st[e.Prefix]
		if s == nil {
			st[e.Prefix] = &state{kept: []Entry{e}, covered: d}
			firsts = append(firsts, e)
			first[i] = true
			kept = append(kept, e)
			continue
		}
		head := e.Source + ": " + show(e.Prefix)
		if d&^s.covered != 0 {
			how := "for the other direction"
			if s.covered&d != 0 {
				if s.covered == ListedAsSrc {
					how = "for the source only"
				} else {
					how = "for the destination only"
				}
			}
			warn[i] = head + " also listed at " + s.kept[0].Source + " " + how + " (kept both)"
			s.covered |= d
			s.kept = append(s.kept, e)
			kept = append(kept, e)
			continue
		}
		var by *Entry
		for j := range s.kept {
			if dir(s.kept[j])&d == d {
				by = &s.kept[j]
				break
			}
		}
		if by != nil {
			warn[i] = head + " already listed at " + by.Source + " (kept the first)"
			continue
		}
		var src, dst *Entry
		for j := range s.kept {
			k := &s.kept[j]
			if src == nil && dir(*k)&ListedAsSrc != 0 {
				src = k
			}
			if dst == nil && dir(*k)&ListedAsDst != 0 {
				dst = k
			}
		}
		a, b := src, dst
		if line(b.Source) < line(a.Source) {
			a, b = b, a
		}
		warn[i] = head + " already listed at " + a.Source + " and at " + b.Source + " (kept those)"
	}
	for i, e := range entries {
		if warn[i] != "" {
			warnings = append(warnings, warn[i])
			continue
		}
		if !first[i] {
			continue
		}
		var best *Entry
		for j := range firsts {
			o := &firsts[j]
			if o.Prefix.Bits() < e.Prefix.Bits() && o.Prefix.Contains(e.Prefix.Addr()) &&
				(best == nil || o.Prefix.Bits() > best.Prefix.Bits()) {
				best = o
			}
		}
		if best != nil {
			warnings = append(warnings, e.Source+": "+show(e.Prefix)+" is inside "+show(best.Prefix)+" listed at "+best.Source+" (both kept)")
		}
	}
	return kept, warnings
}

func line(source string) int {
	n, _ := strconv.Atoi(source[strings.LastIndexByte(source, ':')+1:])
	return n
}

func show(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func TestDedupMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	kinds := map[string]int{}
	for round := 0; round < 300; round++ {
		entries := randomEntries(r, 1+r.IntN(300))
		wantKept, wantWarnings := naiveDedup(entries, testRules)
		for _, w := range wantWarnings {
			for _, k := range []string{"(kept the first)", "(kept those)", "for the other direction", "for the source only", "for the destination only", "is inside"} {
				if strings.Contains(w, k) {
					kinds[k]++
				}
			}
		}
		for _, packV4 := range []bool{true, false} {
			l := &loader{}
			l.list.Rules = testRules
			l.list.Entries = slices.Clone(entries)
			for i := range entries {
				l.entryPos = append(l.entryPos, pos{0, int32(i + 1)})
			}
			var got []string
			for _, w := range l.dedupPacked(packV4) {
				got = append(got, w.text)
			}
			if !slices.Equal(got, wantWarnings) {
				t.Fatalf("round %d packV4=%v: warnings\n got %q\nwant %q", round, packV4, got, wantWarnings)
			}
			if !slices.Equal(l.list.Entries, wantKept) {
				t.Fatalf("round %d packV4=%v: kept\n got %v\nwant %v", round, packV4, l.list.Entries, wantKept)
			}
		}
	}
	// Every kind of warning must have come up.
	for _, k := range []string{"(kept the first)", "(kept those)", "for the other direction", "for the source only", "for the destination only", "is inside"} {
		if kinds[k] == 0 {
			t.Errorf("no warning %q in the random rounds", k)
		}
	}
	t.Logf("warnings by kind: %v", kinds)
}

func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 5, 1023, 1024, 5000, 100000} {
		a := make([]uint64, n)
		for i := range a {
			switch i % 3 {
			case 0:
				a[i] = r.Uint64()
			case 1:
				a[i] = r.Uint64() & 0xffff0000ffff0000
			default:
				a[i] = uint64(r.IntN(10))
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		radixSort(a)
		if !slices.Equal(a, want) {
			t.Fatalf("n=%d: not sorted", n)
		}
	}
}
