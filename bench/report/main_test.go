package main

import (
	"strings"
	"testing"
)

// A result line that other output broke is named, not read; whole lines
// count toward the medians.
func TestParseNamesBrokenLines(t *testing.T) {
	in := strings.Join([]string{
		"goos: linux",
		"BenchmarkLive/xdpsensor/64B-2   \t       1\t1546133021 ns/op\t         4.269 Mpps\t       234.2 ns/pkt",
		"BenchmarkLive/xdpsensor/64B-2   \ttime=2026-12-05T22:40:03Z level=WARN msg=\"the NIC strips VLAN tags\"",
		"         1\t1392184445 ns/op\t         4.423 Mpps\t       226.1 ns/pkt",
		"--- BENCH: BenchmarkLive/xdpsensor/64B-2",
		"BenchmarkStorm-2 \t       1\t3752846132 ns/op\t         1.910 Mpps",
		"PASS",
	}, "\n")
	r, broken := parse(strings.NewReader(in))
	if got := r["BenchmarkLive/xdpsensor/64B"]["ns/pkt"]; len(got) != 1 || got[0] != 234.2 {
		t.Errorf("xdpsensor ns/pkt = %v, want [234.2]", got)
	}
	if got := r["BenchmarkStorm"]["Mpps"]; len(got) != 1 || got[0] != 1.910 {
		t.Errorf("storm Mpps = %v, want [1.91]", got)
	}
	if len(broken) != 1 || broken[0] != "BenchmarkLive/xdpsensor/64B-2" {
		t.Errorf("broken = %q, want the one xdpsensor line", broken)
	}
}
