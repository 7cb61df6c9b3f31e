package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

var (
	sharedBinOnce sync.Once
	sharedBinDir  string
	sharedBinErr  error
)

// TestMain removes the binary sharedBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinDir != "" {
		os.RemoveAll(sharedBinDir)
	}
	os.Exit(code)
}

// sharedBinary builds xdpsensor once for the tests that only run commands.
func sharedBinary(t *testing.T) string {
	t.Helper()
	sharedBinOnce.Do(func() {
		if sharedBinDir, sharedBinErr = os.MkdirTemp("", "xdpsensor-bin"); sharedBinErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(sharedBinDir, "xdpsensor"), ".").CombinedOutput()
		if err != nil {
			sharedBinErr = err
			t.Logf("%s", out)
		}
	})
	if sharedBinErr != nil {
		t.Fatalf("build: %v", sharedBinErr)
	}
	return filepath.Join(sharedBinDir, "xdpsensor")
}

// TestBlocklistLoadHonoursSignals: `blocklist load` of a FIFO whose
// writer never writes stops on SIGTERM (and on SIGINT), at once.
func TestBlocklistLoadHonoursSignals(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "feed.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer that holds the FIFO open and never writes.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "blocklist", "load", "--pin-dir", filepath.Join(dir, "nopins"), fifo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%v: exit 0", sig)
			}
			if !strings.Contains(stderr.String(), "reading "+fifo+": context canceled") {
				t.Errorf("%v: stderr %q, want it to name the file it was reading", sig, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: blocklist load still running 5 s later", sig)
		}
	}
}

// TestDetachRefusesRunningDaemon: detach names the daemon that holds the
// pin directory and changes nothing, unless --force.
func TestDetachRefusesRunningDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xs-detach-%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	unlock, err := pipeline.LockDaemon(pin) // as `run` does; creates the directory
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = runCLI(t, "detach", "--pin-dir", pin)
	want := fmt.Sprintf("xdpsensor run (pid %d) is using %s: stop it first (it detaches when it exits), or detach anyway with --force", os.Getpid(), pin)
	if err == nil || err.Error() != want {
		t.Fatalf("detach beside a daemon: %v\nwant %s", err, want)
	}
	if _, err := os.Stat(pin); err != nil {
		t.Fatalf("the refused detach removed %s: %v", pin, err)
	}
	out, err := runCLI(t, "detach", "--force", "--pin-dir", pin)
	if err != nil || out != "removed "+pin+"\n" {
		t.Fatalf("detach --force: %q, %v", out, err)
	}
}

// TestCarveRefusesToWriteItsInput: -w naming a ring file (directly,
// through a symlink or a hard link), its index or eve.json is refused and
// the file is left as it was.
func TestCarveRefusesToWriteItsInput(t *testing.T) {
	dir := sensorDir(t)
	ring, err := findRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := ring[0].Path
	link := filepath.Join(t.TempDir(), "link.pcap")
	os.Symlink(first, link)
	hard := filepath.Join(dir, "hard.pcap")
	if err := os.Link(first, hard); err != nil {
		t.Fatal(err)
	}
	for out, input := range map[string]string{
		first: first, link: first, hard: first,
		filepath.Join(dir, "eve.json"):               filepath.Join(dir, "eve.json"),
		filepath.Join(dir, "pcap", "..", "eve.json"): filepath.Join(dir, "eve.json"),
	} {
		before, _ := os.ReadFile(input)
		_, _, err := runCarveCLI(t, "carve", "--dir", dir, "--host", "193.109.122.67", "-w", out)
		want := fmt.Sprintf("-w %s is ", out)
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "one of carve's inputs: writing it would destroy the evidence") {
			t.Errorf("-w %s: %v", out, err)
		}
		if after, _ := os.ReadFile(input); !bytes.Equal(before, after) {
			t.Errorf("-w %s changed %s: %d bytes, were %d", out, input, len(after), len(before))
		}
	}
}

