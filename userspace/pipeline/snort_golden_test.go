package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The seed's alert, from the kernel's decoding of the seed's first SYN:
// alert.full must read as bot-cc.txt does, apart from the seed's single
// spaces where Snort prints two (and Snort's trailing spaces).
func TestReplayAlertFullMatchesTheSeed(t *testing.T) {
	out := t.TempDir()
	_, err := Replay(context.Background(), Config{
		Blocklists: []string{filepath.Join(testdata, "bot-cc-2404000.rules")},
		OutDir:     out, FlowTableSize: 1024, RingSize: 1 << 20,
	}, []string{filepath.Join(testdata, "bot-cc-syn.pcap")})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	full, err := os.ReadFile(filepath.Join(out, "alert.full"))
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what Snort 2.9 writes (double spaces and trailing spaces are
	// Snort's own: see userspace/snortalert/golden_test.go).
	want := "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n" +
		"[Classification: A Network Trojan was detected] [Priority: 1] \n" +
		"02/21-10:17:54.366236 192.168.0.31:2253 -> 161.53.178.240:6667\n" +
		"TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF\n" +
		"******S* Seq: 0xCA53141F  Ack: 0x0  Win: 0xFC00  TcpLen: 28\n" +
		"TCP Options (4) => MSS: 1460 NOP NOP SackOK \n\n"
	// No threshold on this rule: the retransmissions alert too; compare
	// the first alert.
	first := string(full)[:min(len(full), len(want))]
	if first != want {
		t.Fatalf("alert.full:\n%q\nwant\n%q", first, want)
	}
	seed, err := os.ReadFile(filepath.Join(testdata, "bot-cc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(seed), "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n[Classification")
	if i < 0 {
		t.Fatal("the seed's alert is not in bot-cc.txt")
	}
	seedLines := strings.SplitN(string(seed)[i:], "\n", 7)[:6]
	spaces := regexp.MustCompile(` +`)
	for n, line := range strings.Split(strings.TrimSuffix(want, "\n\n"), "\n") {
		if got, s := strings.TrimSpace(spaces.ReplaceAllString(line, " ")), strings.TrimSpace(seedLines[n]); got != s {
			t.Errorf("line %d: %q, the seed has %q", n+1, got, s)
		}
	}
}
