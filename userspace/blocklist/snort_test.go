package blocklist_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

const botcc = "testdata/bleeding-botcc-group1.rules"

func TestBotccSeedRule(t *testing.T) {
	l, err := blocklist.Load([]string{botcc}, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Rules) != 1 {
		t.Fatalf("got %d rules, want 1", len(l.Rules))
	}
	want := blocklist.Rule{
		GID:        1,
		SID:        2405000,
		Rev:        602,
		Msg:        "BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE",
		Classtype:  "trojan-activity",
		Priority:   0,
		References: []string{"url,www.shadowserver.org"},
		Direction:  blocklist.ListedAsDst,
		OtherNet:   blocklist.NetHome,
		Threshold:  &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 3600},
		Block:      30 * 24 * time.Hour,
		Source:     botcc + ":2", // line 1 is a comment
	}
	if got := l.Rules[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("rule:\n got %+v (threshold %+v)\nwant %+v (threshold %+v)", got, got.Threshold, want, want.Threshold)
	}
	if len(l.Entries) != 60 {
		t.Fatalf("got %d entries, want 60", len(l.Entries))
	}
	for _, e := range l.Entries {
		if e.Rule != 0 || e.Source != botcc+":2" || !e.Exact() || !e.Prefix.Addr().Is4() {
			t.Errorf("entry %+v: want an exact IPv4 address of rule 0 from %s:2", e, botcc)
		}
	}
	got := prefixes(l)
	for _, p := range []string{"161.53.178.240/32", "193.109.122.67/32", "121.6.201.216/32", "202.8.87.197/32"} {
		if !slices.Contains(got, p) {
			t.Errorf("%s not among the entries", p)
		}
	}
	if got[0] != "121.6.201.216/32" || got[59] != "202.8.87.197/32" {
		t.Errorf("entries are not in list order: first %s, last %s", got[0], got[59])
	}
	if len(l.Warnings) != 0 {
		t.Errorf("unexpected warnings: %q", l.Warnings)
	}
}

func TestBotccIsDetectedAndForced(t *testing.T) {
	for _, format := range []string{"", "auto", "snort", "SNORT"} {
		l, err := blocklist.Load([]string{botcc}, blocklist.Options{Format: format})
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		if len(l.Entries) != 60 || l.Rules[0].SID != 2405000 {
			t.Errorf("format %q: %d entries, sid %d", format, len(l.Entries), l.Rules[0].SID)
		}
	}
	problems := loadProblems(t, []string{botcc}, blocklist.Options{Format: "plain"})
	equalStrings(t, "forced plain", problems, []string{
		botcc + ":2: this looks like a Snort rule, but the file is read as a plain list (format plain)",
	})
}

