package blocklist_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

func TestPlainBasic(t *testing.T) {
	text := "\ufeff# C&C list\r\n" +
		"1.2.3.4\r\n" +
		"   5.6.7.0/24   # trailing comment\n" +
		"\n" +
		"\t2001:db8::1\t\n" +
		"2001:DB8:1::/48;spamhaus-style comment\n" +
		"; SBL header\n" +
		"0.0.0.0/0\n" +
		"8.8.8.8/32\n" +
		"::ffff:9.9.9.0/120\n" +
		"10.0.0.1" // no final newline
	l := mustParse(t, "lists/cc.txt", text, blocklist.Options{})
	want := blocklist.Rule{
		GID: 1, SID: 3000000, Rev: 1,
		Msg:       "XDPSENSOR listed address (cc.txt)",
		Classtype: "bad-unknown",
		Direction: blocklist.ListedAsAny,
		OtherNet:  blocklist.NetAny,
		Source:    "lists/cc.txt:1",
	}
	if len(l.Rules) != 1 || !reflect.DeepEqual(l.Rules[0], want) {
		t.Fatalf("rules:\n got %+v\nwant [%+v]", l.Rules, want)
	}
	equalStrings(t, "prefixes", prefixes(l), []string{
		"1.2.3.4/32", "5.6.7.0/24", "2001:db8::1/128", "2001:db8:1::/48", "0.0.0.0/0", "8.8.8.8/32", "9.9.9.0/24", "10.0.0.1/32",
	})
	var sources []string
	for _, e := range l.Entries {
		if e.Rule != 0 {
			t.Errorf("entry %v: rule %d", e.Prefix, e.Rule)
		}
		sources = append(sources, e.Source)
	}
	equalStrings(t, "sources", sources, []string{
		"lists/cc.txt:2", "lists/cc.txt:3", "lists/cc.txt:5", "lists/cc.txt:6", "lists/cc.txt:8", "lists/cc.txt:9", "lists/cc.txt:10", "lists/cc.txt:11",
	})
	equalStrings(t, "warnings", l.Warnings, []string{
		"lists/cc.txt:2: 1.2.3.4 is inside 0.0.0.0/0 listed at lists/cc.txt:8 (both kept)",
		"lists/cc.txt:3: 5.6.7.0/24 is inside 0.0.0.0/0 listed at lists/cc.txt:8 (both kept)",
		"lists/cc.txt:9: 8.8.8.8 is inside 0.0.0.0/0 listed at lists/cc.txt:8 (both kept)",
		"lists/cc.txt:10: ::ffff:9.9.9.0/120 is an IPv4-mapped IPv6 prefix, listed as 9.9.9.0/24",
		"lists/cc.txt:10: 9.9.9.0/24 is inside 0.0.0.0/0 listed at lists/cc.txt:8 (both kept)",
		"lists/cc.txt:11: 10.0.0.1 is inside 0.0.0.0/0 listed at lists/cc.txt:8 (both kept)",
	})
}

func TestPlainErrors(t *testing.T) {
	text := "1.2.3.4\n" +
		"10.0.0.300\n" +
		"10.1.2.3/8\n" +
		"2001:db8::1/32\n" +
		"1.2.3.4 5.6.7.8\n" +
		"1.2.3.4-1.2.3.10\n" +
		"1.2.3.4/\n" +
		"1.2.3.4/-1\n" +
		"010.1.1.1\n" +
		"fe80::1%eth0\n" +
		"example.com\n" +
		"alert ip any any -> 1.2.3.4 any (msg:\"x\"; sid:1;)\n"
	got := problemsOf(t, "list.txt", text, blocklist.Options{})
	equalStrings(t, "problems", got, []string{
		`list.txt:2: "10.0.0.300" is not an IP address or CIDR`,
		`list.txt:3: "10.1.2.3/8" has host bits set, did you mean 10.0.0.0/8?`,
		`list.txt:4: "2001:db8::1/32" has host bits set, did you mean 2001:db8::/32?`,
		`list.txt:5: "1.2.3.4 5.6.7.8": expected one address or CIDR per line`,
		`list.txt:6: "1.2.3.4-1.2.3.10" is not an IP address or CIDR`,
		`list.txt:7: "1.2.3.4/": bad prefix length "" (0-32 for IPv4)`,
		`list.txt:8: "1.2.3.4/-1": bad prefix length "-1" (0-32 for IPv4)`,
		`list.txt:9: "010.1.1.1" is not an IP address or CIDR`,
		`list.txt:10: "fe80::1%eth0" has an IPv6 zone; zoned addresses cannot be listed`,
		`list.txt:11: "example.com" is not an IP address or CIDR`,
		`list.txt:12: this looks like a Snort rule, but the file is read as a plain list (detected as plain from line 1)`,
	})
}

func TestPlainSIDFollowsFilePosition(t *testing.T) {
	names := []string{"first.rules", "second.txt", "third.txt"}
	paths := writeFiles(t, names, map[string]string{
		"first.rules": `alert ip $HOME_NET any -> 1.1.1.1 any (msg:"r"; sid:9;)`,
		"second.txt":  "2.2.2.2\n",
		"third.txt":   "# nothing yet\n\n3.3.3.3\n",
	})
	l, err := blocklist.Load(paths, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Rules) != 3 {
		t.Fatalf("%d rules", len(l.Rules))
	}
	for i, want := range []struct {
		sid uint32
		msg string
	}{{9, "r"}, {3000001, "XDPSENSOR listed address (second.txt)"}, {3000002, "XDPSENSOR listed address (third.txt)"}} {
		if r := l.Rules[i]; r.SID != want.sid || r.Msg != want.msg {
			t.Errorf("rule %d: sid %d msg %q, want %d %q", i, r.SID, r.Msg, want.sid, want.msg)
		}
	}
	if got := l.Rules[2].Source; got != paths[2]+":1" {
		t.Errorf("plain rule source %q", got)
	}
	if e := l.Entries[2]; e.Rule != 2 || e.Source != paths[2]+":3" || e.Prefix != pfx("3.3.3.3/32") {
		t.Errorf("entry %+v", e)
	}
}

func TestEmptyFiles(t *testing.T) {
	names := []string{"empty.txt", "comments.txt", "blank.rules", "real.txt"}
	paths := writeFiles(t, names, map[string]string{
		"empty.txt":    "",
		"comments.txt": "# only\n# comments\n; here\n",
		"blank.rules":  "\n\n   \n",
		"real.txt":     "1.1.1.1\n",
	})
	l, err := blocklist.Load(paths, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Rules) != 1 || l.Rules[0].SID != 3000003 || len(l.Entries) != 1 {
		t.Errorf("rules %+v entries %+v", l.Rules, l.Entries)
	}
	equalStrings(t, "warnings", l.Warnings, []string{
		paths[0] + ": lists no addresses",
		paths[1] + ": lists no addresses",
		paths[2] + ": lists no addresses",
	})
	// Forced formats accept empty files too.
	for _, f := range []string{"plain", "snort"} {
		l := mustParse(t, "e", "# nothing\n", blocklist.Options{Format: f})
		equalStrings(t, f, l.Warnings, []string{"e: lists no addresses"})
	}
}

func TestPlainBaseName(t *testing.T) {
	l := mustParse(t, filepath.Join("a", "b", "feodo ips.txt"), "1.1.1.1", blocklist.Options{Format: "plain"})
	if got := l.Rules[0].Msg; got != "XDPSENSOR listed address (feodo ips.txt)" {
		t.Errorf("msg %q", got)
	}
}
