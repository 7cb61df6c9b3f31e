package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHistoryLostThroughReplay: a lossy connection replayed through the
// kernel program whose Zeek history has more letters than the kernel
// keeps. conn.log's history is the 40 letters kept, in Zeek's columns;
// the flow's EVE record says how many were lost
// (flow.xdpsensor_history_lost), and so do the daemon's counter
// history_letters_lost in the stats event and the summary's losses.
func TestHistoryLostThroughReplay(t *testing.T) {
	const c, s = "192.0.2.10", "198.51.100.20"
	var segs []segment
	at := time.Duration(0)
	add := func(out bool, sg segment) {
		sg.at = at
		at += 10 * time.Microsecond
		if out {
			sg.src, sg.dst, sg.sport, sg.dport = c, s, 40020, 8080
		} else {
			sg.src, sg.dst, sg.sport, sg.dport = s, c, 8080, 40020
		}
		segs = append(segs, sg)
	}
	const out, in = true, false
	data := strings.Repeat("x", 100)
	add(out, segment{syn: true})                           // S
	add(in, segment{syn: true, ack: true})                 // h
	add(out, segment{ack: true})                           // A
	add(out, segment{ack: true, psh: true, payload: data}) // D
	add(in, segment{ack: true, psh: true, payload: data})  // d
	// T at 1, 10, 100.
	for range 100 {
		add(out, segment{ack: true, psh: true, payload: data, rewind: 100})
	}
	// The server's retransmissions: t t t.
	for range 100 {
		add(in, segment{ack: true, psh: true, payload: data, rewind: 100})
	}
	// The server's first pure ACK (a), then w w w.
	for range 100 {
		add(in, segment{ack: true, zeroWin: true})
	}
	// The client's zero windows: W W W.
	for range 100 {
		add(out, segment{ack: true, zeroWin: true})
	}
	// 10 bytes of the client's the sensor never saw, acknowledged: G G G.
	for range 100 {
		add(out, segment{ack: true, psh: true, payload: "0123456789", skip: 10})
		add(in, segment{ack: true})
	}
	// And the server's: g g g.
	for range 100 {
		add(in, segment{ack: true, psh: true, payload: "0123456789", skip: 10})
		add(out, segment{ack: true})
	}
	// 24 letters so far. The client resets 20 times, each at a new
	// sequence number: R each time, 44 letters, the last 4 past the room.
	for range 20 {
		add(out, segment{rst: true, skip: 1})
	}
	// The server, which saw none of them, sends its last 10 bytes 900
	// times more: its 1000th retransmission is a t that finds no room.
	for range 900 {
		add(in, segment{ack: true, psh: true, payload: "0123456789", rewind: 10})
	}
	const wantHistory = "ShADdTTTtttawwwWWWGGGggg" + "RRRRRRRRRRRRRRRR" // 40 letters
	const wantLost = 4 + 1

	dir := t.TempDir()
	pcap := filepath.Join(dir, "lossy.pcap")
	writeTCPCapture(t, pcap, segs)
	outDir := filepath.Join(dir, "out")
	sum, err := Replay(context.Background(), Config{OutDir: outDir, FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}

	conns := connLog(t, filepath.Join(outDir, "conn.log"))
	if len(conns) != 1 {
		t.Fatalf("conn.log has %d connections, want 1: %v", len(conns), conns)
	}
	conn := conns["40020/tcp"]
	if conn["history"] != wantHistory {
		t.Errorf("conn.log history %q, want %q", conn["history"], wantHistory)
	}
	if len(wantHistory) != 40 {
		t.Fatalf("the test's history has %d letters, not the kernel's 40", len(wantHistory))
	}
	if conn["orig_pkts"] != "423" || conn["resp_pkts"] != "1302" {
		t.Errorf("conn.log orig_pkts %s resp_pkts %s, want 423 and 1302: one flow", conn["orig_pkts"], conn["resp_pkts"])
	}

	var flows, stats []map[string]any
	f, err := os.Open(filepath.Join(outDir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		switch ev["event_type"] {
		case "flow":
			flows = append(flows, ev)
		case "stats":
			stats = append(stats, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 || len(stats) == 0 {
		t.Fatalf("eve.json: %d flow records, %d stats events; want 1 and at least 1", len(flows), len(stats))
	}
	if got := flows[0]["flow"].(map[string]any)["xdpsensor_history_lost"]; got != float64(wantLost) {
		t.Errorf("EVE flow.xdpsensor_history_lost %v, want %d", got, wantLost)
	}
	last := stats[len(stats)-1]["stats"].(map[string]any)
	if got := last["xdpsensor_daemon"].(map[string]any)["history_letters_lost"]; got != float64(wantLost) {
		t.Errorf("EVE stats.xdpsensor_daemon.history_letters_lost %v, want %d", got, wantLost)
	}

	if sum.Daemon.HistoryLettersLost != wantLost {
		t.Errorf("daemon counter history_letters_lost %d, want %d", sum.Daemon.HistoryLettersLost, wantLost)
	}
	var found bool
	for _, l := range sum.Losses {
		if l.Counter == "history_letters_lost" {
			found = true
			if l.N != wantLost {
				t.Errorf("summary: %d history letters lost, want %d", l.N, wantLost)
			}
		}
	}
	if line := FormatLosses(sum.Losses); !found || !strings.Contains(line, "5 history letters past the kernel's room (conn.log history cut short)") {
		t.Errorf("summary line %q does not say the history letters lost", line)
	}
}
