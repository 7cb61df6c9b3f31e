package blocklist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// randomEntries returns n entries drawn from a small address space, so
// that duplicates and nesting are frequent, in both families.
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
		out[i] = Entry{Prefix: p, Rule: 0, Source: "f:" + strconv.Itoa(i+1)}
	}
	return out
}

// naiveDedup is the O(n²) definition of dedup's warnings and result.
func naiveDedup(entries []Entry) (kept []Entry, warnings []string) {
	first := map[netip.Prefix]Entry{}
	var firsts []Entry
	for _, e := range entries {
		if f, ok := first[e.Prefix]; ok {
			warnings = append(warnings, e.Source+": "+show(e.Prefix)+" already listed at "+f.Source+" (kept the first)")
			continue
		}
		first[e.Prefix] = e
		firsts = append(firsts, e)
	}
	for _, e := range entries {
		if first[e.Prefix].Source != e.Source {
			continue
		}
		kept = append(kept, e)
	}
	var out []string
	for _, e := range entries {
		if first[e.Prefix].Source != e.Source {
			out = append(out, dupWarning(warnings, e.Source))
			continue
		}
		var best *Entry
		for i := range firsts {
			o := &firsts[i]
			if o.Prefix.Bits() < e.Prefix.Bits() && o.Prefix.Contains(e.Prefix.Addr()) &&
				(best == nil || o.Prefix.Bits() > best.Prefix.Bits()) {
				best = o
			}
		}
		if best != nil {
			out = append(out, e.Source+": "+show(e.Prefix)+" is inside "+show(best.Prefix)+" listed at "+best.Source+" (both kept)")
		}
	}
	return kept, out
}

func dupWarning(ws []string, source string) string {
	for _, w := range ws {
		if len(w) > len(source)+1 && w[:len(source)+1] == source+":" {
			return w
		}
	}
	return ""
}

func show(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func TestDedupMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 200; round++ {
		entries := randomEntries(r, 1+r.IntN(300))
		wantKept, wantWarnings := naiveDedup(entries)
		for _, packV4 := range []bool{true, false} {
			l := &loader{}
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
