package console

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
)

// Without EVE stats events the health strip reads the running sensor's
// pinned maps, in the background.
func TestHealthFromPinnedMaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading the BPF program needs root (make test runs as root)")
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-consoletest-%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	sensor, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer sensor.Close()
	// The bot C&C seed's first frame (pcap header 24 bytes, record header 16).
	capture, err := os.ReadFile(filepath.Join(testdata, "bot-cc-syn.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	frame := capture[24+16 : 24+16+62]
	data := binary.NativeEndian.AppendUint64(nil, 1) // the replay clock
	data = append(data, frame...)
	if _, err := sensor.Objects.Xdpsensor.Run(&ebpf.RunOptions{Data: data, Context: loader.XDPContext{Data: 8, DataEnd: uint32(len(data))}}); err != nil {
		t.Fatal(err)
	}

	s := newTestServer(t, writeFixture(t), Config{PinDir: pin})
	var h Health
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if h = s.health(); h.Source != "" {
			break
		}
	}
	if h.Source != "pinned maps "+pin || h.Generation == "" || h.Problem != "" {
		t.Fatalf("health %+v", h)
	}
	values := map[string]string{}
	for _, r := range h.Rows {
		values[r.Name] = r.Value
	}
	if values["packets"] != "1" || values["tcp_packets"] != "1" || values["lost_events"] != "0" {
		t.Errorf("counters %v", values)
	}
	var headline, losses []string
	for _, r := range h.Headline {
		headline = append(headline, r.Name)
	}
	for _, r := range h.Losses {
		losses = append(losses, r.Name)
	}
	if !slices.Contains(headline, "packets") || !slices.Contains(headline, "alerts") || !slices.Contains(losses, "lost_events") || !slices.Contains(losses, "capture_lost") {
		t.Errorf("at a glance: %v, losses %v", headline, losses)
	}

	// A sensor that is not there: a sentence, and the page still renders.
	s = newTestServer(t, writeFixture(t), Config{PinDir: pin + "-none"})
	time.Sleep(50 * time.Millisecond)
	if h := s.health(); h.Source != "" || h.Problem == "" {
		t.Errorf("no sensor: %+v", h)
	}
}
