package blocklist_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func refs(l *blocklist.List) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, note(e).Ref)
	}
	return out
}

func sources(l *blocklist.List) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Source)
	}
	return out
}

func mustLoad(t *testing.T, paths []string, opts blocklist.Options) *blocklist.List {
	t.Helper()
	l, err := blocklist.Load(paths, opts)
	if err != nil {
		t.Fatalf("Load(%q): %v", paths, err)
	}
	return l
}

func TestSpamhausDROP(t *testing.T) {
	const drop, v6, edrop = "testdata/drop.txt", "testdata/dropv6.txt", "testdata/edrop.txt"
	l := mustLoad(t, []string{drop, v6, edrop}, blocklist.Options{Classes: classification.Standard()})
	want := []blocklist.Rule{{
		GID: 1, SID: 3000000, Rev: 1,
		Msg:        "SPAMHAUS DROP Listed Traffic (drop.txt)",
		Classtype:  "misc-attack",
		References: []string{"url,https://www.spamhaus.org/drop/drop.txt"},
		Direction:  blocklist.ListedAsAny,
		OtherNet:   blocklist.NetAny,
		Source:     drop + ":1",
		Updated:    utc("2024-05-02 13:16:10"),
		Expires:    utc("2024-05-03 13:23:40"),
	}, {
		GID: 1, SID: 3000001, Rev: 1,
		Msg:        "SPAMHAUS DROPv6 Listed Traffic (dropv6.txt)",
		Classtype:  "misc-attack",
		References: []string{"url,https://www.spamhaus.org/drop/dropv6.txt"},
		Direction:  blocklist.ListedAsAny,
		OtherNet:   blocklist.NetAny,
		Source:     v6 + ":1",
		Updated:    utc("2024-05-02 06:05:12"),
		Expires:    utc("2024-05-03 07:41:20"),
	}}
	if !reflect.DeepEqual(l.Rules, want) {
		t.Errorf("rules:\n got %+v\nwant %+v", l.Rules, want)
	}
	equalStrings(t, "prefixes", prefixes(l), []string{
		"192.0.2.0/24", "198.51.100.0/25", "198.51.100.128/26", "203.0.113.64/26",
		"2001:db8:1000::/36", "2001:db8:bad::/48",
	})
	equalStrings(t, "refs", refs(l), []string{"SBL256894", "SBL434604", "SBL201197", "SBL623801", "SBL303809", "SBL417102"})
	equalStrings(t, "sources", sources(l), []string{drop + ":5", drop + ":6", drop + ":7", drop + ":8", v6 + ":5", v6 + ":6"})
	// The merged EDROP file lists nothing but is still read as Spamhaus.
	equalStrings(t, "warnings", l.Warnings, []string{edrop + ": lists no addresses"})
	if want := []blocklist.File{{drop, "spamhaus"}, {v6, "spamhaus"}, {edrop, "spamhaus"}}; !reflect.DeepEqual(l.Files, want) {
		t.Errorf("files %+v", l.Files)
	}
}

func TestSpamhausVariants(t *testing.T) {
	// No banner: detected from the "; SBL" of the first line; the list is DROP.
	l := mustParse(t, "lists/drop", "192.0.2.0/24 ; SBL1\n198.51.100.0/24;SBL2\n203.0.113.0/24\n", blocklist.Options{})
	if r := l.Rules[0]; r.Msg != "SPAMHAUS DROP Listed Traffic (drop)" || r.References != nil || !r.Expires.IsZero() || !r.Updated.IsZero() {
		t.Errorf("rule %+v", r)
	}
	equalStrings(t, "refs", refs(l), []string{"SBL1", "SBL2", ""})
	if l.Files[0].Format != "spamhaus" {
		t.Errorf("format %q", l.Files[0].Format)
	}
	// A date that does not parse is a warning; a rule, an error.
	text := "; Spamhaus EDROP List 2024/05/02\n; Expires: tomorrow\n192.0.2.0/24 ; SBL1\n"
	l = mustParse(t, "e", text, blocklist.Options{})
	equalStrings(t, "warnings", l.Warnings, []string{`e:2: cannot read the date "tomorrow" of Expires; ignored`})
	if l.Rules[0].Msg != "SPAMHAUS EDROP Listed Traffic (e)" {
		t.Errorf("msg %q", l.Rules[0].Msg)
	}
	equalStrings(t, "problems", problemsOf(t, "d", "; Spamhaus DROP List\n192.0.2.0/24 ; SBL1\nalert ip any any -> 1.1.1.1 any (msg:\"m\"; sid:1;)\n192.0.2.300/32 ; SBL2\n", blocklist.Options{}), []string{
		"d:3: this looks like a Snort rule, but the file is read as a Spamhaus DROP list (detected as spamhaus from line 1)",
		`d:4: "192.0.2.300/32" is not an IP address or CIDR`,
	})
}

