package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

// A backscatter storm: 100,000 SYN-ACKs from one listed address to as many
// of our ports. The rule's threshold (limit 1 per hour by source) lets one
// alert through, in the kernel, and every one of the flows is still counted
// and written.
func TestBackscatterStormThreshold(t *testing.T) {
	const n = 100_000
	dir := t.TempDir()
	pcap := filepath.Join(dir, "storm.pcap")
	segs := make([]segment, n)
	for i := range segs {
		segs[i] = segment{at: time.Duration(i) * 10 * time.Microsecond, src: "193.109.122.67", dst: "69.143.202.28",
			sport: 6667, dport: uint16(1024 + i%60000), syn: true, ack: true}
		if i >= 60000 {
			segs[i].dst = "69.143.202.29" // another of our hosts: more distinct flows
		}
	}
	writeTCPCapture(t, pcap, segs)
	rules := filepath.Join(dir, "storm.rules")
	os.WriteFile(rules, []byte(`alert ip [193.109.122.67] any -> $HOME_NET any (msg:"listed IRC server talks to us"; threshold: type limit, track by_src, count 1, seconds 3600; classtype:trojan-activity; sid:9000010; rev:1;)`+"\n"), 0o644)
	out := filepath.Join(dir, "out")
	sum, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: out,
		FlowTableSize: 131072, RingSize: 16 << 20, Capture: CaptureConfig{Mode: loader.CaptureNone}}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Alerts != 1 {
		t.Errorf("%d alerts, want 1 (threshold limit 1 per hour by source)", sum.Alerts)
	}
	if sum.Kernel.AlertsSuppressed != n-1 || sum.Kernel.Matches != n || sum.Kernel.FlowsNew != n {
		t.Errorf("kernel: %d suppressed, %d matches, %d new flows; want %d, %d, %d",
			sum.Kernel.AlertsSuppressed, sum.Kernel.Matches, sum.Kernel.FlowsNew, n-1, n, n)
	}
	if sum.Flows != n {
		t.Errorf("%d flow records, want %d", sum.Flows, n)
	}
	alerts, flows := split(readEVE(t, filepath.Join(out, "eve.json")))
	if len(alerts) != 1 || len(flows) != n {
		t.Fatalf("eve.json: %d alerts, %d flows", len(alerts), len(flows))
	}
	labelled := 0
	for _, f := range flows {
		if f.FlagCounts["toserver"]["synack"] != 1 {
			t.Fatalf("flow %+v", f)
		}
		labelled++
	}
	if labelled != n {
		t.Fatalf("%d flows with their SYN-ACK", labelled)
	}
}
