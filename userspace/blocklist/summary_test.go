package blocklist_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

func TestSummary(t *testing.T) {
	paths := []string{"testdata/drop.txt", "testdata/dropv6.txt", "testdata/edrop.txt", "testdata/ipblocklist.csv", "testdata/et-style.rules"}
	l := mustLoad(t, paths, blocklist.Options{})
	want := "5 files, 8 rules, 17 entries (9 exact IPv4, 2 exact IPv6, 4 IPv4 prefixes, 2 IPv6 prefixes), 13 warnings\n" +
		"  testdata/drop.txt (spamhaus): 1 rule, 4 entries (4 IPv4 prefixes)\n" +
		"  testdata/dropv6.txt (spamhaus): 1 rule, 2 entries (2 IPv6 prefixes)\n" +
		"  testdata/edrop.txt (spamhaus): no rules, no entries\n" +
		"  testdata/ipblocklist.csv (feodo-csv): 3 rules, 5 entries (4 exact IPv4, 1 exact IPv6)\n" +
		"  testdata/et-style.rules (snort): 3 rules, 6 entries (5 exact IPv4, 1 exact IPv6)"
	if got := l.Summary(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s\nwarnings: %q", got, want, l.Warnings)
	}
	stats := l.Stats()
	if len(stats) != 5 || stats[3] != (blocklist.FileStats{Path: "testdata/ipblocklist.csv", Format: "feodo-csv", Rules: 3, Counts: blocklist.Counts{ExactV4: 4, ExactV6: 1}}) {
		t.Errorf("stats %+v", stats)
	}
	if c := l.Counts(); c.Total() != len(l.Entries) {
		t.Errorf("counts %+v for %d entries", c, len(l.Entries))
	}
}

func TestSummaryOfHandBuiltList(t *testing.T) {
	// No Files: paths come from the Sources, formats are left out.
	l := &blocklist.List{
		Rules: []blocklist.Rule{{SID: 1, Source: "c:d/x.rules:3"}},
		Entries: []blocklist.Entry{
			{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Source: "c:d/x.rules:3"},
			{Prefix: netip.MustParsePrefix("2001:db8::/32"), Source: "y.txt:9"},
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Source: "test"},
		},
	}
	want := "3 files, 1 rule, 3 entries (1 exact IPv4, 1 IPv4 prefix, 1 IPv6 prefix), no warnings\n" +
		"  c:d/x.rules: 1 rule, 1 entry (1 exact IPv4)\n" +
		"  y.txt: no rules, 1 entry (1 IPv6 prefix)\n" +
		"  test: no rules, 1 entry (1 IPv4 prefix)"
	if got := l.Summary(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	if got := (&blocklist.List{}).Summary(); got != "no files, no rules, no entries, no warnings" {
		t.Errorf("empty: %q", got)
	}
	if got := (&blocklist.List{}).Stats(); !reflect.DeepEqual(got, []blocklist.FileStats(nil)) {
		t.Errorf("empty stats %+v", got)
	}
}
