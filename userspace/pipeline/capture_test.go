package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

// readAll reads a capture file's packets, data copied.
func readAll(t *testing.T, path string) []capture.Packet {
	t.Helper()
	rd, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []capture.Packet
	for {
		p, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}

// The seed's lesson: keep the packets that came before any alert. After a
// replay of both seed captures, carving the listed IRC server returns the
// four backscatter packets — SYN-ACKs included, which raised no alert —
// byte for byte, in order, with their own timestamps.
func TestReplayCapturesBackscatterFromTheFirstPacket(t *testing.T) {
	out := t.TempDir()
	_, err := Replay(context.Background(), Config{
		Blocklists: seedRule, OutDir: out, FlowTableSize: 1024, RingSize: 1 << 20,
	}, []string{filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap")})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	var carved bytes.Buffer
	n, err := capture.Carve(filepath.Join(out, "pcap"), capture.Filter{Host: netip.MustParseAddr("193.109.122.67")}, &carved, "pcap", nil)
	if err != nil || n != 4 {
		t.Fatalf("carved %d packets (%v), want 4", n, err)
	}
	tmp := filepath.Join(t.TempDir(), "carved.pcap")
	os.WriteFile(tmp, carved.Bytes(), 0o644)
	got := readAll(t, tmp)
	want := readAll(t, filepath.Join(testdata, "backscatter.pcap"))
	if len(got) != len(want) {
		t.Fatalf("%d packets carved, the capture has %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i].Data) || !got[i].Time.Equal(want[i].Time) || got[i].OrigLen != want[i].OrigLen {
			t.Errorf("packet %d differs from the input: %v %d bytes vs %v %d bytes", i, got[i].Time, len(got[i].Data), want[i].Time, len(want[i].Data))
		}
	}
	// The C&C attempt's SYNs are in the ring too (listed flow), and the
	// alerts name the file holding their packet.
	var all bytes.Buffer
	if n, _ := capture.Carve(filepath.Join(out, "pcap"), capture.Filter{Host: netip.MustParseAddr("161.53.178.240")}, &all, "pcap", nil); n != 3 {
		t.Errorf("carved %d C&C SYNs, want 3", n)
	}
	eve, err := os.ReadFile(filepath.Join(out, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, line := range strings.Split(strings.TrimSpace(string(eve)), "\n") {
		if strings.Contains(line, `"event_type":"alert"`) {
			alerts++
			if !strings.Contains(line, `"capture_file":"`+filepath.Join(out, "pcap")) || !strings.Contains(line, `"xdpsensor_alert_id":`) {
				t.Errorf("alert without capture_file or alert id: %s", line)
			}
		}
	}
	if alerts != 3 {
		t.Errorf("%d alerts in eve.json, want 3 (the C&C SYNs' flow, our RSTs in the two backscatter flows)", alerts)
	}
}
