package blocklist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// benchEntries returns n distinct IPv4 addresses and n/10 random CIDRs
// (/16 to /28) of rule 0, as BenchmarkLoadMillion's list, then, when
// bothWays is set, n/10 of the addresses again, half of rule 1 (the
// other direction: kept) and half of rule 0 (dropped).
func benchEntries(n int, bothWays bool) []Entry {
	r := rand.New(rand.NewPCG(3, 4))
	var out []Entry
	add := func(p netip.Prefix, rule int) {
		out = append(out, Entry{Prefix: p, Rule: rule, Source: "f:" + strconv.Itoa(len(out)+1)})
	}
	for i := uint32(0); i < uint32(n); i++ {
		a := i*2654435761 + 12345
		add(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 32), 0)
	}
	for i := 0; i < n/10; i++ {
		a := r.Uint32()
		p, _ := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).Prefix(16 + r.IntN(13))
		add(p, 0)
	}
	if bothWays {
		for i := 0; i < n/10; i++ {
			add(out[r.IntN(n)].Prefix, i%2)
		}
	}
	return out
}

func benchmarkDedup(b *testing.B, bothWays bool) {
	entries := benchEntries(1_000_000, bothWays)
	rules := []Rule{{Direction: ListedAsDst}, {Direction: ListedAsSrc}}
	var warnings int
	for b.Loop() {
		b.StopTimer()
		l := &loader{}
		l.list.Rules = rules
		l.list.Entries = slices.Clone(entries)
		l.entryPos = make([]pos, len(entries))
		b.StartTimer()
		warnings = len(l.dedup())
	}
	b.ReportMetric(float64(warnings), "warnings")
}

// BenchmarkDedup is the duplicate and overlap pass alone on a million
// addresses and 100,000 CIDRs.
func BenchmarkDedup(b *testing.B) { benchmarkDedup(b, false) }

// BenchmarkDedupBothWays adds 100,000 repeats, half for the other
// direction.
func BenchmarkDedupBothWays(b *testing.B) { benchmarkDedup(b, true) }