func TestFireHOL(t *testing.T) {
	const level1, feodo = "testdata/firehol_level1.netset", "testdata/feodo.ipset"
	l := mustLoad(t, []string{level1, feodo}, blocklist.Options{Classes: classification.Standard()})
	want := []blocklist.Rule{{
		GID: 1, SID: 3000000, Rev: 32851,
		Msg:        "FIREHOL firehol_level1 (attacks)",
		Classtype:  "misc-attack",
		References: []string{"url,http://iplists.firehol.org/?ipset=firehol_level1"}, // its List source URL is empty
		Direction:  blocklist.ListedAsAny,
		OtherNet:   blocklist.NetAny,
		Source:     level1 + ":1",
		Updated:    utc("2024-05-02 13:24:38"),
	}, {
		GID: 1, SID: 3000001, Rev: 5120,
		Msg:        "FIREHOL feodo (malware)",
		Classtype:  "trojan-activity",
		References: []string{"url,https://feodotracker.abuse.ch/blocklist/?download=ipblocklist", "url,http://iplists.firehol.org/?ipset=feodo"},
		Direction:  blocklist.ListedAsAny,
		OtherNet:   blocklist.NetAny,
		Source:     feodo + ":1",
		Updated:    utc("2024-05-02 13:10:11"),
	}}
	if !reflect.DeepEqual(l.Rules, want) {
		t.Errorf("rules:\n got %+v\nwant %+v", l.Rules, want)
	}
	equalStrings(t, "prefixes", prefixes(l), []string{
		"192.0.2.0/24", "198.51.100.7/32", "198.51.100.64/26", "203.0.113.0/25", "203.0.113.200/32",
		"192.0.2.10/32", "192.0.2.11/32", "198.51.100.23/32",
	})
	equalStrings(t, "sources", sources(l), []string{
		level1 + ":34", level1 + ":35", level1 + ":36", level1 + ":37", level1 + ":38",
		feodo + ":32", feodo + ":33", feodo + ":34",
	})
	equalStrings(t, "warnings", l.Warnings, []string{
		feodo + ":32: 192.0.2.10 is inside 192.0.2.0/24 listed at " + level1 + ":34 (both kept)",
		feodo + ":33: 192.0.2.11 is inside 192.0.2.0/24 listed at " + level1 + ":34 (both kept)",
	})
	for _, f := range l.Files {
		if f.Format != "firehol" {
			t.Errorf("%s read as %s", f.Path, f.Format)
		}
	}
}

func TestFireHOLWithoutHeader(t *testing.T) {
	// Forced: the name comes from the file's base name, no category.
	l := mustParse(t, "sets/blocklist_de.ipset", "# hand-written\n192.0.2.1\n", blocklist.Options{Format: "firehol"})
	if r := l.Rules[0]; r.Msg != "FIREHOL blocklist_de" || r.Rev != 1 || r.Classtype != "bad-unknown" || r.References != nil {
		t.Errorf("rule %+v", r)
	}
	// An IPv6 netset, detected by its header.
	l = mustParse(t, "v6.netset", "#\n# spamhaus_dropv6\n#\n# ipv6 hash:net ipset\n#\n# Category        : reputation\n#\n2001:db8::/32\n", blocklist.Options{})
	if r := l.Rules[0]; r.Msg != "FIREHOL spamhaus_dropv6 (reputation)" || l.Files[0].Format != "firehol" {
		t.Errorf("rule %+v, files %+v", r, l.Files)
	}
}

func TestFeodoBlocklistText(t *testing.T) {
	const path = "testdata/ipblocklist_recommended.txt"
	l := mustLoad(t, []string{path}, blocklist.Options{Classes: classification.Standard()})
	want := blocklist.Rule{
		GID: 1, SID: 3000000, Rev: 1,
		Msg:        "FEODO botnet C2 (ipblocklist_recommended.txt)",
		Classtype:  "trojan-activity",
		References: []string{"url,https://feodotracker.abuse.ch/"},
		Direction:  blocklist.ListedAsDst,
		OtherNet:   blocklist.NetHome,
		Source:     path + ":1",
		Updated:    utc("2024-05-02 13:45:03"),
	}
	if len(l.Rules) != 1 || !reflect.DeepEqual(l.Rules[0], want) {
		t.Errorf("rules:\n got %+v\nwant %+v", l.Rules, want)
	}
	equalStrings(t, "prefixes", prefixes(l), []string{"192.0.2.11/32", "198.51.100.23/32", "203.0.113.77/32"})
	equalStrings(t, "sources", sources(l), []string{path + ":10", path + ":11", path + ":12"})
	if len(l.Warnings) != 0 || l.Files[0].Format != "feodo" {
		t.Errorf("warnings %q files %+v", l.Warnings, l.Files)
	}
}

