package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A flow record names the rules the kernel decided for the flow's ends,
// given its other address: an exact entry whose $HOME_NET/$EXTERNAL_NET
// constraint refuses the other address gives way to the covering prefix
// (the alert's rule), and a rule refused for this flow is not named.
func TestFlowRecordNamesTheRulesTheKernelDecided(t *testing.T) {
	const (
		listed = "203.0.113.66" // exact: $HOME_NET only; its /24: $EXTERNAL_NET only
		both   = "203.0.113.77" // exact: $HOME_NET only as destination, anyone as source
		home   = "192.0.2.10"
		ext    = "198.51.100.5" // in $EXTERNAL_NET
		other  = "100.64.0.1"   // in neither
	)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "flows.pcap")
	syn := func(at time.Duration, src string, sport uint16, dst string) segment {
		return segment{at: at, src: src, sport: sport, dst: dst, dport: 6667, syn: true}
	}
	writeTCPCapture(t, pcap, []segment{
		syn(0, ext, 40001, listed),                    // exact refused, prefix accepted: sid 21
		syn(1*time.Millisecond, other, 40002, listed), // both refused: no alert, not listed
		syn(2*time.Millisecond, home, 40003, listed),  // exact accepted: sid 20
		syn(3*time.Millisecond, other, 40004, both),   // as destination: both refused
		{at: 4 * time.Millisecond, src: both, sport: 6667, dst: other, dport: 40004, syn: true, ack: true}, // as source: sid 25
	})
	rules := filepath.Join(dir, "overlap.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [203.0.113.66] any (msg:"exact, home only"; sid:20; rev:1;)
alert ip $EXTERNAL_NET any -> [203.0.113.0/24] any (msg:"covering range, external only"; sid:21; rev:1;)
alert ip $HOME_NET any -> [203.0.113.77] any (msg:"exact .77, home only"; sid:24; rev:1;)
alert ip [203.0.113.77] any -> any any (msg:".77 talks"; sid:25; rev:1;)
`), 0o644)
	outDir := filepath.Join(dir, "out")
	if _, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: outDir,
		HomeNet: "192.0.2.0/24", ExternalNet: "[198.51.100.0/24]", FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap}); err != nil {
		t.Fatalf("%+v", err)
	}

	// EVE: the alerts, and each flow record's rules and listed ends, keyed
	// by the client's port.
	type rule struct {
		SID int `json:"signature_id"`
	}
	type record struct {
		EventType string `json:"event_type"`
		SrcIP     string `json:"src_ip"`
		SrcPort   int    `json:"src_port"`
		DestPort  int    `json:"dest_port"`
		Alert     *rule  `json:"alert"`
		Flow      *struct {
			Listed []string `json:"xdpsensor_listed"`
			Label  string   `json:"xdpsensor_label"`
		} `json:"flow"`
		Rules []rule `json:"xdpsensor_rules"`
	}
	var ev []record
	f, err := os.Open(filepath.Join(outDir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		ev = append(ev, r)
	}
	var alerts []string
	flows := map[int]string{}
	for _, e := range ev {
		switch e.EventType {
		case "alert":
			alerts = append(alerts, fmt.Sprintf("%s:%d sid %d", e.SrcIP, e.SrcPort, e.Alert.SID))
		case "flow":
			var sids []string
			for _, r := range e.Rules {
				sids = append(sids, fmt.Sprint(r.SID))
			}
			flows[e.SrcPort] = fmt.Sprintf("rules [%s] listed %v label %q", strings.Join(sids, " "), e.Flow.Listed, e.Flow.Label)
		}
	}
	wantAlerts := []string{ext + ":40001 sid 21", home + ":40003 sid 20", both + ":6667 sid 25"}
	if !slices.Equal(alerts, wantAlerts) {
		t.Errorf("alerts %q, want %q", alerts, wantAlerts)
	}
	wantFlows := map[int]string{
		40001: `rules [21] listed [server] label "cc-unanswered"`, // the alert's rule, not the refused exact one (20)
		40002: `rules [] listed [] label ""`,                      // refused both ways: not listed, nothing named
		40003: `rules [20] listed [server] label "cc-unanswered"`,
		40004: `rules [25] listed [server] label "cc-accepted"`, // 24 refuses 100.64.0.1: not named
	}
	for port, want := range wantFlows {
		if flows[port] != want {
			t.Errorf("EVE flow of client port %d: %s, want %s", port, flows[port], want)
		}
	}
	if len(flows) != len(wantFlows) {
		t.Errorf("%d EVE flow records, want %d: %v", len(flows), len(wantFlows), flows)
	}

	// conn.log: the label column (and its note) follow the same decision.
	conn, err := os.ReadFile(filepath.Join(outDir, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, l := range strings.Split(string(conn), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := strings.Split(l, "\t")
		// ... orig_p (3) ... label (23) note (24)
		labels[c[3]] = c[23] + " / " + c[24]
	}
	wantLabels := map[string]string{
		"40001": "cc-unanswered / 1 SYN",
		"40002": "- / -",
		"40003": "cc-unanswered / 1 SYN",
		"40004": "cc-accepted / 1 SYN, SYN-ACK, no ACK",
	}
	if !maps.Equal(labels, wantLabels) {
		t.Errorf("conn.log labels %v, want %v", labels, wantLabels)
	}
}
