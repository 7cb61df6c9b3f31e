package blocklist_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

func TestAutoDetection(t *testing.T) {
	tests := []struct {
		name, text string
		snort      bool
	}{
		{"rule first", `alert ip any any -> 1.1.1.1 any (msg:"m"; sid:1;)`, true},
		{"comments then rule", "# ET rules\n;x\n\n  drop ip any any -> 1.1.1.1 any (msg:\"m\"; sid:1;)\n", true},
		{"upper-case action", "ALERT ip any any -> 1.1.1.1 any (msg:\"m\"; sid:1;)", true},
		{"address first", "1.1.1.1\n", false},
		{"comments then address", "# alert ip any any -> 1.1.1.1 any (msg:\"m\"; sid:1;)\n1.1.1.1\n", false},
	}
	for _, tt := range tests {
		l := mustParse(t, "f", tt.text, blocklist.Options{})
		if got := l.Rules[0].SID != 3000000; got != tt.snort {
			t.Errorf("%s: read as snort = %v, want %v", tt.name, got, tt.snort)
		}
	}
	// A rule after a plain start, and an address after a rule start.
	equalStrings(t, "plain then rule",
		problemsOf(t, "f", "1.1.1.1\nalert ip any any -> 2.2.2.2 any (msg:\"m\"; sid:1;)\n", blocklist.Options{}),
		[]string{"f:2: this looks like a Snort rule, but the file is read as a plain list (detected as plain from line 1)"})
	equalStrings(t, "rule then plain",
		problemsOf(t, "f", "#\nalert ip any any -> 2.2.2.2 any (msg:\"m\"; sid:1;)\n1.1.1.1\n10.0.0.0/8\n", blocklist.Options{}),
		[]string{
			`f:3: "1.1.1.1" is an address, but the file is read as Snort rules (detected as snort from line 2)`,
			`f:4: "10.0.0.0/8" is an address, but the file is read as Snort rules (detected as snort from line 2)`,
		})
	// Forced snort on a plain list.
	equalStrings(t, "forced snort",
		problemsOf(t, "f", "1.1.1.1\n", blocklist.Options{Format: "snort"}),
		[]string{`f:1: "1.1.1.1" is an address, but the file is read as Snort rules (format snort)`})
}

func TestUnknownFormat(t *testing.T) {
	_, err := blocklist.Load(nil, blocklist.Options{Format: "csv"})
	if err == nil || err.Error() != `unknown blocklist format "csv" (want auto, plain, snort, spamhaus, firehol, feodo, feodo-csv or iprep)` {
		t.Errorf("err = %v", err)
	}
	var perr *blocklist.Error
	if !errors.As(err, &perr) {
		t.Errorf("not a *blocklist.Error: %T", err)
	}
}

func TestLoadNothing(t *testing.T) {
	l, err := blocklist.Load(nil, blocklist.Options{})
	if err != nil || l == nil || len(l.Rules) != 0 || len(l.Entries) != 0 || len(l.Warnings) != 0 {
		t.Errorf("Load(nil) = %+v, %v", l, err)
	}
}

