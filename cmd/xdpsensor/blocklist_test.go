package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// pinnedSensor loads a sensor pinned under a unique directory, as `run`
// would leave it, for the commands that act on pinned maps.
func pinnedSensor(t *testing.T) string {
	t.Helper()
	pin, _ := pinnedSensorWith(t, loader.Config{})
	return pin
}

// pinnedSensorWith is pinnedSensor with settings of cfg (its pin
// directory, flow table and ring are the test's).
func pinnedSensorWith(t *testing.T, cfg loader.Config) (string, *loader.Sensor) {
	t.Helper()
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-cli-%s-%d", strings.ToLower(t.Name()), os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	cfg.PinDir, cfg.FlowTableSize, cfg.RingSize = pin, 1024, 1<<16
	s, err := loader.Load(cfg)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { s.Close() })
	return pin, s
}

func TestBlocklistCommands(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(testdata, "bleeding-botcc-group1.rules")
	out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules)
	if err != nil || !strings.HasPrefix(out, "loaded generation 1: 1 rules, 60 IPv4 and 0 IPv6 addresses, 0 IPv4 and 0 IPv6 prefixes in ") {
		t.Fatalf("load: %v %q", err, out)
	}

	out, err = runCLI(t, "blocklist", "list", "--json", "--pin-dir", pin)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 60 {
		t.Fatalf("list --json: %d entries", len(lines))
	}
	var v entryView
	json.Unmarshal([]byte(lines[0]), &v)
	if v.Prefix != "121.6.201.216/32" || v.Direction != "dst" || v.SID != 2405000 || v.Source != rules+":2" || v.Expires == "" {
		t.Fatalf("first entry %+v", v)
	}

	out, err = runCLI(t, "blocklist", "check", "--pin-dir", pin, "193.109.122.67")
	if err != nil || !strings.Contains(out, "193.109.122.67/32  dst") ||
		!strings.Contains(out, "kernel decision: 193.109.122.67 as destination -> [1:2405000:602] BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE; as source -> no alert") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "blocklist", "check", "--pin-dir", pin, "192.0.2.1"); err != errNotListed || out != "192.0.2.1 is not listed\n" {
		t.Fatalf("check unlisted: %v %q", err, out)
	}

	if out, err = runCLI(t, "blocklist", "add", "--pin-dir", pin, "198.51.100.0/24", "--msg", "lab C2 range", "--sid", "9000002", "--expires", "30d"); err != nil || out != "added 198.51.100.0/24 [1:9000002:1] lab C2 range\n" {
		t.Fatalf("add: %v %q", err, out)
	}
	out, _ = runCLI(t, "blocklist", "check", "--pin-dir", pin, "198.51.100.7")
	if !strings.Contains(out, "198.51.100.0/24  any  1:9000002:1  lab C2 range") {
		t.Fatalf("check after add:\n%s", out)
	}
	if out, err = runCLI(t, "blocklist", "del", "--pin-dir", pin, "198.51.100.0/24"); err != nil || out != "removed 198.51.100.0/24\n" {
		t.Fatalf("del: %v %q", err, out)
	}

	plain := filepath.Join(t.TempDir(), "drop.txt")
	os.WriteFile(plain, []byte("# two of the botcc addresses and a new one\n161.53.178.240\n193.109.122.67\n203.0.113.5\n"), 0o644)
	out, err = runCLI(t, "blocklist", "diff", "--pin-dir", pin, plain)
	if err != nil || !strings.HasSuffix(out, "1 to add, 58 to remove, 2 to change\n") || !strings.Contains(out, "+ 203.0.113.5/32 [1:3000000:1] XDPSENSOR listed address (drop.txt) (either end)") {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	// diff changed nothing.
	out, _ = runCLI(t, "blocklist", "list", "--pin-dir", pin)
	if n := strings.Count(out, "\n"); n != 61 {
		t.Fatalf("list after diff: %d lines", n)
	}
}

