package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const testdata = "../../testdata"

type eveLine struct {
	Timestamp string `json:"timestamp"`
	FlowID    uint64 `json:"flow_id"`
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   int    `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Proto     string `json:"proto"`
	Listed    string `json:"xdpsensor_listed"`
	// The evidence an alert carries.
	InIface     string `json:"in_iface"`
	PcapCnt     uint64 `json:"pcap_cnt"`
	Direction   string `json:"direction"`
	Packet      string `json:"packet"`
	CaptureFile string `json:"capture_file"`
	Alert       *struct {
		GID         int    `json:"gid"`
		SignatureID int    `json:"signature_id"`
		Rev         int    `json:"rev"`
		Signature   string `json:"signature"`
		Category    string `json:"category"`
		Severity    int    `json:"severity"`
	} `json:"alert"`
	Flow *struct {
		PktsToServer  int    `json:"pkts_toserver"`
		PktsToClient  int    `json:"pkts_toclient"`
		BytesToServer int    `json:"bytes_toserver"`
		BytesToClient int    `json:"bytes_toclient"`
		Start         string `json:"start"`
		End           string `json:"end"`
		State         string `json:"state"`
		Reason        string `json:"reason"`
		Alerted       bool   `json:"alerted"`
		End2          string `json:"xdpsensor_end"`
	} `json:"flow"`
	TCP *struct {
		Flags   string `json:"tcp_flags"`
		FlagsTS string `json:"tcp_flags_ts"`
		FlagsTC string `json:"tcp_flags_tc"`
		State   string `json:"state"`
	} `json:"tcp"`
	FlagCounts map[string]map[string]int `json:"xdpsensor_flag_counts"`
}

func replayFiles(t *testing.T, blocklists []string, captures ...string) []eveLine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the BPF program: run as root (make test does)")
	}
	out := t.TempDir()
	var files []string
	for _, c := range captures {
		if !filepath.IsAbs(c) {
			c = filepath.Join(testdata, c)
		}
		files = append(files, c)
	}
	sum, err := Replay(context.Background(), Config{
		Blocklists:    blocklists,
		OutDir:        out,
		FlowTableSize: 1024,
		RingSize:      1 << 20,
	}, files)
	if err != nil {
		t.Fatalf("replay: %+v", err)
	}
	lines := readEVE(t, filepath.Join(out, "eve.json"))
	if uint64(len(lines)) != sum.Alerts+sum.Flows {
		t.Fatalf("eve.json has %d lines, summary says %d alerts + %d flows", len(lines), sum.Alerts, sum.Flows)
	}
	return lines
}

func readEVE(t *testing.T, path string) []eveLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eveLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l eveLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad eve line %q: %v", sc.Text(), err)
		}
		if l.EventType == "stats" {
			continue // TestReplayStatsEvent checks them
		}
		out = append(out, l)
	}
	return out
}

func split(lines []eveLine) (alerts, flows []eveLine) {
	for _, l := range lines {
		switch l.EventType {
		case "alert":
			alerts = append(alerts, l)
		case "flow":
			flows = append(flows, l)
		}
	}
	return
}

var seedRule = []string{filepath.Join(testdata, "bleeding-botcc-group1.rules")}

func TestReplayBotCC(t *testing.T) {
	alerts, flows := split(replayFiles(t, seedRule, "bot-cc-syn.pcap"))
	// The rule's "threshold: type limit, track by_src, seconds 3600,
	// count 1" lets the first SYN alert and holds back the retransmissions,
	// as Snort did (the seed's "Count:1").
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1 (threshold limit 1 per hour by source)", len(alerts))
	}
	wantTimes := []string{"2007-02-21T10:17:54.366236+0000", "2007-02-21T10:17:57.287574+0000", "2007-02-21T10:18:03.306453+0000"}
	for i, a := range alerts {
		if a.SrcIP != "192.168.0.31" || a.SrcPort != 2253 || a.DestIP != "161.53.178.240" || a.DestPort != 6667 || a.Proto != "TCP" {
			t.Errorf("alert %d: %s:%d -> %s:%d %s", i, a.SrcIP, a.SrcPort, a.DestIP, a.DestPort, a.Proto)
		}
		if a.Alert.GID != 1 || a.Alert.SignatureID != 2405000 || a.Alert.Rev != 602 || a.Alert.Severity != 1 ||
			a.Alert.Category != "A Network Trojan was detected" ||
			a.Alert.Signature != "BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE" {
			t.Errorf("alert %d: %+v", i, *a.Alert)
		}
		if a.Timestamp != wantTimes[i] {
			t.Errorf("alert %d at %s, want %s", i, a.Timestamp, wantTimes[i])
		}
		if a.Listed != "dst" {
			t.Errorf("alert %d listed %q", i, a.Listed)
		}
	}
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	f := flows[0]
	if f.SrcIP != "192.168.0.31" || f.SrcPort != 2253 || f.DestIP != "161.53.178.240" || f.DestPort != 6667 {
		t.Errorf("flow %s:%d -> %s:%d", f.SrcIP, f.SrcPort, f.DestIP, f.DestPort)
	}
	// Suricata's bytes: three 62-byte frames.
	if f.Flow.PktsToServer != 3 || f.Flow.PktsToClient != 0 || f.Flow.BytesToServer != 186 || f.Flow.BytesToClient != 0 {
		t.Errorf("flow counters %+v", *f.Flow)
	}
	if f.Flow.Start != wantTimes[0] || f.Flow.End != wantTimes[2] || f.Flow.State != "new" || f.TCP.State != "syn_sent" || !f.Flow.Alerted {
		t.Errorf("flow %+v", *f.Flow)
	}
	if f.Flow.End2 != "shutdown" {
		t.Errorf("flow still open at the end of the capture ended by %q, want shutdown", f.Flow.End2)
	}
	if got := f.FlagCounts["toserver"]; got["syn"] != 3 || got["synack"] != 0 || got["ack"] != 0 || got["rst"] != 0 {
		t.Errorf("toserver flag counts %v", got)
	}
	if got := f.FlagCounts["toclient"]; got["syn"] != 0 || got["rst"] != 0 {
		t.Errorf("toclient flag counts %v", got)
	}
	if f.TCP.FlagsTS != "02" || f.TCP.FlagsTC != "00" {
		t.Errorf("tcp flags %+v", *f.TCP)
	}
	for _, a := range alerts {
		if a.FlowID != f.FlowID || f.FlowID == 0 {
			t.Errorf("alert flow_id %d, flow record %d", a.FlowID, f.FlowID)
		}
	}
}

func TestReplayBackscatter(t *testing.T) {
	alerts, flows := split(replayFiles(t, seedRule, "backscatter.pcap"))
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want the two RSTs", len(alerts))
	}
	for i, a := range alerts {
		if a.SrcIP != "69.143.202.28" || a.DestIP != "193.109.122.67" || a.DestPort != 6667 || a.Alert.SignatureID != 2405000 {
			t.Errorf("alert %d: %s:%d -> %s:%d sid %d", i, a.SrcIP, a.SrcPort, a.DestIP, a.DestPort, a.Alert.SignatureID)
		}
	}
	if alerts[0].SrcPort != 1024 || alerts[1].SrcPort != 3072 {
		t.Errorf("alert source ports %d, %d", alerts[0].SrcPort, alerts[1].SrcPort)
	}
	if len(flows) != 2 {
		t.Fatalf("%d flows, want 2", len(flows))
	}
	ports := map[int]bool{}
	for _, f := range flows {
		ports[f.DestPort] = true
		// The listed server's SYN-ACK came first, so it is the client.
		if f.SrcIP != "193.109.122.67" || f.SrcPort != 6667 || f.DestIP != "69.143.202.28" {
			t.Errorf("flow %s:%d -> %s:%d", f.SrcIP, f.SrcPort, f.DestIP, f.DestPort)
		}
		// Suricata picks up no session from a SYN-ACK (midstream is off
		// by default): the flow stays "new", with no tcp.state.
		if f.Flow.PktsToServer != 1 || f.Flow.PktsToClient != 1 || f.Flow.State != "new" || f.TCP.State != "" || f.Flow.End2 != "rst" {
			t.Errorf("flow %+v", *f.Flow)
		}
		ts, tc := f.FlagCounts["toserver"], f.FlagCounts["toclient"]
		if ts["synack"] != 1 || ts["syn"] != 0 || ts["rst"] != 0 || tc["rst"] != 1 || tc["synack"] != 0 {
			t.Errorf("flag counts toserver %v toclient %v", ts, tc)
		}
		var alerted int
		for _, a := range alerts {
			if a.FlowID == f.FlowID {
				alerted++
			}
		}
		if alerted != 1 {
			t.Errorf("flow %d has %d alerts, want its RST", f.FlowID, alerted)
		}
	}
	if !ports[1024] || !ports[3072] {
		t.Errorf("flows to ports %v", ports)
	}
}

func TestReplayRejectsBadBlocklistAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("192.0.2.1\n192.0.2.300\n10.1.2.3/8\n"), 0o644)
	out := filepath.Join(dir, "out")
	_, err := Replay(context.Background(), Config{Blocklists: []string{bad}, OutDir: out}, []string{filepath.Join(testdata, "bot-cc-syn.pcap")})
	if err == nil {
		t.Fatal("a bad blocklist was accepted")
	}
	for _, want := range []string{bad + ":2:", bad + ":3:"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Errorf("output directory created despite the error")
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
