package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

// evidenceCapture writes a pcapng (nanosecond timestamps, none on a
// microsecond boundary) of conns TCP connections from 192.0.2.0/24 to the
// listed 203.0.113.66:6667 (SYN, SYN-ACK, ACK, data each way, FINs, last
// ACK) and, after them, frags UDP datagrams to it in two IPv4 fragments
// (the second carries no ports and joins the first's flow), the last one
// without its first fragment (an orphan: an alert outside any flow). It returns
// the frames' count and the sum of the lengths of those in a flow, by
// direction.
func evidenceCapture(t *testing.T, path string, conns, frags int) (frames int, toServer, toClient uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	eth := func(src, dst net.IP) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	}
	// toSrv: the frame goes to the flow's server; inFlow: it is in one.
	emit := func(toSrv, inFlow bool, ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		at = at.Add(1000*time.Microsecond + 777*time.Nanosecond)
		data := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			t.Fatal(err)
		}
		frames++
		if !inFlow {
			return
		}
		if toSrv {
			toServer += uint64(len(data))
		} else {
			toClient += uint64(len(data))
		}
	}
	cc := net.ParseIP("203.0.113.66").To4()
	for i := 0; i < conns; i++ {
		bot := net.IPv4(192, 0, 2, byte(10+i%200)).To4()
		sport := layers.TCPPort(40000 + i)
		cseq, sseq := uint32(1000), uint32(500000)
		seg := func(fromBot bool, flags string, payload string) {
			src, dst, sp, dp := bot, cc, sport, layers.TCPPort(6667)
			seq, ack := cseq, sseq
			if !fromBot {
				src, dst, sp, dp = cc, bot, 6667, sport
				seq, ack = sseq, cseq
			}
			tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ack, Window: 64240}
			for _, c := range flags {
				switch c {
				case 'S':
					tcp.SYN = true
				case 'A':
					tcp.ACK = true
				case 'F':
					tcp.FIN = true
				case 'P':
					tcp.PSH = true
				}
			}
			if !tcp.ACK {
				tcp.Ack = 0
			}
			n := uint32(len(payload))
			if tcp.SYN || tcp.FIN {
				n++
			}
			if fromBot {
				cseq += n
			} else {
				sseq += n
			}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
			tcp.SetNetworkLayerForChecksum(ip)
			emit(fromBot, true, eth(src, dst), ip, tcp, gopacket.Payload(payload))
		}
		seg(true, "S", "")
		seg(false, "SA", "")
		seg(true, "A", "")
		seg(true, "PA", fmt.Sprintf("NICK bot%d\r\n", i))
		seg(false, "PA", ":cc 001 welcome\r\n")
		seg(true, "FA", "")
		seg(false, "FA", "")
		seg(true, "A", "")
	}
	for i := 0; i < frags; i++ {
		bot := net.IPv4(192, 0, 2, 250).To4()
		payload := bytes.Repeat([]byte{'f'}, 64)
		udp := &layers.UDP{SrcPort: layers.UDPPort(50000 + i), DstPort: 9999}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: bot, DstIP: cc}
		udp.SetNetworkLayerForChecksum(ip)
		whole := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(whole, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, udp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		l4 := whole.Bytes() // 72 bytes: 40 in the first fragment, 32 in the second
		first := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(7000 + i), Flags: layers.IPv4MoreFragments, Protocol: layers.IPProtocolUDP, SrcIP: bot, DstIP: cc}
		orphan := i == frags-1
		if !orphan {
			emit(true, true, eth(bot, cc), first, gopacket.Payload(l4[:40]))
		}
		second := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(7000 + i), FragOffset: 5, Protocol: layers.IPProtocolUDP, SrcIP: bot, DstIP: cc}
		emit(true, !orphan, eth(bot, cc), second, gopacket.Payload(l4[40:]))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return frames, toServer, toClient
}

// eveEvidence is what the evidence tests read of an EVE line.
type eveEvidence struct {
	Timestamp   string `json:"timestamp"`
	FlowID      uint64 `json:"flow_id"`
	EventType   string `json:"event_type"`
	PcapCnt     uint64 `json:"pcap_cnt"`
	InIface     string `json:"in_iface"`
	Direction   string `json:"direction"`
	Packet      string `json:"packet"`
	CaptureFile string `json:"capture_file"`
	AlertID     uint64 `json:"xdpsensor_alert_id"`
	Flow        *struct {
		BytesToServer uint64 `json:"bytes_toserver"`
		BytesToClient uint64 `json:"bytes_toclient"`
	} `json:"flow"`
}

func readEvidence(t *testing.T, path string) (alerts, flows []eveEvidence) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e eveEvidence
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		switch e.EventType {
		case "alert":
			alerts = append(alerts, e)
		case "flow":
			flows = append(flows, e)
		}
	}
	return alerts, flows
}

// packetsOf reads a capture's packets, data copied.
func packetsOf(t *testing.T, r io.Reader) []capture.Packet {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "p")
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tmp, data, 0o600)
	rd, err := capture.Open(tmp)
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