func TestFeodoCSV(t *testing.T) {
	const path = "testdata/ipblocklist.csv"
	l := mustLoad(t, []string{path}, blocklist.Options{Classes: classification.Standard()})
	rule := func(malware string, line string) blocklist.Rule {
		return blocklist.Rule{
			GID: 1, SID: blocklist.FeodoSID(malware), Rev: 1,
			Msg:        "FEODO " + malware + " C2",
			Classtype:  "trojan-activity",
			References: []string{"url,https://feodotracker.abuse.ch/"},
			Direction:  blocklist.ListedAsDst,
			OtherNet:   blocklist.NetHome,
			Source:     path + ":" + line,
			Updated:    utc("2024-05-02 13:45:03"),
		}
	}
	want := []blocklist.Rule{rule("Dridex", "10"), rule("QakBot", "12"), rule("Pikabot", "14")}
	if !reflect.DeepEqual(l.Rules, want) {
		t.Errorf("rules:\n got %+v\nwant %+v", l.Rules, want)
	}
	type brief struct {
		prefix string
		rule   int
		source string
		port   uint16
		ref    string
	}
	var got []brief
	for _, e := range l.Entries {
		got = append(got, brief{e.Prefix.String(), e.Rule, e.Source, note(e).Port, note(e).Ref})
	}
	wantEntries := []brief{
		{"192.0.2.10/32", 0, path + ":10", 443, "offline, last online 2024-04-25"},
		{"192.0.2.11/32", 0, path + ":11", 4643, "online, last online 2024-05-02"},
		{"198.51.100.23/32", 1, path + ":12", 2222, "online, last online 2024-05-02"},
		{"203.0.113.77/32", 2, path + ":14", 8080, "online, last online 2024-05-02"},
		{"2001:db8:c2::7/128", 2, path + ":15", 443, "offline, last online 2024-05-01"},
	}
	if !reflect.DeepEqual(got, wantEntries) {
		t.Errorf("entries:\n got %+v\nwant %+v", got, wantEntries)
	}
	// The same C2 on another port is the same prefix for the kernel.
	equalStrings(t, "warnings", l.Warnings, []string{path + ":13: 198.51.100.23 already listed at " + path + ":12 (kept the first)"})
	if l.Files[0].Format != "feodo-csv" {
		t.Errorf("format %q", l.Files[0].Format)
	}
}

func TestFeodoSID(t *testing.T) {
	for _, m := range []string{"Dridex", "QakBot", "Emotet", "TrickBot", "BazarLoader", "Pikabot", "BumbleBee"} {
		sid := blocklist.FeodoSID(m)
		if sid < blocklist.FeodoSIDBase || sid >= blocklist.FeodoSIDBase+100000 {
			t.Errorf("%s: sid %d out of range", m, sid)
		}
		if blocklist.FeodoSID(strings.ToUpper(m)) != sid || blocklist.FeodoSID(" "+m+" ") != sid {
			t.Errorf("%s: sid depends on case or blanks", m)
		}
	}
	if blocklist.FeodoSID("Dridex") == blocklist.FeodoSID("Emotet") {
		t.Error("Dridex and Emotet share a sid")
	}
}