func TestBlocklistCommandErrors(t *testing.T) {
	pin := pinnedSensor(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("192.0.2.1\nnot-an-address\n10.0.0.1/8\n"), 0o644)
	good := filepath.Join(testdata, "bleeding-botcc-group1.rules")
	if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"blocklist", "load", good, bad}, []string{"nothing changed", bad + ":2:", bad + ":3:"}},
		{[]string{"blocklist", "add", "10.1.2.3/8"}, []string{"host bits set: did you mean 10.0.0.0/8?"}},
		{[]string{"blocklist", "add", "192.0.2.1", "--expires", "soon"}, []string{"--expires"}},
		{[]string{"blocklist", "add", "192.0.2.1", "--direction", "up"}, []string{"--direction"}},
		{[]string{"blocklist", "del", "192.0.2.1"}, []string{"192.0.2.1/32 is not on the blocklist"}},
		{[]string{"blocklist", "check", "nonsense"}, []string{`"nonsense" is not an IP address`}},
	}
	for _, c := range cases {
		_, err := runCLI(t, append(c.args, "--pin-dir", pin)...)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want %q", c.args, err, w)
			}
		}
	}
	// The failed load left the list as it was.
	out, _ := runCLI(t, "blocklist", "list", "--pin-dir", pin)
	if n := strings.Count(out, "\n"); n != 61 {
		t.Fatalf("list after the rejected load: %d lines, want 61", n)
	}
	if _, err := runCLI(t, "blocklist", "list", "--pin-dir", filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no sensor maps are pinned under") {
		t.Fatalf("no sensor: %v", err)
	}
}

// setHomeNet sets the pinned sensor's $HOME_NET (and $EXTERNAL_NET: not
// home), as `run --home-net` does.
func setHomeNet(t *testing.T, pin, home string) {
	t.Helper()
	maps, err := loader.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	if err := blocklistmaps.SetNetVars(maps, blocklistmaps.NetVars{Home: []netip.Prefix{netip.MustParsePrefix(home)}, ExternalNotHome: true}); err != nil {
		t.Fatal(err)
	}
}

// check names the rule the kernel falls back on when the exact entry's
// rule refuses the packet's other address. Before $HOME_NET is set, a
// $HOME_NET rule refuses none.
func TestBlocklistCheckNamesTheFallbackRule(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(t.TempDir(), "overlap.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [203.0.113.66] any (msg:"exact home"; sid:20; rev:1;)
alert ip any any -> [203.0.113.0/24] any (msg:"covering range"; sid:21; rev:1;)
`), 0o644)
	if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatalf("load: %v %q", err, out)
	}
	out, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.66")
	if err != nil || !strings.Contains(out, "kernel decision: 203.0.113.66 as destination -> [1:20:1] exact home; as source -> no alert\n") {
		t.Fatalf("check, no $HOME_NET: %v\n%s", err, out)
	}
	setHomeNet(t, pin, "192.0.2.0/24")
	out, err = runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.66")
	if err != nil || !strings.Contains(out, "kernel decision: 203.0.113.66 as destination -> [1:20:1] exact home when the other address is in $HOME_NET, else [1:21:1] covering range; as source -> no alert\n") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	out, err = runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.9")
	if err != nil || !strings.Contains(out, "kernel decision: 203.0.113.9 as destination -> [1:21:1] covering range; as source -> no alert\n") {
		t.Fatalf("check: %v\n%s", err, out)
	}
}

// check walks nested prefixes as the kernel does: without --other it
// names each rule in turn, longest prefix first, per end of the packet;
// with --other the rule decided and the enclosing prefix it came from.
func TestBlocklistCheckNestedPrefixes(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(t.TempDir(), "nested.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [10.0.0.0/8] any (msg:"outer"; sid:30; rev:1;)
alert ip [10.1.0.0/16] any -> $HOME_NET any (msg:"middle, as source"; sid:31; rev:1;)
alert ip $EXTERNAL_NET any -> [10.1.2.0/24] any (msg:"inner, external"; sid:32; rev:1;)
`), 0o644)
	if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatalf("load: %v %q", err, out)
	}
	setHomeNet(t, pin, "192.0.2.0/24")
	out, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "10.1.2.3")
	want := "kernel decision: 10.1.2.3 as destination -> [1:32:1] inner, external when the other address is in $EXTERNAL_NET, else " +
		"[1:30:1] outer when the other address is in $HOME_NET, else no alert; as source -> [1:31:1] middle, as source when the other address is in $HOME_NET, else no alert\n"
	if err != nil || !strings.HasSuffix(out, want) {
		t.Fatalf("check: %v\n%s\nwant the last line %q", err, out, want)
	}
	out, err = runCLI(t, "blocklist", "check", "--pin-dir", pin, "10.1.2.3", "--other", "192.0.2.10", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	for _, w := range []string{`"as_destination":{"prefix":"10.0.0.0/8","direction":"dst","gid":1,"signature_id":30,`,
		`"as_source":{"prefix":"10.1.0.0/16","direction":"src","gid":1,"signature_id":31,`} {
		if err != nil || !strings.Contains(last, w) {
			t.Errorf("check --json --other: %v\n%s\nwant %s in the last line", err, out, w)
		}
	}
}