// holdsPacket reports whether pkts hold the alert's packet: its bytes (the
// alert keeps the first 256) at its EVE timestamp, to the microsecond.
func holdsPacket(t *testing.T, pkts []capture.Packet, a *eveEvidence) bool {
	t.Helper()
	want, err := base64.StdEncoding.DecodeString(a.Packet)
	if err != nil || len(want) == 0 {
		t.Fatalf("alert %d: packet %q", a.AlertID, a.Packet)
	}
	at, err := time.Parse("2006-01-02T15:04:05.999999-0700", a.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if p.Time.Truncate(time.Microsecond).Equal(at) && bytes.HasPrefix(p.Data, want) {
			return true
		}
	}
	return false
}

// TestReplayAlertsNameTheFileHoldingTheirPacket: through a pcap ring that
// rotates dozens of times, every alert names the ring file holding its
// packet (capture_file), carve --alert-id returns that packet, and so
// does carve --from T --to T with the alert's EVE timestamp, in a pcap
// ring (microseconds) and a pcapng one (nanoseconds: the EVE timestamp
// cuts them off). The flows' EVE bytes are the sum of their frames.
func TestReplayAlertsNameTheFileHoldingTheirPacket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the BPF program: run as root (make test does)")
	}
	const conns, frags = 150, 6
	dir := t.TempDir()
	input := filepath.Join(dir, "evidence.pcapng")
	frames, toServer, toClient := evidenceCapture(t, input, conns, frags)
	rules := filepath.Join(dir, "cc.rules")
	os.WriteFile(rules, []byte(`alert ip $HOME_NET any <> [203.0.113.66] any (msg:"XDPSENSOR TEST C&C"; classtype:trojan-activity; sid:9000001; rev:1;)`+"\n"), 0o644)

	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+format)
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"replay", "-b", rules, "--home-net", "192.0.2.0/24", "-o", out,
				"--pcap-format", format, "--pcap-size", "2k", "--pcap-files", "1000", input}, &stdout, &stderr); err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr.String())
			}
			ringFiles, err := capture.FindOutputRing(out)
			if err != nil || len(ringFiles) < 20 {
				t.Fatalf("%d ring files (%v), want the ring to rotate at least 20 times", len(ringFiles), err)
			}
			alerts, flows := readEvidence(t, filepath.Join(out, "eve.json"))
			// One alert per flow direction (the rule lists the server
			// either way, and it answers), and one per fragmented
			// datagram: its first fragment starts a flow, the later
			// one joins it (bpf/fragments.h) and does not alert again;
			// the orphan fragment alerts alone.
			if want := 2*conns + frags; len(alerts) != want {
				t.Fatalf("%d alerts, want %d", len(alerts), want)
			}
			var sumServer, sumClient uint64
			for _, f := range flows {
				sumServer += f.Flow.BytesToServer
				sumClient += f.Flow.BytesToClient
			}
			if sumServer != toServer || sumClient != toClient {
				t.Errorf("EVE flow bytes %d/%d, the capture's frames %d/%d bytes", sumServer, sumClient, toServer, toClient)
			}
			t.Logf("%d frames through %d ring files; %d alerts; EVE bytes %d+%d = the frames' %d+%d", frames, len(ringFiles), len(alerts), sumServer, sumClient, toServer, toClient)

			files := map[string][]capture.Packet{}
			named := 0
			for i := range alerts {
				a := &alerts[i]
				if a.InIface != "" || a.PcapCnt == 0 {
					t.Errorf("alert %d: in_iface %q, pcap_cnt %d (a replay names no interface, and the packet's number)", a.AlertID, a.InIface, a.PcapCnt)
				}
				if a.CaptureFile == "" {
					continue
				}
				named++
				if files[a.CaptureFile] == nil {
					fh, err := os.Open(a.CaptureFile)
					if err != nil {
						t.Fatalf("alert %d: %v", a.AlertID, err)
					}
					files[a.CaptureFile] = packetsOf(t, fh)
					fh.Close()
				}
				if !holdsPacket(t, files[a.CaptureFile], a) {
					t.Errorf("alert %d at %s: %s does not hold its packet", a.AlertID, a.Timestamp, filepath.Base(a.CaptureFile))
				}
			}
			if named != len(alerts) {
				t.Errorf("%d of %d alerts name their pcap file", named, len(alerts))
			}

			// carve, by alert id and by the alert's own timestamp: every
			// fragment alert and a sample of the others.
			for i := range alerts {
				a := &alerts[i]
				if a.FlowID != 0 && i%40 != 0 {
					continue
				}
				for _, args := range [][]string{
					{"--alert-id", fmt.Sprint(a.AlertID)},
					{"--from", a.Timestamp, "--to", a.Timestamp},
				} {
					stdout, stderr, err := runCarveCLI(t, append([]string{"carve", "--dir", out, "-w", "-"}, args...)...)
					if err != nil {
						t.Fatalf("carve %v: %v %s", args, err, stderr)
					}
					if !holdsPacket(t, packetsOf(t, bytes.NewReader([]byte(stdout))), a) {
						t.Errorf("carve %v did not return alert %d's packet", args, a.AlertID)
					}
				}
			}
		})
	}
}