// TestParseDaysRejectsWhatDoesNotFit: durations past what a Duration
// holds (they wrapped into the past), NaN and Inf are errors.
func TestParseDaysRejectsWhatDoesNotFit(t *testing.T) {
	for in, want := range map[string]string{
		"110000d": `duration "110000d" is too long: at most 106751d`,
		"16000w":  `duration "16000w" is too long: at most 106751d`,
		"NaNd":    `bad duration "NaNd" (e.g. 30d, 2w, 12h)`,
		"Infd":    `bad duration "Infd" (e.g. 30d, 2w, 12h)`,
		"+Infw":   `bad duration "+Infw" (e.g. 30d, 2w, 12h)`,
		"-1d":     `bad duration "-1d" (e.g. 30d, 2w, 12h)`,
		"0d":      `bad duration "0d" (e.g. 30d, 2w, 12h)`,
	} {
		if d, err := parseDays(in); err == nil || err.Error() != want {
			t.Errorf("parseDays(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "1.5w": 252 * time.Hour, "12h": 12 * time.Hour} {
		if d, err := parseDays(in); err != nil || d != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	d, err := parseDays("106750d")
	if err != nil || time.Now().Add(d).Year() < 2300 {
		t.Errorf("parseDays(106750d) = %v, %v: want a time about 292 years ahead", d, err)
	}
}

// TestBlocklistLoadRefusesEmptyAndAll: a comment-only list, and lists of
// 0.0.0.0/0 or ::/0, leave the live blocklist as it was unless allowed.
func TestBlocklistLoadRefusesEmptyAndAll(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(testdata, "bleeding-botcc-group1.rules")
	if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# the feed was down today\n\n"), 0o644)
	all4 := filepath.Join(dir, "all4.txt")
	os.WriteFile(all4, []byte("203.0.113.5\n0.0.0.0/0\n"), 0o644)
	all6 := filepath.Join(dir, "all6.txt")
	os.WriteFile(all6, []byte("::/0\n"), 0o644)
	for _, tc := range []struct{ file, want string }{
		{empty, "blocklist refused, nothing changed: " + empty + ": no address listed: loading it would remove every entry of the running blocklist; give --allow-empty if that is what you want"},
		{all4, "blocklist refused, nothing changed: " + all4 + ":2: 0.0.0.0/0 lists every address: every packet would alert; give --allow-all if that is what you want"},
		{all6, "blocklist refused, nothing changed: " + all6 + ":1: ::/0 lists every address: every packet would alert; give --allow-all if that is what you want"},
	} {
		if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, tc.file); err == nil || err.Error() != tc.want {
			t.Errorf("load %s: %v\nwant %s", tc.file, err, tc.want)
		}
		out, _ := runCLI(t, "blocklist", "list", "--pin-dir", pin)
		if n := strings.Count(out, "\n"); n != 61 {
			t.Fatalf("after the refused load of %s: %d lines listed, want 61 (the botcc list)", tc.file, n)
		}
	}
	if out, err := runCLI(t, "blocklist", "load", "--allow-all", "--pin-dir", pin, all4); err != nil || !strings.HasPrefix(out, "loaded generation 2: 1 rules, 1 IPv4 and 0 IPv6 addresses, 1 IPv4 and 0 IPv6 prefixes") {
		t.Errorf("load --allow-all: %q, %v", out, err)
	}
	if out, err := runCLI(t, "blocklist", "load", "--allow-empty", "--pin-dir", pin, empty); err != nil || !strings.HasPrefix(out, "loaded generation 3: 0 rules, 0 IPv4") {
		t.Errorf("load --allow-empty: %q, %v", out, err)
	}
}

// TestBlocklistAddKeepsFeedRules: adding an address a loaded list holds is
// refused, naming the feed's rule and file:line; --direction for the other
// end adds beside it, and del then removes only the manual listing;
// --override replaces it.
func TestBlocklistAddKeepsFeedRules(t *testing.T) {
	pin := pinnedSensor(t)
	rules := filepath.Join(testdata, "bleeding-botcc-group1.rules")
	if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, rules); err != nil {
		t.Fatal(err)
	}
	feed := "[1:2405000:602] BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE (" + rules + ":2)"
	_, err := runCLI(t, "blocklist", "add", "--pin-dir", pin, "193.109.122.67", "--sid", "9000100")
	want := "adding 193.109.122.67/32: 193.109.122.67/32 is already listed as destination by " + feed +
		": adding would replace that rule until the next load, and a later del would remove the feed's listing too; give --override to do it anyway"
	if err == nil || err.Error() != want {
		t.Fatalf("add over a feed's address: %v\nwant %s", err, want)
	}
	check := func(want string) {
		t.Helper()
		out, _ := runCLI(t, "blocklist", "check", "--pin-dir", pin, "193.109.122.67")
		if !strings.Contains(out, want) {
			t.Errorf("check:\n%s\nwant it to contain %q", out, want)
		}
	}
	check("kernel decision: 193.109.122.67 as destination -> [1:2405000:602] BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE; as source -> no alert")

	// The other end is free: added beside the feed's rule.
	if _, err := runCLI(t, "blocklist", "add", "--pin-dir", pin, "193.109.122.67", "--direction", "src", "--sid", "9000100", "--msg", "case 42"); err != nil {
		t.Fatal(err)
	}
	check("as destination -> [1:2405000:602] BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE; as source -> [1:9000100:1] case 42")
	out, err := runCLI(t, "blocklist", "del", "--pin-dir", pin, "193.109.122.67")
	if want := "removed the listing `blocklist add` made of 193.109.122.67/32; " + feed + " still lists it as destination\n"; err != nil || out != want {
		t.Fatalf("del: %q, %v\nwant %q", out, err, want)
	}
	check("as destination -> [1:2405000:602] BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE; as source -> no alert")

	// --override: the operator's rule wins for both ends.
	if _, err := runCLI(t, "blocklist", "add", "--override", "--pin-dir", pin, "193.109.122.67", "--sid", "9000101", "--msg", "case 43"); err != nil {
		t.Fatal(err)
	}
	check("as destination -> [1:9000101:1] case 43; as source -> [1:9000101:1] case 43")
}

// TestBlocklistReloadManyRules: a list of 33,000 rules (more than half the
// rules one generation may hold) reloads again and again, and `blocklist
// add` still works; a load that fails half-way leaves the rules map as
// it was.
func TestBlocklistReloadManyRules(t *testing.T) {
	pin := pinnedSensor(t)
	writeRules := func(path string, n int) {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "alert ip $HOME_NET any -> 10.%d.%d.%d any (msg:\"rule %d\"; sid:%d;)\n", i>>16&255, i>>8&255, i&255, i, 5000000+i)
		}
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
	dir := t.TempDir()
	many := filepath.Join(dir, "many.rules")
	writeRules(many, 33000)
	for i := 1; i <= 2; i++ {
		out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, many)
		if want := fmt.Sprintf("loaded generation %d: 33000 rules, 33000 IPv4", i); err != nil || !strings.HasPrefix(out, want) {
			t.Fatalf("load %d: %q, %v; want %q", i, out, err, want)
		}
	}
	if out, err := runCLI(t, "blocklist", "add", "--pin-dir", pin, "203.0.113.99", "--sid", "9000200"); err != nil || !strings.HasPrefix(out, "added 203.0.113.99/32") {
		t.Fatalf("add after the reloads: %q, %v", out, err)
	}
	maps, err := loader.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	countRules := func() int {
		n := 0
		var key any // nil: the first key
		var id uint32
		for maps.Rules.NextKey(key, &id) == nil {
			n++
			next := id
			key = &next
		}
		return n
	}
	// A load that fails half-way (the map is full of the live
	// generation's added rules) leaves nothing behind.
	cfg, err := maps.ReadConfig()
	if err != nil {
		t.Fatal(err)
	}
	live := cfg.Generation & 1
	liveRules := 0
	var idle []uint32
	var id uint32
	var r abi.BpfRule
	for it := maps.Rules.Iterate(); it.Next(&id, &r); {
		if id>>24 == live {
			liveRules++
		} else {
			idle = append(idle, id) // the next load deletes them first anyway
		}
	}
	if _, err := maps.Rules.BatchDelete(idle, nil); err != nil {
		t.Fatal(err)
	}
	// Room for 20,000 rules of the next load, not its 33,000.
	var ids []uint32
	for i := 0; i < loader.RulesMapEntries-liveRules-20000; i++ {
		ids = append(ids, live<<24|uint32(1_000_000+i))
	}
	vals := make([]abi.BpfRule, len(ids))
	if _, err := maps.Rules.BatchUpdate(ids, vals, nil); err != nil {
		t.Fatal(err)
	}
	full := countRules()
	if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, many); err == nil || !strings.Contains(err.Error(), "writing rules") {
		t.Fatalf("load into a full rules map: %v", err)
	}
	if after := countRules(); after != full {
		t.Errorf("the failed load left %d rules in the map, %d before", after, full)
	}
	if _, err := maps.Rules.BatchDelete(ids, nil); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, many); err != nil || !strings.HasPrefix(out, "loaded generation") {
		t.Fatalf("load after the failed one: %q, %v", out, err)
	}
}

// TestBlocklistListShowsEachEntrysLine: every entry of a plain list shows
// its own line, also after an in-place add; the rule's line is shown for
// rule files.
func TestBlocklistListShowsEachEntrysLine(t *testing.T) {
	pin := pinnedSensor(t)
	plain := filepath.Join(t.TempDir(), "drop.txt")
	os.WriteFile(plain, []byte("# drop list\n203.0.113.5\n\n203.0.113.9\n198.51.100.0/24\n"), 0o644)
	if _, err := runCLI(t, "blocklist", "load", "--pin-dir", pin, plain); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"203.0.113.5/32": plain + ":2", "203.0.113.9/32": plain + ":4", "198.51.100.0/24": plain + ":5",
		"192.0.2.77/32": "xdpsensor blocklist add"}
	if _, err := runCLI(t, "blocklist", "add", "--pin-dir", pin, "192.0.2.77"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "blocklist", "list", "--json", "--pin-dir", pin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var v entryView
		json.Unmarshal([]byte(l), &v)
		got[v.Prefix] = v.Source
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sources %v\nwant %v", got, want)
	}
}