// check says when more prefixes enclose the address than the kernel
// tries and none of those it tries has a rule for every other address:
// nine nested prefixes, each with a $HOME_NET-only rule as destination,
// name the eight longest and no alert, with why; as source none of the
// eight has a rule, and the kernel counts that end too.
func TestBlocklistCheckSaysTheWalkIsCut(t *testing.T) {
	pin := pinnedSensor(t)
	var text strings.Builder
	for i := range blocklistmaps.PrefixWalkMax + 1 {
		fmt.Fprintf(&text, "alert ip $HOME_NET any -> [10.1.0.0/%d] any (msg:\"len %d\"; sid:%d; rev:1;)\n", 24-i, 24-i, 40+i)
	}
	rules := filepath.Join(t.TempDir(), "deep.rules")
	os.WriteFile(rules, []byte(text.String()), 0o644)
	if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatalf("load: %v %q", err, out)
	}
	setHomeNet(t, pin, "192.0.2.0/24")
	out, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "10.1.0.3")
	var want strings.Builder
	want.WriteString("kernel decision: 10.1.0.3 as destination -> ")
	for i := range blocklistmaps.PrefixWalkMax {
		fmt.Fprintf(&want, "[1:%d:1] len %d when the other address is in $HOME_NET, else ", 40+i, 24-i)
	}
	cut := fmt.Sprintf("no alert (more prefixes enclosing 10.1.0.3 are listed than the kernel tries, %d: a flow decided so is counted in prefix_walk_cut)", blocklistmaps.PrefixWalkMax)
	// As source no rule applies either, among the prefixes tried.
	fmt.Fprintf(&want, "%s; as source -> %s\n", cut, cut)
	if err != nil || !strings.HasSuffix(out, want.String()) {
		t.Fatalf("check: %v\n%s\nwant the last line %q", err, out, want.String())
	}
}

