package blocklist_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// TestDuplicatesAcrossDirections: ET lists the same addresses in a rule
// for each end of the packet; both must stay, and only repeats for a
// direction already covered are dropped.
func TestDuplicatesAcrossDirections(t *testing.T) {
	const path = "testdata/et-both-directions.rules"
	l := mustLoad(t, []string{path}, blocklist.Options{})
	type brief struct {
		prefix string
		dir    blocklist.Direction
	}
	var got []brief
	for _, e := range l.Entries {
		got = append(got, brief{e.Prefix.String(), l.Rules[e.Rule].Direction})
	}
	want := []brief{
		{"192.0.2.1/32", blocklist.ListedAsDst}, {"192.0.2.2/32", blocklist.ListedAsDst}, {"198.51.100.0/25", blocklist.ListedAsDst},
		{"192.0.2.1/32", blocklist.ListedAsSrc}, {"192.0.2.2/32", blocklist.ListedAsSrc}, {"198.51.100.0/25", blocklist.ListedAsSrc},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	equalStrings(t, "warnings", l.Warnings, []string{
		path + ":4: 192.0.2.1 also listed at " + path + ":3 for the other direction (kept both)",
		path + ":4: 192.0.2.2 also listed at " + path + ":3 for the other direction (kept both)",
		path + ":4: 198.51.100.0/25 also listed at " + path + ":3 for the other direction (kept both)",
		path + ":5: 192.0.2.2 already listed at " + path + ":4 (kept the first)",
	})
}

func TestDuplicateDirectionWording(t *testing.T) {
	dst := `alert ip $HOME_NET any -> %s any (msg:"dst"; sid:%d;)`
	src := `alert ip %s any -> $HOME_NET any (msg:"src"; sid:%d;)`
	both := `alert ip %s any <> $HOME_NET any (msg:"both"; sid:%d;)`
	rules := func(lines ...string) string {
		var b strings.Builder
		for i, l := range lines {
			b.WriteString(strings.NewReplacer("%s", "192.0.2.1", "%d", strconv.Itoa(i+1)).Replace(l) + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name  string
		text  string
		kept  int
		warns []string
	}{
		{"dst then both", rules(dst, both), 2, []string{"r:2: 192.0.2.1 also listed at r:1 for the destination only (kept both)"}},
		{"src then both", rules(src, both), 2, []string{"r:2: 192.0.2.1 also listed at r:1 for the source only (kept both)"}},
		{"both then src", rules(both, src), 1, []string{"r:2: 192.0.2.1 already listed at r:1 (kept the first)"}},
		{"src, dst, both", rules(src, dst, both), 2, []string{
			"r:2: 192.0.2.1 also listed at r:1 for the other direction (kept both)",
			"r:3: 192.0.2.1 already listed at r:1 and at r:2 (kept those)",
		}},
		{"src, dst, dst", rules(src, dst, dst), 2, []string{
			"r:2: 192.0.2.1 also listed at r:1 for the other direction (kept both)",
			"r:3: 192.0.2.1 already listed at r:2 (kept the first)",
		}},
		{"plain then rule", "192.0.2.1\n", 1, nil},
	}
	for _, tt := range tests {
		l := mustParse(t, "r", tt.text, blocklist.Options{})
		if len(l.Entries) != tt.kept {
			t.Errorf("%s: %d entries kept, want %d", tt.name, len(l.Entries), tt.kept)
		}
		equalStrings(t, tt.name, l.Warnings, tt.warns)
	}
	// A plain list (any direction) covers every later rule.
	paths := writeFiles(t, []string{"a.txt", "b.rules"}, map[string]string{
		"a.txt":   "192.0.2.1\n",
		"b.rules": rules(src, dst),
	})
	l := mustLoad(t, paths, blocklist.Options{})
	equalStrings(t, "plain first", l.Warnings, []string{
		paths[1] + ":1: 192.0.2.1 already listed at " + paths[0] + ":1 (kept the first)",
		paths[1] + ":2: 192.0.2.1 already listed at " + paths[0] + ":1 (kept the first)",
	})
}

// TestProvenance checks, for every format, that each entry points at a
// rule and at the file and line that listed it. Each file is loaded on
// its own (the iprep ones together), so that no entry is dropped as a
// repeat of another file's.
func TestProvenance(t *testing.T) {
	plain := writeFiles(t, []string{"plain.txt"}, map[string]string{"plain.txt": "# mine\n192.0.2.1\n\n2001:db8::/32 # trailing\n"})
	sets := [][]string{plain, {iprepCats, iprepList}}
	paths, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if p != iprepCats && p != iprepList {
			sets = append(sets, []string{p})
		}
	}
	seen := map[string]int{}
	for _, set := range sets {
		l := mustLoad(t, set, blocklist.Options{})
		lines := map[string][]string{}
		for _, p := range set {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			lines[p] = strings.Split(string(data), "\n")
		}
		formats := map[string]string{}
		for _, f := range l.Files {
			formats[f.Path] = f.Format
		}
		for _, e := range l.Entries {
			if e.Rule < 0 || e.Rule >= len(l.Rules) {
				t.Fatalf("%+v: rule %d of %d", e, e.Rule, len(l.Rules))
			}
			i := strings.LastIndexByte(e.Source, ':')
			path, n := e.Source[:i], e.Source[i+1:]
			line, err := strconv.Atoi(n)
			if err != nil || line < 1 || line > len(lines[path]) {
				t.Errorf("%+v: bad source", e)
				continue
			}
			format := formats[path]
			seen[format]++
			rsrc := l.Rules[e.Rule].Source
			if format == "snort" {
				// Every entry of a rule has the rule's Source: its first line.
				if rsrc != e.Source {
					t.Errorf("%s: its rule is at %s", e.Source, rsrc)
				}
				continue
			}
			text := lines[path][line-1]
			addr := e.Prefix.Addr().String()
			if !e.Exact() {
				addr = e.Prefix.String()
			}
			if !strings.Contains(text, addr) {
				t.Errorf("%s: %q does not list %s", e.Source, text, addr)
			}
			if want := iprepCats; format == "iprep" && !strings.HasPrefix(rsrc, want+":") || format != "iprep" && !strings.HasPrefix(rsrc, path+":") {
				t.Errorf("%s (%s): its rule is at %s", e.Source, format, rsrc)
			}
		}
	}
	for _, f := range blocklist.Formats()[1:] {
		if seen[f] == 0 {
			t.Errorf("no entry of format %s was checked", f)
		}
	}
	t.Logf("entries checked by format: %v", seen)
}