func TestFeodoCSVShapes(t *testing.T) {
	// Columns found by name, in any order; unquoted fields; no banner.
	text := "dst_ip,malware,dst_port,c2_status,first_seen_utc,last_online\n" +
		"192.0.2.1, Emotet ,8080,online,2024-01-01 00:00:00,\n" +
		"\"192.0.2.2\",\"Emo\"\"tet\",,offline,2024-01-01 00:00:00,2024-02-01\n"
	l := mustParse(t, "c.csv", text, blocklist.Options{})
	if l.Files[0].Format != "feodo-csv" || len(l.Rules) != 2 || l.Rules[0].Msg != "FEODO Emotet C2" || l.Rules[1].Msg != `FEODO Emo"tet C2` {
		t.Fatalf("files %+v rules %+v", l.Files, l.Rules)
	}
	if e := note(l.Entries[0]); e.Port != 8080 || e.Ref != "online" {
		t.Errorf("entry 0 %+v", e)
	}
	if e := note(l.Entries[1]); e.Port != 0 || e.Ref != "offline, last online 2024-02-01" {
		t.Errorf("entry 1 %+v", e)
	}
	// Rows without a header, after the banner; a commented header row.
	banner := "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #\n"
	l = mustParse(t, "b.csv", banner+`"2024-01-01 00:00:00","192.0.2.1","443","online","2024-01-02","Dridex"`+"\n", blocklist.Options{})
	if l.Files[0].Format != "feodo-csv" || note(l.Entries[0]).Port != 443 || l.Rules[0].Msg != "FEODO Dridex C2" {
		t.Errorf("files %+v rules %+v entries %+v", l.Files, l.Rules, l.Entries)
	}
	l = mustParse(t, "h.csv", "# dst_ip,malware,first_seen_utc\n192.0.2.1,Dridex,x\n", blocklist.Options{Format: "feodo-csv"})
	if l.Entries[0].Prefix != pfx("192.0.2.1/32") || l.Rules[0].Msg != "FEODO Dridex C2" {
		t.Errorf("rules %+v entries %+v", l.Rules, l.Entries)
	}
	// A banner and no rows: still Feodo's CSV.
	l = mustParse(t, "e.csv", banner+"#\n", blocklist.Options{})
	if l.Files[0].Format != "feodo-csv" {
		t.Errorf("format %q", l.Files[0].Format)
	}
}

func TestFeodoCSVErrors(t *testing.T) {
	head := `"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"` + "\n"
	text := head +
		`"2024-01-01 00:00:00","192.0.2.300","443","online","2024-01-02","Dridex"` + "\n" +
		`"2024-01-01 00:00:00","192.0.2.1","70000","online","2024-01-02","Dridex"` + "\n" +
		`"2024-01-01 00:00:00","192.0.2.1","443","online","2024-01-02",""` + "\n" +
		`"2024-01-01 00:00:00","192.0.2.1","443","online","2024-01-02"` + "\n" +
		`"2024-01-01 00:00:00","192.0.2.1","443","online","2024-01-02","Dridex` + "\n" +
		`"2024-01-01 00:00:00" x,"192.0.2.1","443","online","2024-01-02","Dridex"` + "\n" +
		`alert ip any any -> 1.1.1.1 any (msg:"m"; sid:1;)` + "\n" +
		`"2024-01-01 00:00:00","192.0.2.1","http","online","2024-01-02",""` + "\n"
	equalStrings(t, "problems", problemsOf(t, "f.csv", text, blocklist.Options{}), []string{
		`f.csv:2: dst_ip "192.0.2.300" is not an IP address or CIDR`,
		`f.csv:3: dst_port "70000" is not a port number (0-65535)`,
		`f.csv:4: malware is empty`,
		`f.csv:5: "\"2024-01-01 00:00:00\",\"192.0.2.1\",\"443\",\"online\",\"2024-01"... has 5 fields, want 6 (first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware)`,
		`f.csv:6: unterminated quoted field "\"Dridex"`,
		`f.csv:7: unexpected "x,\"192.0.2.1\",\"443\",\"online\",\"2024-01-02\",\"Dridex\"" after a quoted field`,
		`f.csv:8: this looks like a Snort rule, but the file is read as a Feodo Tracker CSV (detected as feodo-csv from line 1)`,
		`f.csv:9: dst_port "http" is not a port number (0-65535)`,
		`f.csv:9: malware is empty`,
	})
	equalStrings(t, "header", problemsOf(t, "g.csv", "first_seen_utc,dst_ip,port\n", blocklist.Options{}), []string{
		`g.csv:1: the header has no "malware" column`,
	})
}

func TestFeedDatesThatDoNotParse(t *testing.T) {
	l := mustParse(t, "f.txt", "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist #\n# Last updated: yesterday #\n192.0.2.1\n", blocklist.Options{})
	equalStrings(t, "feodo", l.Warnings, []string{`f.txt:2: cannot read the date "yesterday" of Last updated; ignored`})
	if !l.Rules[0].Updated.IsZero() {
		t.Errorf("updated %v", l.Rules[0].Updated)
	}
	l = mustParse(t, "f.netset", "# x\n# ipv4 hash:net ipset\n# This File Date  : 2024-05-02\n192.0.2.0/24\n", blocklist.Options{})
	equalStrings(t, "firehol", l.Warnings, []string{`f.netset:3: cannot read the date "2024-05-02" of This File Date; ignored`})
	if l.Rules[0].Msg != "FIREHOL x" {
		t.Errorf("msg %q", l.Rules[0].Msg)
	}
}