func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "list.txt.gz")
	bin := filepath.Join(dir, "list.bin")
	good := filepath.Join(dir, "good.txt")
	for name, data := range map[string]string{gz: "\x1f\x8b\x08\x00rest", bin: "1.2.3.4\n\x00\x01", good: "1.1.1.1\n"} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.txt")
	got := loadProblems(t, []string{good, missing, dir, gz, bin}, blocklist.Options{})
	equalStrings(t, "problems", got, []string{
		missing + ": cannot read: no such file or directory",
		dir + ": cannot read: is a directory",
		gz + ": is gzip-compressed; decompress it first",
		bin + ": is not a text file (it contains NUL bytes)",
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	l, err := blocklist.Parse("stdin", io.MultiReader(strings.NewReader("1.1.1.1\n"), failingReader{}), blocklist.Options{})
	equalStrings(t, "problems", mustProblems(t, l, err), []string{"stdin: cannot read: disk on fire"})
}

func TestDuplicatesAndOverlaps(t *testing.T) {
	names := []string{"a.txt", "b.rules", "c.txt"}
	paths := writeFiles(t, names, map[string]string{
		"a.txt": "1.2.3.4\n" +
			"10.1.2.3\n" +
			"10.0.0.0/8\n" +
			"2001:db8::/32\n" +
			"1.2.3.4\n",
		"b.rules": `alert ip $HOME_NET any -> [10.0.0.0/8,10.1.0.0/16,1.2.3.4,192.0.2.0/24,192.0.2.0/24] any (msg:"b"; sid:1;)` + "\n",
		"c.txt": "::/0\n" +
			"0.0.0.0/1\n" +
			"2001:db8:5::/48\n" +
			"192.0.2.7\n",
	})
	a, b, c := paths[0], paths[1], paths[2]
	l, err := blocklist.Load(paths, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "entries", prefixes(l), []string{
		"1.2.3.4/32", "10.1.2.3/32", "10.0.0.0/8", "2001:db8::/32",
		"10.1.0.0/16", "192.0.2.0/24",
		"::/0", "0.0.0.0/1", "2001:db8:5::/48", "192.0.2.7/32",
	})
	var rules []int
	for _, e := range l.Entries {
		rules = append(rules, e.Rule)
	}
	if fmt.Sprint(rules) != "[0 0 0 0 1 1 2 2 2 2]" {
		t.Errorf("entry rules %v", rules)
	}
	equalStrings(t, "warnings", l.Warnings, []string{
		a + ":1: 1.2.3.4 is inside 0.0.0.0/1 listed at " + c + ":2 (both kept)",
		a + ":2: 10.1.2.3 is inside 10.1.0.0/16 listed at " + b + ":1 (both kept)",
		a + ":3: 10.0.0.0/8 is inside 0.0.0.0/1 listed at " + c + ":2 (both kept)",
		a + ":4: 2001:db8::/32 is inside ::/0 listed at " + c + ":1 (both kept)",
		a + ":5: 1.2.3.4 already listed at " + a + ":1 (kept the first)",
		b + ":1: 10.0.0.0/8 already listed at " + a + ":3 (kept the first)",
		b + ":1: 10.1.0.0/16 is inside 10.0.0.0/8 listed at " + a + ":3 (both kept)",
		b + ":1: 1.2.3.4 already listed at " + a + ":1 (kept the first)",
		b + ":1: 192.0.2.0/24 already listed at " + b + ":1 (kept the first)",
		c + ":3: 2001:db8:5::/48 is inside 2001:db8::/32 listed at " + a + ":4 (both kept)",
		c + ":4: 192.0.2.7 is inside 192.0.2.0/24 listed at " + b + ":1 (both kept)",
	})
}

func TestNoOverlapAcrossFamilies(t *testing.T) {
	l := mustParse(t, "f", "::/0\n0.0.0.0/0\n1.2.3.4\n::1\n", blocklist.Options{})
	equalStrings(t, "warnings", l.Warnings, []string{
		"f:3: 1.2.3.4 is inside 0.0.0.0/0 listed at f:2 (both kept)",
		"f:4: ::1 is inside ::/0 listed at f:1 (both kept)",
	})
}

func TestErrorType(t *testing.T) {
	_, err := blocklist.Parse("x", strings.NewReader("bad\nworse\n"), blocklist.Options{Format: "plain"})
	var perr *blocklist.Error
	if !errors.As(err, &perr) {
		t.Fatalf("%T", err)
	}
	p := perr.Problems()
	p[0] = "mutated"
	if perr.Problems()[0] == "mutated" {
		t.Error("Problems must return a copy")
	}
	if err.Error() != "x:1: \"bad\" is not an IP address or CIDR\nx:2: \"worse\" is not an IP address or CIDR" {
		t.Errorf("Error() = %q", err.Error())
	}
}

// writeMillion writes a plain list of 1,000,000 addresses (900,000 IPv4,
// 100,000 IPv6, all distinct) and 100,000 CIDRs (/16 to /28 IPv4, /48
// IPv6), shuffled, with comments, and returns its path.
func writeMillion(tb testing.TB, dir string) string {
	path := filepath.Join(dir, "million.txt")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	lines := make([]string, 0, 1_100_000)
	for i := uint32(0); i < 900_000; i++ {
		lines = append(lines, ip4(i*2654435761+12345)) // a bijection: distinct addresses
	}
	for i := uint64(0); i < 100_000; i++ {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		for j := 2; j < 16; j++ {
			a[j] = byte(r.Uint32())
		}
		a[15], a[14] = byte(i), byte(i>>8)
		a[13] = byte(i >> 16)
		lines = append(lines, netip.AddrFrom16(a).String())
	}
	for i := 0; i < 100_000; i++ {
		if i%10 == 0 {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[4], a[5] = 0x20, 0x01, 0x0d, 0xb8, byte(i>>8), byte(i)
			lines = append(lines, netip.PrefixFrom(netip.AddrFrom16(a), 48).String())
			continue
		}
		bits := 16 + r.IntN(13)
		p, _ := netip.MustParseAddr(ip4(r.Uint32())).Prefix(bits)
		lines = append(lines, p.String())
	}
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	w.WriteString("# generated: 1,000,000 addresses and 100,000 CIDRs\n")
	for i, s := range lines {
		w.WriteString(s)
		if i%1000 == 0 {
			w.WriteString("  # a trailing comment")
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func BenchmarkLoadMillion(b *testing.B) {
	path := writeMillion(b, b.TempDir())
	var l *blocklist.List
	var err error
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		l, err = blocklist.Load([]string{path}, blocklist.Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(len(l.Entries)), "entries")
	b.ReportMetric(float64(len(l.Warnings)), "warnings")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/float64(len(l.Entries)), "ns/entry")
}

// TestLoadMillion runs the benchmark's input once as a test, so its
// correctness (not its speed) is checked by go test.
func TestLoadMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	path := writeMillion(t, t.TempDir())
	start := time.Now()
	l, err := blocklist.Load([]string{path}, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d entries, %d warnings in %v", len(l.Entries), len(l.Warnings), time.Since(start))
	exact, cidr, dups, inside := 0, 0, 0, 0
	for _, e := range l.Entries {
		if e.Exact() {
			exact++
		} else {
			cidr++
		}
	}
	for _, w := range l.Warnings {
		switch {
		case strings.Contains(w, "already listed"):
			dups++
		case strings.Contains(w, "is inside"):
			inside++
		default:
			t.Errorf("unexpected warning %q", w)
		}
	}
	if exact != 1_000_000 || exact+cidr+dups != 1_100_000 {
		t.Errorf("%d exact, %d cidrs, %d duplicates", exact, cidr, dups)
	}
	if inside == 0 {
		t.Error("expected some addresses inside the random CIDRs")
	}
}
