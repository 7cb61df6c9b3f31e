package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The third golden capture: a full IRC-like session with a listed server,
// data both ways. The analyst's reading must be "established, and data went
// out" — the opposite of the seeds' conclusions, from the same fields.
func TestIRCSessionGolden(t *testing.T) {
	const bot, cc = "192.0.2.10", "203.0.113.66"
	ms := time.Millisecond
	out := func(at time.Duration, s segment) segment {
		s.at, s.src, s.dst, s.sport, s.dport = at, bot, cc, 49152, 6667
		return s
	}
	in := func(at time.Duration, s segment) segment {
		s.at, s.src, s.dst, s.sport, s.dport = at, cc, bot, 6667, 49152
		return s
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "irc.pcap")
	writeTCPCapture(t, pcap, []segment{
		out(0, segment{syn: true}),
		in(40*ms, segment{syn: true, ack: true}),
		out(41*ms, segment{ack: true}),
		out(50*ms, segment{ack: true, psh: true, payload: "NICK bot1234\r\nUSER bot 0 * :bot\r\n"}),
		in(90*ms, segment{ack: true, psh: true, payload: ":cc 001 bot1234 :Welcome\r\n"}),
		out(100*ms, segment{ack: true, psh: true, payload: "JOIN #botnet\r\n"}),
		in(140*ms, segment{ack: true, psh: true, payload: ":cc 332 bot1234 #botnet :.ddos 198.51.100.7\r\n"}),
		out(150*ms, segment{ack: true}),
		out(200*ms, segment{ack: true, fin: true}),
		in(240*ms, segment{ack: true, fin: true}),
		out(241*ms, segment{ack: true}),
	})
	rules := filepath.Join(dir, "cc.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any -> [203.0.113.66] any (msg:"XDPSENSOR LAB Known Bot C&C Server Traffic"; threshold: type limit, track by_src, count 1, seconds 3600; classtype:trojan-activity; sid:9000001; rev:1;)`+"\n"), 0o644)
	outDir := filepath.Join(dir, "out")
	if _, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: outDir, HomeNet: "192.0.2.0/24",
		FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap}); err != nil {
		t.Fatalf("%+v", err)
	}
	conn, err := os.ReadFile(filepath.Join(outDir, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(conn), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			line = l
		}
	}
	f := strings.Split(line, "\t")
	// ts uid orig_h orig_p resp_h resp_p proto service duration orig_bytes resp_bytes conn_state local_orig local_resp
	// missed history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents ip_proto community_id label note
	// The duration ends at the server's FIN (240 ms), where Zeek ends it:
	// the bot's last ACK (241 ms) is not in it.
	want := []string{"1172052000.000000", f[1], bot, "49152", cc, "6667", "tcp", "-", "0.240000", "47", "71", "SF", "T", "F",
		// The server never sent a pure ACK: no 'a' in its history.
		"0", "ShADdFf", "7", "327", "4", "231", "-", "6", f[22], "cc-established", "data-out=47, 71 bytes in"}
	if len(f) != len(want) {
		t.Fatalf("conn.log line has %d fields: %q", len(f), line)
	}
	for i := range want {
		if f[i] != want[i] {
			t.Errorf("conn.log field %d = %q, want %q\n%s", i, f[i], want[i], line)
		}
	}
	_, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	if len(flows) != 1 || flows[0].Flow.State != "closed" || flows[0].Flow.End2 != "fin" {
		t.Fatalf("EVE flow %+v", flows)
	}
	eve, _ := os.ReadFile(filepath.Join(outDir, "eve.json"))
	if !strings.Contains(string(eve), `"xdpsensor_label":"cc-established","xdpsensor_label_note":"data-out=47, 71 bytes in"`) {
		t.Errorf("EVE lacks the label:\n%s", eve)
	}
}
