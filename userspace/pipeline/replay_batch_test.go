package pipeline

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/loader"
)

// writeMixedReplayCapture writes n frames of every kind the datapath
// tells apart: TCP conversations (handshakes, data, FIN, RST), UDP, ICMP
// echo and errors quoting a flow, IPv6, VLAN tags, fragments, listed
// addresses, frames too large for a feeder slot, frames shorter than
// Ethernet, and timestamps that jump past the flow timeout.
func writeMixedReplayCapture(t *testing.T, path string, n int) {
	t.Helper()
	w := createEthernetPcap(t, path)
	r := rand.New(rand.NewPCG(7, 8))
	at := captureStart
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := func(v6 bool, vlan uint16) []gopacket.SerializableLayer {
		e := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if v6 {
			e.EthernetType = layers.EthernetTypeIPv6
		}
		if vlan == 0 {
			return []gopacket.SerializableLayer{e}
		}
		d := &layers.Dot1Q{VLANIdentifier: vlan, Type: e.EthernetType}
		e.EthernetType = layers.EthernetTypeDot1Q
		return []gopacket.SerializableLayer{e, d}
	}
	for i := 0; i < n; i++ {
		at = at.Add(time.Duration(r.IntN(2000)) * time.Microsecond)
		if i%997 == 0 {
			at = at.Add(150 * time.Second) // past the flow timeout
		}
		client := net.IPv4(198, 51, 100, byte(1+r.IntN(20)))
		server := net.IPv4(203, 0, 113, byte(1+r.IntN(8)))
		if r.IntN(50) == 0 {
			server = net.IPv4(193, 109, 122, 67) // on the seed rules
		}
		sport, dport := layers.TCPPort(1024+r.IntN(64)), layers.TCPPort(80+r.IntN(3))
		payload := gopacket.Payload(bytes.Repeat([]byte{byte(i)}, r.IntN(200)))
		var ls []gopacket.SerializableLayer
		var orig int
		switch k := r.IntN(100); {
		case k < 55: // TCP, either way, any flags
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: uint32(r.IntN(5000)), Ack: uint32(r.IntN(5000)), Window: uint16(r.IntN(3) * 1000)}
			switch r.IntN(8) {
			case 0:
				tcp.SYN = true
			case 1:
				tcp.SYN, tcp.ACK = true, true
			case 2:
				tcp.FIN, tcp.ACK = true, true
			case 3:
				tcp.RST = true
			default:
				tcp.ACK, tcp.PSH = true, r.IntN(2) == 0
			}
			if r.IntN(2) == 0 {
				ip.SrcIP, ip.DstIP, tcp.SrcPort, tcp.DstPort = ip.DstIP, ip.SrcIP, tcp.DstPort, tcp.SrcPort
			}
			tcp.SetNetworkLayerForChecksum(ip)
			vlan := uint16(0)
			if r.IntN(10) == 0 {
				vlan = 100
			}
			ls = append(eth(false, vlan), ip, tcp, payload)
		case k < 70: // UDP
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: client, DstIP: server}
			udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}
			udp.SetNetworkLayerForChecksum(ip)
			ls = append(eth(false, 0), ip, udp, payload)
		case k < 78: // IPv6 TCP
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
				SrcIP: net.ParseIP("2001:db8:1::" + string(rune('1'+r.IntN(5)))), DstIP: net.ParseIP("2001:db8:2::20")}
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, ACK: true, SYN: r.IntN(4) == 0, Seq: uint32(i)}
			tcp.SetNetworkLayerForChecksum(ip)
			ls = append(eth(true, 0), ip, tcp, payload)
		case k < 83: // ICMP echo, and errors quoting a TCP flow
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: server, DstIP: client}
			icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: uint16(i)}
			body := gopacket.Payload(payload)
			if r.IntN(2) == 0 {
				icmp.TypeCode = layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)
				qip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
				qtcp := &layers.TCP{SrcPort: sport, DstPort: dport, SYN: true}
				qtcp.SetNetworkLayerForChecksum(qip)
				qb := gopacket.NewSerializeBuffer()
				gopacket.SerializeLayers(qb, opts, qip, qtcp)
				body = gopacket.Payload(qb.Bytes()[:28])
			}
			ls = append(eth(false, 0), ip, icmp, body)
		case k < 88: // fragments: a first with ports, a later one without
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: client, DstIP: server, Id: uint16(i)}
			if r.IntN(2) == 0 {
				ip.Flags = layers.IPv4MoreFragments
				udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}
				udp.SetNetworkLayerForChecksum(ip)
				ls = append(eth(false, 0), ip, udp, payload)
			} else {
				ip.FragOffset = 185
				ls = append(eth(false, 0), ip, payload)
			}
		case k < 92: // larger than a feeder slot: the per-frame path
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, ACK: true, PSH: true, Seq: uint32(i)}
			tcp.SetNetworkLayerForChecksum(ip)
			ls = append(eth(false, 0), ip, tcp, gopacket.Payload(make([]byte, loader.FeedFrameMax-40+r.IntN(6000))))
		case k < 94: // cut by the snap length: counted by its wire length
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, ACK: true, Seq: uint32(i)}
			tcp.SetNetworkLayerForChecksum(ip)
			ls = append(eth(false, 0), ip, tcp, gopacket.Payload(make([]byte, 1400)))
			orig = -96
		case k < 95: // shorter than Ethernet: skipped either way
			data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}, data)
			continue
		default: // ARP-ish non-IP
			e := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetType(0x88b5)}
			ls = []gopacket.SerializableLayer{e, payload}
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}
		if orig < 0 {
			ci.CaptureLength = len(data) + orig
			data = data[:ci.CaptureLength]
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// replayOutputs replays files into a fresh directory and returns every
// output file's bytes, less what depends on the wall clock.
func replayOutputs(t *testing.T, perFrame bool, files ...string) (Summary, map[string][]byte) {
	t.Helper()
	out := t.TempDir()
	sum, err := Replay(context.Background(), Config{
		Blocklists:     []string{filepath.Join(testdata, "bleeding-botcc-group1.rules")},
		OutDir:         out,
		FlowTableSize:  1024,
		RingSize:       1 << 20,
		Capture:        CaptureConfig{Mode: loader.CaptureAll},
		ReplayPerFrame: perFrame,
	}, files)
	if err != nil {
		t.Fatalf("replay (per frame %v): %+v", perFrame, err)
	}
	got := map[string][]byte{}
	filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte(out), []byte("OUT"))
		var keep [][]byte
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if bytes.Contains(l, []byte(`"event_type":"stats"`)) || bytes.HasPrefix(l, []byte("#open")) || bytes.HasPrefix(l, []byte("#close")) {
				continue // written on the wall clock
			}
			keep = append(keep, l)
		}
		if strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".log") {
			// Flows a sweep finds due together are written in the hash
			// table's order, which differs between any two runs.
			sort.Slice(keep, func(i, j int) bool { return bytes.Compare(keep[i], keep[j]) < 0 })
		}
		rel, _ := filepath.Rel(out, path)
		got[rel] = bytes.Join(keep, nil)
		return nil
	})
	return sum, got
}

