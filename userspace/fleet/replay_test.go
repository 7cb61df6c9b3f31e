package fleet_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

const testdata = "../../testdata"

// writeSYNCapture writes n TCP SYNs of distinct flows, one in ten to
// 203.0.113.66 (listed by the tests), starting at start.
func writeSYNCapture(t *testing.T, path string, n int, start time.Time, srcNet byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		dst := net.IPv4(203, 0, 113, byte(100+i%50))
		if i%10 == 0 {
			dst = net.IPv4(203, 0, 113, 66)
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(i), Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(198, 51, 100, srcNet), DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(10000 + i), DstPort: 443, SYN: true, Window: 64240, Seq: uint32(i)}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

// eveEvents returns eve.json's lines of one event type.
func eveEvents(t *testing.T, path, eventType string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if strings.Contains(line, `"event_type":"`+eventType+`"`) {
			out = append(out, line)
		}
	}
	return out
}

// checkSameEvents asserts that the stream's alerts and flows of sensor
// are eve.json's, each once: the same lines, as many, with distinct ids.
func checkSameEvents(t *testing.T, url, stream, sensor, outDir string, wantAlerts, wantFlows int) {
	t.Helper()
	for _, kind := range []struct {
		eventType string
		want      int
	}{{"alert", wantAlerts}, {"flow", wantFlows}} {
		disk := eveEvents(t, filepath.Join(outDir, "eve.json"), kind.eventType)
		msgs := fleettest.ReadStream(t, url, stream, fleet.Subject(sensor, kind.eventType))
		var got []string
		ids := map[string]bool{}
		for _, m := range msgs {
			got = append(got, m.Data)
			if ids[m.MsgID] {
				t.Errorf("%s: message id %s twice", sensor, m.MsgID)
			}
			ids[m.MsgID] = true
		}
		if len(disk) != kind.want || len(got) != len(disk) {
			t.Errorf("%s: %d %s records on disk (want %d), %d in the stream", sensor, len(disk), kind.eventType, kind.want, len(got))
		}
		slices.Sort(disk)
		slices.Sort(got)
		if !slices.Equal(disk, got) {
			for i := range min(len(disk), len(got)) {
				if disk[i] != got[i] {
					t.Fatalf("%s: first difference:\ndisk   %s\nstream %s", sensor, disk[i], got[i])
				}
			}
			t.Fatalf("%s: the stream's %s records differ from eve.json's", sensor, kind.eventType)
		}
	}
}

// Two sensors replay captures through the real kernel program at the same
// time, publishing to one server: the stream holds each one's alerts and
// flow records exactly once, byte for byte what it wrote to eve.json.
func TestTwoSensorsReplay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the kernel program: needs root (make test runs as root)")
	}
	srv := fleettest.Start(t)
	dir := t.TempDir()
	stream := "XS_" + strings.ReplaceAll(uniqueName(t, "replay"), "-", "_")
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte("203.0.113.66\n"), 0o644)
	synA, synB := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	writeSYNCapture(t, synA, 1500, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10)
	writeSYNCapture(t, synB, 2500, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 20)

	type run struct {
		sensor, out          string
		blocklists, captures []string
		alerts, flows        int
	}
	runs := []run{
		// The seeds: 3 alerts (thresholds hold two SYNs back) and 3 flows,
		// plus 150 alerts among 1500 flows.
		{uniqueName(t, "sensor-a"), filepath.Join(dir, "a"), []string{filepath.Join(testdata, "bleeding-botcc-group1.rules"), list},
			[]string{filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap"), synA}, 153, 1503},
		{uniqueName(t, "sensor-b"), filepath.Join(dir, "b"), []string{list}, []string{synB}, 250, 2500},
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := pipeline.Replay(context.Background(), pipeline.Config{
				Blocklists: r.blocklists, OutDir: r.out, SensorName: r.sensor, FlowTableSize: 65536, RingSize: 4 << 20,
				Logger: testLogger(t),
				Fleet: &fleet.Config{Conn: fleet.ConnOptions{URL: srv.URL()}, SensorName: r.sensor,
					Stream: fleet.StreamOptions{Name: stream}},
			}, r.captures)
			if err != nil {
				t.Errorf("%s: %+v", r.sensor, err)
				return
			}
			if sum.Alerts != uint64(r.alerts) || sum.Flows != uint64(r.flows) {
				t.Errorf("%s: %d alerts, %d flows written, want %d and %d", r.sensor, sum.Alerts, sum.Flows, r.alerts, r.flows)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, r := range runs {
		checkSameEvents(t, srv.URL(), stream, r.sensor, r.out, r.alerts, r.flows)
		// The host field names the sensor in both.
		if line := eveEvents(t, filepath.Join(r.out, "eve.json"), "flow")[0]; !strings.HasSuffix(line, `,"host":"`+r.sensor+`"}`) {
			t.Errorf("%s: flow record without its host: %s", r.sensor, line)
		}
		if data, _ := os.ReadFile(filepath.Join(r.out, "spool", "acked")); !bytes.HasSuffix(data, []byte("\n")) {
			t.Errorf("%s: no spool cursor saved", r.sensor)
		}
	}
	// Each sensor's alerts and flows, and the stats event its replay ends with.
	if all := fleettest.ReadStream(t, srv.URL(), stream, ">"); len(all) != 153+1503+250+2500+2 {
		t.Errorf("the stream holds %d messages, want %d", len(all), 153+1503+250+2500+2)
	}
}
