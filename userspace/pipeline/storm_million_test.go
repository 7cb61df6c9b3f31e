package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

const (
	stormPackets = 1_000_000
	stormSources = 50
)

// writeSynAckStorm writes a capture of n spoofed SYN-ACKs (backscatter of
// a SYN flood that forged our addresses) from stormSources listed servers
// to random ports of 32 of our hosts, 10 µs apart: each packet its own
// flow. Records are written directly: one template frame, patched.
func writeSynAckStorm(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.Write(hdr)
	frame := []byte{
		2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
		0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 193, 109, 122, 0, 69, 143, 202, 0, // IPv4
		0x1a, 0x0b, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x12, 0x20, 0, 0, 0, 0, 0, // TCP SYN-ACK from 6667
	}
	rec := make([]byte, 16)
	start := captureStart.Unix()
	seen := map[uint64]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		ts := int64(i) * 10 // µs
		binary.LittleEndian.PutUint32(rec[0:], uint32(start+ts/1_000_000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1_000_000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		for {
			src, dst, port := 1+r.IntN(stormSources), 1+r.IntN(32), 1024+r.IntN(64512)
			k := uint64(src)<<32 | uint64(dst)<<16 | uint64(port)
			if seen[k] {
				continue // a distinct flow each packet
			}
			seen[k] = true
			frame[14+15], frame[14+19] = byte(src), byte(dst)
			binary.BigEndian.PutUint16(frame[14+20+2:], uint16(port))
			break
		}
		w.Write(rec)
		w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// stormRules lists the storm's sources: SYN-ACKs from them alert, at most
// once per source per hour (the seed rule's threshold).
func stormRules(t *testing.T, dir string) string {
	var addrs []string
	for i := 1; i <= stormSources; i++ {
		addrs = append(addrs, fmt.Sprintf("193.109.122.%d", i))
	}
	path := filepath.Join(dir, "storm.rules")
	rule := fmt.Sprintf(`alert ip [%s] any -> $HOME_NET any (msg:"listed server talks to us"; threshold: type limit, track by_src, count 1, seconds 3600; classtype:trojan-activity; sid:9000011; rev:1;)`,
		strings.Join(addrs, ","))
	if err := os.WriteFile(path, []byte(rule+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// countEVE counts the event types of eve.json without decoding every line.
func countEVE(t *testing.T, path string) (alerts, flows int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		switch {
		case bytes.Contains(sc.Bytes(), []byte(`"event_type":"flow"`)):
			flows++
		case bytes.Contains(sc.Bytes(), []byte(`"event_type":"alert"`)):
			alerts++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return alerts, flows
}

// One million spoofed SYN-ACKs, default settings: every flow a record,
// one alert per source (its threshold), nothing lost.
func TestMillionFlowStormDefaultSettings(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "storm.pcap")
	writeSynAckStorm(t, pcap, stormPackets)
	out := filepath.Join(dir, "out")
	sum, err := Replay(context.Background(), Config{Blocklists: []string{stormRules(t, dir)}, OutDir: out,
		Capture: CaptureConfig{Mode: loader.CaptureNone}}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Packets != stormPackets || sum.Flows != stormPackets || len(sum.Losses) != 0 {
		t.Fatalf("%d packets, %d flow records, losses %v; want %d, %d, none", sum.Packets, sum.Flows, sum.Losses, stormPackets, stormPackets)
	}
	if sum.Alerts != stormSources || sum.Kernel.AlertsSuppressed != stormPackets-stormSources {
		t.Errorf("%d alerts (%d suppressed), want one per source: %d", sum.Alerts, sum.Kernel.AlertsSuppressed, stormSources)
	}
	if got := FormatLosses(sum.Losses); got != "0 lost" {
		t.Errorf("summary says %q", got)
	}
	alerts, flows := countEVE(t, filepath.Join(out, "eve.json"))
	if alerts != stormSources || flows != stormPackets {
		t.Errorf("eve.json: %d alerts, %d flows", alerts, flows)
	}
}

// The same storm into a table of 65,536 flows and a one-page-deep event
// ring: flows the table has no room for come through the ring as records
// of their own; those the ring has no room for are counted, by reason.
// Records + counted losses = packets, exactly.
func TestMillionFlowStormSmallTable(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "storm.pcap")
	writeSynAckStorm(t, pcap, stormPackets)
	out := filepath.Join(dir, "out")
	sum, err := Replay(context.Background(), Config{Blocklists: []string{stormRules(t, dir)}, OutDir: out,
		FlowTableSize: 65536, RingSize: 64 << 10, Capture: CaptureConfig{Mode: loader.CaptureNone}}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	k := &sum.Kernel
	if k.FlowsNew+k.FlowTableFull != stormPackets {
		t.Errorf("kernel: %d new flows + %d table-full = %d, want %d", k.FlowsNew, k.FlowTableFull, k.FlowsNew+k.FlowTableFull, stormPackets)
	}
	if k.FlowTableFull == 0 || k.FlowRecordsLost == 0 {
		t.Fatalf("the storm did not fill the table (%d) or the ring (%d)", k.FlowTableFull, k.FlowRecordsLost)
	}
	if sum.Flows+k.FlowRecordsLost != stormPackets {
		t.Errorf("%d records + %d lost = %d, want %d", sum.Flows, k.FlowRecordsLost, sum.Flows+k.FlowRecordsLost, stormPackets)
	}
	if got := FormatLosses(sum.Losses); !strings.Contains(got, fmt.Sprintf("%d flow records (event ring full)", k.FlowRecordsLost)) {
		t.Errorf("summary %q does not name the lost records", got)
	}
	_, flows := countEVE(t, filepath.Join(out, "eve.json"))
	if uint64(flows) != sum.Flows {
		t.Errorf("eve.json holds %d flows, the summary says %d", flows, sum.Flows)
	}
}

// Three rejected attempts on one tuple (SYN, RST; three times) are three
// connections, as Zeek logs them: three REJ rows.
func TestRejectedAttemptsAreThreeFlows(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "rej.pcap")
	var segs []segment
	for i := 0; i < 3; i++ {
		at := time.Duration(i) * time.Second
		segs = append(segs,
			segment{at: at, src: cli, dst: srv, sport: 40000, dport: 23, syn: true, skip: 1000 * i}, // a new ISN
			segment{at: at + time.Millisecond, src: srv, dst: cli, sport: 23, dport: 40000, rst: true, ack: true})
	}
	writeTCPCapture(t, pcap, segs)
	out := filepath.Join(dir, "out")
	sum, err := Replay(context.Background(), Config{OutDir: out, FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Flows != 3 {
		t.Fatalf("%d flow records, want 3", sum.Flows)
	}
	data, err := os.ReadFile(filepath.Join(out, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\tREJ\t"); n != 3 {
		t.Errorf("%d REJ rows, want 3:\n%s", n, data)
	}
}