// check --other gives the kernel's decision for a flow between the two
// addresses, with the running sensor's net variables, in text and JSON:
// the exact entry's rule refused gives way to the covering prefix's, both
// refused give no alert.
func TestBlocklistCheckOther(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(t.TempDir(), "overlap.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [203.0.113.66] any (msg:"exact home"; sid:20; rev:1;)
alert ip $EXTERNAL_NET any -> [203.0.113.0/24] any (msg:"covering range, external"; sid:21; rev:1;)
`), 0o644)
	if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatalf("load: %v %q", err, out)
	}
	maps, err := loader.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	if err := blocklistmaps.SetNetVars(maps, blocklistmaps.NetVars{Home: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		External: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ other, want string }{
		{"198.51.100.5", "as destination -> [1:21:1] covering range, external; as source -> no alert"}, // exact refused
		{"192.0.2.10", "as destination -> [1:20:1] exact home; as source -> no alert"},
		{"100.64.0.1", "as destination -> no alert; as source -> no alert"}, // both refused
	} {
		out, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.66", "--other", c.other)
		want := "kernel decision: 203.0.113.66 with " + c.other + " as the other address: " + c.want + "\n"
		if err != nil || !strings.HasSuffix(out, want) {
			t.Errorf("check --other %s: %v\n%s\nwant the last line %q", c.other, err, out, want)
		}
	}
	for _, c := range []struct{ other, want string }{
		{"198.51.100.5", `{"kernel_decision":{"address":"203.0.113.66","other":"198.51.100.5","as_destination":{"prefix":"203.0.113.0/24","direction":"dst","gid":1,"signature_id":21,"rev":1,"signature":"covering range, external","source":"` + rules + `:2","rule_id":16777218},"as_source":null}}`},
		{"192.0.2.10", `{"kernel_decision":{"address":"203.0.113.66","other":"192.0.2.10","as_destination":{"prefix":"203.0.113.66/32","direction":"dst","gid":1,"signature_id":20,"rev":1,"signature":"exact home","source":"` + rules + `:1","rule_id":16777217},"as_source":null}}`},
		{"100.64.0.1", `{"kernel_decision":{"address":"203.0.113.66","other":"100.64.0.1","as_destination":null,"as_source":null}}`},
	} {
		out, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.66", "--other", c.other, "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 3 || lines[2] != c.want {
			t.Errorf("check --json --other %s: %v\n%s\nwant the third line %s", c.other, err, out, c.want)
		}
	}
	if _, err := runCLI(t, "blocklist", "check", "--pin-dir", pin, "203.0.113.66", "--other", "2001:db8::1"); err == nil ||
		err.Error() != "--other: 203.0.113.66 and 2001:db8::1 are not of one address family" {
		t.Errorf("mixed families: %v", err)
	}
}

// blocklist add that has to rebuild the list (the live maps have no room:
// an IPv6 address where the loaded list has none) carries the threshold
// windows over as a load does, and reports those it could not, as load
// does: a full table whose room something else took while a window was
// being moved. Here a writer putting windows of new sources (as packets
// of new sources would) takes the room each carried window frees, as
// often as it wins the race: every window it puts is one the rebuild
// dropped.
func TestBlocklistAddReportsThresholdsDropped(t *testing.T) {
	const size = 1024
	pin, s := pinnedSensorWith(t, loader.Config{ThresholdTableSize: size})
	rules := filepath.Join(t.TempDir(), "limit.rules")
	os.WriteFile(rules, []byte(`alert ip any any -> [203.0.113.66] any (msg:"limited"; threshold: type limit, track by_src, count 1, seconds 3600; sid:9000001; rev:1;)`+"\n"), 0o644)
	ruleOf := func() uint32 {
		cfg, err := s.Maps().ReadConfig()
		if err != nil {
			t.Fatal(err)
		}
		var id uint32
		var r abi.BpfRule
		for it := s.Objects.Rules.Iterate(); it.Next(&id, &r); {
			if id>>24 == cfg.Generation&1 && r.Sid == 9000001 {
				return id
			}
		}
		t.Fatal("no live rule")
		return 0
	}
	window := func(rule uint32, i int) abi.BpfThresholdKey {
		k := abi.BpfThresholdKey{RuleId: rule, Family: 4}
		copy(k.Addr[:], []byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		return k
	}
	// The writer wins the race only as often as the scheduler lets it
	// run during the rebuild: each try starts over from a fresh load and
	// a full table, until one loses a window (at most 20 tries).
	var stolen int
	var live uint32
	var out, errOut bytes.Buffer
	for try := 1; stolen == 0; try++ {
		if try > 20 {
			t.Fatal("in 20 tries the writer never took a carried window's room: nothing was dropped to report")
		}
		var k abi.BpfThresholdKey
		var keys []abi.BpfThresholdKey
		for it := s.Objects.Thresholds.Iterate(); it.Next(&k, new(abi.BpfThresholdState)); {
			keys = append(keys, k)
		}
		for i := range keys {
			s.Objects.Thresholds.Delete(&keys[i])
		}
		if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
			t.Fatalf("load: %v %q", err, out)
		}
		live = ruleOf()
		for i := range size { // the table full of the rule's windows
			if err := s.Objects.Thresholds.Update(window(live, i), &abi.BpfThresholdState{WindowStartNs: 1, Count: 1}, ebpf.UpdateNoExist); err != nil {
				t.Fatalf("window %d: %v", i, err)
			}
		}
		stop := make(chan struct{})
		took := make(chan int)
		go func() {
			runtime.LockOSThread()
			n := 0
			for i := size; ; i++ {
				select {
				case <-stop:
					took <- n
					return
				default:
				}
				if s.Objects.Thresholds.Update(window(live, i), &abi.BpfThresholdState{WindowStartNs: 1, Count: 1}, ebpf.UpdateNoExist) == nil {
					n++
				}
			}
		}()
		out.Reset()
		errOut.Reset()
		err := run(context.Background(), []string{"blocklist", "add", "--pin-dir", pin, "2001:db8::66"}, &out, &errOut)
		close(stop)
		stolen = <-took
		if err != nil || out.String() != "added 2001:db8::66/128 [1:3999999:1] XDPSENSOR manually listed address\n" {
			t.Fatalf("add: %v %q", err, out.String())
		}
		t.Logf("try %d: %d rooms taken by the writer", try, stolen)
	}
	next := ruleOf()
	if next == live {
		t.Fatal("add did not rebuild the list")
	}
	carried := 0
	var k abi.BpfThresholdKey
	var v abi.BpfThresholdState
	for it := s.Objects.Thresholds.Iterate(); it.Next(&k, &v); {
		if k.RuleId == next {
			carried++
		}
	}
	t.Logf("%d of %d windows carried over, %d rooms taken by the writer", carried, size, stolen)
	if carried != size-stolen {
		t.Errorf("%d windows carried over, want %d - %d", carried, size, stolen)
	}
	want := fmt.Sprintf("%d threshold windows not carried over to the new rules (thresholds table full): those rules count afresh\n", stolen)
	if errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}
