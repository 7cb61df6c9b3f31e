package blocklist_test

import (
	"reflect"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

const (
	iprepCats = "testdata/iprep-categories.txt"
	iprepList = "testdata/iprep-reputation.list"
)

func TestIPRep(t *testing.T) {
	// The categories file may come after the list that needs it.
	for _, paths := range [][]string{{iprepCats, iprepList}, {iprepList, iprepCats}} {
		l := mustLoad(t, paths, blocklist.Options{})
		rule := func(id uint32, msg string, line string) blocklist.Rule {
			return blocklist.Rule{
				GID: 1, SID: 3100000 + id, Rev: 1, Msg: msg,
				Classtype: "bad-unknown",
				Direction: blocklist.ListedAsAny,
				OtherNet:  blocklist.NetAny,
				Source:    iprepCats + ":" + line,
			}
		}
		// Only the categories the list uses, in the order it first uses them.
		want := []blocklist.Rule{
			rule(1, "IPREP CnC: Malware Command and Control Server", "3"),
			rule(3, "IPREP Spam: Known Spam Source", "5"),
			rule(2, "IPREP Bot: Known Infected Bot", "4"),
			rule(21, "IPREP Scanner: Host Performing Scanning", "9"),
		}
		if !reflect.DeepEqual(l.Rules, want) {
			t.Errorf("%q: rules:\n got %+v\nwant %+v", paths, l.Rules, want)
		}
		type brief struct {
			prefix string
			rule   int
			source string
			score  uint8
		}
		var got []brief
		for _, e := range l.Entries {
			got = append(got, brief{e.Prefix.String(), e.Rule, e.Source, note(e).Score})
		}
		wantEntries := []brief{
			{"192.0.2.10/32", 0, iprepList + ":2", 127},
			{"192.0.2.11/32", 0, iprepList + ":3", 90},
			{"198.51.100.0/24", 1, iprepList + ":4", 40},
			{"203.0.113.5/32", 2, iprepList + ":5", 30},
			{"2001:db8:c2::/48", 0, iprepList + ":7", 100},
		}
		if !reflect.DeepEqual(got, wantEntries) {
			t.Errorf("%q: entries:\n got %+v\nwant %+v", paths, got, wantEntries)
		}
		equalStrings(t, "warnings", l.Warnings, []string{
			iprepList + ":6: 203.0.113.5 already listed at " + iprepList + ":5 (kept the first)",
			iprepList + ":8: 203.0.113.9 has score 0 in category Brute_Forcer, which Suricata reads as no data: skipped",
		})
		for _, f := range l.Files {
			if f.Format != "iprep" {
				t.Errorf("%s read as %q", f.Path, f.Format)
			}
		}
	}
}

func TestIPRepErrors(t *testing.T) {
	paths := writeFiles(t, []string{"cats.txt", "rep.list", "cats2.txt", "rep2.list"}, map[string]string{
		"cats.txt": "1,CnC,CnC Hosts\n2,Bot,Bots, and more bots\n" +
			"60,TooBig,Over Suricata's limit\n" +
			"x,Bad,Not a number\n" +
			"1,CnC2,Again\n" +
			"3,CnC,Again\n" +
			"4,,No name\n" +
			"5,Five\n" +
			"192.0.2.1,1,50\n",
		"rep.list": "ip,category,score\n" +
			"192.0.2.1,1,50\n" +
			"192.0.2.2,7,50\n" +
			"192.0.2.3,1,128\n" +
			"192.0.2.4,1,-1\n" +
			"192.0.2.5,one,5\n" +
			"192.0.2.0/8,1,5\n" +
			"192.0.2.6,1\n" +
			"alert ip any any -> 1.1.1.1 any (msg:\"m\"; sid:1;)\n",
		"cats2.txt": "9,Other,Another categories file\n",
		"rep2.list": "# reputation\n198.51.100.1,2,10\n",
	})
	cats, rep, cats2, rep2 := paths[0], paths[1], paths[2], paths[3]
	equalStrings(t, "problems", loadProblems(t, paths, blocklist.Options{}), []string{
		cats + `:3: category id "60" is not a number from 0 to 59 (Suricata's limit)`,
		cats + `:4: category id "x" is not a number from 0 to 59 (Suricata's limit)`,
		cats + `:5: category 1 is already defined at ` + cats + `:1`,
		cats + `:6: short name "CnC" is already category 1 at ` + cats + `:1`,
		cats + `:7: category 4 has an empty short name`,
		cats + `:8: "5,Five": want <id>,<short name>,<description>`,
		cats + `:9: category id "192.0.2.1" is not a number from 0 to 59 (Suricata's limit); this looks like a reputation line (<ip>,<category>,<score>), but the file is read as the categories file`,
		rep + `:3: category 7 is not defined in the categories file ` + cats,
		rep + `:4: score 128 is out of range (0-127)`,
		rep + `:5: score "-1" is not a number (0-127)`,
		rep + `:6: category "one" is not a number`,
		rep + `:7: "192.0.2.0/8" has host bits set, did you mean 192.0.0.0/8?`,
		rep + `:8: "192.0.2.6,1": want <ip>,<category>,<score>`,
		rep + `:9: this looks like a Snort rule, but the file is read as a Suricata iprep list (detected as iprep from line 1)`,
		cats2 + `: is a second iprep categories file (the first is ` + cats + `); load one`,
	})
	_ = rep2

	// A list without its categories file: one problem for the file.
	equalStrings(t, "no categories", loadProblems(t, []string{iprepList}, blocklist.Options{}), []string{
		iprepList + ": is read as a Suricata iprep reputation list (detected as iprep from line 2), but no iprep categories file (<id>,<short name>,<description> lines) was loaded with it; give both",
	})
	// A categories file alone lists nothing; it makes no rule.
	l := mustLoad(t, []string{iprepCats}, blocklist.Options{})
	if len(l.Rules) != 0 || len(l.Entries) != 0 || len(l.Warnings) != 0 {
		t.Errorf("categories alone: %+v", l)
	}
	// Forced iprep on a file of neither shape.
	equalStrings(t, "forced", problemsOf(t, "p.txt", "# x\n192.0.2.1\n", blocklist.Options{Format: "iprep"}), []string{
		`p.txt:2: "192.0.2.1" is neither a Suricata iprep categories line (<id>,<short name>,<description>) nor a reputation line (<ip>,<category>,<score>) (format iprep)`,
	})
}