// TestReplayBatchesMatchPerFrame: batched replay (many frames per
// BPF_PROG_TEST_RUN through the feeder) writes byte for byte what one
// call per frame writes: every output, on the seeds and on a capture of
// every kind of frame, including those too large for a batch.
func TestReplayBatchesMatchPerFrame(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the BPF program: run as root (make test does)")
	}
	mixed := filepath.Join(t.TempDir(), "mixed.pcap")
	writeMixedReplayCapture(t, mixed, 6000)
	for _, files := range [][]string{
		{filepath.Join(testdata, "bot-cc-syn.pcap")},
		{filepath.Join(testdata, "backscatter.pcap")},
		{mixed, filepath.Join(testdata, "bot-cc-syn.pcap")},
	} {
		name := filepath.Base(files[0])
		t.Run(name, func(t *testing.T) {
			sumA, a := replayOutputs(t, true, files...)
			sumB, b := replayOutputs(t, false, files...)
			if sumA.Packets != sumB.Packets || sumA.Skipped != sumB.Skipped || sumA.Alerts != sumB.Alerts || sumA.Flows != sumB.Flows {
				t.Errorf("per frame: %d packets, %d skipped, %d alerts, %d flows; batched: %d, %d, %d, %d",
					sumA.Packets, sumA.Skipped, sumA.Alerts, sumA.Flows, sumB.Packets, sumB.Skipped, sumB.Alerts, sumB.Flows)
			}
			if sumA.Kernel != sumB.Kernel {
				t.Errorf("kernel counters differ:\nper frame %+v\nbatched   %+v", sumA.Kernel, sumB.Kernel)
			}
			var names []string
			for n := range a {
				names = append(names, n)
			}
			for n := range b {
				if _, ok := a[n]; !ok {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				if !bytes.Equal(a[n], b[n]) {
					t.Errorf("%s differs (%d bytes per frame, %d batched)%s", n, len(a[n]), len(b[n]), firstDiff(a[n], b[n]))
				}
			}
			if len(a) < 4 {
				t.Errorf("only %d output files: %v", len(a), names)
			}
			t.Logf("%d packets (%d skipped), %d alerts, %d flows, %d files identical", sumB.Packets, sumB.Skipped, sumB.Alerts, sumB.Flows, len(names))
		})
	}
}

func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return "\nper frame: " + la[i] + "\nbatched:   " + lb[i]
		}
	}
	return ""
}