func TestSnortDirections(t *testing.T) {
	tests := []struct {
		rule  string
		dir   blocklist.Direction
		other blocklist.NetVar
		pfx   []string
	}{
		{`alert ip $HOME_NET any -> [1.2.3.4,5.6.7.0/24] any (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetHome, []string{"1.2.3.4/32", "5.6.7.0/24"}},
		{`alert ip [1.2.3.4,5.6.7.0/24] any -> $HOME_NET any (msg:"m"; sid:1;)`, blocklist.ListedAsSrc, blocklist.NetHome, []string{"1.2.3.4/32", "5.6.7.0/24"}},
		{`alert ip [1.2.3.4] any -> $EXTERNAL_NET any (msg:"m"; sid:1;)`, blocklist.ListedAsSrc, blocklist.NetExternal, []string{"1.2.3.4/32"}},
		{`alert ip $EXTERNAL_NET any <> [1.2.3.4] any (msg:"m"; sid:1;)`, blocklist.ListedAsAny, blocklist.NetExternal, []string{"1.2.3.4/32"}},
		{`alert ip 9.9.9.9 any <> any any (msg:"m"; sid:1;)`, blocklist.ListedAsAny, blocklist.NetAny, []string{"9.9.9.9/32"}},
		{`drop ip any any -> 9.9.9.9 any (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetAny, []string{"9.9.9.9/32"}},
		{`reject ip any any -> 10.0.0.0/8 any (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetAny, []string{"10.0.0.0/8"}},
		{`sdrop ip ANY ANY -> 2001:db8::/32 ANY (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetAny, []string{"2001:db8::/32"}},
		{`log ip $home_net any -> [ 1.2.3.4 , 1.2.3.5 ] any (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetHome, []string{"1.2.3.4/32", "1.2.3.5/32"}},
		{`alert ip $HOME_NET any -> [[1.1.1.1,2.2.2.2],[3.3.3.0/24,[4.4.4.4]]] any (msg:"m"; sid:1;)`, blocklist.ListedAsDst, blocklist.NetHome, []string{"1.1.1.1/32", "2.2.2.2/32", "3.3.3.0/24", "4.4.4.4/32"}},
		{"alert\tip\t$HOME_NET\tany\t->\t[1.1.1.1]\tany\t(msg:\"m\"; sid:1;)", blocklist.ListedAsDst, blocklist.NetHome, []string{"1.1.1.1/32"}},
	}
	for _, tt := range tests {
		l := mustParse(t, "r.rules", tt.rule, blocklist.Options{Format: "snort"})
		if len(l.Rules) != 1 {
			t.Errorf("%s: %d rules", tt.rule, len(l.Rules))
			continue
		}
		r := l.Rules[0]
		if r.Direction != tt.dir || r.OtherNet != tt.other {
			t.Errorf("%s: direction %d other %d, want %d %d", tt.rule, r.Direction, r.OtherNet, tt.dir, tt.other)
		}
		equalStrings(t, tt.rule, prefixes(l), tt.pfx)
	}
}

func TestSnortIPv6List(t *testing.T) {
	l := mustParse(t, "v6.rules", `alert ip $HOME_NET any -> [2001:db8::/32,2001:db8:1::1,2001:DB8:ffff::/48,::ffff:1.2.3.4,10.0.0.0/8] any (msg:"v6"; sid:7;)`, blocklist.Options{})
	equalStrings(t, "prefixes", prefixes(l), []string{"2001:db8::/32", "2001:db8:1::1/128", "2001:db8:ffff::/48", "1.2.3.4/32", "10.0.0.0/8"})
	equalStrings(t, "warnings", l.Warnings, []string{
		"v6.rules:1: ::ffff:1.2.3.4 is an IPv4-mapped IPv6 address, listed as 1.2.3.4",
		"v6.rules:1: 2001:db8:1::1 is inside 2001:db8::/32 listed at v6.rules:1 (both kept)",
		"v6.rules:1: 2001:db8:ffff::/48 is inside 2001:db8::/32 listed at v6.rules:1 (both kept)",
	})
}

func TestSnortOptions(t *testing.T) {
	text := `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"say \"hi\"\; a \\ b (x)"; gid:3; sid:42; rev:7; priority:2; classtype:attempted-recon; reference:url, example.com/a,b; reference: cve,2007-0001; threshold: count 5, seconds 60, track by_dst, type both; fwsam: src[either], 2 days 4 hours; metadata: former_category X, updated_at 2020; target:dest_ip;)`
	l := mustParse(t, "o.rules", text, blocklist.Options{Classes: classification.Standard()})
	want := blocklist.Rule{
		GID: 3, SID: 42, Rev: 7, Priority: 2,
		Msg:        `say "hi"; a \ b (x)`,
		Classtype:  "attempted-recon",
		References: []string{"url,example.com/a,b", "cve,2007-0001"},
		Direction:  blocklist.ListedAsDst,
		OtherNet:   blocklist.NetHome,
		Threshold:  &blocklist.Threshold{Type: "both", Track: "by_dst", Count: 5, Seconds: 60},
		Block:      52 * time.Hour,
		Source:     "o.rules:1",
	}
	if !reflect.DeepEqual(l.Rules[0], want) {
		t.Errorf("rule:\n got %+v\nwant %+v", l.Rules[0], want)
	}
	if len(l.Warnings) != 0 {
		t.Errorf("metadata and target must be ignored silently, got %q", l.Warnings)
	}
}

func TestSnortDefaults(t *testing.T) {
	l := mustParse(t, "d.rules", `alert ip any any -> 1.2.3.4 any (msg:unquoted message; sid:5)`, blocklist.Options{})
	want := blocklist.Rule{GID: 1, SID: 5, Msg: "unquoted message", Direction: blocklist.ListedAsDst, Source: "d.rules:1"}
	if !reflect.DeepEqual(l.Rules[0], want) {
		t.Errorf("rule:\n got %+v\nwant %+v", l.Rules[0], want)
	}
}

func TestSnortContinuation(t *testing.T) {
	text := "# header comment\n" +
		"alert ip $HOME_NET any -> [1.1.1.1,\\\n" +
		"    2.2.2.2,\\\n" +
		"# a comment inside the rule is skipped, as Snort does\n" +
		"\n" +
		"    3.3.3.3] any (msg:\"multi \\\n" +
		"\tline\"; \\   \n" +
		"  sid:12;)\r\n" +
		"alert ip $HOME_NET any -> 4.4.4.4 any (msg:\"next\"; sid:13;)\n"
	l := mustParse(t, "m.rules", text, blocklist.Options{})
	if len(l.Rules) != 2 {
		t.Fatalf("%d rules, want 2", len(l.Rules))
	}
	if r := l.Rules[0]; r.Msg != "multi line" || r.SID != 12 || r.Source != "m.rules:2" {
		t.Errorf("first rule: msg %q sid %d source %q", r.Msg, r.SID, r.Source)
	}
	if r := l.Rules[1]; r.Msg != "next" || r.SID != 13 || r.Source != "m.rules:9" {
		t.Errorf("second rule: msg %q sid %d source %q", r.Msg, r.SID, r.Source)
	}
	equalStrings(t, "prefixes", prefixes(l), []string{"1.1.1.1/32", "2.2.2.2/32", "3.3.3.3/32", "4.4.4.4/32"})
	for i, src := range []string{"m.rules:2", "m.rules:2", "m.rules:2", "m.rules:9"} {
		if l.Entries[i].Source != src || l.Entries[i].Rule != i/3 {
			t.Errorf("entry %d: source %q rule %d", i, l.Entries[i].Source, l.Entries[i].Rule)
		}
	}
}

func TestSnortCommentedRulesAndBlankLines(t *testing.T) {
	text := "\n#alert ip $HOME_NET any -> 5.5.5.5 any (msg:\"off\"; sid:1;)\n" +
		"   # alert ip $HOME_NET any -> 6.6.6.6 any (msg:\"off\"; sid:2;)\n" +
		"; a semicolon comment\n\n" +
		"alert ip $HOME_NET any -> 7.7.7.7 any (msg:\"on\"; sid:3;)\n\n"
	l := mustParse(t, "c.rules", text, blocklist.Options{})
	equalStrings(t, "prefixes", prefixes(l), []string{"7.7.7.7/32"})
	if l.Rules[0].Source != "c.rules:6" {
		t.Errorf("source %q", l.Rules[0].Source)
	}
}

func TestSnortWarnings(t *testing.T) {
	text := `alert tcp $HOME_NET any -> 1.1.1.1 any (msg:"t"; sid:1; flow:established; content:"x|3b|y"; content:"z"; nocase;)
pass ip $HOME_NET any -> 2.2.2.2 any (msg:"p"; sid:2;)
alert udp $HOME_NET any -> 3.3.3.3 any (msg:"u"; sid:1;)
alert icmp $HOME_NET any -> 4.4.4.4 any (msg:"i"; sid:4; metadata:x;)
`
	l := mustParse(t, "w.rules", text, blocklist.Options{})
	equalStrings(t, "prefixes", prefixes(l), []string{"1.1.1.1/32", "3.3.3.3/32", "4.4.4.4/32"})
	equalStrings(t, "warnings", l.Warnings, []string{
		"w.rules:1: protocol tcp is not enforced: the sensor matches the rule's addresses on every IP protocol",
		"w.rules:1: options not enforced by the sensor: flow, content, nocase",
		"w.rules:2: pass rule skipped: the sensor cannot exempt traffic from other rules",
		"w.rules:3: protocol udp is not enforced: the sensor matches the rule's addresses on every IP protocol",
		"w.rules:3: rule 1:1 has the same gid:sid as the rule at w.rules:1 (both kept)",
		"w.rules:4: protocol icmp is not enforced: the sensor matches the rule's addresses on every IP protocol",
	})
}

func TestSnortOnlyPassRules(t *testing.T) {
	l := mustParse(t, "p.rules", `pass ip $HOME_NET any -> 2.2.2.2 any (msg:"p"; sid:2;)`, blocklist.Options{})
	if len(l.Rules) != 0 || len(l.Entries) != 0 {
		t.Errorf("pass rules must contribute nothing: %+v", l)
	}
	equalStrings(t, "warnings", l.Warnings, []string{
		"p.rules: lists no addresses",
		"p.rules:1: pass rule skipped: the sensor cannot exempt traffic from other rules",
	})
}

func TestSnortClasstypeCheck(t *testing.T) {
	opts := blocklist.Options{Classes: classification.Standard()}
	mustParse(t, "k.rules", `alert ip any any -> 1.1.1.1 any (msg:"m"; sid:1; classtype:Trojan-Activity;)`, opts)
	equalStrings(t, "unknown classtype", problemsOf(t, "k.rules", `alert ip any any -> 1.1.1.1 any (msg:"m"; sid:1; classtype:trojan-activty;)`, opts),
		[]string{`k.rules:1: unknown classtype "trojan-activty"`})
	// Without a table, any classtype goes.
	mustParse(t, "k.rules", `alert ip any any -> 1.1.1.1 any (msg:"m"; sid:1; classtype:my-own-class;)`, blocklist.Options{})
}

// TestSnortErrors checks every error case's exact message. Each input is
// one file called "rules.txt", read as snort.
func TestSnortErrors(t *testing.T) {
	const ok = `(msg:"m"; sid:1;)`
	tests := []struct {
		name, text string
		want       []string
	}{
		{"destination port", `alert ip $HOME_NET any -> [1.2.3.4] 80 ` + ok,
			[]string{`rules.txt:1: destination port "80" is not "any": ports are not matched by the sensor`}},
		{"source port", `alert ip [1.2.3.4] $HTTP_PORTS -> $HOME_NET any ` + ok,
			[]string{`rules.txt:1: source port "$HTTP_PORTS" is not "any": ports are not matched by the sensor`}},
		{"no address list", `alert ip $HOME_NET any -> $EXTERNAL_NET any ` + ok,
			[]string{`rules.txt:1: rule has no address list (source $HOME_NET, destination $EXTERNAL_NET)`}},
		{"no address list any", `alert ip any any <> any any ` + ok,
			[]string{`rules.txt:1: rule has no address list (source any, destination any)`}},
		{"both lists", `alert ip 1.1.1.1 any -> [2.2.2.2] any ` + ok,
			[]string{`rules.txt:1: both source and destination are address lists; one side must be any, $HOME_NET or $EXTERNAL_NET`}},
		{"negated address", `alert ip $HOME_NET any -> !1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: negated destination address "!1.2.3.4" is not supported`}},
		{"negated list", `alert ip ![1.2.3.4,5.6.7.8] any -> $HOME_NET any ` + ok,
			[]string{`rules.txt:1: negated source address "![1.2.3.4,5.6.7.8]" is not supported`}},
		{"negated home net", `alert ip !$HOME_NET any -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: negated source address "!$HOME_NET" is not supported`}},
		{"negation inside list", `alert ip $HOME_NET any -> [1.2.3.4,!5.6.7.8] any ` + ok,
			[]string{`rules.txt:1: negated address "!5.6.7.8" is not supported`}},
		{"other variable", `alert ip $DNS_SERVERS any -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: source variable "$DNS_SERVERS" is not supported (only $HOME_NET and $EXTERNAL_NET)`}},
		{"variable inside list", `alert ip $HOME_NET any -> [1.2.3.4,$SMTP_SERVERS] any ` + ok,
			[]string{`rules.txt:1: variable "$SMTP_SERVERS" inside an address list is not supported`}},
		{"any inside list", `alert ip $HOME_NET any -> [1.2.3.4,any] any ` + ok,
			[]string{`rules.txt:1: "any" inside an address list is not supported`}},
		{"bad addresses, all reported", `alert ip $HOME_NET any -> [1.2.3.4,10.0.0.300,5.6.7.8/33,10.1.2.3/8,2001:db8::/129,fe80::1%eth0] any ` + ok,
			[]string{
				`rules.txt:1: "10.0.0.300" is not an IP address or CIDR`,
				`rules.txt:1: "5.6.7.8/33": bad prefix length "33" (0-32 for IPv4)`,
				`rules.txt:1: "10.1.2.3/8" has host bits set, did you mean 10.0.0.0/8?`,
				`rules.txt:1: "2001:db8::/129": bad prefix length "129" (0-128 for IPv6)`,
				`rules.txt:1: "fe80::1%eth0" has an IPv6 zone; zoned addresses cannot be listed`,
			}},
		{"empty list", `alert ip $HOME_NET any -> [] any ` + ok,
			[]string{`rules.txt:1: empty address list []`}},
		{"stray comma", `alert ip $HOME_NET any -> [1.2.3.4,,5.6.7.8,] any ` + ok,
			[]string{
				`rules.txt:1: address list has an empty element (stray comma?)`,
				`rules.txt:1: address list has an empty element (stray comma?)`,
			}},
		{"unbalanced brackets", `alert ip $HOME_NET any -> [1.2.3.4,[5.6.7.8] any ` + ok,
			[]string{`rules.txt:1: unbalanced brackets in "[1.2.3.4,[5.6.7.8] any "`}},
		{"missing sid", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m";)`,
			[]string{`rules.txt:1: rule has no sid`}},
		{"missing msg", `alert ip $HOME_NET any -> 1.2.3.4 any (sid:1;)`,
			[]string{`rules.txt:1: rule has no msg`}},
		{"missing both", `alert ip $HOME_NET any -> 1.2.3.4 any (rev:1;)`,
			[]string{`rules.txt:1: rule has no msg`, `rules.txt:1: rule has no sid`}},
		{"bad numbers", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:12a; rev:-1; gid:0; priority:99999999999;)`,
			[]string{
				`rules.txt:1: sid "12a" is not a number`,
				`rules.txt:1: rev "-1" is not a number`,
				`rules.txt:1: gid must be 1 or more`,
				`rules.txt:1: priority "99999999999" is out of range`,
			}},
		{"duplicate options", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; sid:2; msg:"n"; classtype:a; classtype:b;)`,
			[]string{`rules.txt:1: sid given twice`, `rules.txt:1: msg given twice`, `rules.txt:1: classtype given twice`}},
		{"empty msg", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:""; sid:1;)`,
			[]string{`rules.txt:1: msg is empty`}},
		{"msg without value", `alert ip $HOME_NET any -> 1.2.3.4 any (msg; sid:1;)`,
			[]string{`rules.txt:1: msg needs a value`}},
		{"unterminated msg", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"oops; sid:1;)`,
			[]string{`rules.txt:1: option "msg": unterminated quoted string`, `rules.txt:1: msg: no closing quote`, `rules.txt:1: rule has no sid`}},
		{"text after msg quote", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"a" b; sid:1;)`,
			[]string{`rules.txt:1: msg: unexpected "b" after the closing quote`}},
		{"unknown action", `block ip $HOME_NET any -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: "block" is not a rule action (want alert, drop, reject, sdrop or log)`}},
		{"old action", `activate ip $HOME_NET any -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: action "activate" is not supported`}},
		{"protocol", `alert http $HOME_NET any -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: protocol "http" is not supported (want ip; tcp, udp and icmp are accepted but not enforced)`}},
		{"direction", `alert ip 1.2.3.4 any <- $HOME_NET any ` + ok,
			[]string{`rules.txt:1: "<-" is not a direction (want -> or <>)`}},
		{"header fields", `alert ip $HOME_NET -> 1.2.3.4 any ` + ok,
			[]string{`rules.txt:1: rule header has 6 fields, want 7: action protocol src_addr src_port direction dst_addr dst_port`}},
		{"snort3 header", `alert http (msg:"m"; sid:1;)`,
			[]string{`rules.txt:1: rule header has 2 fields, want 7: action protocol src_addr src_port direction dst_addr dst_port`}},
		{"no options", `alert ip $HOME_NET any -> 1.2.3.4 any`,
			[]string{`rules.txt:1: rule has no options: missing "("`}},
		{"unclosed options", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1;`,
			[]string{`rules.txt:1: rule options are not closed with ")"`}},
		{"text after options", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1;) extra`,
			[]string{`rules.txt:1: unexpected "extra" after the rule's closing ")"`}},
		{"bad option name", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; bad name:1;)`,
			[]string{`rules.txt:1: bad option name "bad name"`}},
		{"reference", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; reference:shadowserver;)`,
			[]string{`rules.txt:1: reference "shadowserver" is not type,value`}},
		{"classtype with blank", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; classtype:trojan activity;)`,
			[]string{`rules.txt:1: classtype "trojan activity" is not a class name`}},
		{"threshold", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; threshold: type sometimes, track by_flow, count 0, seconds x, burst 3;)`,
			[]string{
				`rules.txt:1: threshold: type "sometimes" is not limit, threshold or both`,
				`rules.txt:1: threshold: track "by_flow" is not by_src or by_dst`,
				`rules.txt:1: threshold: count must be 1 or more`,
				`rules.txt:1: threshold: seconds "x" is not a number`,
				`rules.txt:1: threshold: unknown setting "burst" (want type, track, count and seconds)`,
			}},
		{"threshold missing", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; threshold: type limit, count 1, count 2;)`,
			[]string{
				`rules.txt:1: threshold: count given twice`,
				`rules.txt:1: threshold: missing track`,
				`rules.txt:1: threshold: missing seconds`,
			}},
		{"threshold shape", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; threshold: type limit track by_src, count 1, seconds 1;)`,
			[]string{
				`rules.txt:1: threshold: "type limit track by_src" is not "setting value"`,
				`rules.txt:1: threshold: missing type`,
				`rules.txt:1: threshold: missing track`,
			}},
		{"fwsam", `alert ip $HOME_NET any -> 1.2.3.4 any (msg:"m"; sid:1; fwsam: dst, 30 fortnights;)`,
			[]string{`rules.txt:1: fwsam: duration "30 fortnights": unknown unit "fortnights" (want seconds, minutes, hours, days, weeks, months or years)`}},
		{"continuation at end of file", "alert ip $HOME_NET any -> 1.2.3.4 any (msg:\"m\"; \\\n sid:1;) \\\n",
			[]string{`rules.txt:1: the rule continues past the end of the file (its last line ends with "\")`}},
		{"address in a rule file", "alert ip $HOME_NET any -> 1.2.3.4 any (msg:\"m\"; sid:1;)\n\n5.6.7.8\n",
			[]string{`rules.txt:3: "5.6.7.8" is an address, but the file is read as Snort rules (format snort)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, "rules.txt", tt.text, blocklist.Options{Format: "snort"})
			equalStrings(t, tt.text, got, tt.want)
		})
	}
}

// TestSnortAllProblemsReported checks that every bad rule of every file
// is reported, in order, and that good rules do not hide them.
func TestSnortAllProblemsReported(t *testing.T) {
	files := map[string]string{
		"a.rules": `# ET-style file
alert ip $HOME_NET any -> [1.1.1.1,1.1.1.300] any (msg:"a"; sid:1;)
alert ip $HOME_NET any -> 2.2.2.2 any (msg:"fine"; sid:2;)
alert ip $HOME_NET any -> 3.3.3.3 80 (msg:"c"; sid:3;)
alert ip $HOME_NET any -> 4.4.4.4 any (msg:"d";)
`,
		"b.txt": "# plain\n10.0.0.1\n10.0.0.256\n\n10.1.0.0/8\n",
	}
	paths := writeFiles(t, []string{"a.rules", "b.txt"}, files)
	paths = append(paths, paths[0]+".missing")
	got := loadProblems(t, paths, blocklist.Options{})
	equalStrings(t, "problems", got, []string{
		paths[0] + `:2: "1.1.1.300" is not an IP address or CIDR`,
		paths[0] + `:4: destination port "80" is not "any": ports are not matched by the sensor`,
		paths[0] + `:5: rule has no sid`,
		paths[1] + `:3: "10.0.0.256" is not an IP address or CIDR`,
		paths[1] + `:5: "10.1.0.0/8" has host bits set, did you mean 10.0.0.0/8?`,
		paths[2] + `: cannot read: no such file or directory`,
	})
}

func TestSnortLongLine(t *testing.T) {
	// An ET-style rule with 50,000 addresses on one line (~700 KB).
	var b []byte
	b = append(b, "alert ip $HOME_NET any -> ["...)
	for i := 0; i < 50000; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ip4(uint32(0x0a000000+i))...)
	}
	b = append(b, "] any (msg:\"long\"; sid:99;)\n"...)
	l := mustParse(t, "long.rules", string(b), blocklist.Options{})
	if len(l.Entries) != 50000 || l.Entries[49999].Prefix != pfx("10.0.195.79/32") {
		t.Errorf("%d entries, last %v", len(l.Entries), l.Entries[len(l.Entries)-1].Prefix)
	}
}

func TestETStyleFile(t *testing.T) {
	const path = "testdata/et-style.rules"
	l, err := blocklist.Load([]string{path}, blocklist.Options{Classes: classification.Standard()})
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		sid, rev  uint32
		dir       blocklist.Direction
		other     blocklist.NetVar
		class     string
		prio      uint32
		threshold bool
		block     time.Duration
		source    string
	}
	var got []brief
	for _, r := range l.Rules {
		got = append(got, brief{r.SID, r.Rev, r.Direction, r.OtherNet, r.Classtype, r.Priority, r.Threshold != nil, r.Block, r.Source})
	}
	want := []brief{
		{2500000, 3626, blocklist.ListedAsSrc, blocklist.NetHome, "misc-attack", 0, true, 0, path + ":7"},
		{2520000, 4174, blocklist.ListedAsSrc, blocklist.NetHome, "misc-attack", 0, true, 0, path + ":8"},
		{9000001, 2, blocklist.ListedAsDst, blocklist.NetHome, "trojan-activity", 1, false, 7 * 24 * time.Hour, path + ":9"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules:\n got %+v\nwant %+v", got, want)
	}
	if l.Rules[0].Msg != "ET COMPROMISED Known Compromised or Hostile Host Traffic group 1" ||
		!reflect.DeepEqual(l.Rules[1].References, []string{"url,doc.emergingthreats.net/bin/view/Main/TorRules"}) {
		t.Errorf("msg %q refs %q", l.Rules[0].Msg, l.Rules[1].References)
	}
	equalStrings(t, "entries", prefixes(l), []string{
		"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "198.51.100.0/25",
		"203.0.113.7/32", "203.0.113.8/32",
		"2001:db8:bad::/48", "2001:db8:c0::1/128",
	})
	equalStrings(t, "warnings", l.Warnings, []string{
		path + ":8: protocol tcp is not enforced: the sensor matches the rule's addresses on every IP protocol",
		path + ":8: options not enforced by the sensor: flowbits",
	})
}

func TestDefaultThresholdForFeedsWithoutRules(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "drop.txt")
	rules := filepath.Join(dir, "cc.rules")
	os.WriteFile(plain, []byte("192.0.2.1\n"), 0o644)
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [198.51.100.1] any (msg:"x"; sid:1;)`+"\n"), 0o644)
	l, err := blocklist.Load([]string{plain, rules}, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	th, err := blocklist.ParseThreshold("type limit, track by_src, count 1, seconds 60")
	if err != nil {
		t.Fatal(err)
	}
	l.ApplyDefaultThreshold(th)
	if l.Rules[0].Threshold == nil || *l.Rules[0].Threshold != (blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 60}) {
		t.Errorf("plain list rule threshold %+v", l.Rules[0].Threshold)
	}
	if l.Rules[1].Threshold != nil {
		t.Errorf("a Snort rule without threshold got %+v", l.Rules[1].Threshold)
	}
	if _, err := blocklist.ParseThreshold("type sometimes, count x"); err == nil {
		t.Error("a bad threshold was accepted")
	}
}
