package pipeline

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestCaptureFileHoldsTheAlertsPacketOnAFullDisk: the pcap ring fills its
// small tmpfs in the middle of a replay where every frame is an alert's
// packet. A write cut short takes frames back out of the open file after
// Write had named it; an alert's capture_file must still only name a file
// holding its packet. Exactly: the alerts naming a file are the frames
// the ring wrote (pcap_frames_written), each in the file its alert
// names, and the alerts naming none are the frames it lost
// (pcap_frames_lost).
func TestCaptureFileHoldsTheAlertsPacketOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "cc.rules")
	if err := os.WriteFile(rules, []byte("alert ip any any -> 203.0.113.66 any (msg:\"C&C\"; classtype:trojan-activity; sid:9000001; rev:1;)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// One UDP datagram per flow to the listed server, 1,200 bytes of
	// payload each: one alert and one captured frame per flow.
	const flows = 600
	pcap := filepath.Join(dir, "in.pcap")
	writePcap(t, pcap, func(yield func([]byte)) {
		for i := 0; i < flows; i++ {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
				SrcIP: net.ParseIP("192.0.2.10"), DstIP: net.ParseIP("203.0.113.66")}
			udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + i), DstPort: 53}
			udp.SetNetworkLayerForChecksum(ip)
			payload := make([]byte, 1200)
			payload[0], payload[1] = byte(i>>8), byte(i)
			yield(ether(t, layers.EthernetTypeIPv4, false, serialize(t, ip, udp, gopacket.Payload(payload))))
		}
	})
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			// eve.json on a disk with room, the pcap ring on 256 KiB: a
			// fifth of the frames fit.
			out := filepath.Join(t.TempDir(), "out")
			pcapDir := filepath.Join(out, "pcap")
			if err := os.MkdirAll(pcapDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,size=256k", "tmpfs", pcapDir).CombinedOutput(); err != nil {
				t.Fatalf("mount: %v %s", err, b)
			}
			t.Cleanup(func() {
				if exec.Command("umount", pcapDir).Run() != nil {
					exec.Command("umount", "-l", pcapDir).Run()
				}
			})
			sum, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: out, FlowTableSize: 1024, RingSize: 4 << 20,
				Capture: CaptureConfig{FileSize: 64 << 10, Files: 100, Format: format}}, []string{pcap})
			if err != nil {
				t.Fatalf("replay: %+v", err)
			}
			d := sum.Daemon
			if sum.Alerts != flows || sum.Kernel.CapturePackets != flows || sum.Kernel.CaptureLost != 0 {
				t.Fatalf("%d alerts, kernel handed over %d frames and lost %d; want %d, %d, 0", sum.Alerts, sum.Kernel.CapturePackets, sum.Kernel.CaptureLost, flows, flows)
			}
			if d.PcapFramesLost == 0 || d.PcapFramesWritten+d.PcapFramesLost != flows {
				t.Fatalf("pcap_frames_written %d + pcap_frames_lost %d, want %d with some lost (the disk filled)", d.PcapFramesWritten, d.PcapFramesLost, flows)
			}
			files := map[string][]gopacket.Packet{}
			var named, unnamed uint64
			for _, a := range readAlerts(t, filepath.Join(out, "eve.json")) {
				if a.CaptureFile == "" {
					unnamed++
					continue
				}
				named++
				pkts, ok := files[a.CaptureFile]
				if !ok {
					pkts = readPackets(t, a.CaptureFile)
					files[a.CaptureFile] = pkts
				}
				if !holdsFlowPacket(t, pkts, &a) {
					t.Errorf("alert %d (port %d) names %s, which does not hold its packet", a.AlertID, a.SrcPort, a.CaptureFile)
				}
			}
			if named != d.PcapFramesWritten || unnamed != d.PcapFramesLost {
				t.Errorf("%d alerts name a file, %d none; the ring wrote %d frames and lost %d", named, unnamed, d.PcapFramesWritten, d.PcapFramesLost)
			}
			t.Logf("%d alerts name one of %d files, %d name none", named, len(files), unnamed)
		})
	}
}

type alertRecord struct {
	EventType   string `json:"event_type"`
	Timestamp   string `json:"timestamp"`
	SrcIP       string `json:"src_ip"`
	SrcPort     uint16 `json:"src_port"`
	DestIP      string `json:"dest_ip"`
	DestPort    uint16 `json:"dest_port"`
	Packet      string `json:"packet"`
	CaptureFile string `json:"capture_file"`
	AlertID     uint64 `json:"xdpsensor_alert_id"`
}

func readAlerts(t *testing.T, path string) []alertRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alertRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a alertRecord
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		if a.EventType == "alert" {
			out = append(out, a)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readPackets reads a pcap or pcapng file with gopacket/pcapgo (through
// readAll, which picks the format).
func readPackets(t *testing.T, path string) []gopacket.Packet {
	t.Helper()
	var out []gopacket.Packet
	for _, p := range readAll(t, path) {
		pkt := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
		pkt.Metadata().Timestamp = p.Time
		out = append(out, pkt)
	}
	return out
}

// holdsFlowPacket reports whether pkts hold a frame of the alert's flow
// that is the alert's packet: its addresses and ports, its bytes (the
// alert keeps the first 256) and its time to the microsecond.
func holdsFlowPacket(t *testing.T, pkts []gopacket.Packet, a *alertRecord) bool {
	t.Helper()
	want, err := base64.StdEncoding.DecodeString(a.Packet)
	if err != nil || len(want) == 0 {
		t.Fatalf("alert %d: packet %q", a.AlertID, a.Packet)
	}
	at, err := time.Parse("2006-01-02T15:04:05.999999-0700", a.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	flow := fmt.Sprintf("%s:%d>%s:%d", a.SrcIP, a.SrcPort, a.DestIP, a.DestPort)
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil || fmt.Sprintf("%s:%d>%s:%d", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort) != flow {
			continue
		}
		data := p.Data()
		if p.Metadata().Timestamp.Truncate(time.Microsecond).Equal(at) && len(data) >= len(want) && string(data[:len(want)]) == string(want) {
			return true
		}
	}
	return false
}
