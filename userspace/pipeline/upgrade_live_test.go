package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

// TestLiveUpgradeCountsWhatReplacedMapsHeld: a pinned sensor holds open
// flows, unread alerts and unread captured frames; `run` starts on it
// with other flow table and ring sizes, so those maps no longer fit and
// are replaced. What they held is lost, and said, exactly: in the
// daemon's counters (what `stats` reads), the metrics, the log and the
// summary's losses.
func TestLiveUpgradeCountsWhatReplacedMapsHeld(t *testing.T) {
	l := startLab(t, "r")
	span := l.env["span_iface"]

	// The earlier sensor: 5 flows nobody lists and 2 to a listed address
	// (2 alerts, 2 captured frames), none of it read.
	s, err := loader.Load(loader.Config{PinDir: l.pinDir, FlowTableSize: 1024, RingSize: 1 << 16, CaptureRingSize: 1 << 16})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	list, err := blocklist.LoadContext(context.Background(), []string{l.rules}, blocklist.Options{Classes: classification.Standard()})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(list); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCapture(loader.CaptureSettings{Mode: loader.CaptureListed}); err != nil {
		t.Fatal(err)
	}
	syn := func(dst string, sport int) []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP("192.0.2.10"), DstIP: net.ParseIP(dst)}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 6667, Seq: 1, SYN: true, Window: 65535}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: tunMACs[0], DstMAC: tunMACs[1], EthernetType: layers.EthernetTypeIPv4}, ip, tcp); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for i := 0; i < 7; i++ {
		dst := "198.51.100.77"
		if i >= 5 {
			dst = l.env["cc_v4"]
		}
		if _, err := s.Objects.Xdpsensor.Run(&ebpf.RunOptions{Data: syn(dst, 40000+i)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Maps().ReadStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.FlowsNew != 7 || st.Alerts != 2 || st.CapturePackets != 2 {
		t.Fatalf("earlier sensor: %d flows, %d alerts, %d frames captured; want 7, 2, 2", st.FlowsNew, st.Alerts, st.CapturePackets)
	}
	s.Close()

	var logged syncBuffer
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", 20000+(os.Getpid()+7)%20000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	ready := make(chan struct{})
	go func() {
		sum, err := Live(ctx, LiveConfig{
			Config: Config{OutDir: l.outDir, FlowTableSize: 2048, RingSize: 1 << 17, Capture: CaptureConfig{RingSize: 1 << 17},
				Logger: slog.New(slog.NewTextHandler(&logged, nil))},
			Interfaces: []string{span}, MonitorPort: true, PinDir: l.pinDir, MetricsAddr: metricsAddr,
			Ready: func() { close(ready) },
		})
		done <- result{sum, err}
	}()
	select {
	case <-ready:
	case r := <-done:
		t.Fatalf("sensor stopped while starting: %+v", r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("sensor not started after 30 s")
	}

	want := map[string]uint64{"flows_lost_upgrade": 7, "events_lost_upgrade": 2, "capture_lost_upgrade": 2}
	// The daemon's counters as `stats` reads them, published each round.
	maps, err := loader.OpenPinned(l.pinDir)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	var got map[string]uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		ds, err := maps.ReadDaemonStats()
		if err != nil {
			t.Fatal(err)
		}
		counters, err := abi.DaemonCounters(&ds)
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]uint64{}
		for _, c := range counters {
			if _, ok := want[c.Name]; ok {
				got[c.Name] = c.Value
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("daemon counters %v, want %v", got, want)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name, n := range want {
		if line := fmt.Sprintf("xdpsensor_daemon_%s_total %d\n", name, n); !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}

	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("sensor did not stop within 15 s")
	}
	if r.err != nil {
		t.Fatalf("sensor: %+v", r.err)
	}
	summary := FormatLosses(r.sum.Losses)
	for _, part := range []string{
		"7 open flows of a pinned flow table replaced at start-up (it no longer fit)",
		"2 unread event records of a pinned event ring replaced at start-up",
		"2 unread captured frames of a pinned capture ring replaced at start-up",
	} {
		if !strings.Contains(summary, part) {
			t.Errorf("summary %q lacks %q", summary, part)
		}
	}
	log := logged.String()
	for _, part := range []string{
		"held 7 open flows: lost, never written (flows_lost_upgrade)",
		"pinned map events (replaced: it no longer fit) held 2 unread records (",
		"pinned map capture (replaced: it no longer fit) held 2 unread frames (",
	} {
		if strings.Count(log, part) != 1 {
			t.Errorf("log says %q %d times, want once:\n%s", part, strings.Count(log, part), log)
		}
	}
}
